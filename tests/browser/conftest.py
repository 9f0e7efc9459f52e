"""Fixtures of the real-browser tests: Debian's chromium driven by Playwright (sync API),
JupyterLab and Voila on loopback.

Nothing is downloaded: the browser is ``/usr/bin/chromium`` (``.ci/run`` installs it with
apt-get), never ``playwright install``. Where chromium, the playwright package or a Jupyter
package is missing the tests skip and say what is missing — except under CI (``CI`` set),
where they fail: CI installs everything, so a skip there would hide a broken install.

Every test leaves a screenshot of each page it used in ``test-artifacts/browser/``
(``<test>.png``, or ``<test>-FAILED.png``), plus the page's console log when it failed;
tests add their own step screenshots with ``shots``. The browser lives for the session; each
server for the test module that uses it, and it is always stopped with everything it started.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from benchmarks.podboard_browser import chromium_missing, launch_chromium
from tests.browser import notebook as nb
from tests.browser.pages import ARTIFACTS, Pages, failed, stem
from tests.browser.servers import JupyterEnv, Server, start_lab, start_voila


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason} — CI installs it, so the browser tests must run there",
                    pytrace=False)
    pytest.skip(reason)


def _require_modules(*names: str) -> None:
    for name in names:
        if importlib.util.find_spec(name) is None:
            _unavailable(f"the {name} package is not installed (pip install -e '.[test]')")


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


# -- the browser ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Debian chromium, shared by one module's tests. Not session-wide: Playwright's
    sync API keeps an asyncio loop marked running on the main thread while it is open, and
    tests outside tests/browser (widgets with a live loop, ``asyncio.run``) must not see it."""
    reason = chromium_missing()
    if reason:
        _unavailable(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def pages(browser: Any, request: pytest.FixtureRequest) -> Iterator[Pages]:
    """Fresh pages for one test (``pages.new()``), screenshotted and closed after it."""
    opened = Pages(browser)
    yield opened
    opened.save(stem(request.node), failed=failed(request.node))
    opened.close()


@pytest.fixture
def shots(request: pytest.FixtureRequest) -> Callable[[Any, str], Path]:
    """``shots(page, "step")``: a screenshot ``<test>-<step>.png`` in the artifacts."""
    def take(page: Any, step: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{stem(request.node)}-{step}.png"
        page.screenshot(path=str(path), full_page=True)
        return path
    return take


# -- Jupyter -------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def jupyter_env() -> Iterator[JupyterEnv]:
    """A private Jupyter environment holding the dashboard notebook."""
    _require_modules("jupyterlab", "voila", "ipykernel", "nbformat")
    root = Path(tempfile.mkdtemp(prefix="kitlib-browser-"))
    env = JupyterEnv.create(root)
    nb.write_dashboard_notebook(env.notebooks / nb.DASHBOARD)
    try:
        yield env
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _serve(start: Callable[[], Server]) -> Iterator[Server]:
    server = start()
    try:
        yield server
    finally:
        server.stop()
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shutil.copy(server.log, ARTIFACTS / server.log.name)


@pytest.fixture(scope="module")
def lab_server(jupyter_env: JupyterEnv) -> Iterator[Server]:
    """JupyterLab on 127.0.0.1 (random port and token), stopped after the module."""
    yield from _serve(lambda: start_lab(jupyter_env, logs=jupyter_env.root / "logs"))


@pytest.fixture(scope="module")
def voila_server(jupyter_env: JupyterEnv) -> Iterator[Server]:
    """Voila serving the dashboard notebook on 127.0.0.1, stopped after the module."""
    yield from _serve(lambda: start_voila(jupyter_env, jupyter_env.notebooks / nb.DASHBOARD,
                                          logs=jupyter_env.root / "logs"))
