"""CloneSet in-place update on 3 simulated nodes (real scheduler and kubelets).

Upstream: ``test/e2e/apps/cloneset.go`` ("CloneSet Updating" in-place cases) and
``pkg/controller/cloneset/sync/cloneset_update_test.go``; reference §1.8, §1.10, §1.13.
"""

from __future__ import annotations

import json

from kitlib.cluster import EmbeddedCluster
from kitlib.cluster.kruise.inplace import STATE_ANNOTATION
from tests.cluster.kruise.cloneset_world import (
    advance_until,
    cloneset,
    converged,
    get,
    pods,
    ready_condition,
    set_image,
    statuses,
    unavailable,
)


def identity(pod: dict[str, object]) -> tuple[object, ...]:
    meta, spec, status = pod["metadata"], pod["spec"], pod["status"]
    assert isinstance(meta, dict) and isinstance(spec, dict) and isinstance(status, dict)
    return meta["uid"], spec["nodeName"], status["podIP"]


def test_changing_the_mesh_image_restarts_only_that_container_in_every_pod(
        cluster: EmbeddedCluster) -> None:
    """Upstream ``test/e2e/apps/v1alpha1/cloneset.go``, "in-place update images with the
    same imageID" (pod UID unchanged, container restarted) and "in-place update two
    container images with priorities successfully" (restartCount 1 per updated
    container); upstream ``pkg/controller/cloneset/sync/cloneset_update_test.go`` TestUpdate
    "inplace update" (the in-place-update-state annotation records the old container).
    Given 5 ready pods of app + ops agent + mesh sidecar and maxUnavailable 20%; when
    only the mesh image changes, then every pod keeps its name, UID, node and IP, mesh
    has restartCount 1, app and ops keep restartCount 0 and the same state (``startedAt``),
    at no simulated instant is more than 1 pod unavailable, it takes 11 s, and the status
    ends at 5/5/5 updated, ready and available."""
    cluster.create(cloneset())
    advance_until(cluster, lambda: converged(cluster))
    before = pods(cluster)
    worst: list[int] = []
    cluster.engine.on_event = lambda *_: worst.append(unavailable(cluster))
    set_image(cluster, 2, "envoy:2")
    took = advance_until(cluster, lambda: converged(cluster))
    cluster.engine.on_event = None
    after = pods(cluster)
    assert after.keys() == before.keys()
    for name, pod in after.items():
        assert identity(pod) == identity(before[name])
        old, new = statuses(before[name]), statuses(pod)
        assert new["mesh"]["restartCount"] == 1
        assert new["mesh"]["image"] == "docker.io/library/envoy:2"
        for c in ("app", "ops"):
            assert new[c]["restartCount"] == 0
            assert new[c]["state"] == old[c]["state"]
        assert pod["metadata"]["labels"]["lifecycle.apps.kruise.io/state"] == "Normal"
        state = json.loads(pod["metadata"]["annotations"][STATE_ANNOTATION])
        assert list(state["lastContainerStatuses"]) == ["mesh"]
    assert max(worst) == 1
    # one pod at a time: stop 1 s + pull (0.3 s for the first pod on a node) + start 1 s
    assert took == 11
    status = get(cluster)["status"]
    assert {k: v for k, v in status.items() if k not in ("updateRevision", "currentRevision",
                                                        "labelSelector")} == {
        "observedGeneration": 2, "replicas": 5, "readyReplicas": 5, "availableReplicas": 5,
        "updatedReplicas": 5, "updatedReadyReplicas": 5, "updatedAvailableReplicas": 5,
        "expectedUpdatedReplicas": 5, "collisionCount": 0}
    assert status["currentRevision"] == status["updateRevision"]
    assert status["labelSelector"] == "app=web"


def test_the_readiness_gate_drops_while_the_container_restarts(
        cluster: EmbeddedCluster) -> None:
    """Upstream ``pkg/controller/cloneset/sync/cloneset_update_test.go`` TestUpdate,
    "inplace update" (the update sets ``InPlaceUpdateReady`` False with reason
    StartInPlaceUpdate and the lifecycle state Updating) and
    ``pkg/util/inplaceupdate/inplace_update_test.go`` TestRefresh (it goes back True once
    the update completed).
    Given one ready pod with the InPlaceUpdateReady readiness gate; when its image
    changes in place, then (InPlaceUpdateReady, Ready) go (False, False) with the update,
    then (True, False) once the container restarted, then (True, True)."""
    cluster.create(cloneset(replicas=1))
    advance_until(cluster, lambda: converged(cluster))
    name = next(iter(pods(cluster)))
    seen: list[tuple[str | None, str | None]] = []

    def record(*_: object) -> None:
        pod = pods(cluster)[name]
        pair = (ready_condition(pod, "InPlaceUpdateReady"), ready_condition(pod))
        if not seen or seen[-1] != pair:
            seen.append(pair)
    cluster.engine.on_event = record
    set_image(cluster, 0, "shop:v2")
    record()
    pod = pods(cluster)[name]
    gate = next(c for c in pod["status"]["conditions"] if c["type"] == "InPlaceUpdateReady")
    assert gate["reason"] == "StartInPlaceUpdate"
    assert pod["metadata"]["labels"]["lifecycle.apps.kruise.io/state"] == "Updating"
    advance_until(cluster, lambda: converged(cluster))
    cluster.engine.on_event = None
    assert seen == [("False", "False"), ("True", "False"), ("True", "True")]
