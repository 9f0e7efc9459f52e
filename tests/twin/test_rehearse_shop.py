"""A twin of the shipped ``shop`` sample (20 nodes, 2 zones, 4 apps) and rehearsals on it.

The acceptance test of issue 5 item 6: draining a node that hosts a pod of ``pay`` (a
CloneSet whose PDB has ``maxUnavailable: 0``) blocks on that PDB and the prediction says
so, naming the PDB and the pod; draining a node without such pods converges, with a time.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import kitlib.twin
from kitlib.client.raw import get_json
from kitlib.twin import BlockedEviction, Prediction, Twin
from kitlib.twin.objects import load


@pytest.fixture(scope="module")
def shop() -> Iterator[Twin]:
    with kitlib.twin.from_manifests(kitlib.twin.sample("shop"), seed=3) as twin:
        yield twin


def pods_of(twin: Twin, app: str) -> list[dict]:
    return get_json(twin.cluster.api_client, "/api/v1/namespaces/default/pods",
                    labelSelector=f"app={app}")["items"]


def node_without(twin: Twin, app: str) -> str:
    """A node hosting pods, none of them of ``app``."""
    hosting = set(twin.nodes_hosting({"app": app}))
    return next(node for node in twin.placement() if node not in hosting)


# -- the twin holds the sample -----------------------------------------------------------------

def test_the_twin_has_the_sample_nodes_with_their_capacity_labels_and_taints(
        shop: Twin) -> None:
    nodes = {n["metadata"]["name"]: n for n in
             get_json(shop.cluster.api_client, "/api/v1/nodes")["items"]}
    assert sorted(nodes) == sorted(f"node-{i}" for i in range(1, 21))
    zones = [n["metadata"]["labels"]["topology.kubernetes.io/zone"] for n in nodes.values()]
    assert zones.count("zone-a") == zones.count("zone-b") == 10
    # the simulated kubelet posts conditions and leaves the declared capacity alone
    for node in nodes.values():
        assert node["status"]["capacity"]["cpu"] == "8"
        assert node["status"]["allocatable"] == {"cpu": "7800m", "memory": "31Gi",
                                                 "pods": "110", "ephemeral-storage": "95Gi"}
        assert {c["type"]: c["status"] for c in node["status"]["conditions"]}["Ready"] == "True"
    assert nodes["node-20"]["spec"]["taints"] == [
        {"key": "dedicated", "value": "batch", "effect": "NoSchedule"}]
    assert "node-19" not in shop.placement() and "node-20" not in shop.placement()


def test_every_app_converged_with_its_sidecar_injected(shop: Twin) -> None:
    assert {app: len(pods_of(shop, app)) for app in ("pay", "web", "cart", "catalog")} == {
        "pay": 4, "web": 10, "cart": 6, "catalog": 3}
    cart = pods_of(shop, "cart")[0]
    assert {c["name"] for c in cart["spec"]["containers"]} == {"cart", "log-agent"}
    assert shop.kinds == (("apps/v1", "Deployment"), ("apps/v1", "StatefulSet"),
                          ("apps.kruise.io/v1alpha1", "CloneSet"))
    assert shop.notes == []
    assert load(shop.manifests()) == shop.objects


# -- the acceptance test -----------------------------------------------------------------------

def test_draining_a_node_with_a_zero_budget_pod_blocks_on_that_pdb(shop: Twin) -> None:
    node = shop.nodes_hosting({"app": "pay"})[0]
    pod = next(p["metadata"]["name"] for p in pods_of(shop, "pay")
               if p["spec"]["nodeName"] == node)

    prediction = shop.rehearse_drain(node)

    assert not prediction.converged and prediction.convergence_time is None
    assert prediction.blocked_evictions[0] == BlockedEviction(
        pod, "PDB pay allows 0 disruptions (it needs 4 healthy pods and has 4; "
        "maxUnavailable: 0)", "pay")
    assert str(prediction).startswith(
        f"Draining {node} blocks: pod {pod} cannot be evicted: PDB pay allows 0 disruptions")
    assert prediction.peak_unavailable["cloneset/pay"] == 0
    assert "waiting longer does not help" in str(prediction)


def test_draining_a_node_without_such_pods_converges_in_a_predicted_time(shop: Twin) -> None:
    node = node_without(shop, "pay")
    evicted = shop.placement()[node]

    prediction = shop.rehearse_drain(node)

    assert prediction.converged and not prediction.blocked
    assert prediction.convergence_time is not None and 5 < prediction.convergence_time < 300
    assert prediction.pods_rescheduled == len(evicted)
    assert all(prediction.peak_unavailable[k] <= prediction.budgets[k]
               for k in prediction.peak_unavailable)
    assert str(prediction).startswith(
        f"Draining {node} converges in {prediction.convergence_time:g} s of cluster time")
    assert "<b>Draining" in prediction._repr_html_()
    # a rehearsal runs on a fresh fork: the twin is untouched, and a fork repeats it exactly
    assert "unschedulable" not in get_json(shop.cluster.api_client,
                                           f"/api/v1/nodes/{node}")["spec"]
    with shop.fork() as fork:
        assert fork.placement() == shop.placement()
        assert fork.rehearse_drain(node, fresh=False) == prediction
        assert get_json(fork.cluster.api_client, f"/api/v1/nodes/{node}")["spec"][
            "unschedulable"] is True


# -- other rehearsals --------------------------------------------------------------------------

def test_an_in_place_rollout_reschedules_no_pod(shop: Twin) -> None:
    prediction = shop.rehearse_rollout(
        "cloneset/cart", images={"cart": "registry.example.com/shop/cart:2.0.0"})
    assert prediction.converged and prediction.pods_rescheduled == 0
    assert prediction.peak_unavailable["cloneset/cart"] == 1 == prediction.budgets[
        "cloneset/cart"]
    assert prediction.what == ("rolling cloneset/cart out to "
                               "cart=registry.example.com/shop/cart:2.0.0")


def test_a_failed_node_is_evicted_after_the_toleration_and_its_pods_replaced(
        shop: Twin) -> None:
    placement = shop.placement()
    node = next(n for n, pods in placement.items()
                if not any(p.startswith(("pay-", "catalog-")) for p in pods))

    prediction = shop.rehearse_node_failure(node)

    assert prediction.converged and prediction.convergence_time is not None
    # 40 s without heartbeats, then the unreachable taint's 300 s toleration
    assert 340 <= prediction.convergence_time <= 500
    assert prediction.pods_rescheduled == len(placement[node])
    assert f"stay Terminating on {node}" in " ".join(prediction.notes)


def test_a_statefulset_pod_on_a_failed_node_is_not_replaced(shop: Twin) -> None:
    node = shop.nodes_hosting({"app": "catalog"})[0]
    # the module's last test: it may rehearse on the shared twin itself (no fork to build)
    prediction = shop.rehearse_node_failure(node, timeout=420, fresh=False)
    assert not prediction.converged
    assert "a StatefulSet replaces a pod only once it is gone" in str(prediction)
    assert "statefulset/catalog has 2 of 3 pods available" in str(prediction)
    assert isinstance(prediction, Prediction)
