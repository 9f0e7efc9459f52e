"""SidecarSet hot upgrade: ``X-1``/``X-2`` injection, the upgrade of the idle container,
the flip of the old one back to the empty image, and the app container never
restarting (upstream ``test/e2e/apps/v1alpha1/sidecarset_hotupgrade.go``,
``pkg/controller/sidecarset/sidecarset_hotupgrade_test.go``,
``pkg/webhook/pod/mutating/sidecarset_hotupgrade.go``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from kitlib.cluster import EmbeddedCluster
from kitlib.cluster.kruise.sidecarset.hotupgrade import (
    find_container_to_upgrade,
    flip_do,
    is_in_hot_upgrading,
    upgrade_hot_do,
)
from kitlib.cluster.kruise.sidecarset.upgrade import PodState, get_next_upgrade_pods
from kitlib.cluster.settings import ClusterSettings, KubeletSettings
from kitlib.model import errors

SS = "sidecarsets.apps.kruise.io"
HOT = {"upgradeType": "HotUpgrade", "hotUpgradeEmptyImage": "empty:1"}
WORKING = "kruise.io/sidecarset-working-hotupgrade-container"


def mesh(image: str = "envoy:1", **strategy: Any) -> dict[str, Any]:
    return {"apiVersion": "apps.kruise.io/v1alpha1", "kind": "SidecarSet",
            "metadata": {"name": "mesh"},
            "spec": {"selector": {"matchLabels": {"mesh": "on"}},
                     "containers": [{"name": "envoy", "image": image, "upgradeStrategy": HOT}],
                     "updateStrategy": strategy}}


def deployment(replicas: int) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "cart"},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "cart"}},
                     "template": {"metadata": {"labels": {"app": "cart", "mesh": "on"}},
                                  "spec": {"containers": [{"name": "app",
                                                           "image": "cart:1"}]}}}}


@pytest.fixture
def cluster() -> Iterator[EmbeddedCluster]:
    c = EmbeddedCluster(ClusterSettings(seed=7, nodes=3, kubelet=KubeletSettings(jitter=0)))
    yield c
    assert list(c.sidecarsets.runner.errors) == []
    assert c.store.verify_integrity() == []


def start(cluster: EmbeddedCluster, replicas: int = 3) -> None:
    cluster.create(mesh())
    cluster.create(deployment(replicas))
    cluster.advance(30)


def pods(cluster: EmbeddedCluster) -> list[dict[str, Any]]:
    return cluster.store.select("pods", namespace="default")


def counts(cluster: EmbeddedCluster) -> list[int]:
    status = cluster.store.get(SS, "", "mesh")["status"]
    return [status[k] for k in ("matchedPods", "updatedPods", "readyPods", "updatedReadyPods")]


def images(pod: dict[str, Any]) -> list[tuple[str, str]]:
    return [(c["name"], c["image"]) for c in pod["spec"]["containers"]]


def statuses(pod: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["name"]: s for s in pod["status"]["containerStatuses"]}


def set_image(cluster: EmbeddedCluster, image: str) -> str:
    ss = cluster.store.modify(SS, "", "mesh", lambda s: s["spec"]["containers"][0].__setitem__(
        "image", image))
    cluster.settle()
    return str(ss["metadata"]["resourceVersion"])


def version_env(name: str, annotation: str) -> dict[str, Any]:
    return {"name": name, "valueFrom": {"fieldRef": {
        "apiVersion": "v1", "fieldPath": f"metadata.annotations['{annotation}']"}}}


def test_a_hot_sidecar_is_injected_as_a_working_and_an_empty_container(
        cluster: EmbeddedCluster) -> None:
    """Given a HotUpgrade sidecar envoy (envoy:1, empty image empty:1), when a pod of 3
    replicas is created, then it runs envoy-1 (envoy:1), envoy-2 (empty:1) and app, the
    working annotation names envoy-1, versions are 1/0 and 0/1, both containers read
    them through SIDECARSET_VERSION(_ALT) and all 3 pods count as updated and ready
    (upstream ``test/e2e/apps/v1alpha1/sidecarset_hotupgrade.go`` "sidecarSet inject pod
    hot upgrade sidecar container")."""
    start(cluster)
    for pod in pods(cluster):
        assert images(pod) == [("envoy-1", "envoy:1"), ("envoy-2", "empty:1"), ("app", "cart:1")]
        for c in pod["spec"]["containers"][:2]:
            assert c["env"] == [
                {"name": "IS_INJECTED", "value": "true"},
                version_env("SIDECARSET_VERSION", f"version.sidecarset.kruise.io/{c['name']}"),
                version_env("SIDECARSET_VERSION_ALT",
                            f"versionalt.sidecarset.kruise.io/{c['name']}")]
        annotations = pod["metadata"]["annotations"]
        assert annotations[WORKING] == '{"envoy":"envoy-1"}'
        assert [annotations[f"{k}.sidecarset.kruise.io/envoy-{i}"] for i in (1, 2)
                for k in ("version", "versionalt")] == ["1", "0", "0", "1"]
        assert orjson.loads(annotations["kruise.io/sidecarset-hash"])["mesh"][
            "sidecarList"] == ["envoy"]
        assert all(s["ready"] for s in statuses(pod).values())
    assert counts(cluster) == [3, 3, 3, 3]


def test_hot_upgrade_swaps_the_working_container_and_empties_the_old_one(
        cluster: EmbeddedCluster) -> None:
    """Given 3 pods with envoy-1 on envoy:1 and maxUnavailable 1, when the image becomes
    envoy:2, then one pod at a time: envoy-2 gets envoy:2 and becomes the working one
    (t=0), restarts and is ready at t=3, when envoy-1 is flipped back to empty:1 (its
    version "0"); the pod is ready again at t=5 and the next one starts; all done at
    t=13. The app container never restarts (upstream ``test/e2e/apps/v1alpha1/
    sidecarset_hotupgrade.go`` "sidecarSet upgrade hot sidecar container image",
    ``pkg/controller/sidecarset/sidecarset_hotupgrade_test.go``)."""
    start(cluster)
    apps = {p["metadata"]["uid"]: statuses(p)["app"] for p in pods(cluster)}
    version = set_image(cluster, "envoy:2")
    seen = [counts(cluster)]
    for _ in range(15):
        cluster.advance(1)
        seen.append(counts(cluster))
    assert seen[0] == seen[1] == seen[2] == seen[3] == seen[4] == [3, 1, 2, 0]
    assert seen[5] == seen[8] == [3, 2, 2, 1]
    assert seen[9] == seen[12] == [3, 3, 2, 2]
    assert seen[13] == seen[15] == [3, 3, 3, 3]
    hash_ = cluster.store.get(SS, "", "mesh")["metadata"]["annotations"][
        "kruise.io/sidecarset-hash"]
    for pod in pods(cluster):
        assert images(pod) == [("envoy-1", "empty:1"), ("envoy-2", "envoy:2"), ("app", "cart:1")]
        assert [statuses(pod)[c]["restartCount"] for c in ("envoy-1", "envoy-2")] == [1, 1]
        assert statuses(pod)["app"] == apps[pod["metadata"]["uid"]]
        annotations = pod["metadata"]["annotations"]
        assert annotations[WORKING] == '{"envoy":"envoy-2"}'
        assert annotations["version.sidecarset.kruise.io/envoy-1"] == "0"
        assert annotations["versionalt.sidecarset.kruise.io/envoy-2"] == "0"
        assert orjson.loads(annotations["kruise.io/sidecarset-hash"])["mesh"]["hash"] == hash_
    first = min(pods(cluster), key=lambda p: p["metadata"]["annotations"][
        "version.sidecarset.kruise.io/envoy-2"])["metadata"]["annotations"]
    assert first["version.sidecarset.kruise.io/envoy-2"] == version
    assert first["versionalt.sidecarset.kruise.io/envoy-1"] == version
    resets = [e for e in cluster.store.iter_objects("events")
              if e["reason"] == "ResetContainerSucceed"]
    assert [e["message"] for e in resets] == [
        "reset sidecar container image empty successfully"] * 3


def test_mid_swap_the_pod_is_not_ready_for_the_sidecarset(cluster: EmbeddedCluster) -> None:
    """Given the first pod just upgraded (envoy-2 on envoy:2, envoy-1 still on envoy:1),
    then the SidecarSet counts it updated but not ready until envoy-1 carries the empty
    image again, and the second pod waits (maxUnavailable 1) (upstream
    ``pkg/control/sidecarcontrol/sidecarset_control.go`` ``IsPodReady``)."""
    start(cluster)
    set_image(cluster, "envoy:2")
    cluster.advance(3)
    upgraded = [p for p in pods(cluster) if p["metadata"]["annotations"][WORKING] ==
                '{"envoy":"envoy-2"}']
    assert len(upgraded) == 1
    assert images(upgraded[0])[:2] == [("envoy-1", "empty:1"), ("envoy-2", "envoy:2")]
    assert counts(cluster) == [3, 1, 2, 0]


def test_a_second_upgrade_goes_back_to_the_first_container(cluster: EmbeddedCluster) -> None:
    """Given pods hot-upgraded to envoy:2 (envoy-2 working), when the image becomes
    envoy:3, then envoy-1 — the one carrying the empty image — gets envoy:3 and works,
    and envoy-2 is flipped to empty:1 (upstream ``test/e2e/apps/v1alpha1/
    sidecarset_hotupgrade.go``, third step "update ... image to nginx")."""
    start(cluster, replicas=2)
    set_image(cluster, "envoy:2")
    cluster.advance(20)
    set_image(cluster, "envoy:3")
    cluster.advance(20)
    for pod in pods(cluster):
        assert images(pod) == [("envoy-1", "envoy:3"), ("envoy-2", "empty:1"), ("app", "cart:1")]
        assert pod["metadata"]["annotations"][WORKING] == '{"envoy":"envoy-1"}'
        assert [statuses(pod)[c]["restartCount"] for c in ("envoy-1", "envoy-2", "app")] == [
            2, 2, 0]
    assert counts(cluster) == [2, 2, 2, 2]


def test_a_failed_image_stalls_then_a_good_one_replaces_the_not_ready_container(
        cluster: EmbeddedCluster) -> None:
    """Given 2 pods and an image that cannot be pulled, when the SidecarSet moves to it,
    then one pod has envoy-2 stuck and status is matched 2, updated 1, ready 1,
    updatedReady 0; when it then moves to envoy:2, envoy-2 (the not-ready one) gets it on
    both pods, envoy-1 goes back to empty:1 and status is 2/2/2/2 (upstream
    ``test/e2e/apps/v1alpha1/sidecarset_hotupgrade.go`` "sidecarSet upgrade hot sidecar
    container failed image")."""
    start(cluster, replicas=2)
    cluster.create({"apiVersion": "sim.kitlib.io/v1alpha1", "kind": "Image",
                    "metadata": {"name": "typo"},
                    "spec": {"image": "envoy:typo", "pullable": False}})
    set_image(cluster, "envoy:typo")
    cluster.advance(30)
    assert counts(cluster) == [2, 1, 1, 0]
    set_image(cluster, "envoy:2")
    cluster.advance(30)
    assert counts(cluster) == [2, 2, 2, 2]
    for pod in pods(cluster):
        assert images(pod) == [("envoy-1", "empty:1"), ("envoy-2", "envoy:2"), ("app", "cart:1")]
        assert pod["metadata"]["annotations"][WORKING] == '{"envoy":"envoy-2"}'
        assert statuses(pod)["app"]["restartCount"] == 0


# -- the pure pieces, as tables (upstream pkg/control/sidecarcontrol/util_hotupgrade.go) --

SIDECAR = {"name": "test-sidecar", "image": "test-image:v2", "upgradeStrategy": {
    "upgradeType": "HotUpgrade", "hotUpgradeEmptyImage": "empty:1"}}
HOT_SS = {"metadata": {"name": "test-sidecarset", "resourceVersion": "22"},
          "spec": {"containers": [SIDECAR]}}


def hot_pod(one: str, two: str, working: str = "test-sidecar-1",
            ready: tuple[bool, bool] = (True, True)) -> dict[str, Any]:
    names = ("test-sidecar-1", "test-sidecar-2")
    return {"metadata": {"annotations": {
                WORKING: orjson.dumps({"test-sidecar": working}).decode(),
                "version.sidecarset.kruise.io/test-sidecar-1": "1",
                "version.sidecarset.kruise.io/test-sidecar-2": "0"}},
            "spec": {"containers": [{"name": "nginx", "image": "nginx:1.15.1"},
                                    {"name": names[0], "image": one},
                                    {"name": names[1], "image": two}]},
            "status": {"containerStatuses": [{"name": "nginx", "ready": True},
                                             {"name": names[0], "ready": ready[0]},
                                             {"name": names[1], "ready": ready[1]}]}}


@pytest.mark.parametrize(("one", "two", "working", "ready", "expected"), [
    ("test-image:v1", "empty:1", "test-sidecar-1", (True, True), "test-sidecar-2"),
    ("empty:1", "test-image:v1", "test-sidecar-2", (True, True), "test-sidecar-1"),
    ("test-image:v1", "test-image:bad", "test-sidecar-2", (True, False), "test-sidecar-2"),
    ("test-image:bad", "test-image:v1", "test-sidecar-1", (False, True), "test-sidecar-1"),
    ("test-image:v0", "test-image:v1", "test-sidecar-2", (True, True), "test-sidecar-1"),
    ("test-image:v1", "test-image:v0", "test-sidecar-1", (True, True), "test-sidecar-2"),
])
def test_the_container_to_upgrade_is_the_empty_then_the_not_ready_then_the_older_one(
        one: str, two: str, working: str, ready: tuple[bool, bool], expected: str) -> None:
    """Given the two containers of a hot sidecar, when one is picked for the upgrade,
    then it is the one carrying the empty image; else the not-ready one; else the one
    not working (upstream ``pkg/control/sidecarcontrol/util_hotupgrade.go``
    ``findContainerToHotUpgrade``)."""
    pod = hot_pod(one, two, working, ready)
    assert find_container_to_upgrade(SIDECAR, pod, lambda c: True)[0] == expected


def test_upgrade_marks_the_new_container_working_and_records_versions() -> None:
    """Given test-sidecar-1 working on v1 and test-sidecar-2 empty, when upgraded to v2 at
    SidecarSet resourceVersion 22, then test-sidecar-2 runs v2 and works, its version is
    22 and alt 0, test-sidecar-1's alt is 22; a second call changes nothing (upstream
    ``pkg/controller/sidecarset/sidecarset_processor.go`` ``updatePodSidecarContainer``,
    ``sidecarset_hotupgrade_test.go`` first case)."""
    pod = hot_pod("test-image:v1", "empty:1")
    assert upgrade_hot_do(pod, SIDECAR, "test-sidecar-2", "test-sidecar-1", "22")
    assert images(pod)[1:] == [("test-sidecar-1", "test-image:v1"),
                               ("test-sidecar-2", "test-image:v2")]
    annotations = pod["metadata"]["annotations"]
    assert annotations[WORKING] == '{"test-sidecar":"test-sidecar-2"}'
    assert [annotations["version.sidecarset.kruise.io/test-sidecar-2"],
            annotations["versionalt.sidecarset.kruise.io/test-sidecar-2"],
            annotations["versionalt.sidecarset.kruise.io/test-sidecar-1"]] == ["22", "1", "22"]
    assert not upgrade_hot_do(hot_pod("test-image:v2", "empty:1"), SIDECAR,
                              "test-sidecar-2", "test-sidecar-1", "22")


def test_the_flip_empties_the_old_container_and_leaves_an_empty_one_alone() -> None:
    """Given test-sidecar-2 working on v2 and test-sidecar-1 still on v1, when flipped,
    then test-sidecar-1 gets empty:1 and version "0", test-sidecar-2's alt version "0";
    a pod whose other container is already empty is not in a hot upgrade and is left
    alone (upstream ``pkg/controller/sidecarset/sidecarset_hotupgrade.go``
    ``flipPodSidecarContainerDo``, ``isPodSidecarInHotUpgrading``)."""
    pod = hot_pod("test-image:v1", "test-image:v2", working="test-sidecar-2")
    assert is_in_hot_upgrading(HOT_SS, pod)
    assert flip_do(HOT_SS, pod) == ["test-sidecar-1"]
    assert images(pod)[1] == ("test-sidecar-1", "empty:1")
    annotations = pod["metadata"]["annotations"]
    assert annotations["version.sidecarset.kruise.io/test-sidecar-1"] == "0"
    assert annotations["versionalt.sidecarset.kruise.io/test-sidecar-2"] == "0"
    assert not is_in_hot_upgrading(HOT_SS, pod)
    assert flip_do(HOT_SS, pod) == []


def test_a_pod_with_a_ready_but_unfinished_sidecar_waits_for_a_later_round() -> None:
    """Given a pod not yet updated whose sidecar is ready but not consistent (an earlier
    upgrade in flight) and a not-ready one, when the next pods are chosen, then only the
    other pods are candidates (upstream ``pkg/control/sidecarcontrol/sidecarset_control.go``
    ``IsSidecarSetUpgradable``)."""
    states = [PodState("a", upgrading=True, order=(0,)),
              PodState("b", ready=False, consistent=False, order=(1,)),
              PodState("c", order=(2,))]
    assert get_next_upgrade_pods({"maxUnavailable": 1}, states) == (["b", "c"], [])


def test_upgrade_type_is_immutable_and_no_container_can_be_added(
        cluster: EmbeddedCluster) -> None:
    """Given a SidecarSet with HotUpgrade container envoy, when its upgradeType becomes
    ColdUpgrade, or a container is added, then the update is refused with upstream's
    messages (upstream ``pkg/webhook/sidecarset/validating/sidecarset_hotupgrade_test.go``
    ``TestSidecarSetUpdateConflict``, ``validateSidecarContainerConflict``)."""
    cluster.create(mesh())
    with pytest.raises(errors.Invalid, match=r'spec\.containers\.upgradeStrategy\.upgradeType: '
                       r'Invalid value: "envoy": container envoy upgradeType is immutable'):
        cluster.store.modify(SS, "", "mesh", lambda s: s["spec"]["containers"][0][
            "upgradeStrategy"].__setitem__("upgradeType", "ColdUpgrade"))
    with pytest.raises(errors.Invalid, match=r'spec\.containers\.name: Invalid value: "x": '
                       r"container x is not found"):
        cluster.store.modify(SS, "", "mesh", lambda s: s["spec"]["containers"].append(
            {"name": "x", "image": "x:1"}))


def test_without_an_empty_image_the_sidecarset_is_accepted_but_pods_are_refused(
        cluster: EmbeddedCluster) -> None:
    """Given a HotUpgrade sidecar without hotUpgradeEmptyImage, then the SidecarSet is
    accepted (upstream's webhook does not check it) and a matching pod is refused because
    its envoy-2 has no image (the API server validates after the mutating webhooks;
    upstream ``pkg/webhook/sidecarset/validating/sidecarset_create_update_handler.go``,
    ``pkg/webhook/pod/mutating/sidecarset_hotupgrade.go``)."""
    ss = mesh()
    ss["spec"]["containers"][0]["upgradeStrategy"] = {"upgradeType": "HotUpgrade"}
    cluster.create(ss)
    with pytest.raises(errors.Invalid, match=r'Pod "p" is invalid: '
                       r"spec\.containers\[1\]\.image: Required value"):
        cluster.create({"apiVersion": "v1", "kind": "Pod", "metadata": {
            "name": "p", "namespace": "default", "labels": {"mesh": "on"}},
            "spec": {"containers": [{"name": "app", "image": "cart:1"}]}})
