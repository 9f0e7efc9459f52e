"""Services' EndpointSlices and Endpoints follow their pods' addresses and readiness.

The pods are written by hand (``handwritten``): bound to a node without a kubelet, with
their IP and Ready condition set directly, as the scheduler and kubelet would.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from handwritten import SLICES, delete, new_cluster, pod, remove, run, set_ready

from kitlib.cluster import EmbeddedCluster
from kitlib.cluster.endpointsplan import Member, Port, SliceView, member_of, plan_slices
from kitlib.cluster.legacyendpoints import LegacyEndpoints, truncation

HTTP = (Port("", 8080, "TCP"),)
WEB = {"app": "web"}


@pytest.fixture
def cluster() -> Iterator[EmbeddedCluster]:
    cluster = new_cluster()
    yield cluster
    assert cluster.store.verify_integrity() == []
    assert not cluster.endpoints.runner.errors


def service(cluster: EmbeddedCluster, name: str = "web", *, selector: dict[str, str] | None = None,
            target: Any = 8080, **spec: Any) -> dict[str, Any]:
    return cluster.create({"apiVersion": "v1", "kind": "Service",
                           "metadata": {"name": name, "labels": {"tier": "front"}},
                           "spec": {"selector": selector or WEB,
                                    "ports": [{"port": 80, "targetPort": target}], **spec}})


def slices(cluster: EmbeddedCluster, svc: str = "web") -> list[dict[str, Any]]:
    return [s for s in cluster.store.select(SLICES)
            if s["metadata"]["labels"]["kubernetes.io/service-name"] == svc]


def endpoints_of(cluster: EmbeddedCluster, svc: str = "web") -> list[tuple[str, bool, bool, bool]]:
    """(pod, ready, serving, terminating) of every endpoint in the service's slices."""
    return sorted((ep["targetRef"]["name"], *ep["conditions"].values())
                  for s in slices(cluster, svc) for ep in s["endpoints"] or ())


def legacy(cluster: EmbeddedCluster, svc: str = "web") -> dict[str, list[str]]:
    ep = cluster.store.get("endpoints", "default", svc)
    return {field: [a["targetRef"]["name"] for s in ep.get("subsets", ()) for a in s.get(field, ())]
            for field in ("addresses", "notReadyAddresses")}


# -- the pure plan ----------------------------------------------------------------------

def member(name: str, ports: tuple[Port, ...] = HTTP, *, serving: bool = True) -> Member:
    return Member(name, f"uid-{name}", f"10.0.0.{name[-1]}", "n1", None, None, serving, False,
                  ports)


def test_new_pods_fill_a_new_slice_up_to_the_cap() -> None:
    members = {f"p{i}": member(f"p{i}") for i in range(5)}
    plan = plan_slices({}, {}, members, members, max_per_slice=3)
    assert plan.create == ((HTTP, frozenset({"p0", "p1", "p2"})), (HTTP, frozenset({"p3", "p4"})))
    assert (plan.update, plan.delete) == ({}, frozenset())


def test_a_changed_pod_rewrites_only_its_own_slice() -> None:
    views = {"a": SliceView(HTTP, frozenset({"p1", "p2"})), "b": SliceView(HTTP, frozenset({"p3"}))}
    where = {"p1": "a", "p2": "a", "p3": "b"}
    members = {p: member(p) for p in where}
    plan = plan_slices(views, where, members, ["p3"])
    assert (plan.update, plan.create, plan.delete) == ({"b": frozenset({"p3"})}, (), frozenset())


def test_new_pods_go_to_a_slice_being_rewritten_before_other_slices_with_room() -> None:
    views = {"a": SliceView(HTTP, frozenset({"p1"})), "b": SliceView(HTTP, frozenset({"p2"}))}
    where = {"p1": "a", "p2": "b"}
    members = {p: member(p) for p in ("p1", "p2", "p3")}
    plan = plan_slices(views, where, members, ["p2", "p3"])
    assert plan.update == {"b": frozenset({"p2", "p3"})}


def test_pods_whose_ports_resolve_differently_go_to_different_slices() -> None:
    other = (Port("", 9090, "TCP"),)
    members = {"p1": member("p1"), "p2": member("p2", other)}
    plan = plan_slices({}, {}, members, members)
    assert sorted(plan.create, key=lambda c: c[0][0].port) == [
        (HTTP, frozenset({"p1"})), (other, frozenset({"p2"}))]


def test_a_pod_whose_port_changed_moves_out_of_its_slice() -> None:
    other = (Port("", 9090, "TCP"),)
    views = {"a": SliceView(HTTP, frozenset({"p1", "p2"}))}
    plan = plan_slices(views, {"p1": "a", "p2": "a"}, {"p1": member("p1"),
                                                      "p2": member("p2", other)}, ["p2"])
    assert plan.update == {"a": frozenset({"p1"})}
    assert plan.create == ((other, frozenset({"p2"})),)


def test_an_emptied_slice_is_deleted_while_others_remain() -> None:
    views = {"a": SliceView(HTTP, frozenset({"p1"})), "b": SliceView(HTTP, frozenset({"p2"}))}
    plan = plan_slices(views, {"p1": "a", "p2": "b"}, {"p2": member("p2")}, ["p1"])
    assert (plan.update, plan.create, plan.delete) == ({}, (), frozenset({"a"}))


def test_without_endpoints_one_placeholder_slice_is_made_or_kept() -> None:
    views = {"a": SliceView(HTTP, frozenset({"p1"}))}
    plan = plan_slices(views, {"p1": "a"}, {}, ["p1"])
    assert (plan.create, plan.delete) == ((((), frozenset()),), frozenset({"a"}))
    placeholder = {"a": SliceView((), frozenset())}
    plan = plan_slices(placeholder, {}, {}, [], refresh=True)
    assert (plan.update, plan.create, plan.delete) == ({"a": frozenset()}, (), frozenset())


def test_named_target_ports_resolve_per_pod_and_protocol() -> None:
    svc = {"metadata": {"name": "web"}, "spec": {"ports": [
        {"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"},
        {"name": "dns", "port": 53, "targetPort": "dns", "protocol": "UDP"},
        {"name": "metrics", "port": 9000, "targetPort": 9100, "protocol": "TCP"}]}}
    pod_obj = {"metadata": {"name": "p", "uid": "u"},
               "spec": {"nodeName": "n1", "containers": [{"name": "c", "ports": [
                   {"name": "http", "containerPort": 8080},
                   {"name": "dns", "containerPort": 5353, "protocol": "TCP"}]}]},
               "status": {"phase": "Running", "podIP": "10.1.1.1"}}
    got = member_of(pod_obj, svc, lambda node: "zone-a")
    assert got is not None
    assert got.ports == (Port("http", 8080, "TCP"), Port("metrics", 9100, "TCP"))
    assert (got.ip, got.zone, got.serving) == ("10.1.1.1", "zone-a", False)


def legacy_of(*members: Member, publish: bool = False) -> LegacyEndpoints:
    out = LegacyEndpoints("default", publish_not_ready=publish, headless_without_ports=False)
    for m in members:
        out.set(m.pod, m)
    return out


def summary(subsets: list[dict[str, Any]]) -> list[tuple[list[str], list[str], list[int]]]:
    return [([a["ip"] for a in s.get("addresses", ())],
             [a["ip"] for a in s.get("notReadyAddresses", ())],
             [p["port"] for p in s["ports"]]) for s in subsets]


def test_legacy_subsets_group_ports_by_identical_address_sets() -> None:
    both = (Port("a", 80, "TCP"), Port("b", 81, "TCP"))
    endpoints = legacy_of(member("p1", both), member("p2", both[:1], serving=False))
    assert summary(endpoints.subsets()[0]) == [(["10.0.0.1"], ["10.0.0.2"], [80]),
                                               (["10.0.0.1"], [], [81])]
    endpoints.set("p2", member("p2", both))
    assert summary(endpoints.subsets()[0]) == [(["10.0.0.1", "10.0.0.2"], [], [80, 81])]
    endpoints.set("p1", None)
    assert summary(endpoints.subsets()[0]) == [(["10.0.0.2"], [], [80, 81])]


def test_legacy_addresses_sort_by_ip_and_leave_terminating_pods_out() -> None:
    gone = Member("p0", "u0", "10.0.0.0", "n1", None, None, True, True, HTTP)
    endpoints = legacy_of(member("p3"), member("p1"), member("p2", serving=False), gone)
    assert summary(endpoints.subsets()[0]) == [(["10.0.0.1", "10.0.0.3"], ["10.0.0.2"],
                                                [8080])]
    assert summary(legacy_of(gone, publish=True).subsets()[0]) == [(["10.0.0.0"], [], [8080])]


@pytest.mark.parametrize(("sizes", "kept"), [
    ([(900, 300)], [(900, 100)]),                       # not-ready addresses go first
    ([(1200, 50)], [(1000, 0)]),                        # then ready ones, and all not-ready
    ([(600, 0), (600, 0)], [(500, 0), (500, 0)]),       # shared in proportion
    ([(1, 0), (1500, 0)], [(1, 0), (999, 0)]),          # rounded up, then what is left
    ([(10, 5)], [(10, 5)]),
])
def test_legacy_endpoints_are_truncated_to_1000_addresses(
        sizes: list[tuple[int, int]], kept: list[tuple[int, int]]) -> None:
    assert truncation(sizes, 1000) == kept


# -- the controller ---------------------------------------------------------------------

def test_a_service_gets_a_slice_and_endpoints_for_its_pods(cluster: EmbeddedCluster) -> None:
    pod(cluster, "web-0", labels=WEB, ip="10.244.0.10")
    pod(cluster, "web-1", labels=WEB, ip="10.244.0.11", ready=False)
    pod(cluster, "other", labels={"app": "other"})
    svc = service(cluster)
    [got] = slices(cluster)
    meta = got["metadata"]
    assert meta["name"].startswith("web-") and len(meta["name"]) == len("web-") + 5
    assert meta["labels"] == {"tier": "front", "kubernetes.io/service-name": "web",
                              "endpointslice.kubernetes.io/managed-by":
                                  "endpointslice-controller.k8s.io"}
    assert meta["ownerReferences"] == [{"apiVersion": "v1", "kind": "Service", "name": "web",
                                        "uid": svc["metadata"]["uid"], "controller": True,
                                        "blockOwnerDeletion": True}]
    assert got["addressType"] == "IPv4"
    assert got["ports"] == [{"name": "", "port": 8080, "protocol": "TCP"}]
    assert got["endpoints"][0] == {
        "addresses": ["10.244.0.10"],
        "conditions": {"ready": True, "serving": True, "terminating": False},
        "targetRef": {"kind": "Pod", "namespace": "default", "name": "web-0",
                      "uid": cluster.store.get("pods", "default", "web-0")["metadata"]["uid"]},
        "nodeName": "n1"}
    assert endpoints_of(cluster) == [("web-0", True, True, False), ("web-1", False, False, False)]
    assert legacy(cluster) == {"addresses": ["web-0"], "notReadyAddresses": ["web-1"]}
    assert cluster.store.get("endpoints", "default", "web")["metadata"]["labels"] == {
        "tier": "front"}


def test_readiness_changes_move_a_pod_between_ready_and_not_ready(
        cluster: EmbeddedCluster) -> None:
    pod(cluster, "web-0", labels=WEB)
    service(cluster)
    set_ready(cluster, "web-0", False)
    assert endpoints_of(cluster) == [("web-0", False, False, False)]
    assert legacy(cluster) == {"addresses": [], "notReadyAddresses": ["web-0"]}
    set_ready(cluster, "web-0", True)
    assert endpoints_of(cluster) == [("web-0", True, True, False)]


def test_a_terminating_pod_stays_in_slices_as_not_ready_but_leaves_endpoints(
        cluster: EmbeddedCluster) -> None:
    pod(cluster, "web-0", labels=WEB)
    pod(cluster, "web-1", labels=WEB)
    service(cluster)
    delete(cluster, "web-0")
    assert endpoints_of(cluster) == [("web-0", False, True, True), ("web-1", True, True, False)]
    assert legacy(cluster) == {"addresses": ["web-1"], "notReadyAddresses": []}
    set_ready(cluster, "web-0", False)
    assert endpoints_of(cluster)[0] == ("web-0", False, False, True)
    remove(cluster, "web-0")
    assert endpoints_of(cluster) == [("web-1", True, True, False)]


def test_pods_without_an_ip_or_finished_are_left_out(cluster: EmbeddedCluster) -> None:
    pod(cluster, "pending", labels=WEB, ip="")
    pod(cluster, "done", labels=WEB, phase="Succeeded", ready=False)
    service(cluster)
    assert endpoints_of(cluster) == []
    run(cluster, "pending", ip="10.244.0.9")
    assert endpoints_of(cluster) == [("pending", True, True, False)]


def test_a_service_without_pods_has_a_placeholder_slice_and_empty_endpoints(
        cluster: EmbeddedCluster) -> None:
    service(cluster)
    [placeholder] = slices(cluster)
    assert (placeholder["endpoints"], placeholder["ports"]) == (None, None)
    assert "subsets" not in cluster.store.get("endpoints", "default", "web")
    pod(cluster, "web-0", labels=WEB)
    [got] = slices(cluster)
    assert got["metadata"]["name"] != placeholder["metadata"]["name"]
    assert [ep["targetRef"]["name"] for ep in got["endpoints"]] == ["web-0"]


def test_slices_hold_at_most_100_endpoints(cluster: EmbeddedCluster) -> None:
    service(cluster)
    for i in range(150):
        pod(cluster, f"web-{i:03}", labels=WEB, ip=f"10.244.{i // 200}.{i % 200 + 1}")
    assert sorted(len(s["endpoints"]) for s in slices(cluster)) == [50, 100]
    for i in range(100, 150):
        remove(cluster, f"web-{i:03}")
    assert [len(s["endpoints"]) for s in slices(cluster)] == [100]


def test_endpoints_over_capacity_are_truncated_and_annotated(cluster: EmbeddedCluster) -> None:
    cluster.endpoints.endpoints_capacity = 3
    service(cluster)
    for i in range(4):
        pod(cluster, f"web-{i}", labels=WEB, ip=f"10.244.0.{i + 1}", ready=i != 1)
    ep = cluster.store.get("endpoints", "default", "web")
    assert ep["metadata"]["annotations"] == {"endpoints.kubernetes.io/over-capacity": "truncated"}
    assert legacy(cluster) == {"addresses": ["web-0", "web-2", "web-3"], "notReadyAddresses": []}
    remove(cluster, "web-3")
    assert "annotations" not in cluster.store.get("endpoints", "default", "web")["metadata"]
    assert legacy(cluster) == {"addresses": ["web-0", "web-2"], "notReadyAddresses": ["web-1"]}
    assert len(endpoints_of(cluster)) == 3


def test_a_pod_readiness_change_rewrites_one_slice_of_the_services_selecting_it(
        cluster: EmbeddedCluster) -> None:
    service(cluster)
    service(cluster, "api", selector={"app": "api"})
    for i in range(120):
        pod(cluster, f"web-{i:03}", labels=WEB, ip=f"10.244.1.{i + 1}")
    pod(cluster, "api-0", labels={"app": "api"})
    rv = cluster.store.resource_version
    reconciles = cluster.endpoints.runner.reconciles
    set_ready(cluster, "web-007", False)
    written = [e.rt_key for e in cluster.store.history.since(rv + 1)]
    assert written == [SLICES, "endpoints"]
    assert cluster.endpoints.runner.reconciles == reconciles + 1


def test_unrelated_pod_changes_cost_no_sync(cluster: EmbeddedCluster) -> None:
    service(cluster)
    pod(cluster, "web-0", labels=WEB)
    pod(cluster, "loner", labels={"app": "loner"})
    reconciles = cluster.endpoints.runner.reconciles
    set_ready(cluster, "loner", False)
    cluster.store.modify("pods", "default", "web-0",
                         lambda p: p["status"].__setitem__("qosClass", "BestEffort"),
                         subresource="status")
    cluster.settle()
    assert cluster.endpoints.runner.reconciles == reconciles


def test_named_ports_resolve_from_each_pods_container_ports(cluster: EmbeddedCluster) -> None:
    pod(cluster, "v1", labels=WEB, ports=[{"name": "http", "containerPort": 8080}])
    pod(cluster, "v2", labels=WEB, ports=[{"name": "http", "containerPort": 9090}])
    pod(cluster, "none", labels=WEB)
    service(cluster, target="http")
    by_port = {s["ports"][0]["port"] if s["ports"] else None:
               [ep["targetRef"]["name"] for ep in s["endpoints"]] for s in slices(cluster)}
    assert by_port == {8080: ["v1"], 9090: ["v2"], None: ["none"]}
    assert legacy(cluster) == {"addresses": ["v1", "v2"], "notReadyAddresses": []}


def test_relabelling_a_pod_moves_it_between_services(cluster: EmbeddedCluster) -> None:
    service(cluster)
    service(cluster, "canary", selector={"track": "canary"})
    pod(cluster, "web-0", labels=WEB)
    cluster.store.modify("pods", "default", "web-0",
                         lambda p: p["metadata"].__setitem__("labels", {"track": "canary"}))
    cluster.settle()
    assert (endpoints_of(cluster), [e[0] for e in endpoints_of(cluster, "canary")]) == (
        [], ["web-0"])


def test_changing_the_selector_resyncs_the_service(cluster: EmbeddedCluster) -> None:
    service(cluster)
    pod(cluster, "web-0", labels=WEB)
    pod(cluster, "api-0", labels={"app": "api"})
    cluster.store.modify("services", "default", "web",
                         lambda s: s["spec"].__setitem__("selector", {"app": "api"}))
    cluster.settle()
    assert [e[0] for e in endpoints_of(cluster)] == ["api-0"]
    assert legacy(cluster)["addresses"] == ["api-0"]


def test_publish_not_ready_addresses_marks_every_endpoint_ready(cluster: EmbeddedCluster) -> None:
    pod(cluster, "web-0", labels=WEB, ready=False)
    service(cluster, publishNotReadyAddresses=True)
    assert endpoints_of(cluster) == [("web-0", True, False, False)]
    assert legacy(cluster) == {"addresses": ["web-0"], "notReadyAddresses": []}


def test_headless_services_label_their_endpoints_and_publish_hostnames(
        cluster: EmbeddedCluster) -> None:
    pod(cluster, "db-0", labels={"app": "db"}, hostname="db-0", subdomain="db")
    service(cluster, "db", selector={"app": "db"}, clusterIP="None")
    [got] = slices(cluster, "db")
    assert got["metadata"]["labels"]["service.kubernetes.io/headless"] == ""
    assert got["endpoints"][0]["hostname"] == "db-0"
    ep = cluster.store.get("endpoints", "default", "db")
    assert ep["subsets"][0]["addresses"][0]["hostname"] == "db-0"


def test_the_zone_comes_from_the_pods_node(cluster: EmbeddedCluster) -> None:
    cluster.create({"apiVersion": "v1", "kind": "Node", "metadata": {
        "name": "edge", "labels": {"topology.kubernetes.io/zone": "zone-b"}}})
    pod(cluster, "web-0", labels=WEB, node="edge")
    service(cluster)
    assert slices(cluster)[0]["endpoints"][0]["zone"] == "zone-b"


def test_a_slice_deleted_by_someone_else_is_recreated(cluster: EmbeddedCluster) -> None:
    pod(cluster, "web-0", labels=WEB)
    service(cluster)
    [got] = slices(cluster)
    cluster.store.delete(SLICES, "default", got["metadata"]["name"])
    cluster.store.delete("endpoints", "default", "web")
    cluster.settle()
    assert endpoints_of(cluster) == [("web-0", True, True, False)]
    assert legacy(cluster)["addresses"] == ["web-0"]


def test_deleting_the_service_removes_its_endpoints_and_slices(cluster: EmbeddedCluster) -> None:
    pod(cluster, "web-0", labels=WEB)
    service(cluster)
    cluster.store.delete("services", "default", "web")
    cluster.settle()
    assert slices(cluster) == []
    assert cluster.store.peek("endpoints", "default", "web") is None


def test_services_without_a_selector_are_left_to_the_user(cluster: EmbeddedCluster) -> None:
    cluster.create({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "ext"},
                    "spec": {"ports": [{"port": 80}]}})
    assert slices(cluster, "ext") == []
    assert cluster.store.peek("endpoints", "default", "ext") is None


STORY = """
from handwritten import cloneset, new_cluster, pdb, pod, set_ready
cluster = new_cluster(5)
owner = cloneset(cluster, "web", 12)
cluster.create({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
                "spec": {"selector": {"app": "web"}, "ports": [
                    {"port": 80, "targetPort": "http"}, {"name": "b", "port": 81}]}})
pdb(cluster, "web", maxUnavailable="10%")
pdb(cluster, "x", labels={"tier": "x"}, minAvailable=1)
for i in range(12):
    pod(cluster, f"web-{i}", labels={"app": "web", "tier": "xy"[i % 2]}, owner=owner,
        ports=[{"name": "http", "containerPort": 8000 + i % 3}])
evict = cluster.subresource_handlers[("pods", "eviction")]
for i in range(4):
    try:
        evict("default", f"web-{i}", {"metadata": {"name": f"web-{i}"}}, {})
    except Exception:
        pass
    cluster.settle()
    set_ready(cluster, f"web-{i + 6}", False)
    cluster.advance(50)
print(cluster.store.digest)
"""


def test_the_same_seed_gives_the_same_history_whatever_the_hash_seed() -> None:
    """Sets of names are iterated in sorted order: Python's string hash (random per
    process) must not leak into the history."""
    digests = {subprocess.run([sys.executable, "-c", STORY], capture_output=True, text=True,
                              check=True, cwd=Path(__file__).parent,
                              env={**os.environ, "PYTHONHASHSEED": seed}).stdout
               for seed in ("1", "2")}
    assert len(digests) == 1
