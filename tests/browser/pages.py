"""Browser pages for one test or one module: offline, console recorded, screenshotted.

Screenshots and, for a failed test, the page's console log go to ``test-artifacts/browser/``
(``<test>.png`` or ``<test>-FAILED.png`` and ``<test>-FAILED.console.log``).
"""

from __future__ import annotations

import contextlib
import re
from pathlib import Path
from typing import Any

import pytest

__all__ = ["ARTIFACTS", "VIEWPORT", "Pages", "failed", "stem"]

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "browser"
VIEWPORT = {"width": 1400, "height": 1000}

_LOOPBACK = re.compile(r"^https?://(127\.0\.0\.1|localhost|\[::1\])(:\d+)?/")


class Pages:
    """Pages opened for a test; records their console output for failure reports.

    Requests leave the machine never: anything not to loopback is aborted (Voila's page
    asks a CDN for icon fonts) and recorded, and the console errors those aborts cause
    are not counted by ``errors``.
    """

    def __init__(self, browser: Any) -> None:
        self.browser = browser
        self.open: list[Any] = []
        self.console: dict[int, list[str]] = {}
        self.blocked: set[str] = set()

    def _route(self, route: Any) -> None:
        url = route.request.url
        if _LOOPBACK.match(url):
            route.continue_()
        else:
            self.blocked.add(url)
            route.abort()

    def _on_console(self, log: list[str], msg: Any) -> None:
        where = (msg.location or {}).get("url", "")
        if msg.type == "error" and where in self.blocked:
            log.append(f"[blocked] {where}")
        else:
            log.append(f"[{msg.type}] {msg.text}" + (f" ({where})" if where else ""))

    def new(self, *, height: int = VIEWPORT["height"]) -> Any:
        """A page in a fresh browser context (``height``: of the viewport, in px)."""
        context = self.browser.new_context(viewport={**VIEWPORT, "height": height})
        context.route(re.compile(r"^https?://"), self._route)
        page = context.new_page()
        log = self.console.setdefault(id(page), [])
        page.on("console", lambda msg: self._on_console(log, msg))
        page.on("pageerror", lambda exc: log.append(f"[pageerror] {exc}"))
        self.open.append(page)
        return page

    def errors(self, page: Any) -> list[str]:
        return [line for line in self.console.get(id(page), [])
                if line.startswith(("[error]", "[pageerror]"))]

    def save(self, stem: str, *, failed: bool) -> None:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        for i, page in enumerate(self.open):
            name = stem + (f"-{i}" if i else "") + ("-FAILED" if failed else "")
            with contextlib.suppress(Exception):  # a crashed page must not hide the failure
                page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
            if failed:
                (ARTIFACTS / f"{name}.console.log").write_text(
                    "\n".join(self.console.get(id(page), [])), encoding="utf-8")

    def close(self) -> None:
        for page in self.open:
            with contextlib.suppress(Exception):
                page.context.close()
        self.open.clear()


def stem(node: pytest.Item) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", node.name)


def failed(node: pytest.Item) -> bool:
    return any(getattr(getattr(node, f"rep_{when}", None), "failed", False)
               for when in ("setup", "call"))
