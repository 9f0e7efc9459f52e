"""Reading a PodBoard in a page the way a person looks at it: its data attributes, the
colours on its canvas, and the tooltip under the pointer.

``cells`` finds the pods' container slices on the canvas: every connected run of pixels
painted exactly in a legend colour (an image's colour, fully opaque — ready containers
are; terminating, waiting and dimmed ones are drawn translucent and so are left out).
Each slice comes back with its image and its rectangle in CSS pixels of the canvas; the
app slice of a pod (the wide one) identifies the pod's cell. ``pod_at`` hovers a point
and reads the pod's key from the tooltip.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["BOARD", "Slice", "attrs", "cells", "click", "convergence_points", "pod_at",
           "slices", "wait_attrs", "wait_cells"]

#: The board's root element (it carries the data-* attributes).
BOARD = ".kitlib-podboard"

_CELLS = """(el) => {
    const canvas = el.querySelector('canvas.kb-canvas');
    const dpr = canvas.width / canvas.getBoundingClientRect().width || 1;
    const colours = new Map();
    for (const item of el.querySelectorAll('.kb-legend-row:first-child .kb-item')) {
        const swatch = item.querySelector('.kb-swatch');
        if (!swatch) continue;
        const m = getComputedStyle(swatch).backgroundColor.match(/\\d+/g);
        if (m) colours.set((+m[0] << 16) | (+m[1] << 8) | +m[2], item.textContent.trim());
    }
    const {width, height} = canvas;
    const px = canvas.getContext('2d').getImageData(0, 0, width, height).data;
    const label = new Int32Array(width * height).fill(-1);
    const colourAt = (i) => px[4 * i + 3] === 255
        ? (px[4 * i] << 16) | (px[4 * i + 1] << 8) | px[4 * i + 2] : -1;
    const found = [];
    for (let start = 0; start < width * height; start += 1) {
        const c = colourAt(start);
        if (label[start] !== -1 || !colours.has(c)) continue;
        let [x0, y0, x1, y1, n] = [width, height, 0, 0, 0];
        const stack = [start];
        label[start] = found.length;
        while (stack.length) {
            const i = stack.pop();
            const x = i % width, y = (i - x) / width;
            n += 1;
            x0 = Math.min(x0, x); y0 = Math.min(y0, y); x1 = Math.max(x1, x); y1 = Math.max(y1, y);
            for (const j of [x > 0 ? i - 1 : -1, x < width - 1 ? i + 1 : -1,
                             y > 0 ? i - width : -1, y < height - 1 ? i + width : -1]) {
                if (j >= 0 && label[j] === -1 && colourAt(j) === c) {
                    label[j] = found.length;
                    stack.push(j);
                }
            }
        }
        found.push({image: colours.get(c), x: x0 / dpr, y: y0 / dpr,
                    w: (x1 - x0 + 1) / dpr, h: (y1 - y0 + 1) / dpr, pixels: n});
    }
    return found.filter((s) => s.pixels >= 4);
}"""


@dataclass(frozen=True)
class Slice:
    """A container slice on the canvas: its image and rectangle (CSS px of the canvas)."""

    image: str
    x: float
    y: float
    w: float
    h: float

    @property
    def centre(self) -> tuple[float, float]:
        return self.x + self.w / 2, self.y + self.h / 2


def board(page: Any) -> Any:
    """The (first) board on the page, as a Playwright locator."""
    return page.locator(BOARD).first


def attrs(page: Any) -> dict[str, str]:
    """The board's ``data-*`` attributes (``node-count`` → ``"4"``…)."""
    data: dict[str, str] = board(page).evaluate("(el) => ({...el.dataset})")
    return {_kebab(key): value for key, value in data.items()}


def _kebab(name: str) -> str:
    return "".join(f"-{ch.lower()}" if ch.isupper() else ch for ch in name)


def wait_attrs(page: Any, expected: dict[str, str], *, timeout: float = 30.0) -> dict[str, str]:
    """Wait until the board's attributes include ``expected``; the attributes then.

    ``AssertionError`` with what the board shows when they do not in ``timeout`` seconds.
    """
    script = """([selector, expected]) => {
        const el = document.querySelector(selector);
        return !!el && Object.entries(expected).every(
            ([k, v]) => el.getAttribute('data-' + k) === v);
    }"""
    try:
        page.wait_for_function(script, arg=[BOARD, expected], timeout=timeout * 1000)
    except Exception as exc:
        shown = attrs(page) if page.locator(BOARD).count() else "no board on the page"
        raise AssertionError(f"the board never showed {expected}; it shows {shown}") from exc
    return attrs(page)


def cells(page: Any) -> list[Slice]:
    """Every fully opaque container slice on the board's canvas (module docstring)."""
    found = board(page).evaluate(_CELLS)
    return [Slice(s["image"], s["x"], s["y"], s["w"], s["h"]) for s in found]


def slices(page: Any, image: str) -> list[Slice]:
    """The slices showing ``image``, top to bottom, left to right."""
    return sorted((s for s in cells(page) if s.image == image), key=lambda s: (s.y, s.x))


def wait_cells(page: Any, image: str, count: int, *, timeout: float = 30.0) -> list[Slice]:
    """Wait until exactly ``count`` slices on the canvas show ``image`` (animations — the
    in-place flash, the update hatching — done); those slices, sorted top to bottom."""
    script = f"""([selector, image, count]) => {{
        const found = ({_CELLS})(document.querySelector(selector));
        return found.filter((s) => s.image === image).length === count;
    }}"""
    try:
        page.wait_for_function(script, arg=[BOARD, image, count], polling=100,
                               timeout=timeout * 1000)
    except Exception as exc:
        shown = len(slices(page, image))
        raise AssertionError(f"{shown} slices show {image}, expected {count}") from exc
    return slices(page, image)


_CONVERGENCE = """() => {
    for (const gd of document.querySelectorAll('.js-plotly-plot')) {
        const title = gd.querySelector('.gtitle');
        if (!title || !title.textContent.startsWith('Convergence of')) continue;
        const counts = (gd.data || []).map((t) => (t.x || []).length);
        const lines = [...gd.querySelectorAll('.scatterlayer .trace path.js-line')]
            .filter((p) => (p.getAttribute('d') || '').length > 2);
        if (counts.some((n) => n >= 2) && lines.length) return counts;
    }
    return false;
}"""


def convergence_points(page: Any, *, timeout: float = 30.0) -> list[int]:
    """Wait until the dashboard's convergence chart (plotly, titled ``Convergence of …``)
    has a trace of two or more points drawn as a line; points per trace."""
    try:
        handle = page.wait_for_function(_CONVERGENCE, polling=100, timeout=timeout * 1000)
    except Exception as exc:
        raise AssertionError("the convergence chart never showed a line of two or more "
                             "points") from exc
    return list(handle.json_value())


def _to_page(page: Any, x: float, y: float) -> tuple[float, float]:
    canvas = board(page).locator("canvas.kb-canvas")
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    assert box is not None, "the board's canvas is not visible"
    return box["x"] + x, box["y"] + y


def pod_at(page: Any, point: tuple[float, float]) -> str:
    """Hover ``point`` (canvas CSS px) and return the pod key the tooltip shows."""
    page.mouse.move(1, 1)  # leave the canvas first: the old tooltip hides
    page.mouse.move(*_to_page(page, *point))
    title = board(page).locator(".kb-tip .kb-tip-title")
    title.wait_for(state="visible", timeout=5000)
    key = str(title.inner_text()).strip()
    page.mouse.move(1, 1)  # and leave again, so the tooltip hides no other pod
    return key


def click(page: Any, point: tuple[float, float]) -> None:
    """Click ``point`` (canvas CSS px) as a person would."""
    page.mouse.move(1, 1)
    page.mouse.click(*_to_page(page, *point))
