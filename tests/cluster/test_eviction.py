"""The ``pods/eviction`` subresource, step by step as upstream's ``EvictionREST.Create``.

Pods, owners and budgets are written by hand (``handwritten``); the disruption
controller keeps the budget's status, as it would on a real cluster.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from handwritten import (
    PDBS,
    cloneset,
    delete,
    new_cluster,
    pdb,
    pdb_status,
    pod,
    remove,
    run,
    set_ready,
)
from kubernetes import client as k8s
from starlette.testclient import TestClient

from kitlib.apiserver.app import ApiServerApp
from kitlib.apiserver.simapi import SimClock
from kitlib.cluster import EmbeddedCluster
from kitlib.model import errors
from kitlib.model.objects import format_time

WEB = {"app": "web"}
VIOLATION = "Cannot evict pod as it would violate the pod's disruption budget."
SUCCESS = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
           "code": 201}


@pytest.fixture
def cluster() -> Iterator[EmbeddedCluster]:
    cluster = new_cluster()
    yield cluster
    assert cluster.store.verify_integrity() == []
    assert not cluster.disruption.runner.errors


def web(cluster: EmbeddedCluster, replicas: int = 5, **budget: Any) -> None:
    """A CloneSet ``web`` with ``replicas`` Ready pods ``web-0``… and, if asked, its PDB."""
    owner = cloneset(cluster, "web", replicas)
    for i in range(replicas):
        pod(cluster, f"web-{i}", labels=WEB, owner=owner, ip=f"10.244.0.{i + 1}")
    if budget:
        pdb(cluster, "web", **budget)


def evict(cluster: EmbeddedCluster, name: str, body: dict[str, Any] | None = None,
          query: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    handler = cluster.subresource_handlers[("pods", "eviction")]
    if body is None:
        body = {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": name}}
    result = handler("default", name, body, query or {})
    cluster.settle()
    return result


def refused(cluster: EmbeddedCluster, name: str, **kw: Any) -> errors.ApiError:
    with pytest.raises(errors.ApiError) as caught:
        evict(cluster, name, **kw)
    return caught.value


def terminating(cluster: EmbeddedCluster, name: str) -> bool:
    obj = cluster.store.peek("pods", "default", name)
    return obj is not None and bool(obj["metadata"].get("deletionTimestamp"))


def cause(error: errors.ApiError) -> str:
    [only] = error.causes
    assert only["reason"] == "DisruptionBudget"
    return str(only["message"])


# -- the budget -------------------------------------------------------------------------

def test_10_percent_of_5_pods_allows_one_eviction_until_its_replacement_is_ready(
        cluster: EmbeddedCluster) -> None:
    web(cluster, maxUnavailable="10%")
    assert evict(cluster, "web-0") == (201, SUCCESS)
    assert terminating(cluster, "web-0")
    error = refused(cluster, "web-1")
    assert (error.code, error.reason, error.message) == (429, "TooManyRequests", VIOLATION)
    assert cause(error) == "The disruption budget web needs 4 healthy pods and has 4 currently"
    assert error.retry_after is None
    remove(cluster, "web-0")
    pod(cluster, "web-5", labels=WEB, owner=cluster.store.get(
        "clonesets.apps.kruise.io", "default", "web"), ready=False)
    assert isinstance(refused(cluster, "web-1"), errors.TooManyRequests)
    set_ready(cluster, "web-5", True)
    assert evict(cluster, "web-1") == (201, SUCCESS)


def test_a_budget_that_allows_nothing_refuses_every_time(cluster: EmbeddedCluster) -> None:
    web(cluster, 3, minAvailable=3)
    for _ in range(3):
        error = refused(cluster, "web-2")
        assert cause(error) == "The disruption budget web needs 3 healthy pods and has 3 " \
                               "currently"
        cluster.advance(5)
    assert not terminating(cluster, "web-2")


def test_an_eviction_is_recorded_in_the_budget_and_marks_the_pod(
        cluster: EmbeddedCluster) -> None:
    web(cluster, maxUnavailable=2)
    cluster.advance(7)
    evict(cluster, "web-3")
    # The controller already saw web-3 terminating and dropped the entry.
    status = pdb_status(cluster, "web")
    assert (status["disruptionsAllowed"], status["currentHealthy"]) == (1, 4)
    [target] = [c for c in cluster.store.get("pods", "default", "web-3")["status"]["conditions"]
                if c["type"] == "DisruptionTarget"]
    assert target == {"type": "DisruptionTarget", "status": "True", "lastProbeTime": None,
                      "lastTransitionTime": format_time(7), "reason": "EvictionByEvictionAPI",
                      "message": "Eviction API: evicting"}


def test_the_decrement_and_disrupted_pods_are_written_before_the_pod_goes() -> None:
    cluster = new_cluster()
    web(cluster, maxUnavailable=2)
    cluster.disruption.runner.stop()
    evict(cluster, "web-3")
    status = pdb_status(cluster, "web")
    assert (status["disruptionsAllowed"], status["disruptedPods"]) == (
        1, {"web-3": format_time(0)})
    evict(cluster, "web-4")
    status = pdb_status(cluster, "web")
    assert status["disruptionsAllowed"] == 0
    assert (status["conditions"][0]["status"], status["conditions"][0]["reason"]) == (
        "False", "InsufficientPods")


def test_a_budget_not_yet_processed_asks_to_retry_after_10_seconds(
        cluster: EmbeddedCluster) -> None:
    web(cluster, maxUnavailable=1)
    cluster.disruption.runner.stop()
    cluster.store.modify(PDBS, "default", "web",
                         lambda p: p["spec"].__setitem__("maxUnavailable", 2))
    error = refused(cluster, "web-0")
    assert (error.code, error.message, error.retry_after) == (429, VIOLATION, 10)
    assert cause(error) == "The disruption budget web is still being processed by the server."


@pytest.mark.parametrize(("status", "why"), [
    ({"disruptionsAllowed": -1}, "pdb disruptions allowed is negative"),
    ({"disruptionsAllowed": 1, "disruptedPods": {f"p{i}": format_time(0) for i in range(2001)}},
     "DisruptedPods map too big - too many evictions not confirmed by PDB controller"),
])
def test_a_broken_budget_is_403(status: dict[str, Any], why: str) -> None:
    cluster = new_cluster()
    web(cluster, maxUnavailable=1)
    cluster.disruption.runner.stop()
    cluster.store.modify(PDBS, "default", "web", lambda p: p["status"].update(status),
                         subresource="status")
    error = refused(cluster, "web-0")
    assert (error.code, error.message) == (403, f'poddisruptionbudget.policy "web" is '
                                                f"forbidden: {why}")
    assert error.details == {"name": "web", "group": "policy", "kind": "poddisruptionbudget"}


# -- pods the budget does not guard -----------------------------------------------------

@pytest.mark.parametrize("phase", ["Pending", "Succeeded", "Failed"])
def test_pods_that_are_not_running_are_evicted_regardless_of_the_budget(
        cluster: EmbeddedCluster, phase: str) -> None:
    web(cluster, 2, minAvailable=2)
    pod(cluster, "odd", labels=WEB, phase=phase, ready=False)
    evict(cluster, "odd")
    assert terminating(cluster, "odd") or cluster.store.peek("pods", "default", "odd") is None
    assert pdb_status(cluster, "web")["currentHealthy"] == 2


def test_a_terminating_pod_is_evicted_regardless_of_the_budget(cluster: EmbeddedCluster) -> None:
    web(cluster, 2, minAvailable=2)
    delete(cluster, "web-0")
    assert evict(cluster, "web-0") == (201, SUCCESS)


def test_a_pod_without_a_budget_is_simply_deleted(cluster: EmbeddedCluster) -> None:
    web(cluster, 1)
    evict(cluster, "web-0")
    assert terminating(cluster, "web-0")


def test_an_empty_selector_does_not_guard_evictions(cluster: EmbeddedCluster) -> None:
    web(cluster, 2)
    pdb(cluster, "all", labels={}, minAvailable=2)
    assert evict(cluster, "web-0") == (201, SUCCESS)


@pytest.mark.parametrize(("budget", "outcome"), [
    ({"minAvailable": 3}, "free"),          # 3 healthy >= 3 desired: the budget is met
    ({"minAvailable": 4}, "refused"),       # not met: the unready pod is guarded too
    ({"minAvailable": 4, "unhealthyPodEvictionPolicy": "AlwaysAllow"}, "free"),
    ({"minAvailable": 0}, "spends"),        # desiredHealthy 0: checked and decremented
])
def test_an_unready_pod_may_go_when_the_budget_is_met_or_the_policy_allows(
        budget: dict[str, Any], outcome: str) -> None:
    cluster = new_cluster()
    web(cluster, 4, **budget)
    set_ready(cluster, "web-0", False)
    allowed = pdb_status(cluster, "web")["disruptionsAllowed"]
    cluster.disruption.runner.stop()
    if outcome == "refused":
        assert refused(cluster, "web-0").code == 429
    else:
        assert evict(cluster, "web-0") == (201, SUCCESS)
    status = pdb_status(cluster, "web")
    spent = outcome == "spends"
    assert (status["disruptionsAllowed"], "web-0" in status.get("disruptedPods", {})) == (
        allowed - spent, spent)


# -- malformed requests -----------------------------------------------------------------

def test_two_budgets_for_one_pod_are_a_reasonless_500(cluster: EmbeddedCluster) -> None:
    web(cluster, 2, maxUnavailable=1)
    pdb(cluster, "other", labels=WEB, maxUnavailable=1)
    error = refused(cluster, "web-0")
    assert error.to_status() == {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": "This pod has more than one PodDisruptionBudget, which the eviction "
                   "subresource does not support.", "code": 500}


def test_a_missing_pod_is_404(cluster: EmbeddedCluster) -> None:
    error = refused(cluster, "ghost")
    assert (error.code, error.message, error.details) == (
        404, 'pods "ghost" not found', {"name": "ghost", "kind": "pods"})


@pytest.mark.parametrize(("body", "message"), [
    ({"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": "web-1"}},
     "name in URL does not match name in Eviction object"),
    ({"apiVersion": "policy/v1", "kind": "Eviction",
      "metadata": {"name": "web-0", "namespace": "prod"}},
     "the namespace of the provided object (prod) does not match the namespace sent on the "
     "request (default)"),
    ({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web-0"}},
     "the object has apiVersion 'v1' and kind 'Pod', but this endpoint serves policy/v1 "
     "Eviction"),
])
def test_a_mismatched_body_is_400(cluster: EmbeddedCluster, body: dict[str, Any],
                                  message: str) -> None:
    web(cluster, 1)
    error = refused(cluster, "web-0", body=body)
    assert (error.code, error.message) == (400, message)


@pytest.mark.parametrize("body", [
    {"apiVersion": "policy/v1beta1", "kind": "Eviction", "metadata": {"name": "web-0"}},
    {"metadata": {"name": "web-0", "namespace": "default"}},
])
def test_v1beta1_and_kindless_bodies_are_accepted(cluster: EmbeddedCluster,
                                                  body: dict[str, Any]) -> None:
    web(cluster, 1)
    assert evict(cluster, "web-0", body=body) == (201, SUCCESS)


def test_a_dry_run_changes_nothing(cluster: EmbeddedCluster) -> None:
    web(cluster, maxUnavailable=1)
    rv = cluster.store.resource_version
    body = {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": "web-0"},
            "deleteOptions": {"dryRun": ["All"]}}
    assert evict(cluster, "web-0", body=body) == (201, SUCCESS)
    assert evict(cluster, "web-0", query={"dryRun": "All"}) == (201, SUCCESS)
    assert cluster.store.resource_version == rv


def test_dry_run_in_query_and_body_must_agree(cluster: EmbeddedCluster) -> None:
    web(cluster, 1)
    body = {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": "web-0"},
            "deleteOptions": {"dryRun": ["Other"]}}
    error = refused(cluster, "web-0", body=body, query={"dryRun": "All"})
    assert error.to_status()["message"] == ("Non-matching dry-run options in request and "
                                            "content: [All] and [Other]")
    assert (error.code, "reason" in error.to_status()) == (500, False)


def test_the_callers_delete_options_are_used(cluster: EmbeddedCluster) -> None:
    web(cluster, 2)
    body = {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": "web-0"},
            "deleteOptions": {"gracePeriodSeconds": 5}}
    evict(cluster, "web-0", body=body)
    meta = cluster.store.get("pods", "default", "web-0")["metadata"]
    assert (meta["deletionGracePeriodSeconds"], meta["deletionTimestamp"]) == (5, format_time(5))
    stale = {**body, "metadata": {"name": "web-1"},
             "deleteOptions": {"preconditions": {"uid": "not-this-one"}}}
    error = refused(cluster, "web-1", body=stale)
    assert (error.code, error.reason) == (409, "Conflict")
    assert "the UID in the precondition (not-this-one) does not match" in error.message


def test_an_ip_change_does_not_break_eviction(cluster: EmbeddedCluster) -> None:
    web(cluster, 2, maxUnavailable=1)
    run(cluster, "web-0", ip="10.244.9.9")
    assert evict(cluster, "web-0") == (201, SUCCESS)


# -- on the wire ------------------------------------------------------------------------

@pytest.fixture
def http(cluster: EmbeddedCluster) -> Iterator[TestClient]:
    clock = SimClock.create(cluster, mode="stepped", speed=20, wall=time.monotonic)
    app = ApiServerApp(cluster, clock, token="t")
    with TestClient(app, headers={"Authorization": "Bearer t"}) as client:
        yield client


def post_eviction(http: TestClient, name: str) -> Any:
    body = {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": name}}
    return http.post(f"/api/v1/namespaces/default/pods/{name}/eviction",
                     content=orjson.dumps(body), headers={"Content-Type": "application/json"})


def test_the_wire_shows_201_then_429_with_the_cause(cluster: EmbeddedCluster,
                                                    http: TestClient) -> None:
    web(cluster, maxUnavailable="10%")
    first = post_eviction(http, "web-0")
    assert (first.status_code, first.json()) == (201, SUCCESS)
    second = post_eviction(http, "web-1")
    assert second.status_code == 429 and "retry-after" not in second.headers
    assert second.json() == {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": VIOLATION, "reason": "TooManyRequests",
        "details": {"causes": [{"reason": "DisruptionBudget", "message":
                                "The disruption budget web needs 4 healthy pods and has 4 "
                                "currently"}]},
        "code": 429}


def test_the_still_processing_429_carries_a_retry_after_header(cluster: EmbeddedCluster,
                                                               http: TestClient) -> None:
    web(cluster, maxUnavailable=1)
    cluster.disruption.runner.stop()
    cluster.store.modify(PDBS, "default", "web",
                         lambda p: p["spec"].__setitem__("maxUnavailable", 2))
    response = post_eviction(http, "web-0")
    assert (response.status_code, response.headers["retry-after"]) == (429, "10")
    assert response.json()["details"]["retryAfterSeconds"] == 10


def test_the_python_client_evicts_with_a_kindless_body(start_api_server: Any) -> None:
    server = start_api_server()
    api = k8s.CoreV1Api(server.api_client())
    api.create_namespaced_pod("default", k8s.V1Pod(
        metadata=k8s.V1ObjectMeta(name="p"),
        spec=k8s.V1PodSpec(containers=[k8s.V1Container(name="c", image="nginx")])))
    api.create_namespaced_pod_eviction("p", "default", k8s.V1Eviction(
        metadata=k8s.V1ObjectMeta(name="p", namespace="default")))
    assert api.list_namespaced_pod("default").items == []


def test_the_same_seed_and_evictions_give_the_same_history() -> None:
    def story(seed: int) -> str:
        cluster = new_cluster(seed)
        web(cluster, maxUnavailable="10%")
        evict(cluster, "web-0")
        with pytest.raises(errors.TooManyRequests):
            evict(cluster, "web-1")
        cluster.advance(130)
        remove(cluster, "web-0")
        return cluster.store.digest
    assert story(3) == story(3)
