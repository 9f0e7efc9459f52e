"""The disruption controller keeps PodDisruptionBudget status as upstream does.

Pods and their owner are written by hand (``handwritten``); the eviction API has its own
tests (``test_eviction.py``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from handwritten import (
    PDBS,
    cloneset,
    delete,
    events,
    new_cluster,
    owner_ref,
    pdb,
    pdb_status,
    pod,
    set_ready,
)

from kitlib.cluster import ClusterSettings, EmbeddedCluster
from kitlib.cluster.context import ClusterContext
from kitlib.cluster.disruption import find_scale
from kitlib.cluster.events import EventRecorder
from kitlib.cluster.pdb import (
    ControllerRef,
    PodFacts,
    SyncError,
    desired_healthy,
    filter_disrupted,
)
from kitlib.engine import Engine
from kitlib.model import errors
from kitlib.model.objects import format_time
from kitlib.model.registry import builtin_registry
from kitlib.store import Store

WEB = {"app": "web"}


@pytest.fixture
def cluster() -> Iterator[EmbeddedCluster]:
    cluster = new_cluster()
    yield cluster
    assert cluster.store.verify_integrity() == []
    assert not cluster.disruption.runner.errors


def web(cluster: EmbeddedCluster, replicas: int = 5, *, ready: int | None = None) -> dict[str, Any]:
    """A CloneSet ``web`` of ``replicas`` with that many pods, the first ``ready`` Ready."""
    owner = cloneset(cluster, "web", replicas)
    for i in range(replicas):
        pod(cluster, f"web-{i}", labels=WEB, owner=owner,
            ready=ready is None or i < ready)
    return owner


def counters(status: dict[str, Any]) -> tuple[int, int, int, int]:
    return (status["expectedPods"], status["desiredHealthy"], status["currentHealthy"],
            status["disruptionsAllowed"])


# -- the arithmetic, as a table ---------------------------------------------------------

@pytest.mark.parametrize(("spec", "pods", "scale", "expected"), [
    ({"maxUnavailable": "10%"}, 5, 5, (5, 4)),       # 10% of 5 rounds up to 1
    ({"maxUnavailable": "25%"}, 5, 5, (5, 3)),       # 1.25 rounds up to 2
    ({"maxUnavailable": 1}, 3, 5, (5, 4)),           # the owner's scale, not the pods
    ({"maxUnavailable": "100%"}, 5, 5, (5, 0)),
    ({"maxUnavailable": 7}, 5, 5, (5, 0)),           # never below 0
    ({"minAvailable": 4}, 3, 5, (3, 4)),             # an integer counts the pods
    ({"minAvailable": "50%"}, 5, 5, (5, 3)),         # 2.5 rounds up to 3
    ({}, 5, 5, (0, 0)),
])
def test_expected_and_desired_healthy(spec: dict[str, Any], pods: int, scale: int,
                                      expected: tuple[int, int]) -> None:
    assert desired_healthy(spec, pods, lambda: scale) == expected


@pytest.mark.parametrize(("value", "message"), [
    ("5", "invalid type: string is not a percentage"),
    ("x%", 'invalid value "x%": strconv.Atoi: parsing "x": invalid syntax'),
])
def test_a_malformed_percentage_fails_the_sync(value: str, message: str) -> None:
    with pytest.raises(SyncError, match=message):
        desired_healthy({"maxUnavailable": value}, 5, lambda: 5)


def test_disrupted_entries_are_kept_for_two_minutes_while_the_pod_lives() -> None:
    alive = PodFacts(True, False, None)
    pods: dict[str, PodFacts] = {"a": alive, "b": alive, "c": PodFacts(False, True, None)}
    entries = {"a": format_time(100), "b": format_time(10), "c": format_time(100),
               "gone": format_time(100)}
    kept, expired, recheck = filter_disrupted(entries, pods.get, now=130)
    assert (kept, expired, recheck) == ({"a": format_time(100)}, ["b"], 220)


# -- the controller ---------------------------------------------------------------------

def test_max_unavailable_10_percent_of_5_pods_allows_exactly_one_disruption(
        cluster: EmbeddedCluster) -> None:
    web(cluster)
    pdb(cluster, "web", maxUnavailable="10%")
    status = pdb_status(cluster, "web")
    assert counters(status) == (5, 4, 5, 1)
    assert status["observedGeneration"] == 1
    assert status["conditions"] == [{
        "type": "DisruptionAllowed", "status": "True", "lastTransitionTime": format_time(0),
        "observedGeneration": 1, "reason": "SufficientPods", "message": ""}]


def test_an_unready_pod_uses_up_the_budget(cluster: EmbeddedCluster) -> None:
    web(cluster)
    pdb(cluster, "web", maxUnavailable="10%")
    cluster.advance(30)
    set_ready(cluster, "web-3", False)
    status = pdb_status(cluster, "web")
    assert counters(status) == (5, 4, 4, 0)
    assert (status["conditions"][0]["status"], status["conditions"][0]["reason"],
            status["conditions"][0]["lastTransitionTime"]) == (
        "False", "InsufficientPods", format_time(30))


def test_min_available_counts_ready_pods_that_are_not_terminating(
        cluster: EmbeddedCluster) -> None:
    web(cluster)
    pdb(cluster, "web", minAvailable=3)
    assert counters(pdb_status(cluster, "web")) == (5, 3, 5, 2)
    delete(cluster, "web-0")
    assert counters(pdb_status(cluster, "web")) == (5, 3, 4, 1)


def test_a_new_budget_starts_with_zero_counters_serialized() -> None:
    cluster = new_cluster()
    cluster.disruption.runner.stop()
    pdb(cluster, "web", maxUnavailable=1)
    assert pdb_status(cluster, "web") == {"disruptionsAllowed": 0, "currentHealthy": 0,
                                          "desiredHealthy": 0, "expectedPods": 0}


def test_a_recorded_eviction_is_not_counted_until_two_minutes_have_passed(
        cluster: EmbeddedCluster) -> None:
    web(cluster)
    pdb(cluster, "web", maxUnavailable="10%")
    record_eviction(cluster, "web", "web-1")
    assert counters(pdb_status(cluster, "web")) == (5, 4, 4, 0)
    cluster.advance(119)
    assert pdb_status(cluster, "web")["disruptedPods"] == {"web-1": format_time(0)}
    cluster.advance(1)
    status = pdb_status(cluster, "web")
    assert "disruptedPods" not in status and counters(status) == (5, 4, 5, 1)
    [event] = events(cluster, "NotDeleted")
    assert (event["involvedObject"]["name"], event["message"]) == (
        "web-1", "Pod was expected by PDB default/default to be deleted but it wasn't")


def test_a_recorded_eviction_is_dropped_once_the_pod_terminates(
        cluster: EmbeddedCluster) -> None:
    web(cluster)
    pdb(cluster, "web", maxUnavailable="10%")
    record_eviction(cluster, "web", "web-1")
    delete(cluster, "web-1")
    status = pdb_status(cluster, "web")
    assert "disruptedPods" not in status and counters(status) == (5, 4, 4, 0)


def record_eviction(cluster: EmbeddedCluster, name: str, pod_name: str) -> None:
    """What the eviction API writes into the status."""
    def change(obj: dict[str, Any]) -> None:
        obj["status"]["disruptionsAllowed"] -= 1
        obj["status"]["disruptedPods"] = {pod_name: format_time(cluster.now)}
    cluster.store.modify(PDBS, "default", name, change, subresource="status")
    cluster.settle()


def bare_context() -> ClusterContext:
    """A store with no actors at all, to look owners up in."""
    engine = Engine()
    store = Store(engine, builtin_registry())
    store.create("namespaces", {"metadata": {"name": "default"}})
    return ClusterContext(engine, store, store.registry, EventRecorder(store, engine),
                          ClusterSettings())


def workload(ctx: ClusterContext, kind: str, name: str, replicas: int,
             owner: dict[str, Any] | None = None) -> dict[str, Any]:
    rt = ctx.registry.by_kind("apps/v1", kind)
    assert rt is not None
    meta: dict[str, Any] = {"name": name}
    if owner is not None:
        meta["ownerReferences"] = [owner_ref(owner)]
    return ctx.store.create(rt.key, {"apiVersion": "apps/v1", "kind": kind, "metadata": meta,
                                     "spec": {"replicas": replicas}})


def ref(obj: dict[str, Any]) -> ControllerRef:
    return ControllerRef(obj["apiVersion"], obj["kind"], obj["metadata"]["name"],
                         obj["metadata"]["uid"])


def test_a_replica_set_of_a_deployment_counts_with_the_deployments_scale() -> None:
    ctx = bare_context()
    deployment = workload(ctx, "Deployment", "web", 4)
    rs = workload(ctx, "ReplicaSet", "web-1", 2, owner=deployment)
    loner = workload(ctx, "ReplicaSet", "loner", 3)
    sts = workload(ctx, "StatefulSet", "db", 5)
    assert find_scale(ctx, ref(rs), "default") == (deployment["metadata"]["uid"], 4)
    assert find_scale(ctx, ref(loner), "default") == (loner["metadata"]["uid"], 3)
    assert find_scale(ctx, ref(sts), "default") == (sts["metadata"]["uid"], 5)
    assert find_scale(ctx, ref(deployment), "default") == (deployment["metadata"]["uid"], 4)
    assert find_scale(ctx, ref(rs)._replace(uid="other"), "default") is None


def test_a_replica_set_whose_deployment_is_gone_counts_with_its_own_scale() -> None:
    ctx = bare_context()
    deployment = workload(ctx, "Deployment", "web", 4)
    rs = workload(ctx, "ReplicaSet", "web-1", 2, owner=deployment)
    ctx.store.delete("deployments.apps", "default", "web")  # no garbage collector here
    assert find_scale(ctx, ref(rs), "default") == (rs["metadata"]["uid"], 2)


def test_expected_pods_of_a_deployment_follow_its_replicas(cluster: EmbeddedCluster) -> None:
    cluster.create({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "spec": {"replicas": 4, "selector": {"matchLabels": WEB},
                 "template": {"metadata": {"labels": WEB},
                              "spec": {"containers": [{"name": "app", "image": "nginx"}]}}}})
    pdb(cluster, "web", maxUnavailable=1)
    assert counters(pdb_status(cluster, "web")) == (4, 3, 0, 0)


def test_pods_without_a_controller_are_reported_and_left_out_of_the_scale(
        cluster: EmbeddedCluster) -> None:
    web(cluster, 2)
    pod(cluster, "stray", labels=WEB)
    pdb(cluster, "web", maxUnavailable=1)
    assert counters(pdb_status(cluster, "web")) == (2, 1, 3, 2)
    [event] = events(cluster, "UnmanagedPods")
    assert event["message"].startswith(
        "Pods selected by this PodDisruptionBudget (selector: &LabelSelector{MatchLabels:"
        "map[string]string{app: web,},MatchExpressions:[]LabelSelectorRequirement{},}) were "
        "found to be unmanaged.")


@pytest.mark.parametrize(("owner_kind", "message"), [
    ("DaemonSet", "daemonsets.apps does not implement the scale subresource"),
    ("Widget", 'no matches for kind "Widget" in version "apps/v1"'),
    ("ReplicaSet", 'found no controllers for pod "web-0"'),
])
def test_an_owner_without_a_scale_fails_safe(cluster: EmbeddedCluster, owner_kind: str,
                                             message: str) -> None:
    owner = {"apiVersion": "apps/v1", "kind": owner_kind, "metadata": {"name": "x", "uid": "u"}}
    pod(cluster, "web-0", labels=WEB, owner=owner)
    pdb(cluster, "web", maxUnavailable=1)
    status = pdb_status(cluster, "web")
    assert status["disruptionsAllowed"] == 0
    assert (status["conditions"][0]["status"], status["conditions"][0]["reason"],
            status["conditions"][0]["message"]) == ("False", "SyncFailed", message)
    [event] = events(cluster, "CalculateExpectedPodCountFailed")
    assert event["message"] == f"Failed to calculate the number of expected pods: {message}"


def test_an_empty_selector_selects_every_pod_of_the_namespace(cluster: EmbeddedCluster) -> None:
    web(cluster, 2)
    pod(cluster, "other", labels={"app": "other"})
    pdb(cluster, "all", labels={}, minAvailable=1)
    assert counters(pdb_status(cluster, "all")) == (3, 1, 3, 2)


def test_a_budget_without_pods_reports_no_pods_and_allows_nothing(
        cluster: EmbeddedCluster) -> None:
    pdb(cluster, "web", minAvailable=0)
    assert counters(pdb_status(cluster, "web")) == (0, 0, 0, 0)
    [event] = events(cluster, "NoPods")
    assert (event["type"], event["message"]) == ("Normal", "No matching pods found")


def test_a_pod_matching_two_budgets_gets_a_warning(cluster: EmbeddedCluster) -> None:
    pdb(cluster, "a", labels=WEB, minAvailable=1)
    pdb(cluster, "b", labels=WEB, minAvailable=1)
    pod(cluster, "web-0", labels=WEB)
    [event] = events(cluster, "MultiplePodDisruptionBudgets")
    assert event["message"] == ('Pod "default"/"web-0" matches multiple PodDisruptionBudgets.  '
                                'Chose "a" arbitrarily.')
    assert counters(pdb_status(cluster, "a")) == counters(pdb_status(cluster, "b")) == (1, 1, 1, 0)


def test_a_spec_change_is_observed_with_its_generation(cluster: EmbeddedCluster) -> None:
    web(cluster)
    pdb(cluster, "web", maxUnavailable=1)
    cluster.store.modify(PDBS, "default", "web",
                         lambda p: p["spec"].__setitem__("maxUnavailable", 2))
    cluster.settle()
    status = pdb_status(cluster, "web")
    assert (status["observedGeneration"], status["conditions"][0]["observedGeneration"],
            counters(status)) == (2, 2, (5, 3, 5, 2))


def test_scaling_the_owner_changes_the_expected_pods_on_the_next_pod_event(
        cluster: EmbeddedCluster) -> None:
    owner = web(cluster, 5)
    pdb(cluster, "web", maxUnavailable="10%")
    cluster.store.modify("clonesets.apps.kruise.io", "default", "web",
                         lambda c: c["spec"].__setitem__("replicas", 6))
    pod(cluster, "web-5", labels=WEB, owner=owner)
    assert counters(pdb_status(cluster, "web")) == (6, 5, 6, 1)


def test_a_stale_disruption_target_condition_is_reset_after_two_minutes(
        cluster: EmbeddedCluster) -> None:
    pod(cluster, "web-0", labels=WEB)
    cluster.store.modify("pods", "default", "web-0", mark_disruption_target,
                         subresource="status")
    cluster.advance(119)
    assert condition(cluster, "web-0") == ("True", format_time(0))
    cluster.advance(1)
    assert condition(cluster, "web-0") == ("False", format_time(120))


def mark_disruption_target(pod_obj: dict[str, Any]) -> None:
    pod_obj["status"]["conditions"].append({
        "type": "DisruptionTarget", "status": "True", "reason": "EvictionByEvictionAPI",
        "message": "Eviction API: evicting", "lastTransitionTime": format_time(0)})


def condition(cluster: EmbeddedCluster, name: str) -> tuple[str, str]:
    [cond] = [c for c in cluster.store.get("pods", "default", name)["status"]["conditions"]
              if c["type"] == "DisruptionTarget"]
    return cond["status"], cond["lastTransitionTime"]


@pytest.mark.parametrize(("spec", "problem"), [
    ({"minAvailable": 1, "maxUnavailable": 1}, "minAvailable and maxUnavailable cannot be both "
                                               "set"),
    ({"minAvailable": -1}, "spec.minAvailable: Invalid value: -1: must be greater than or equal "
                           "to 0"),
    ({"maxUnavailable": "150%"}, 'spec.maxUnavailable: Invalid value: "150%": must not be '
                                 "greater than 100%"),
    ({"maxUnavailable": "five"}, "a valid percent string must be a numeric string followed by "
                                 "an ending '%'"),
    ({"unhealthyPodEvictionPolicy": "Never"},
     'spec.unhealthyPodEvictionPolicy: Unsupported value: "Never": supported values: '
     '"AlwaysAllow", "IfHealthyBudget"'),
])
def test_invalid_budgets_are_refused_with_upstreams_wording(
        cluster: EmbeddedCluster, spec: dict[str, Any], problem: str) -> None:
    with pytest.raises(errors.Invalid) as caught:
        pdb(cluster, "web", **spec)
    assert problem in caught.value.message
