"""After a browser test module, no asyncio loop is left marked running on the main thread
(Playwright's sync API holds one while open), so later tests can use ``asyncio.run``."""

from __future__ import annotations

import asyncio


def test_no_event_loop_is_left_running_on_the_main_thread() -> None:
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    assert running is None
    assert asyncio.run(asyncio.sleep(0, result=7)) == 7
