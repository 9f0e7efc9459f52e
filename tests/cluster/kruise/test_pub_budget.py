"""PodUnavailableBudget: status, and refusing deletions and evictions beyond the budget
(upstream ``pkg/control/pubcontrol/pub_control_utils.go``,
``pkg/webhook/pod/validating/pod_unavailable_budget_test.go`` and
``test/e2e/policy/v1alpha1/podunavailablebudget.go``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from kitlib.cluster import EmbeddedCluster
from kitlib.cluster.settings import ClusterSettings, KubeletSettings
from kitlib.model import errors

PUBS = "podunavailablebudgets.policy.kruise.io"
DENIED = ('admission webhook "vpod.kb.io" denied the request: podunavailablebudget.policy.'
          'kruise.io "web-pub" is forbidden: pub unavailable allowed is negative')


@pytest.fixture
def cluster() -> Iterator[EmbeddedCluster]:
    c = EmbeddedCluster(ClusterSettings(seed=5, nodes=3, kubelet=KubeletSettings(jitter=0)))
    c.create({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
              "spec": {"replicas": 4, "selector": {"matchLabels": {"app": "web"}},
                       "template": {"metadata": {"labels": {"app": "web"}},
                                    "spec": {"containers": [{"name": "app",
                                                             "image": "web:1"}]}}}})
    c.advance(20)
    yield c
    assert list(c.pubs.runner.errors) == []
    assert c.store.verify_integrity() == []


def pub(cluster: EmbeddedCluster, **spec: Any) -> dict[str, Any]:
    cluster.create({"apiVersion": "policy.kruise.io/v1alpha1", "kind": "PodUnavailableBudget",
                    "metadata": {"name": "web-pub"}, "spec": spec})
    return status(cluster)


def status(cluster: EmbeddedCluster) -> dict[str, Any]:
    return dict(cluster.store.get(PUBS, "default", "web-pub")["status"])


def names(cluster: EmbeddedCluster) -> list[str]:
    return [p["metadata"]["name"] for p in cluster.store.select("pods", namespace="default")
            if not p["metadata"].get("deletionTimestamp")]


def test_status_counts_the_workload_replicas_and_marks_the_pods(
        cluster: EmbeddedCluster) -> None:
    assert pub(cluster, targetRef={"apiVersion": "apps/v1", "kind": "Deployment",
                                   "name": "web"}, maxUnavailable="25%") == {
        "observedGeneration": 1, "totalReplicas": 4, "desiredAvailable": 3,
        "currentAvailable": 4, "unavailableAllowed": 1}
    for pod in cluster.store.select("pods", namespace="default"):
        assert pod["metadata"]["annotations"]["pub.kruise.io/related-pub"] == "web-pub"


def test_a_second_delete_beyond_the_budget_is_refused(cluster: EmbeddedCluster) -> None:
    """Upstream ``pkg/webhook/pod/validating/pod_unavailable_budget_test.go``
    TestValidateDeletePodForPub, "delete pod, allow" (unavailableAllowed 1 -> the pod is
    recorded in disruptedPods and unavailableAllowed drops to 0) and "delete pod, reject"
    (unavailableAllowed 0 -> denied).
    Given 4 ready pods and a PUB with maxUnavailable 1; when one pod is deleted, then it
    is in disruptedPods and unavailableAllowed is 0; when a second is deleted, then it
    is denied with upstream's message; once the replacement is ready, then the status is
    total 4, desired 3, current 4, allowed 1 and the second delete passes."""
    pub(cluster, selector={"matchLabels": {"app": "web"}}, maxUnavailable=1)
    first, second = names(cluster)[:2]
    cluster.store.delete("pods", "default", first)
    assert status(cluster)["unavailableAllowed"] == 0
    assert first in status(cluster)["disruptedPods"]
    with pytest.raises(errors.Forbidden) as refused:
        cluster.store.delete("pods", "default", second)
    assert str(refused.value) == DENIED
    cluster.advance(30)  # the replacement becomes ready: budget back
    assert status(cluster) == {"observedGeneration": 1, "totalReplicas": 4,
                               "desiredAvailable": 3, "currentAvailable": 4,
                               "unavailableAllowed": 1}
    cluster.store.delete("pods", "default", second)


def test_eviction_is_refused_with_the_webhook_answer(cluster: EmbeddedCluster) -> None:
    """Upstream ``pkg/webhook/pod/validating/pod_unavailable_budget_test.go``
    TestValidateEvictPodForPub, "evict pod, reject" (unavailableAllowed 0 -> the eviction
    is refused).
    Given 4 ready pods and a PUB with minAvailable 4 (unavailableAllowed 0); when one pod
    is evicted through the eviction subresource, then the answer is 403 with "pub
    unavailable allowed is negative"."""
    pub(cluster, selector={"matchLabels": {"app": "web"}}, minAvailable=4)
    evict = cluster.context.subresource_handlers[("pods", "eviction")]
    pod = names(cluster)[0]
    with pytest.raises(errors.Forbidden) as refused:
        evict("default", pod, {"apiVersion": "policy/v1", "kind": "Eviction",
                               "metadata": {"name": pod}}, {})
    assert refused.value.code == 403 and str(refused.value) == DENIED


def test_no_protect_annotation_and_unprotected_operations_pass(
        cluster: EmbeddedCluster) -> None:
    """Upstream ``pkg/webhook/pod/validating/pod_unavailable_budget_test.go``
    TestValidateDeletePodForPub, "delete pod, pub feature-gate annotation, allow" (a PUB
    annotated kruise.io/pub-protect-operations without DELETE lets deletes through).
    Given a PUB with maxUnavailable 0 that protects only EVICT; when a pod is deleted,
    then the delete passes."""
    cluster.create({"apiVersion": "policy.kruise.io/v1alpha1", "kind": "PodUnavailableBudget",
                    "metadata": {"name": "web-pub", "annotations": {
                        "kruise.io/pub-protect-operations": "EVICT"}},
                    "spec": {"selector": {"matchLabels": {"app": "web"}}, "maxUnavailable": 0}})
    first = names(cluster)[0]
    cluster.store.delete("pods", "default", first)  # DELETE is not protected
    assert first not in names(cluster)


def test_scaling_the_workload_down_to_zero_is_not_blocked(cluster: EmbeddedCluster) -> None:
    pub(cluster, selector={"matchLabels": {"app": "web"}}, maxUnavailable=0)
    cluster.store.delete("deployments.apps", "default", "web")
    cluster.settle()
    cluster.advance(10)
    assert names(cluster) == []
