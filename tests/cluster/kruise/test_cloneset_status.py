"""CloneSet status details, revisions and the inPlaceUpdate lifecycle hook.

Upstream: ``pkg/controller/cloneset/cloneset_status_test.go``,
``pkg/controller/cloneset/revision/cloneset_revision_test.go``, ``test/e2e/apps/cloneset.go``
(lifecycle hook cases); reference §1.2, §1.5, §1.8.
"""

from __future__ import annotations

from kitlib.cluster import EmbeddedCluster
from tests.cluster.kruise.cloneset_world import (
    advance_until,
    change,
    cloneset,
    converged,
    get,
    pods,
    set_image,
)


def progressing(cluster: EmbeddedCluster) -> tuple[str, str]:
    cond = next(c for c in get(cluster)["status"]["conditions"] if c["type"] == "Progressing")
    return cond["status"], cond["reason"]


def test_progressing_is_reported_only_with_a_progress_deadline(
        cluster: EmbeddedCluster) -> None:
    cluster.create(cloneset(replicas=2))
    advance_until(cluster, lambda: converged(cluster))
    assert "conditions" not in get(cluster)["status"]
    change(cluster, lambda cs: cs["spec"].__setitem__("progressDeadlineSeconds", 600))
    assert progressing(cluster) == ("True", "CloneSetAvailable")
    change(cluster, lambda cs: cs["spec"]["updateStrategy"].update({"partition": 1}))
    set_image(cluster, 2, "envoy:2")
    assert progressing(cluster) == ("True", "CloneSetUpdated")
    advance_until(cluster, lambda: get(cluster)["status"]["updatedAvailableReplicas"] == 1)
    assert progressing(cluster) == ("True", "ProgressPartitionAvailable")


def test_reverting_the_template_reuses_the_old_revision(cluster: EmbeddedCluster) -> None:
    cluster.create(cloneset(replicas=1))
    advance_until(cluster, lambda: converged(cluster))
    first = get(cluster)["status"]["updateRevision"]
    set_image(cluster, 2, "envoy:2")
    advance_until(cluster, lambda: converged(cluster))
    change(cluster, lambda cs: cs["spec"].__setitem__("replicas", 2))  # no new revision
    set_image(cluster, 2, "envoy:1")
    assert get(cluster)["status"]["updateRevision"] == first
    revisions = {r["metadata"]["name"]: r["revision"]
                 for r in cluster.store.select("controllerrevisions.apps")}
    assert len(revisions) == 2 and revisions[first] == 3


def test_an_in_place_update_hook_holds_the_pod_in_preparing_update(
        cluster: EmbeddedCluster) -> None:
    """lifecycle.inPlaceUpdate.labelsHandler: a pod carrying the label waits in
    PreparingUpdate; once the label is removed the update runs, and the pod stays Updated
    until the label is back."""
    hook = {"inPlaceUpdate": {"labelsHandler": {"example.com/ready-to-go": "true"}}}
    body = cloneset(replicas=1, lifecycle=hook)
    body["spec"]["template"]["metadata"]["labels"]["example.com/ready-to-go"] = "true"
    cluster.create(body)
    advance_until(cluster, lambda: converged(cluster))
    name = next(iter(pods(cluster)))

    def state() -> str:
        return str(pods(cluster)[name]["metadata"]["labels"]["lifecycle.apps.kruise.io/state"])
    set_image(cluster, 2, "envoy:2")
    cluster.advance(10)
    assert state() == "PreparingUpdate"
    assert pods(cluster)[name]["spec"]["containers"][2]["image"] == "envoy:1"
    cluster.store.modify("pods", "default", name, lambda p: p["metadata"]["labels"].pop(
        "example.com/ready-to-go"))
    cluster.settle()
    cluster.advance(10)
    assert pods(cluster)[name]["spec"]["containers"][2]["image"] == "envoy:2"
    assert state() == "Updated"
    cluster.store.modify("pods", "default", name, lambda p: p["metadata"]["labels"].__setitem__(
        "example.com/ready-to-go", "true"))
    cluster.settle()
    assert state() == "Normal"
