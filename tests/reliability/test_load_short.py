"""A short version of the load benchmark (``benchmarks/load.py``), with the same assertions.

10 writers and 10 watchers (in two processes per role) write and watch for 10 s
against a real ``kitlib serve`` process: no 5xx or 4xx, every acknowledged write
delivered exactly once and in order to the watch of its kind and namespace, the
stored state equal to the writes, no server traceback. Timings are reported by
the benchmark, not asserted here.

The relist-after-410 path cannot be reached in a short run against ``kitlib
serve`` (its watch history holds 100,000 events), so it is tested on its own: a
watcher of the load client against a server with a tiny history, and the
checker on hand-made streams that a broken server could produce.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from benchmarks.load import LoadPlan, check_stream, percentiles, run_load
from benchmarks.load_client import Connection, Stream
from kitlib.cluster.embedded import ClusterSettings
from kitlib.store.store import StoreSettings

if TYPE_CHECKING:
    from conftest import ThreadedServer


def test_ten_writers_and_ten_watchers_for_ten_seconds_lose_nothing_and_get_no_errors(
) -> None:
    result = run_load(LoadPlan(writers=10, watchers=10, seconds=10.0, processes=2,
                               drain_timeout=30.0))
    assert result.problems == []
    assert result.streams == 20
    assert result.requests > 100 and result.events_checked == result.requests
    assert set(result.latencies) == {"create", "replace", "patch", "delete", "scale",
                                     "patch-deployment"}
    assert result.rss_start > 0 and result.rss_end > 0


def _segment(start: int, events: list[list[Any]], relist: dict[str, int] | None = None
             ) -> dict[str, Any]:
    return {"start": start, "relist": relist, "events": events}


def _stream(*segments: dict[str, Any]) -> dict[str, Any]:
    return {"namespace": "ns", "kind": "configmaps", "segments": list(segments)}


WRITES = [("a", 11, "ADDED"), ("b", 12, "ADDED"), ("a", 13, "MODIFIED"), ("b", 14, "DELETED"),
          ("c", 15, "ADDED")]
EVENTS = [["ADDED", 11, "a"], ["ADDED", 12, "b"], ["MODIFIED", 13, "a"], ["DELETED", 14, "b"],
          ["ADDED", 15, "c"]]


def test_the_checker_accepts_every_write_once_in_order() -> None:
    assert check_stream(_stream(_segment(10, EVENTS)), WRITES, {}, exact=True) == (5, [])


def test_the_checker_finds_lost_duplicated_reordered_mistyped_and_phantom_events() -> None:
    cases = {
        "never delivered": EVENTS[:2] + EVENTS[3:],
        "duplicated or out of order": [*EVENTS[:3], EVENTS[1], *EVENTS[3:]],
        "delivered as": [*EVENTS[:2], ["ADDED", 13, "a"], *EVENTS[3:]],
        "no writer made": [*EVENTS, ["MODIFIED", 16, "c"]],
    }
    for expected, events in cases.items():
        _, problems = check_stream(_stream(_segment(10, events)), WRITES, {}, exact=True)
        assert problems and expected in problems[0], (expected, problems)
    _, problems = check_stream(_stream(_segment(10, [*EVENTS, ["MODIFIED", 16, "c"]])), WRITES,
                               {}, exact=False)
    assert problems == []  # a controller's write to a kind it shares with the writers


def test_a_relist_after_410_must_match_the_writes_up_to_its_resource_version() -> None:
    after_410 = _stream(_segment(10, EVENTS[:1]), _segment(14, EVENTS[4:], {"a": 13}))
    assert check_stream(after_410, WRITES, {}, exact=True) == (2, [])
    stale = _stream(_segment(10, EVENTS[:1]), _segment(14, EVENTS[4:], {"a": 11, "b": 12}))
    _, problems = check_stream(stale, WRITES, {}, exact=True)
    assert len(problems) == 1 and "relist at RV 14" in problems[0]


def test_percentiles_are_nearest_rank() -> None:
    p = percentiles([float(i) for i in range(1, 101)])
    assert p == {"count": 100, "p50": 50.0, "p90": 90.0, "p99": 99.0, "max": 100.0,
                 "over_1s": 99}


def test_a_load_watcher_relists_after_410_and_its_stream_checks_out(
        start_api_server: Callable[..., ThreadedServer]) -> None:
    server = start_api_server(cluster_settings=ClusterSettings(
        store=StoreSettings(history_size=5)))
    api = Connection(server.kubeconfig)
    try:
        status, _ = api.request("POST", "/api/v1/namespaces", {"metadata": {"name": "ns"}})
        assert status == 201
        _, listed = api.request("GET", "/api/v1/namespaces/ns/configmaps")
        start = int(listed["metadata"]["resourceVersion"])
        writes = []
        for i in range(20):
            _, created = api.request("POST", "/api/v1/namespaces/ns/configmaps",
                                     {"metadata": {"name": f"c{i}"}})
            writes.append((f"c{i}", int(created["metadata"]["resourceVersion"]), "ADDED"))
    finally:
        api.close()
    stream = Stream("configmaps", "ns", Connection(server.kubeconfig), start)
    stream.target = writes[-1][1]
    stream.follow([float("inf")])
    stream.connection.close()
    result = stream.result()
    assert result["errors"] == []
    assert [s["relist"] is not None for s in result["segments"]] == [False, True]
    assert check_stream(result, writes, {}, exact=True) == (0, [])
