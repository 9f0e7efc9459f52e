"""Node lifecycle: a silent node goes Unknown after the grace period, is tainted
NoSchedule at once and NoExecute at the zone's rate, and its pods are evicted after
their toleration; cordon shows as a taint; zone disruption slows or stops tainting."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from kitlib.cluster import ClusterSettings, EmbeddedCluster
from kitlib.cluster.nodehealth import NodeHealth, assess, no_schedule_taints
from kitlib.cluster.nodes import make_node
from kitlib.cluster.podutil import condition, set_condition
from kitlib.cluster.settings import NodeLifecycleSettings
from kitlib.cluster.taints import matching_tolerations, min_toleration_seconds, tolerates
from kitlib.cluster.zonetainting import (
    TokenBucket,
    ZoneState,
    ZoneTainter,
    zone_rate,
    zone_state,
)
from kitlib.model.objects import format_time, parse_time
from tests.cluster.heartbeats import LEASES, Heartbeats

Obj = dict[str, Any]
SETTINGS = NodeLifecycleSettings()
UNREACHABLE = "node.kubernetes.io/unreachable"
NOT_READY = "node.kubernetes.io/not-ready"


# -- node health, as a table ---------------------------------------------------------------

def node_with(*conditions: tuple[str, str, float], created: float = 0.0) -> Obj:
    node = make_node("n1", index=1)
    node["metadata"]["creationTimestamp"] = format_time(created)
    node["status"]["conditions"] = [
        {"type": t, "status": s, "lastHeartbeatTime": format_time(beat),
         "lastTransitionTime": format_time(0)} for t, s, beat in conditions]
    return node


def seen(node: Obj, probe: float, lease: float | None = None) -> NodeHealth:
    return NodeHealth(condition(node, "Ready"), probe, 0.0, lease)


def test_a_node_that_never_posted_ready_gets_the_startup_grace_from_its_creation() -> None:
    silent = node_with(created=10.0)
    quiet = assess(silent, None, None, 70.0, SETTINGS)
    assert (quiet.grace, quiet.health.probe, quiet.conditions, quiet.current) == (
        60.0, 10.0, None, None)
    late = assess(silent, quiet.health, None, 75.0, SETTINGS)
    assert late.current == "Unknown" and late.conditions is not None
    assert [(c["type"], c["status"], c["reason"], c["message"]) for c in late.conditions] == [
        (t, "Unknown", "NodeStatusNeverUpdated", "Kubelet never posted node status.")
        for t in ("Ready", "MemoryPressure", "DiskPressure", "PIDPressure")]


def test_a_ready_node_goes_unknown_only_once_the_grace_period_has_passed() -> None:
    node = node_with(("Ready", "True", 100.0), ("NetworkUnavailable", "False", 100.0))
    assert assess(node, seen(node, 100.0), None, 150.0, SETTINGS).conditions is None
    verdict = assess(node, seen(node, 100.0), None, 155.0, SETTINGS)
    assert (verdict.observed, verdict.current, verdict.health.ready_transition) == (
        "True", "Unknown", 155.0)
    assert verdict.conditions is not None
    ready, network = verdict.conditions[0], verdict.conditions[1]
    assert (ready["status"], ready["reason"], ready["message"]) == (
        "Unknown", "NodeStatusUnknown", "Kubelet stopped posting node status.")
    assert ready["lastHeartbeatTime"] == format_time(100.0)
    assert ready["lastTransitionTime"] == format_time(155.0)
    assert network["status"] == "False"  # the control plane owns NetworkUnavailable


def test_a_new_heartbeat_or_a_newer_lease_restarts_the_grace_period_at_the_tick() -> None:
    node = node_with(("Ready", "True", 120.0))
    earlier = {**(condition(node, "Ready") or {}), "lastHeartbeatTime": format_time(100)}
    old = NodeHealth(earlier, 100.0, 0.0, 100.0)
    beat = assess(node, old, 100.0, 125.0, SETTINGS)
    assert (beat.health.probe, beat.health.lease_renew) == (125.0, None)  # upstream quirk
    leased = assess(node, seen(node, 100.0, lease=100.0), 140.0, 145.0, SETTINGS)
    assert (leased.health.probe, leased.health.lease_renew) == (145.0, 140.0)
    same = assess(node, seen(node, 100.0, lease=140.0), 140.0, 149.0, SETTINGS)
    assert same.health.probe == 100.0


def test_a_node_already_unknown_is_not_written_again() -> None:
    node = node_with(("Ready", "Unknown", 100.0))
    assert assess(node, seen(node, 100.0), None, 500.0, SETTINGS).conditions is None


@pytest.mark.parametrize(("conditions", "spec", "taints", "expected"), [
    ([("Ready", "False")], {}, [], ([NOT_READY], [])),
    ([("Ready", "Unknown")], {}, [NOT_READY], ([UNREACHABLE], [NOT_READY])),
    ([("Ready", "True"), ("MemoryPressure", "True")], {}, [UNREACHABLE],
     (["node.kubernetes.io/memory-pressure"], [UNREACHABLE])),
    ([("Ready", "True")], {"unschedulable": True}, [],
     (["node.kubernetes.io/unschedulable"], [])),
    ([("Ready", "True")], {}, ["node.kubernetes.io/unschedulable", "dedicated"],
     ([], ["node.kubernetes.io/unschedulable"])),
])
def test_no_schedule_taints_follow_conditions_and_cordon(
        conditions: list[tuple[str, str]], spec: Obj, taints: list[str],
        expected: tuple[list[str], list[str]]) -> None:
    node = make_node("n1", index=1)
    node["status"]["conditions"] = [{"type": t, "status": s} for t, s in conditions]
    node["spec"].update(spec, taints=[{"key": k, "effect": "NoSchedule"} for k in taints])
    add, remove = no_schedule_taints(node)
    assert ([t["key"] for t in add], [t["key"] for t in remove]) == expected


# -- zones and rates, as a table -------------------------------------------------------------

@pytest.mark.parametrize(("ready", "not_ready", "state"), [
    (5, 0, ZoneState.NORMAL), (3, 2, ZoneState.NORMAL), (2, 3, ZoneState.PARTIAL_DISRUPTION),
    (10, 3, ZoneState.NORMAL), (0, 1, ZoneState.FULL_DISRUPTION)])
def test_zone_states_follow_compute_zone_state(ready: int, not_ready: int,
                                               state: ZoneState) -> None:
    assert zone_state(ready, not_ready, 0.55) is state


def test_a_partially_disrupted_zone_taints_slowly_if_large_and_not_at_all_if_small() -> None:
    assert zone_rate(ZoneState.NORMAL, 3, SETTINGS) == 0.1
    assert zone_rate(ZoneState.FULL_DISRUPTION, 3, SETTINGS) == 0.1
    assert zone_rate(ZoneState.PARTIAL_DISRUPTION, 51, SETTINGS) == 0.01
    assert zone_rate(ZoneState.PARTIAL_DISRUPTION, 50, SETTINGS) == 0.0


def test_a_zone_taints_one_node_at_once_then_one_every_ten_seconds() -> None:
    tainter, done = ZoneTainter(0.1, now=0.0), []
    for name in ("a", "b", "c"):
        tainter.add(name, 0.0)
    assert not tainter.add("a", 0.0)
    for now in (0.0, 9.9, 10.0, 19.0, 20.0):
        tainter.process(now, done.append)
        done.append(f"@{now:g}")
    assert done == ["a", "@0", "@9.9", "b", "@10", "@19", "c", "@20"]
    assert tainter.next_attempt(20.0) is None and not tainter.add("a", 20.0)
    tainter.remove("a")
    assert tainter.add("a", 20.0) and tainter.next_attempt(20.0) == pytest.approx(30.0)


def test_a_swapped_limiter_stays_drained_and_a_zero_rate_never_accepts() -> None:
    bucket = TokenBucket(0.1, now=0.0)
    assert bucket.try_accept(0.0) and not bucket.try_accept(0.0)
    tainter = ZoneTainter(0.1, now=0.0)
    assert tainter.limiter.try_accept(0.0)
    tainter.swap_limiter(1.0, 0.0)
    assert not tainter.limiter.try_accept(0.0) and tainter.limiter.try_accept(1.0)
    tainter.swap_limiter(0.0, 1.0)
    assert tainter.limiter.next_token(5.0) is None and not tainter.limiter.try_accept(1e6)


# -- tolerations, as a table -----------------------------------------------------------------

@pytest.mark.parametrize(("toleration", "tolerated"), [
    ({"key": UNREACHABLE, "operator": "Exists", "effect": "NoExecute"}, True),
    ({"key": UNREACHABLE, "operator": "Exists"}, True),
    ({"operator": "Exists"}, True),
    ({"key": UNREACHABLE, "operator": "Exists", "effect": "NoSchedule"}, False),
    ({"key": UNREACHABLE, "value": "", "effect": "NoExecute"}, True),
    ({"key": UNREACHABLE, "operator": "Equal", "value": "x"}, False),
    ({"key": NOT_READY, "operator": "Exists"}, False),
])
def test_tolerations_match_taints_as_upstream(toleration: Obj, tolerated: bool) -> None:
    assert tolerates(toleration, {"key": UNREACHABLE, "effect": "NoExecute"}) is tolerated


def test_the_shortest_toleration_used_decides_when_a_pod_goes() -> None:
    taints = [{"key": UNREACHABLE, "effect": "NoExecute"}, {"key": "x", "effect": "NoExecute"}]
    tolerations = [{"key": UNREACHABLE, "operator": "Exists", "tolerationSeconds": 300},
                   {"key": "x", "operator": "Exists", "tolerationSeconds": 60}]
    ok, used = matching_tolerations(taints, tolerations)
    assert ok and min_toleration_seconds(used) == 60.0
    assert min_toleration_seconds([{"operator": "Exists"}]) is None
    assert min_toleration_seconds([{"operator": "Exists", "tolerationSeconds": -5}]) == 0.0
    assert matching_tolerations(taints, tolerations[:1]) == (False, [])


# -- scenarios on an embedded cluster ------------------------------------------------------

@pytest.fixture
def cluster() -> Iterator[EmbeddedCluster]:
    c = EmbeddedCluster(ClusterSettings(seed=5, nodes=3))
    yield c
    assert c.store.verify_integrity() == []


def node(cluster: EmbeddedCluster, name: str) -> Obj:
    return cluster.store.get("nodes", "", name)


def taints(cluster: EmbeddedCluster, name: str) -> dict[tuple[str, str], float]:
    return {(t["key"], t["effect"]): parse_time(t["timeAdded"])
            for t in node(cluster, name)["spec"].get("taints") or ()}


def ready_status(cluster: EmbeddedCluster, name: str) -> str:
    return str((condition(node(cluster, name), "Ready") or {}).get("status"))


def running_pod(cluster: EmbeddedCluster, name: str, node_name: str, **spec: Any) -> None:
    """A pod already on ``node_name`` and Ready, as its kubelet would have made it."""
    cluster.store.create("pods", {"metadata": {"name": name, "namespace": "default"}, "spec": {
        "nodeName": node_name, "containers": [{"name": "app", "image": "nginx:1"}], **spec}})
    now = cluster.now
    cluster.store.modify("pods", "default", name, lambda p: (
        p["status"].update(phase="Running"),
        set_condition(p, "Ready", "True", now)), subresource="status")
    cluster.settle()


def last_renewal(cluster: EmbeddedCluster, name: str) -> float:
    return parse_time(cluster.store.get(LEASES, "kube-node-lease", name)["spec"]["renewTime"])


def advance_until(cluster: EmbeddedCluster, done: Any, *, step: float = 1.0,
                  limit: float = 1000.0) -> float:
    start = cluster.now
    while not done():
        assert cluster.now - start < limit, "it never happened"
        cluster.advance(step)
    return cluster.now


def events(cluster: EmbeddedCluster, reason: str) -> list[tuple[str, str, str]]:
    return [(e["involvedObject"]["name"], e["type"], e["message"])
            for e in cluster.store.select("events") if e["reason"] == reason]


def go_down(cluster: EmbeddedCluster, beats: Heartbeats, name: str) -> tuple[float, float]:
    """Stop ``name`` at t=100; returns when it went Unknown and when NoExecute came."""
    cluster.advance(100 - cluster.now)
    beats.stop(name)
    down = last_renewal(cluster, name)
    unknown = advance_until(cluster, lambda: ready_status(cluster, name) == "Unknown")
    assert down + 50 < unknown <= down + 50 + SETTINGS.monitor_period
    tainted = advance_until(cluster, lambda: (UNREACHABLE, "NoExecute") in taints(cluster, name))
    return unknown, tainted


def test_a_silent_node_is_tainted_and_its_pods_marked_not_ready(
        cluster: EmbeddedCluster) -> None:
    beats = Heartbeats(cluster)
    running_pod(cluster, "web", "node-1")
    unknown, tainted = go_down(cluster, beats, "node-1")
    assert tainted == unknown + SETTINGS.monitor_period  # from the status listed a tick later
    assert taints(cluster, "node-1") == {(UNREACHABLE, "NoSchedule"): unknown,
                                         (UNREACHABLE, "NoExecute"): tainted}
    conditions = {c["type"]: c["status"] for c in node(cluster, "node-1")["status"]["conditions"]}
    assert conditions == {"Ready": "Unknown", "MemoryPressure": "Unknown",
                          "DiskPressure": "Unknown", "PIDPressure": "Unknown"}
    assert (condition(cluster.store.get("pods", "default", "web"), "Ready") or {})["status"] \
        == "False"
    assert events(cluster, "NodeNotReady") == [
        ("node-1", "Normal", "Node node-1 status is now: NodeNotReady"),
        ("web", "Warning", "Node is not ready")]
    assert taints(cluster, "node-0") == {}


def test_pods_on_a_silent_node_are_deleted_exactly_300_s_after_the_noexecute_taint(
        cluster: EmbeddedCluster) -> None:
    beats = Heartbeats(cluster)
    running_pod(cluster, "web", "node-1")
    _, tainted = go_down(cluster, beats, "node-1")
    cluster.advance(tainted + 299 - cluster.now)
    assert "deletionTimestamp" not in cluster.store.get("pods", "default", "web")["metadata"]
    cluster.advance(1)
    evicted = cluster.store.get("pods", "default", "web")
    assert parse_time(evicted["metadata"]["deletionTimestamp"]) == tainted + 300 + 30
    target = condition(evicted, "DisruptionTarget") or {}
    assert (target["status"], target["reason"], target["message"]) == (
        "True", "DeletionByTaintManager", "Taint manager: deleting due to NoExecute taint")
    assert events(cluster, "TaintManagerEviction") == [
        ("web", "Normal", "Marking for deletion Pod default/web")]
    cluster.advance(600)
    assert cluster.store.peek("pods", "default", "web") is not None  # Terminating: no kubelet


def test_tolerations_decide_how_long_a_pod_stays_on_an_unreachable_node(
        cluster: EmbeddedCluster) -> None:
    beats = Heartbeats(cluster)
    running_pod(cluster, "brief", "node-1", tolerations=[
        {"key": UNREACHABLE, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 30}])
    running_pod(cluster, "forever", "node-1", tolerations=[
        {"key": UNREACHABLE, "operator": "Exists", "effect": "NoExecute"}])
    running_pod(cluster, "default", "node-1")  # admission added unreachable for 300 s
    _, tainted = go_down(cluster, beats, "node-1")
    deleted = {}
    for _ in range(400):
        for p in cluster.store.select("pods"):
            if "deletionTimestamp" in p["metadata"]:
                deleted.setdefault(p["metadata"]["name"], cluster.now - tainted)
        cluster.advance(1)
    assert deleted == {"brief": 30.0, "default": 300.0}


def test_a_noexecute_taint_a_pod_does_not_tolerate_evicts_it_at_once(
        cluster: EmbeddedCluster) -> None:
    Heartbeats(cluster)
    running_pod(cluster, "web", "node-0")
    running_pod(cluster, "agent", "node-0", tolerations=[{"key": "maintenance",
                                                          "operator": "Exists"}])
    cluster.advance(42)
    cluster.store.modify("nodes", "", "node-0", lambda n: n["spec"].update(
        taints=[{"key": "maintenance", "effect": "NoExecute"}]))
    cluster.settle()
    web = cluster.store.get("pods", "default", "web")
    assert parse_time(web["metadata"]["deletionTimestamp"]) == 42 + 30
    assert "deletionTimestamp" not in cluster.store.get("pods", "default", "agent")["metadata"]


def test_a_node_back_in_time_keeps_its_pods(cluster: EmbeddedCluster) -> None:
    beats = Heartbeats(cluster)
    running_pod(cluster, "web", "node-1")
    go_down(cluster, beats, "node-1")
    cluster.advance(100)
    beats.start("node-1")
    cluster.settle()
    assert (UNREACHABLE, "NoSchedule") not in taints(cluster, "node-1")
    cluster.advance(SETTINGS.monitor_period)
    assert taints(cluster, "node-1") == {}
    cluster.advance(400)
    assert "deletionTimestamp" not in cluster.store.get("pods", "default", "web")["metadata"]
    assert events(cluster, "TaintManagerEviction") == [
        ("web", "Normal", "Cancelling deletion of Pod default/web")]


def test_a_node_reporting_not_ready_gets_the_not_ready_taints(cluster: EmbeddedCluster) -> None:
    beats = Heartbeats(cluster)
    cluster.advance(12)
    beats.post_status("node-2", ready="False")
    cluster.settle()
    assert taints(cluster, "node-2") == {(NOT_READY, "NoSchedule"): 12.0}
    cluster.advance(3)
    assert taints(cluster, "node-2") == {(NOT_READY, "NoSchedule"): 12.0,
                                         (NOT_READY, "NoExecute"): 15.0}


def test_cordon_shows_as_the_unschedulable_taint_and_uncordon_removes_it(
        cluster: EmbeddedCluster) -> None:
    Heartbeats(cluster)
    cluster.advance(7)
    cluster.store.modify("nodes", "", "node-0", lambda n: n["spec"].update(unschedulable=True))
    cluster.settle()
    assert node(cluster, "node-0")["spec"]["taints"] == [
        {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule",
         "timeAdded": format_time(7)}]
    cluster.store.modify("nodes", "", "node-0", lambda n: n["spec"].pop("unschedulable"))
    cluster.settle()
    assert "taints" not in node(cluster, "node-0")["spec"]


def test_a_node_that_never_reports_goes_unknown_after_the_startup_grace() -> None:
    cluster = EmbeddedCluster(ClusterSettings(seed=2, nodes=2))
    Heartbeats(cluster)
    silent = make_node("silent", index=9)
    silent["metadata"]["annotations"]["sim.kitlib.io/down"] = "true"
    cluster.advance(33)
    cluster.store.create("nodes", silent)
    at = advance_until(cluster, lambda: ready_status(cluster, "silent") == "Unknown")
    assert at == 95.0  # the first tick after creation + 60 s
    assert (condition(node(cluster, "silent"), "Ready") or {})["reason"] == \
        "NodeStatusNeverUpdated"
    cluster.advance(SETTINGS.monitor_period)
    assert set(taints(cluster, "silent")) == {(UNREACHABLE, "NoSchedule"),
                                              (UNREACHABLE, "NoExecute")}
    assert cluster.store.verify_integrity() == []


def test_a_zone_taints_its_silent_nodes_ten_seconds_apart() -> None:
    cluster = EmbeddedCluster(ClusterSettings(seed=4, nodes=12))
    beats = Heartbeats(cluster)
    cluster.advance(100)
    for name in ("node-0", "node-3"):  # both in zone-a, of its four nodes
        beats.stop(name)
    advance_until(cluster, lambda: ready_status(cluster, "node-3") == "Unknown")
    first = advance_until(cluster, lambda: any(
        (UNREACHABLE, "NoExecute") in taints(cluster, n) for n in ("node-0", "node-3")))
    second = advance_until(cluster, lambda: all(
        (UNREACHABLE, "NoExecute") in taints(cluster, n) for n in ("node-0", "node-3")))
    assert second - first == 10.0
    assert cluster.store.verify_integrity() == []


def test_a_small_zone_mostly_down_is_not_tainted_noexecute() -> None:
    cluster = EmbeddedCluster(ClusterSettings(seed=4, nodes=12))
    beats = Heartbeats(cluster)
    cluster.advance(100)
    for name in ("node-0", "node-3", "node-6"):  # three of zone-a's four nodes
        beats.stop(name)
    cluster.advance(400)
    for name in ("node-0", "node-3", "node-6"):
        assert set(taints(cluster, name)) == {(UNREACHABLE, "NoSchedule")}
    assert cluster.store.verify_integrity() == []


def test_when_every_node_goes_silent_nothing_is_evicted(cluster: EmbeddedCluster) -> None:
    beats = Heartbeats(cluster)
    running_pod(cluster, "web", "node-1")
    cluster.advance(100)
    for name in ("node-0", "node-1", "node-2"):
        beats.stop(name)
    cluster.advance(600)
    assert ready_status(cluster, "node-1") == "Unknown"
    assert set(taints(cluster, "node-1")) == {(UNREACHABLE, "NoSchedule")}
    assert "deletionTimestamp" not in cluster.store.get("pods", "default", "web")["metadata"]


def _outage(seed: int) -> str:
    cluster = EmbeddedCluster(ClusterSettings(seed=seed, nodes=6))
    beats = Heartbeats(cluster)
    running_pod(cluster, "a", "node-1")
    running_pod(cluster, "b", "node-4")
    cluster.advance(100)
    beats.stop("node-1")
    beats.stop("node-4")
    cluster.advance(500)
    beats.start("node-4")
    cluster.advance(100)
    return cluster.store.digest


def test_the_same_seed_gives_the_same_outage_history() -> None:
    assert _outage(3) == _outage(3)


def test_a_deployments_pod_on_a_dead_node_is_replaced_elsewhere_after_300_s() -> None:
    cluster = EmbeddedCluster(ClusterSettings(seed=9, nodes=3))
    cluster.create({"apiVersion": "apps/v1", "kind": "Deployment",
                    "metadata": {"name": "web", "namespace": "default"},
                    "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
                             "template": {"metadata": {"labels": {"app": "web"}}, "spec": {
                                 "containers": [{"name": "app", "image": "nginx:1.25"}]}}}})
    cluster.advance(60)
    [doomed] = [p["metadata"]["name"] for p in cluster.store.select("pods")
                if p["spec"]["nodeName"] == "node-1"]
    cluster.store.modify("nodes", "", "node-1", lambda n: n["metadata"]["annotations"].update(
        {"sim.kitlib.io/down": "true"}))  # the simulated kubelet's "node down" fault
    tainted = advance_until(cluster, lambda: (UNREACHABLE, "NoExecute") in taints(cluster, "node-1"))
    cluster.advance(299)
    assert len(cluster.store.select("pods")) == 3
    cluster.advance(1)
    assert "deletionTimestamp" in cluster.store.get("pods", "default", doomed)["metadata"]
    cluster.advance(60)
    pods = {p["metadata"]["name"]: p for p in cluster.store.select("pods")}
    [replacement] = [p for name, p in pods.items() if name != doomed and
                     parse_time(p["metadata"]["creationTimestamp"]) == tainted + 300]
    assert replacement["spec"]["nodeName"] != "node-1"
    assert (condition(replacement, "Ready") or {}).get("status") == "True"
    assert cluster.store.verify_integrity() == []
