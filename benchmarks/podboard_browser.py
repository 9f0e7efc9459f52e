"""``podboard_browser``: the PodBoard's frame budget in headless Debian chromium.

A standalone harness page (served from a loopback HTTP server, no Jupyter) imports the
board's ES module straight from the repository's ``widgets/`` folder and mounts it with
``mount(el, {snapshot})`` (widgets/podboard.js). The data is what the Python side sends:
a synthetic cluster of 10,000 Running pods (three containers each: app, sidecar, agent)
on 1,000 nodes in six pool/zone groups, turned into board entries and deltas by
``kitlib.widgets._board_model.BoardModel`` with the legend colours ``assign_colors`` gives.

Timed, in the page (``performance.now()``):

* **first draw** — from ``mount()`` to the end of the animation frame that drew the
  board (building the board, layout, drawing every pod, waiting for the frame); the
  board's own draw time (``data-first-draw-ms``) is reported beside it;
* **delta** — ``applyDelta()`` of 1,000 pods whose app container was updated in place to
  a new image, and the full redraw it triggers (the board redraws the whole canvas per
  frame): the main-thread cost of an update, ``apply`` timed around ``applyDelta()`` plus
  the board's own time for the next frame's ``draw()`` (``data-last-draw-ms``). Also
  reported: the wall time from ``applyDelta()`` to the end of that frame, which adds the
  wait for the next frame (up to one frame interval, ~16.7 ms: each delta is applied right
  after a frame). ``DELTAS`` of them; medians reported.

End state checked: the board's ``data-pod-count`` is 10,000, ``data-node-count`` 1,000,
``data-version`` the last delta's, and exactly the updated pods run the new image.
Targets (issue 8): first draw <= 1 s, a 1,000-pod delta <= 50 ms. ``--quick``: 1,000 pods
on 100 nodes, deltas of 100 pods, no target. Skipped, with the reason, where chromium or
the playwright package is missing.

``chromium_missing`` and ``launch_chromium`` are shared with the browser tests
(tests/browser), so both drive the same browser the same way: Debian's
``/usr/bin/chromium``, never a downloaded one.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import importlib.util
import os
import statistics
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from benchmarks import Row, check
from benchmarks.harness import ROOT
from benchmarks.objects import pod, running_status

__all__ = ["CHROMIUM", "CHROMIUM_ARGS", "HarnessServer", "board_data", "chromium_missing",
           "launch_chromium", "run"]

#: Debian's chromium (``apt-get install chromium``; ``.ci/run`` installs it).
CHROMIUM = Path("/usr/bin/chromium")
#: Headless, offline, no GPU, no sandbox (CI runs as root).
CHROMIUM_ARGS = ("--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync")
WIDGETS = ROOT / "widgets"
TARGET_FIRST_DRAW_MS = 1000.0
TARGET_DELTA_MS = 50.0
DELTAS = 9
NEW_IMAGE = "nginx:1.28"
_EPOCH = "2026-01-01T00:00:00Z"


def chromium_missing() -> str | None:
    """Why the browser cannot run here, or ``None``."""
    if not os.access(CHROMIUM, os.X_OK):
        return (f"Debian chromium is not installed at {CHROMIUM} (.ci/run installs it: "
                "apt-get install chromium)")
    if importlib.util.find_spec("playwright") is None:
        return "the playwright package is not installed (pip install -e '.[test]')"
    return None


def launch_chromium(playwright: Any) -> Any:
    """Launch headless Debian chromium with a Playwright (sync API) instance."""
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=list(CHROMIUM_ARGS),
                                      headless=True)


# -- the harness page -----------------------------------------------------------------------

HARNESS_HTML = """<!doctype html>
<html><head><meta charset="utf-8"><title>PodBoard harness</title><link rel="icon" href="data:,">
<link rel="stylesheet" href="/widgets/podboard.css">
<style>body { margin: 0; font-family: sans-serif; } #board { width: 1500px; }</style>
</head><body><div id="board"></div>
<script type="module">
import * as podboard from "/widgets/podboard.js";
window.podboard = podboard;
window.harnessReady = true;
</script></body></html>
"""


class _Handler(http.server.BaseHTTPRequestHandler):
    """``/`` the harness page, ``/data/<name>`` JSON documents, ``/widgets/<file>`` the
    repository's front-end files; nothing else."""

    def __init__(self, *args: Any, documents: dict[str, bytes], **kwargs: Any) -> None:
        self.documents = documents
        super().__init__(*args, **kwargs)

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path in ("/", "/index.html"):
            self._send(HARNESS_HTML.encode(), "text/html; charset=utf-8")
        elif path.startswith("/data/") and path[6:] in self.documents:
            self._send(self.documents[path[6:]], "application/json")
        elif path.startswith("/widgets/") and "/" not in path[9:] and \
                (WIDGETS / path[9:]).is_file():
            kind = "text/javascript" if path.endswith(".js") else "text/css"
            self._send((WIDGETS / path[9:]).read_bytes(), f"{kind}; charset=utf-8")
        else:
            self.send_error(404)

    def _send(self, body: bytes, content_type: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass


class HarnessServer:
    """``with HarnessServer(documents) as url:`` — the harness page on 127.0.0.1.

    Args:
        documents: name → JSON bytes, served at ``/data/<name>``.
    """

    def __init__(self, documents: dict[str, bytes] | None = None) -> None:
        handler = functools.partial(_Handler, documents=dict(documents or {}))
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        name="podboard-harness", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/"

    def __enter__(self) -> str:
        self._thread.start()
        return self.url

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(10)


# -- the data -------------------------------------------------------------------------------

def _node(i: int) -> dict[str, Any]:
    labels = {"topology.kubernetes.io/zone": f"zone-{'abc'[i % 3]}",
              "kitlib.io/pool": ("general", "memory")[i % 2]}
    return {"metadata": {"name": f"node-{i:04d}", "labels": labels}, "spec": {},
            "status": {"conditions": [{"type": "Ready", "status": "True"}]}}


def _pod(i: int, nodes: int) -> dict[str, Any]:
    obj = pod(i, namespace=f"bench-{i % 10}")
    obj["metadata"].update(uid=f"uid-{i:06d}", creationTimestamp=_EPOCH)
    obj["spec"]["nodeName"] = f"node-{i % nodes:04d}"
    obj["status"] = {}
    obj["status"] = running_status(obj, i)
    return obj


def _updated(obj: dict[str, Any]) -> dict[str, Any]:
    """``obj`` after its app container was updated in place to ``NEW_IMAGE``."""
    new = orjson.loads(orjson.dumps(obj))
    new["spec"]["containers"][0]["image"] = NEW_IMAGE
    status = new["status"]["containerStatuses"][0]
    status["image"], status["restartCount"] = NEW_IMAGE, status["restartCount"] + 1
    return new


def board_data(*, pods: int, nodes: int, delta_size: int, deltas: int
               ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The snapshot and deltas a PodBoard would send for the synthetic cluster."""
    from kitlib.widgets._board_model import BoardModel, assign_colors

    model = BoardModel()
    objects = [_pod(i, nodes) for i in range(pods)]
    changes: dict[tuple[str, str], Any] = {("node", _node(i)["metadata"]["name"]): _node(i)
                                           for i in range(nodes)}
    changes.update({("pod", _key(obj)): obj for obj in objects})
    model.apply(changes)
    colors = assign_colors({}, model.images())
    snapshot = {"type": "snapshot", **model.snapshot(), "images": colors}
    out = []
    for d in range(deltas):
        batch = objects[d * delta_size:(d + 1) * delta_size]
        delta = model.apply({("pod", _key(obj)): _updated(obj) for obj in batch})
        check(delta is not None and len(delta["pods"]["upsert"]) == len(batch),
              "the model did not turn every updated pod into an upsert")
        colors = assign_colors(colors, model.images())
        out.append({"type": "delta", **(delta or {}), "images": colors})
    return snapshot, out


def _key(obj: dict[str, Any]) -> str:
    return f"{obj['metadata']['namespace']}/{obj['metadata']['name']}"


# -- measuring --------------------------------------------------------------------------------

#: Runs in the page: mount, then apply every delta; returns timings and the end state.
_MEASURE = """async () => {
    const frame = () => new Promise((resolve) => requestAnimationFrame(() => resolve()));
    const snapshot = await (await fetch('/data/snapshot.json')).json();
    const deltas = await (await fetch('/data/deltas.json')).json();
    const el = document.getElementById('board');
    await frame();
    const t0 = performance.now();
    const board = window.podboard.mount(el, {snapshot});
    await frame();
    const first = performance.now() - t0;
    const firstDraw = Number(el.dataset.firstDrawMs);
    const samples = [];
    for (const delta of deltas) {
        await frame();
        await frame();
        const start = performance.now();
        const applied = board.applyDelta(delta);
        const applyMs = performance.now() - start;
        await frame();
        samples.push({wall: performance.now() - start, apply: applyMs,
                      draw: Number(el.dataset.lastDrawMs), applied,
                      version: Number(el.dataset.version)});
    }
    let updated = 0;
    for (const pod of board.pods.values()) {
        if (pod.containers[0].image === NEW_IMAGE) updated += 1;
    }
    return {first, firstDraw, samples, updated,
            podCount: Number(el.dataset.podCount), nodeCount: Number(el.dataset.nodeCount),
            version: Number(el.dataset.version), canvas: [board.canvas.width,
            board.canvas.height]};
}""".replace("NEW_IMAGE", orjson.dumps(NEW_IMAGE).decode())


def measure(*, pods: int, nodes: int, delta_size: int, deltas: int) -> dict[str, Any]:
    """Build the data, run the harness page in chromium, check the end state."""
    from playwright.sync_api import sync_playwright

    snapshot, updates = board_data(pods=pods, nodes=nodes, delta_size=delta_size,
                                   deltas=deltas)
    documents = {"snapshot.json": orjson.dumps(snapshot), "deltas.json": orjson.dumps(updates)}
    with HarnessServer(documents) as url, sync_playwright() as playwright, \
            _closing(launch_chromium(playwright)) as browser:
        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(url)
        page.wait_for_function("() => window.harnessReady === true", timeout=30_000)
        result: dict[str, Any] = page.evaluate(_MEASURE)
    check(not errors, f"the harness page raised: {errors[:3]}")
    _check_end_state(result, pods=pods, nodes=nodes, updated=delta_size * deltas,
                     version=updates[-1]["version"])
    return result


@contextlib.contextmanager
def _closing(browser: Any) -> Iterator[Any]:
    try:
        yield browser
    finally:
        browser.close()


def _check_end_state(result: dict[str, Any], *, pods: int, nodes: int, updated: int,
                     version: int) -> None:
    check(all(s["applied"] for s in result["samples"]),
          "the board refused a delta (its version was not the delta's base)")
    check(result["podCount"] == pods, f"data-pod-count is {result['podCount']}, "
                                      f"expected {pods}")
    check(result["nodeCount"] == nodes, f"data-node-count is {result['nodeCount']}, "
                                        f"expected {nodes}")
    check(result["version"] == version, f"data-version is {result['version']}, "
                                        f"expected {version}")
    check(result["updated"] == updated, f"{result['updated']} pods run {NEW_IMAGE}, "
                                        f"expected {updated}")


def run(quick: bool) -> list[Row]:
    pods, nodes, delta_size = (1_000, 100, 100) if quick else (10_000, 1_000, 1_000)
    deltas = 3 if quick else DELTAS
    reason = chromium_missing()
    if reason:
        return [Row("podboard_browser: first draw", pods, None, skipped=reason)]
    result = measure(pods=pods, nodes=nodes, delta_size=delta_size, deltas=deltas)
    walls = [s["wall"] for s in result["samples"]]
    draws = [s["draw"] for s in result["samples"]]
    applies = [s["apply"] for s in result["samples"]]
    work = [a + d for a, d in zip(applies, draws, strict=True)]
    median = statistics.median(work)
    canvas = "x".join(map(str, result["canvas"]))
    first = Row("podboard_browser: first draw", pods, result["first"] / 1000,
                target="" if quick else f"<= {TARGET_FIRST_DRAW_MS / 1000:g} s",
                met=None if quick else result["first"] <= TARGET_FIRST_DRAW_MS,
                note=f"mount to painted frame; board draw {result['firstDraw']:.1f} ms; "
                     f"{nodes:,} nodes, canvas {canvas} px",
                extra={"first_ms": result["first"], "board_draw_ms": result["firstDraw"]})
    delta = Row(f"podboard_browser: {delta_size:,}-pod delta", pods, median / 1000,
                target="" if quick else f"<= {TARGET_DELTA_MS:g} ms",
                met=None if quick else median <= TARGET_DELTA_MS,
                note=f"apply + draw, median of {len(work)} (best {min(work):.1f} ms): apply "
                     f"{statistics.median(applies):.1f} + draw {statistics.median(draws):.1f} "
                     f"ms; to painted frame {statistics.median(walls):.1f} ms median",
                extra={"work_ms": work, "apply_ms": applies, "board_draw_ms": draws,
                       "to_frame_ms": walls, "median_ms": median})
    return [first, delta]
