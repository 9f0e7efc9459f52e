"""``evict``, ``cordon``/``uncordon`` and ``drain`` against ``kitlib serve`` with nodes."""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

import kitlib
from kitlib.client.drain import DrainError, DrainEvent, EvictionResult
from kitlib.client.ops import WritesNotAllowedError
from kitlib.client.raw import get_json

if TYPE_CHECKING:
    from conftest import ThreadedServer

APP = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 4
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: app, image: "nginx:1.25"}]
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: web}
spec:
  BUDGET
  selector: {matchLabels: {app: web}}
"""


@pytest.fixture
def cluster(start_api_server: Callable[..., ThreadedServer]) -> Iterator[kitlib.Cluster]:
    server = start_api_server(nodes=3)
    with kitlib.connect(kubeconfig=server.kubeconfig) as handle:
        yield handle


def deploy(cluster: kitlib.Cluster, budget: str) -> None:
    cluster.apply(APP.replace("BUDGET", budget))
    cluster.sleep(60)
    assert len(ready_pods(cluster)) == 4


def pods(cluster: kitlib.Cluster) -> list[dict[str, Any]]:
    items = get_json(cluster.api_client, "/api/v1/namespaces/default/pods",
                     labelSelector="app=web")["items"]
    return [p for p in items if not p["metadata"].get("deletionTimestamp")]


def ready_pods(cluster: kitlib.Cluster) -> list[dict[str, Any]]:
    return [p for p in pods(cluster) if any(
        c["type"] == "Ready" and c["status"] == "True"
        for c in p.get("status", {}).get("conditions", []))]


def busiest_node(cluster: kitlib.Cluster) -> str:
    return Counter(p["spec"]["nodeName"] for p in pods(cluster)).most_common(1)[0][0]


def node(cluster: kitlib.Cluster, name: str) -> dict[str, Any]:
    return get_json(cluster.api_client, f"/api/v1/nodes/{name}")


# -- evict -----------------------------------------------------------------------------------

def test_evict_is_allowed_then_refused_with_the_budget_message(cluster: kitlib.Cluster) -> None:
    deploy(cluster, "maxUnavailable: 1")
    first, second = (p["metadata"]["name"] for p in pods(cluster)[:2])
    assert cluster.evict(first) == EvictionResult(True, "", 201)
    refused = cluster.evict(second)
    assert refused == EvictionResult(
        False, "The disruption budget web needs 3 healthy pods and has 3 currently", 429)
    assert cluster.evict("no-such-pod").allowed
    assert cluster.evict("no-such-pod").status == 404


def test_a_dry_run_eviction_leaves_the_pod(cluster: kitlib.Cluster) -> None:
    deploy(cluster, "maxUnavailable: 1")
    name = pods(cluster)[0]["metadata"]["name"]
    assert cluster.evict(name, "default", dry_run=True).allowed
    assert name in {p["metadata"]["name"] for p in pods(cluster)}


# -- cordon ----------------------------------------------------------------------------------

def test_cordon_and_uncordon_flip_spec_unschedulable(cluster: kitlib.Cluster) -> None:
    cluster.cordon("node-1")
    assert node(cluster, "node-1")["spec"]["unschedulable"] is True
    cluster.uncordon("node-1")
    assert "unschedulable" not in node(cluster, "node-1")["spec"]
    cluster.cordon("node-1", dry_run=True)
    assert "unschedulable" not in node(cluster, "node-1")["spec"]


# -- drain -----------------------------------------------------------------------------------

def test_drain_waits_through_refusals_and_replacements_land_elsewhere(
        cluster: kitlib.Cluster) -> None:
    deploy(cluster, "maxUnavailable: 1")
    target = busiest_node(cluster)
    on_target = {p["metadata"]["name"] for p in pods(cluster) if p["spec"]["nodeName"] == target}
    assert len(on_target) >= 2
    events: list[DrainEvent] = []
    started = cluster.now()
    result = cluster.drain(target, timeout=600, on_progress=events.append)

    assert result.completed and result.reason == "" and result.pending == ()
    assert {key.split("/")[1] for key in result.evicted} == on_target
    assert result.refusals, "the second pod had to wait for the first one's replacement"
    assert {r.reason for r in result.refusals} == {
        "The disruption budget web needs 3 healthy pods and has 3 currently"}
    assert result.duration == cluster.now() - started > 0
    kinds = [e.kind for e in events]
    assert kinds[:2] == ["planned", "evicting"] and kinds[-1] == "done"
    assert kinds.count("evicted") == len(on_target) and "refused" in kinds
    for pod in {r.pod for r in result.refusals}:  # a refused pod is retried every 5 s
        retries = [r.time for r in result.refusals if r.pod == pod]
        assert all(b - a == 5 for a, b in itertools.pairwise(retries))

    assert node(cluster, target)["spec"]["unschedulable"] is True
    cluster.sleep(60)
    assert len(ready_pods(cluster)) == 4
    assert all(p["spec"]["nodeName"] != target for p in pods(cluster))


def test_drain_under_a_zero_budget_times_out_and_says_why(cluster: kitlib.Cluster) -> None:
    deploy(cluster, "minAvailable: 4")
    target = busiest_node(cluster)
    events: list[DrainEvent] = []
    result = cluster.drain(target, timeout=30, on_progress=events.append)
    assert not result.completed and result.evicted == ()
    assert result.duration == 30
    assert "global timeout reached: 30s" in result.reason
    assert "The disruption budget web needs 4 healthy pods and has 4 currently" in result.reason
    assert set(result.pending) == {f"default/{p['metadata']['name']}" for p in pods(cluster)
                                   if p["spec"]["nodeName"] == target}
    assert events[-1] == DrainEvent("done", None, result.reason, cluster.now())
    assert len(pods(cluster)) == 4


def test_drain_refuses_unmanaged_pods_unless_forced(cluster: kitlib.Cluster) -> None:
    cluster.apply({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "lonely"},
                   "spec": {"nodeName": "node-2",
                            "containers": [{"name": "c", "image": "busybox"}]}})
    cluster.sleep(10)
    with pytest.raises(DrainError, match=r"cannot delete Pods that declare no controller "
                       r"\(use --force to override\): default/lonely"):
        cluster.drain("node-2")
    result = cluster.drain("node-2", force=True, timeout=120)
    assert result.completed and result.evicted == ("default/lonely",)


def test_a_read_only_handle_refuses_every_write(cluster: kitlib.Cluster) -> None:
    cluster.allow_writes = False
    for operation in (lambda: cluster.evict("p"), lambda: cluster.cordon("node-0"),
                      lambda: cluster.uncordon("node-0"), lambda: cluster.drain("node-0")):
        with pytest.raises(WritesNotAllowedError, match="allow_writes=True"):
            operation()
    assert "unschedulable" not in node(cluster, "node-0")["spec"]


def test_a_dry_run_drain_says_which_evictions_the_budget_allows_and_changes_nothing(
        cluster: kitlib.Cluster) -> None:
    deploy(cluster, "maxUnavailable: 1")
    target = busiest_node(cluster)
    on_target = sorted(f"default/{p['metadata']['name']}" for p in pods(cluster)
                       if p["spec"]["nodeName"] == target)
    assert len(on_target) >= 2, "the test needs a node with two pods of the app"
    before = cluster.now()
    events: list[DrainEvent] = []
    result = cluster.drain(target, dry_run=True, on_progress=events.append)
    plan = events[0]
    assert plan.kind == "planned"
    assert sorted(plan.pods) == on_target and plan.skipped == ()
    # each dry-run eviction is judged alone: the budget allows any one of them now
    assert sorted(result.evicted) == on_target and result.completed
    assert cluster.now() == before and result.duration == 0
    assert not node(cluster, target)["spec"].get("unschedulable")
    assert len(ready_pods(cluster)) == 4

    deploy(cluster, "maxUnavailable: 0")
    result = cluster.drain(target, dry_run=True)
    assert not result.completed and result.evicted == ()
    assert sorted(result.pending) == on_target
    assert "would be refused now" in result.reason
    assert all("needs 4 healthy pods and has 4" in r.reason for r in result.refusals)
