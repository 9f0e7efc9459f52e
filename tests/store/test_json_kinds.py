"""Kinds the store keeps as JSON only (``StoreSettings.json_kinds``: Events) behave like
every other kind to a client; and the JSON the store keeps is of its exact size."""

from __future__ import annotations

import sys
import tracemalloc
from typing import Any

import orjson
import pytest

from kitlib.cluster import ClusterSettings, EmbeddedCluster
from kitlib.model import errors
from kitlib.model.selectors import FieldSelector
from kitlib.store import Store, StoreSettings
from kitlib.store.watch import History, WatchEvent, dumps_exact


def _event(name: str, involved: str = "a", **extra: Any) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "default"}, "reason": "Pulled",
            "message": f"pulled for {involved}", "type": "Normal", "count": 1,
            "involvedObject": {"kind": "Pod", "name": involved, "namespace": "default"},
            **extra}


def test_events_are_held_as_json_and_read_as_private_copies(store: Store) -> None:
    created = store.create("events", _event("e1"))
    table = store._tables["events"]
    assert table.json_only
    assert isinstance(table.raw_of(("default", "e1")), bytes)
    first, second = store.get("events", "default", "e1"), store.get("events", "default", "e1")
    assert first == second == created and first is not second
    first["message"] = "scribbled on a copy"
    assert store.get("events", "default", "e1")["message"] == "pulled for a"
    store.create("configmaps", {"metadata": {"name": "c", "namespace": "default"}})
    assert store._tables["configmaps"].json_only is False


def test_json_kinds_list_select_count_and_modify_like_any_kind(store: Store) -> None:
    for i in range(5):
        store.create("events", _event(f"e{i}", involved="web-0" if i % 2 else "web-1"))
    assert store.count("events") == 5 and store.count("events", "default") == 5
    listed = store.list_objects("events", limit=2)
    assert [e["metadata"]["name"] for e in listed.items] == ["e0", "e1"]
    assert listed.remaining == 3
    on_web0 = store.select("events", fields=FieldSelector.parse("involvedObject.name=web-0"))
    assert [e["metadata"]["name"] for e in on_web0] == ["e1", "e3"]
    assert {e["metadata"]["name"] for e in store.iter_objects("events")} == \
        {f"e{i}" for i in range(5)}
    bumped = store.modify("events", "default", "e2", lambda e: e.__setitem__("count", 2))
    assert store.get("events", "default", "e2")["count"] == 2 == bumped["count"]
    raws = store.raw_many("events", store.select("events"))
    assert [orjson.loads(r) for r in raws] == store.select("events")


def test_json_kinds_watch_with_previous_versions_and_deletes(store: Store) -> None:
    store.create("events", _event("e1", involved="web-0"))
    start = store.resource_version
    watcher = store.watch("events", fields=FieldSelector.parse("involvedObject.name=web-0"),
                          resource_version=str(start))

    def move(e: dict[str, Any]) -> None:
        e["involvedObject"]["name"] = "web-9"
    store.modify("events", "default", "e1", move)  # stops matching: DELETED with the old one
    store.create("events", _event("e2", involved="web-0"))
    store.delete("events", "default", "e2")
    seen = [(kind, ev.obj["metadata"]["name"]) for kind, ev in watcher.drain()]
    assert seen == [("DELETED", "e1"), ("ADDED", "e2"), ("DELETED", "e2")]
    with pytest.raises(errors.NotFound):
        store.get("events", "default", "e2")
    assert store.count("events") == 1


def test_a_cluster_with_events_as_json_has_the_same_history_as_with_dicts() -> None:
    def run(json_kinds: tuple[str, ...]) -> tuple[str, list[Any]]:
        c = EmbeddedCluster(ClusterSettings(seed=3, nodes=2,
                                            store=StoreSettings(json_kinds=json_kinds)))
        c.create({"apiVersion": "v1", "kind": "Pod",
                  "metadata": {"name": "p", "namespace": "default"},
                  "spec": {"containers": [{"name": "c", "image": "nginx:1"}]}})
        c.advance(30)
        events = sorted((e["metadata"]["name"], e["reason"], e["count"])
                        for e in c.store.iter_objects("events"))
        assert c.store.verify_integrity() == []
        return c.store.digest, events
    as_json, as_dicts = run(("events",)), run(())
    assert as_json == as_dicts
    assert len(as_json[1]) >= 5  # node and pod events were recorded


def test_an_event_past_the_hot_window_drops_its_dict_but_not_its_json() -> None:
    history = History(capacity=10)
    kept = WatchEvent(1, "ADDED", "events", {"metadata": {"name": "e"}}, None, json_only=True)
    plain = WatchEvent(2, "ADDED", "pods", {"metadata": {"name": "p"}}, None)
    history.append(kept)
    history.append(plain)
    kept.compact()
    plain.compact()
    assert kept._obj is None and kept.obj == {"metadata": {"name": "e"}}
    assert plain._obj is not None  # the latest version of a dict kind stays the stored dict


def test_the_history_forgets_previous_versions_of_events_it_no_longer_holds() -> None:
    history = History(capacity=2)
    first = WatchEvent(1, "MODIFIED", "pods", {"metadata": {"name": "p"}},
                       {"metadata": {"name": "p", "labels": {"a": "b"}}})
    history.append(first)
    assert first.prev is not None
    for rv in (2, 3):
        history.append(WatchEvent(rv, "ADDED", "pods", {"metadata": {"name": f"q{rv}"}}, None))
    assert first.prev is None  # out of the window: no watch can replay it


def test_kept_json_is_allocated_at_its_own_size() -> None:
    obj = {"metadata": {"name": "e" * 40}, "message": "m" * 600}
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        kept = [dumps_exact(obj) for _ in range(200)]
        per = (tracemalloc.get_traced_memory()[0] - before) / len(kept)
    finally:
        tracemalloc.stop()
    assert kept[0] == orjson.dumps(obj)
    assert per < 2 * sys.getsizeof(kept[0]), f"{per:.0f} bytes kept per {len(kept[0])}-byte JSON"
