"""A CloneSet under a PodUnavailableBudget: with ``PodUnavailableBudgetUpdateGate`` the
controller asks the PUB before each in-place update and waits while it refuses (upstream
``pkg/controller/cloneset/sync/cloneset_update.go``); a pod deletion the PUB refuses is a
``FailedDelete`` event and a ``FailedScale`` condition, retried, not a crashed reconcile."""

from __future__ import annotations

from kitlib.cluster import EmbeddedCluster
from tests.cluster.kruise.cloneset_world import (
    advance_until,
    cloneset,
    converged,
    get,
    make_cluster,
    pods,
    set_image,
)

PUBS = "podunavailablebudgets.policy.kruise.io"


def _pub(cluster: EmbeddedCluster, max_unavailable: int) -> None:
    cluster.create({"apiVersion": "policy.kruise.io/v1alpha1", "kind": "PodUnavailableBudget",
                    "metadata": {"name": "web-pub", "namespace": "default"},
                    "spec": {"targetRef": {"apiVersion": "apps.kruise.io/v1alpha1",
                                           "kind": "CloneSet", "name": "web"},
                             "maxUnavailable": max_unavailable}})
    cluster.settle()


def _events(cluster: EmbeddedCluster, reason: str) -> list[str]:
    return [e["message"] for e in cluster.store.select("events", namespace="default")
            if e.get("reason") == reason]


def _started(cluster: EmbeddedCluster, replicas: int = 4) -> EmbeddedCluster:
    cluster.create(cloneset(replicas=replicas, strategy={"type": "InPlaceIfPossible",
                                                         "maxUnavailable": "50%"}))
    advance_until(cluster, lambda: converged(cluster))
    return cluster


def test_a_zero_budget_pub_holds_in_place_updates_with_the_update_gate() -> None:
    cluster = _started(make_cluster(PodUnavailableBudgetUpdateGate=True))
    _pub(cluster, 0)
    set_image(cluster, 0, "shop:v2")
    cluster.advance(30)
    images = {p["spec"]["containers"][0]["image"] for p in pods(cluster).values()}
    assert images == {"shop:v1"}, "no pod may be updated while the PUB allows 0"
    assert get(cluster)["status"]["updatedReplicas"] == 0
    assert list(cluster.clonesets.runner.errors) == []


def test_a_budget_of_one_updates_one_pod_at_a_time_despite_max_unavailable() -> None:
    cluster = _started(make_cluster(PodUnavailableBudgetUpdateGate=True))
    _pub(cluster, 1)
    set_image(cluster, 0, "shop:v2")
    peak = 0

    def watch() -> None:
        nonlocal peak
        peak = max(peak, sum(1 for p in pods(cluster).values()
                             if p["spec"]["containers"][0]["image"] == "shop:v2"
                             and not _ready(p)))
    advance_until(cluster, lambda: converged(cluster), every_second=watch)
    assert peak == 1, "maxUnavailable 50% of 4 is 2, but the PUB allows only 1"


def test_without_the_gate_the_pub_does_not_gate_in_place_updates() -> None:
    cluster = _started(make_cluster())
    _pub(cluster, 0)
    set_image(cluster, 0, "shop:v2")
    advance_until(cluster, lambda: converged(cluster))


def test_a_delete_the_pub_refuses_is_an_event_and_a_condition_not_a_crash() -> None:
    cluster = _started(make_cluster())
    _pub(cluster, 0)
    cluster.store.modify("clonesets.apps.kruise.io", "default", "web",
                         lambda cs: cs["spec"].update(replicas=3))
    cluster.advance(5)
    assert len(pods(cluster)) == 4
    assert any("pub unavailable allowed is negative" in m
               for m in _events(cluster, "FailedDelete"))
    conditions = {c["type"]: c for c in get(cluster)["status"].get("conditions", [])}
    assert "pub unavailable allowed is negative" in conditions["FailedScale"]["message"]
    assert list(cluster.clonesets.runner.errors) == []


def _ready(pod: dict) -> bool:  # type: ignore[type-arg]
    return any(c["type"] == "Ready" and c["status"] == "True"
               for c in pod.get("status", {}).get("conditions", []))
