"""``kitlib.client.raw.loads``: the cyclic GC is paused for large bodies, then as it was."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator

import orjson
import pytest

from kitlib.client import raw

BIG = orjson.dumps({"items": [{"metadata": {"name": f"p{i}"}} for i in range(60_000)]})


@pytest.fixture(autouse=True)
def _restore_gc() -> Iterator[None]:
    enabled = gc.isenabled()
    yield
    if enabled:
        gc.enable()
    else:
        gc.disable()


def test_a_large_body_is_parsed_with_the_gc_paused(monkeypatch: pytest.MonkeyPatch) -> None:
    assert len(BIG) >= raw.GC_PAUSE_BYTES
    seen: list[bool] = []
    real_loads = orjson.loads

    def loads(data: bytes) -> object:
        seen.append(gc.isenabled())
        return real_loads(data)

    monkeypatch.setattr(raw.orjson, "loads", loads)
    gc.enable()
    assert raw.loads(BIG)["items"][-1] == {"metadata": {"name": "p59999"}}
    assert raw.loads(b'{"small": true}') == {"small": True}
    assert seen == [False, True]
    assert gc.isenabled()


def test_a_program_that_disabled_the_gc_keeps_it_disabled() -> None:
    gc.disable()
    raw.loads(BIG)
    assert not gc.isenabled()


def test_the_gc_comes_back_after_a_parse_error_and_concurrent_parses() -> None:
    gc.enable()
    with pytest.raises(orjson.JSONDecodeError):
        raw.loads(BIG[:-1])
    assert gc.isenabled()
    threads = [threading.Thread(target=raw.loads, args=(BIG,)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert gc.isenabled()


def test_a_large_parse_result_starts_in_the_oldest_generation() -> None:
    # Left young, the result (60,000 dicts) would be traversed by the next young
    # collection and then by the middle one; promoted, it waits for a full one.
    gc.enable()
    parsed = raw.loads(BIG)
    young_count = gc.get_count()[0]
    oldest = gc.get_objects(generation=2)
    assert any(obj is parsed["items"] for obj in oldest)
    assert young_count < 1_000  # the allocation count of the young generation was reset
    assert gc.isenabled()


def test_a_small_body_is_left_to_the_collector_as_usual() -> None:
    gc.enable()
    parsed = raw.loads(b'{"items": [{"a": [1]}, {"b": [2]}]}')
    assert not any(obj is parsed["items"] for obj in gc.get_objects(generation=2))


def test_objects_the_program_froze_stay_frozen() -> None:
    gc.enable()
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        assert frozen > 0
        raw.loads(BIG)
        assert gc.get_freeze_count() >= frozen
        assert gc.isenabled()
    finally:
        gc.unfreeze()
