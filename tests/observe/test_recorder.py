"""``Recorder`` against a ``kitlib serve`` child process, over HTTPS with the official client.

One 3-node cluster for the module; each test works in its own namespace.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pandas as pd
import pytest
from kubernetes import client as k8s

import kitlib
from kitlib.client.ops import load_manifest
from kitlib.client.raw import get_json
from kitlib.model.errors import NotFound
from kitlib.observe import Recorder

DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: NAME}
spec:
  replicas: 3
  selector: {matchLabels: {app: NAME}}
  template:
    metadata: {labels: {app: NAME}}
    spec:
      containers: [{name: app, image: "nginx:1.25"}, {name: envoy, image: "envoy:1"}]
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: NAME}
spec:
  maxUnavailable: 1
  selector: {matchLabels: {app: NAME}}
"""

STATEFULSET = """
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec:
  replicas: 2
  serviceName: db
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      containers: [{name: db, image: "postgres:16"}]
"""


@pytest.fixture(scope="module")
def cluster() -> Iterator[kitlib.Cluster]:
    with kitlib.connect(nodes=3, seed=3) as handle:
        yield handle


def namespace(cluster: kitlib.Cluster, name: str) -> str:
    cluster.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    return name


def deploy(cluster: kitlib.Cluster, ns: str, *names: str) -> None:
    for name in names:
        manifest = DEPLOYMENT.replace("NAME", name)
        cluster.apply([{**doc, "metadata": {**doc["metadata"], "namespace": ns}}
                       for doc in load_manifest(manifest)])
    cluster.sleep(30)


def pod_names(cluster: kitlib.Cluster, ns: str, app: str) -> list[str]:
    items = get_json(cluster.api_client, f"/api/v1/namespaces/{ns}/pods",
                     labelSelector=f"app={app}")["items"]
    return sorted(p["metadata"]["name"] for p in items)


def test_evictions_are_recorded_as_disruptions_allowed_or_refused(
        cluster: kitlib.Cluster) -> None:
    ns = namespace(cluster, "evictions")
    deploy(cluster, ns, "web")
    first, second, third = pod_names(cluster, ns, "web")
    with Recorder(cluster, namespace=ns) as recorder:
        recorder.sample()
        assert cluster.evict(first, ns).allowed
        assert not cluster.evict(second, ns).allowed
        cluster.evict(third, ns, dry_run=True)  # not an attempt: not recorded
        recorder.run(10, dt=5)
        recording = recorder.recording
    disruptions = recording.disruptions
    assert list(disruptions["pod"]) == [first, second]
    assert list(disruptions["allowed"]) == [True, False]
    assert set(disruptions["workload"]) == {"deployment/web"}
    assert set(disruptions["source"]) == {"evict"} and (disruptions["node"] != "").all()
    assert "disruption budget" in disruptions["reason"].iloc[1]
    workloads = recording.workloads
    assert set(workloads["kind"]) == {"Deployment"}
    assert workloads["pdb_disruptions_allowed"].iloc[0] == 1
    assert workloads["ready_endpoints"].isna().all(), "no Service selects it"
    pods = recording.pods
    assert set(pods["workload"]) == {"deployment/web"} and (pods["revision"] != "").all()
    roles = recording.containers.groupby("container")["role"].first().to_dict()
    assert roles == {"app": "app", "envoy": "sidecar"}
    assert recording.metrics().iloc[0]["pods_rescheduled"] == 1


def test_statefulset_pods_are_followed_by_name_across_replacements(
        cluster: kitlib.Cluster) -> None:
    ns = namespace(cluster, "stateful")
    cluster.apply([{**doc, "metadata": {**doc["metadata"], "namespace": ns}}
                   for doc in load_manifest(STATEFULSET)])
    cluster.sleep(30)
    with Recorder(cluster, namespace=ns) as recorder:
        recorder.sample()
        k8s.CoreV1Api(cluster.api_client).delete_namespaced_pod("db-0", ns)
        recording = recorder.run(40, dt=5)
    metrics = recording.metrics().set_index("workload").loc["statefulset/db"]
    assert metrics["pods_rescheduled"] == 1
    assert metrics["ip_changes"] == 1
    assert metrics["app_restarts"] == 0
    assert recording.pods.loc[recording.pods["pod"] == "db-0", "uid"].nunique() == 2


def test_a_list_of_workloads_limits_what_is_recorded(cluster: kitlib.Cluster) -> None:
    ns = namespace(cluster, "selected")
    deploy(cluster, ns, "web", "api")
    with Recorder(cluster, namespace=ns, workloads=["web"]) as recorder:
        recording = recorder.run(4, dt=2)
    assert set(recording.workloads["workload"]) == {"deployment/web"}
    assert set(recording.pods["workload"]) == {"deployment/web"}
    assert recording.info["workloads"] == ["deployment/web"]
    assert recording.info["samples"] == 3 and len(recording.workloads) == 3
    with pytest.raises(NotFound, match="no workload named"):
        Recorder(cluster, namespace=ns, workloads=["nothing"])


def test_nodes_are_sampled_with_the_pods_of_the_namespace(cluster: kitlib.Cluster) -> None:
    ns = namespace(cluster, "placement")
    deploy(cluster, ns, "web")
    with Recorder(cluster, namespace=ns) as recorder:
        recording = recorder.run(0)
    nodes = recording.nodes
    assert sorted(nodes["node"]) == ["node-0", "node-1", "node-2"]
    assert nodes["pods"].sum() == 3 and nodes["ready"].all()
    assert (nodes["zone"] != "").all() and (nodes["pool"] != "").all()


def test_event_mode_samples_after_watch_events_and_stops_its_thread(
        cluster: kitlib.Cluster) -> None:
    ns = namespace(cluster, "events")
    before = set(threading.enumerate())
    recorder = Recorder(cluster, namespace=ns, on_events=True, event_interval=0.01)
    cluster.apply([{**doc, "metadata": {**doc["metadata"], "namespace": ns}}
                   for doc in load_manifest(DEPLOYMENT.replace("NAME", "web"))])
    cluster.sleep(30)
    seen = threading.Event()
    for _ in range(1000):
        if recorder.samples:
            seen.set()
            break
        seen.wait(0.01)
    recorder.stop()
    recorder.stop()
    assert seen.is_set(), "no sample followed the watch events"
    assert len(recorder.recording.pods) > 0
    assert set(threading.enumerate()) <= before
    with pytest.raises(RuntimeError, match="stopped"):
        recorder.sample()


def test_one_frame_is_the_same_as_in_the_recording_and_unknown_names_say_which_exist(
        ) -> None:
    with kitlib.connect(nodes=2, seed=3) as cluster:
        cluster.deploy_example("one", replicas=2)
        with Recorder(cluster) as recorder:
            recorder.run(10, dt=2)
            for name in ("workloads", "pods", "containers", "nodes", "disruptions"):
                pd.testing.assert_frame_equal(recorder.frame(name),
                                              getattr(recorder.recording, name))
            with pytest.raises(KeyError, match="frames: pods"):
                recorder.frame("nope")
