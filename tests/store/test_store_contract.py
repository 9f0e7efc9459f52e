"""The store contract (see kitlib/store/store.py), one behaviour per test."""

from __future__ import annotations

from typing import Any

import pytest

from kitlib.cluster import ClusterSettings, EmbeddedCluster
from kitlib.model import errors
from kitlib.model.selectors import FieldSelector, LabelSelector
from kitlib.store import DeleteOptions, Store
from tests.manifests import deployment, pod


def test_every_write_bumps_the_one_resource_version(store: Store) -> None:
    start = store.resource_version
    a = store.create("pods", pod("a"))
    cm = store.create("configmaps", {"metadata": {"name": "c", "namespace": "default"}})
    assert int(a["metadata"]["resourceVersion"]) == start + 1
    assert int(cm["metadata"]["resourceVersion"]) == start + 2
    assert store.resource_version == start + 2


def test_create_fills_server_owned_metadata_and_ignores_clients_values(store: Store) -> None:
    created = store.create("pods", pod("a", uid="mine", resourceVersion="99", generation=7))
    meta = created["metadata"]
    assert meta["uid"] != "mine" and len(meta["uid"]) == 36
    assert meta["creationTimestamp"] == "2026-01-01T00:00:00Z"
    assert meta["resourceVersion"] != "99"
    assert "generation" not in meta  # pods do not track generation


def test_creating_an_existing_name_is_409_already_exists(store: Store) -> None:
    store.create("pods", pod("a"))
    with pytest.raises(errors.AlreadyExists, match='pods "a" already exists'):
        store.create("pods", pod("a"))


def test_generate_name_appends_five_random_characters(store: Store) -> None:
    obj = pod("")
    obj["metadata"] = {"generateName": "web-", "namespace": "default"}
    name = store.create("pods", obj)["metadata"]["name"]
    assert name.startswith("web-") and len(name) == 9


def test_an_update_with_a_stale_resource_version_is_409_conflict(store: Store) -> None:
    created = store.create("configmaps", {"metadata": {"name": "c", "namespace": "default"},
                                          "data": {"a": "1"}})
    store.update("configmaps", {**created, "data": {"a": "2"}})
    with pytest.raises(errors.Conflict, match="the object has been modified"):
        store.update("configmaps", {**created, "data": {"a": "3"}})


def test_an_update_without_resource_version_is_unconditional_for_builtins(store: Store) -> None:
    store.create("configmaps", {"metadata": {"name": "c", "namespace": "default"}})
    updated = store.update("configmaps", {"metadata": {"name": "c", "namespace": "default"},
                                          "data": {"a": "1"}})
    assert updated["data"] == {"a": "1"}


def test_generation_starts_at_one_and_is_bumped_by_spec_changes_only(store: Store) -> None:
    d = store.create("deployments.apps", deployment("web"))
    assert d["metadata"]["generation"] == 1
    labelled = store.modify("deployments.apps", "default", "web",
                            lambda o: o["metadata"].setdefault("labels", {}).update(x="y"))
    assert labelled["metadata"]["generation"] == 1
    status = store.modify("deployments.apps", "default", "web",
                          lambda o: o.update(status={"replicas": 1}), subresource="status")
    assert status["metadata"]["generation"] == 1
    scaled = store.modify("deployments.apps", "default", "web",
                          lambda o: o["spec"].update(replicas=3))
    assert scaled["metadata"]["generation"] == 2


def test_main_resource_writes_keep_status_and_status_writes_keep_spec(store: Store) -> None:
    store.create("deployments.apps", deployment("web"))
    store.modify("deployments.apps", "default", "web",
                 lambda o: o.update(status={"replicas": 5}), subresource="status")
    after_spec = store.modify("deployments.apps", "default", "web",
                              lambda o: o.update(status={"replicas": 0}, spec={
                                  **o["spec"], "replicas": 2}))
    assert after_spec["status"] == {"replicas": 5} and after_spec["spec"]["replicas"] == 2
    after_status = store.modify("deployments.apps", "default", "web",
                                lambda o: o["spec"].update(replicas=9), subresource="status")
    assert after_status["spec"]["replicas"] == 2


def test_an_update_that_changes_nothing_is_not_a_write(store: Store) -> None:
    created = store.create("configmaps", {"metadata": {"name": "c", "namespace": "default"},
                                          "data": {"a": "1"}})
    rv = store.resource_version
    same = store.update("configmaps", created)
    assert same["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]
    assert store.resource_version == rv


def test_dry_run_writes_nothing(store: Store) -> None:
    rv = store.resource_version
    result = store.create("pods", pod("a"), dry_run=True)
    assert result["metadata"]["name"] == "a"
    assert store.peek("pods", "default", "a") is None and store.resource_version == rv


def test_namespaced_objects_need_an_existing_namespace(store: Store) -> None:
    obj = pod("a")
    obj["metadata"]["namespace"] = "nowhere"
    with pytest.raises(errors.NotFound, match='namespaces "nowhere" not found'):
        store.create("pods", obj)


def test_invalid_names_are_rejected_with_the_rule(store: Store) -> None:
    with pytest.raises(errors.Invalid, match="RFC 1123 subdomain"):
        store.create("pods", pod("Web_1"))
    with pytest.raises(errors.Invalid, match="Required value"):
        store.create("configmaps", {"metadata": {"namespace": "default"}})


# -- deletion, finalizers, garbage collection ------------------------------------------

def test_delete_without_finalizers_removes_at_once(store: Store) -> None:
    store.create("pods", pod("a"))
    last = store.delete("pods", "default", "a")
    assert last["metadata"]["name"] == "a"
    assert store.peek("pods", "default", "a") is None


def test_finalizers_hold_a_deleted_object_until_removed(cluster: EmbeddedCluster) -> None:
    store = cluster.store
    store.create("configmaps", {"metadata": {"name": "c", "namespace": "default",
                                             "finalizers": ["example.com/keep"]}})
    held = store.delete("configmaps", "default", "c")
    assert held["metadata"]["deletionTimestamp"] == "2026-01-01T00:00:00Z"
    with pytest.raises(errors.Invalid, match="no new finalizers"):
        store.modify("configmaps", "default", "c",
                     lambda o: o["metadata"]["finalizers"].append("another"))
    store.modify("configmaps", "default", "c", lambda o: o["metadata"].update(finalizers=[]))
    assert store.peek("configmaps", "default", "c") is None


def test_delete_preconditions_that_do_not_match_are_409(store: Store) -> None:
    store.create("pods", pod("a"))
    with pytest.raises(errors.Conflict, match="Precondition failed: UID"):
        store.delete("pods", "default", "a", DeleteOptions(precondition_uid="other"))


def test_a_deletion_policy_can_make_deletion_graceful(store: Store) -> None:
    store.set_deletion_policy("pods", lambda obj, opts: 30 if opts.grace_period_seconds is None
                              else opts.grace_period_seconds)
    store.create("pods", pod("a"))
    terminating = store.delete("pods", "default", "a")
    assert terminating["metadata"]["deletionGracePeriodSeconds"] == 30
    assert terminating["metadata"]["deletionTimestamp"] == "2026-01-01T00:00:30Z"
    store.delete("pods", "default", "a", DeleteOptions(grace_period_seconds=0))
    assert store.peek("pods", "default", "a") is None


def _owned_pod(name: str, owner: dict[str, Any], block: bool = True) -> dict[str, Any]:
    obj = pod(name)
    obj["metadata"]["ownerReferences"] = [{
        "apiVersion": "apps/v1", "kind": "Deployment", "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"], "controller": True, "blockOwnerDeletion": block}]
    return obj


def test_background_deletion_collects_dependents_right_after(cluster: EmbeddedCluster) -> None:
    store = cluster.store
    owner = store.create("deployments.apps", deployment("web"))
    for i in range(3):
        store.create("pods", _owned_pod(f"p{i}", owner))
    store.delete("deployments.apps", "default", "web")
    assert store.count("pods") == 3
    cluster.settle()
    assert store.count("pods") == 0


def test_foreground_deletion_keeps_the_owner_until_dependents_are_gone(
        cluster: EmbeddedCluster) -> None:
    store = cluster.store
    store.set_deletion_policy("pods", lambda obj, opts: 0 if opts.grace_period_seconds == 0
                              else 30)
    owner = store.create("deployments.apps", deployment("web"))
    store.create("pods", _owned_pod("p0", owner))
    deleting = store.delete("deployments.apps", "default", "web",
                            DeleteOptions(propagation_policy="Foreground"))
    assert "foregroundDeletion" in deleting["metadata"]["finalizers"]
    cluster.settle()
    assert store.peek("pods", "default", "p0")["metadata"]["deletionTimestamp"]
    assert store.peek("deployments.apps", "default", "web") is not None
    store.delete("pods", "default", "p0", DeleteOptions(grace_period_seconds=0))
    cluster.settle()
    assert store.peek("deployments.apps", "default", "web") is None


def test_orphan_deletion_leaves_dependents_without_the_owner_reference(
        cluster: EmbeddedCluster) -> None:
    store = cluster.store
    owner = store.create("deployments.apps", deployment("web"))
    store.create("pods", _owned_pod("p0", owner))
    store.delete("deployments.apps", "default", "web", DeleteOptions(propagation_policy="Orphan"))
    cluster.settle()
    assert store.peek("deployments.apps", "default", "web") is None
    orphan = store.peek("pods", "default", "p0")
    assert orphan is not None and "ownerReferences" not in orphan["metadata"]


def test_a_dependent_with_another_live_owner_only_loses_the_dead_reference(
        cluster: EmbeddedCluster) -> None:
    store = cluster.store
    a = store.create("deployments.apps", deployment("a"))
    b = store.create("deployments.apps", deployment("b"))
    obj = _owned_pod("shared", a)
    obj["metadata"]["ownerReferences"].append({**obj["metadata"]["ownerReferences"][0],
                                               "name": "b", "uid": b["metadata"]["uid"],
                                               "controller": False})
    store.create("pods", obj)
    store.delete("deployments.apps", "default", "a")
    cluster.settle()
    refs = store.peek("pods", "default", "shared")["metadata"]["ownerReferences"]
    assert [r["name"] for r in refs] == ["b"]


def test_an_object_created_for_a_missing_owner_is_collected(cluster: EmbeddedCluster) -> None:
    ghost = {"metadata": {"name": "ghost", "uid": "00000000-0000-4000-8000-000000000000"}}
    cluster.store.create("pods", _owned_pod("p", ghost))
    cluster.settle()
    assert cluster.store.peek("pods", "default", "p") is None


def test_deleting_a_namespace_deletes_its_content(cluster: EmbeddedCluster) -> None:
    store = cluster.store
    store.create("namespaces", {"metadata": {"name": "team"}})
    obj = pod("a")
    obj["metadata"]["namespace"] = "team"
    store.create("pods", obj)
    store.delete("namespaces", "", "team")
    cluster.settle()
    assert store.count("pods", "team") == 0


# -- selectors and indexes ----------------------------------------------------------------

def test_lists_filter_by_label_and_field_selectors(store: Store) -> None:
    store.create("pods", pod("a", {"app": "web", "tier": "fe"}))
    store.create("pods", pod("b", {"app": "web"}))
    store.create("pods", pod("c", {"app": "db"}))

    def names(labels: str = "", fields: str = "") -> list[str]:
        result = store.list_objects("pods", labels=LabelSelector.parse(labels),
                                    fields=FieldSelector.parse(fields))
        return [o["metadata"]["name"] for o in result.items]

    assert names("app=web") == ["a", "b"]
    assert names("app in (web,db),!tier") == ["b", "c"]
    assert names("app!=web") == ["c"]
    assert names(fields="metadata.name=b") == ["b"]
    assert names("app=web", "metadata.name!=a") == ["b"]
    assert names(fields="status.phase=Pending") == ["a", "b", "c"]
    with pytest.raises(errors.BadRequest, match=r"field label not supported: spec\.image"):
        names(fields="spec.image=x")


def test_label_and_field_indexes_follow_updates(store: Store) -> None:
    store.create("pods", pod("a", {"app": "web"}))
    store.modify("pods", "default", "a", lambda o: o["metadata"]["labels"].update(app="db"))
    assert store.indexes.with_label("pods", "app", "web") == set()
    assert store.indexes.with_label("pods", "app", "db") == {("default", "a")}
    store.delete("pods", "default", "a")
    assert store.indexes.with_label("pods", "app", "db") == set()
    assert store.indexes.with_field("pods", "status.phase", "Pending") == set()


def test_paging_with_limit_and_continue_returns_each_object_once(store: Store) -> None:
    for i in range(7):
        store.create("pods", pod(f"p{i}"))
    seen, token, rvs = [], None, set()
    while True:
        page = store.list_objects("pods", limit=3, continue_token=token)
        seen += [o["metadata"]["name"] for o in page.items]
        rvs.add(page.resource_version)
        token = page.continue_token
        if not token:
            break
    assert seen == [f"p{i}" for i in range(7)] and len(rvs) == 1


# -- watch ----------------------------------------------------------------------------

def _kinds(events: list[tuple[str, Any]]) -> list[tuple[str, str]]:
    return [(kind, ev.obj["metadata"]["name"]) for kind, ev in events]


def test_a_watch_from_a_resource_version_replays_every_later_change(store: Store) -> None:
    store.create("pods", pod("a"))
    rv = str(store.resource_version)
    store.create("pods", pod("b"))
    store.modify("pods", "default", "a", lambda o: o["metadata"]["labels"].update(x="1"))
    store.delete("pods", "default", "b")
    watcher = store.watch("pods", resource_version=rv)
    assert _kinds(watcher.drain()) == [("ADDED", "b"), ("MODIFIED", "a"), ("DELETED", "b")]


def test_a_watch_without_resource_version_starts_with_the_current_objects(store: Store) -> None:
    store.create("pods", pod("a"))
    watcher = store.watch("pods", resource_version="0")
    store.create("pods", pod("b"))
    assert _kinds(watcher.drain()) == [("ADDED", "a"), ("ADDED", "b")]


def test_a_watch_from_a_compacted_resource_version_is_410_expired(store: Store) -> None:
    rv = str(store.resource_version)
    for i in range(60):  # the fixture keeps 50 events
        store.create("configmaps", {"metadata": {"name": f"c{i}", "namespace": "default"}})
    with pytest.raises(errors.Expired, match=f"too old resource version: {rv}"):
        store.watch("pods", resource_version=rv)


def test_a_watch_from_a_future_resource_version_is_refused(store: Store) -> None:
    with pytest.raises(errors.Timeout, match="Too large resource version"):
        store.watch("pods", resource_version=str(store.resource_version + 100))


def test_objects_entering_and_leaving_a_selector_are_added_and_deleted(store: Store) -> None:
    store.create("pods", pod("a", {"app": "web"}))
    watcher = store.watch("pods", labels=LabelSelector.parse("tier=fe"),
                          resource_version=str(store.resource_version))
    store.modify("pods", "default", "a", lambda o: o["metadata"]["labels"].update(tier="fe"))
    store.modify("pods", "default", "a", lambda o: o["metadata"]["labels"].update(x="1"))
    store.modify("pods", "default", "a", lambda o: o["metadata"]["labels"].pop("tier"))
    assert [k for k, _ in watcher.drain()] == ["ADDED", "MODIFIED", "DELETED"]


def test_a_closed_watcher_gets_nothing_more(store: Store) -> None:
    watcher = store.watch("pods", resource_version=str(store.resource_version))
    watcher.close()
    store.create("pods", pod("a"))
    assert watcher.drain() == [] and store.watcher_count() == 0


def test_a_watcher_that_falls_too_far_behind_is_closed() -> None:
    from kitlib.store import StoreSettings

    cluster = EmbeddedCluster(ClusterSettings(store=StoreSettings(watcher_buffer=3)))
    watcher = cluster.store.watch("configmaps", resource_version="0")
    for i in range(5):
        cluster.store.create("configmaps", {"metadata": {"name": f"c{i}",
                                                         "namespace": "default"}})
    assert watcher.closed and "too far behind" in watcher.close_reason


# -- determinism ------------------------------------------------------------------------

def _scenario(seed: int) -> tuple[str, list[str]]:
    cluster = EmbeddedCluster(ClusterSettings(seed=seed))
    store = cluster.store
    owner = store.create("deployments.apps", deployment("web"))
    for _ in range(5):
        obj = _owned_pod("", owner)
        obj["metadata"] = {**obj["metadata"], "generateName": "web-"}
        del obj["metadata"]["name"]
        store.create("pods", obj)
        cluster.engine.advance(1.5)
    store.delete("deployments.apps", "default", "web",
                 DeleteOptions(propagation_policy="Foreground"))
    cluster.settle()
    log = [f"{e.rv} {e.type} {e.raw.decode()}" for e in store.history.since(0)]
    return store.digest, log


def test_the_same_seed_and_calls_give_a_byte_identical_history() -> None:
    digest_a, log_a = _scenario(seed=42)
    digest_b, log_b = _scenario(seed=42)
    assert log_a == log_b and digest_a == digest_b


def test_a_different_seed_gives_a_different_history() -> None:
    assert _scenario(seed=1)[0] != _scenario(seed=2)[0]
