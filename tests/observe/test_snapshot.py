"""Raw objects to rows, the cache-warmth model and a recording's files (no cluster)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from kitlib.observe import CacheWarmth, Recording
from kitlib.observe.snapshot import (
    pod_view,
    role_of,
    seconds,
    short_image,
    workload_of,
    workload_row,
)

EPOCH = seconds("2026-01-01T00:00:00Z", 0.0)


def owned(kind: str, api_version: str, name: str, **labels: str) -> dict[str, Any]:
    return {"metadata": {"labels": labels, "ownerReferences": [
        {"kind": kind, "apiVersion": api_version, "name": name, "controller": True}]}}


def test_pods_belong_to_the_workload_their_controller_names() -> None:
    assert workload_of(owned("CloneSet", "apps.kruise.io/v1alpha1", "web")) == "cloneset/web"
    assert workload_of(owned("StatefulSet", "apps.kruise.io/v1beta1", "db")) == "asts/db"
    assert workload_of(owned("StatefulSet", "apps/v1", "db")) == "statefulset/db"
    assert workload_of(owned("ReplicaSet", "apps/v1", "api-5d8f9",
                             **{"pod-template-hash": "5d8f9"})) == "deployment/api"
    assert workload_of(owned("ReplicaSet", "apps/v1", "lonely")) == ""
    assert workload_of(owned("Job", "batch/v1", "once")) == ""
    assert workload_of({"metadata": {}}) == ""


def test_roles_come_from_the_mapping_then_the_name_then_the_position() -> None:
    roles = {"log": "agent"}
    assert role_of("log", first_other=True, roles=roles) == "agent"
    assert role_of("istio-proxy", first_other=True, roles=None) == "sidecar"
    assert role_of("Envoy", first_other=True, roles=None) == "sidecar"
    assert role_of("web", first_other=True, roles=None) == "app"
    assert role_of("shipper", first_other=False, roles=None) == "agent"


def pod(**status: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "web-1", "namespace": "ns", "uid": "u1", "resourceVersion": "7",
                     "labels": {"controller-revision-hash": "web-abc"}},
        "spec": {"nodeName": "n1", "containers": [
            {"name": "mesh-proxy", "image": "proxy:1"}, {"name": "app", "image": "web:2"},
            {"name": "agent", "image": "busybox"}]},
        "status": {"phase": "Running", "podIP": "10.0.0.5",
                   "conditions": [{"type": "Ready", "status": "True"}], **status}}


def test_a_pod_view_reads_the_pod_and_each_container() -> None:
    view = pod_view(pod(containerStatuses=[
        {"name": "app", "ready": True, "restartCount": 2, "image": "docker.io/library/web:1",
         "state": {"running": {"startedAt": "2026-01-01T00:01:40Z"}}},
        {"name": "mesh-proxy", "ready": False, "restartCount": 0, "image": "proxy:1",
         "state": {"waiting": {"reason": "ContainerCreating"}}}]), epoch=EPOCH, roles=None)
    assert view.pod_row(200.0) == (200.0, "ns", "web-1", "u1", "", "n1", "10.0.0.5",
                                   "Running", True, False, "web-abc")
    proxy, app, agent = view.container_rows(200.0, CacheWarmth(tau_seconds=100.0))
    assert proxy[5:14] == ("mesh-proxy", "sidecar", "proxy:1", "waiting", "ContainerCreating",
                           False, 0, proxy[12], proxy[13])
    assert math.isnan(proxy[12]) and math.isnan(proxy[13])
    assert app[5:13] == ("app", "app", "web:2", "running", "", True, 2, 100.0)
    assert app[13] == pytest.approx(1 - math.exp(-1)) and app[14] == "web:1"
    assert agent[6:9] == ("agent", "busybox", "unknown")


def test_timestamps_become_cluster_seconds() -> None:
    assert seconds("2026-01-01T00:00:30Z", EPOCH) == 30.0
    assert math.isnan(seconds(None, EPOCH)) and math.isnan(seconds("yesterday", EPOCH))
    assert short_image("docker.io/library/nginx:1.25") == "nginx:1.25"
    assert short_image("docker.io/bitnami/redis:7") == "bitnami/redis:7"
    assert short_image("quay.io/x/y:1") == "quay.io/x/y:1"


def test_the_cache_warms_with_uptime_and_is_cold_when_not_serving() -> None:
    model = CacheWarmth(tau_seconds=60.0, floor=0.2)
    assert model.hit_rate(0.0) == pytest.approx(0.2)
    assert model.hit_rate(60.0) == pytest.approx(0.2 + 0.8 * (1 - math.exp(-1)))
    assert model.hit_rate(1e6) == pytest.approx(1.0)
    assert model.hit_rate(600.0, serving=False) == 0.0
    assert model.hit_rate(math.nan) == 0.0
    with pytest.raises(ValueError, match="tau_seconds"):
        CacheWarmth(tau_seconds=0)
    with pytest.raises(ValueError, match="floor"):
        CacheWarmth(floor=1.5)


def test_a_workload_row_has_budget_endpoints_capacity_and_warmth() -> None:
    cloneset = {
        "apiVersion": "apps.kruise.io/v1alpha1", "kind": "CloneSet",
        "metadata": {"name": "web", "generation": 2},
        "spec": {"replicas": 2, "template": {"metadata": {"labels": {"app": "web"}}},
                 "updateStrategy": {"maxUnavailable": 1}},
        "status": {"observedGeneration": 2, "replicas": 2, "updatedReplicas": 2,
                   "readyReplicas": 1, "availableReplicas": 1, "updatedReadyReplicas": 1}}
    ready = pod_view(pod(containerStatuses=[
        {"name": "app", "ready": True, "state": {"running": {"startedAt":
                                                             "2026-01-01T00:00:00Z"}}}]),
        epoch=EPOCH, roles=None)
    pdb = {"spec": {"selector": {"matchLabels": {"app": "web"}}},
           "status": {"disruptionsAllowed": 0}}
    other = {"spec": {"selector": {"matchLabels": {"app": "db"}}},
             "status": {"disruptionsAllowed": 3}}
    service = {"metadata": {"name": "web"}, "spec": {"selector": {"app": "web"}}}
    endpoints = {"web": {"subsets": [{"addresses": [
        {"targetRef": {"kind": "Pod", "name": "web-1"}},
        {"targetRef": {"kind": "Pod", "name": "someone-else"}}]}]}}
    row = workload_row(cloneset, time=1e9, pods=[ready], warmth=CacheWarmth(), pdbs=[pdb, other],
                       services=[service], endpoints=endpoints)
    assert {k: row[k] for k in ("workload", "kind", "replicas", "ready", "unavailable",
                                "max_unavailable", "pdb_disruptions_allowed",
                                "ready_endpoints", "capacity", "converged")} == {
        "workload": "cloneset/web", "kind": "CloneSet", "replicas": 2, "ready": 1,
        "unavailable": 1, "max_unavailable": 1, "pdb_disruptions_allowed": 0.0,
        "ready_endpoints": 1.0, "capacity": 0.5, "converged": False}
    assert row["cache_hit_rate"] == pytest.approx(0.5), "one warm pod of two desired"
    alone = workload_row(cloneset, time=0.0, pods=[], warmth=CacheWarmth(), pdbs=[],
                         services=[], endpoints={})
    assert math.isnan(alone["pdb_disruptions_allowed"]) and math.isnan(alone["ready_endpoints"])
    assert alone["capacity"] == 0.5 and alone["cache_hit_rate"] == 0.0


# -- files --------------------------------------------------------------------------------------

def sample_recording() -> Recording:
    rows = {
        "pods": [(0.0, "ns", "web-1", "u1", "cloneset/web", "n1", "", "Pending", False, False,
                  "", 0),
                 (2.0, "ns", "web-1", "u1", "cloneset/web", "n1", "10.0.0.1", "Running", True,
                  False, "web-abc", 1)],
        "containers": [(0.0, "ns", "web-1", "u1", "cloneset/web", "app", "app", "web:1",
                        "waiting", "ContainerCreating", False, 0, math.nan, 0.0, "", 0),
                       (2.0, "ns", "web-1", "u1", "cloneset/web", "mesh-proxy", "sidecar",
                        "proxy:1", "running", "", True, 0, 1.0, math.nan, "proxy:1", 1)],
        "disruptions": [(1.5, "ns", "web-1", "n1", "cloneset/web", False,
                         "Cannot evict pod as it would violate the pod's disruption budget.",
                         "drain")],
        "nodes": [(0.0, "n1", True, False, "zone-a", "default", 1, 0)],
    }
    return Recording.from_frames(rows, info={"namespace": "ns", "start": 0.0, "end": 2.0})


@pytest.mark.parametrize("write", ["to_csv", "to_parquet"])
def test_a_recording_reads_back_equal_from_its_files(write: str, tmp_path: Path) -> None:
    recording = sample_recording()
    getattr(recording, write)(tmp_path / "rec")
    again = Recording.load(tmp_path / "rec")
    for name, frame in recording.frames.items():
        pd.testing.assert_frame_equal(frame, again.frames[name], obj=name)
    assert again.info == recording.info


def test_loading_a_directory_that_is_not_a_recording_says_so(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"no recording\.json"):
        Recording.load(tmp_path)
