"""Acceptance: a recorded in-place rollout vs a recreate rollout of the same 50-pod app.

The app is ``kitlib.client.apps.example_app``: a CloneSet whose pods run the business
container ``app``, an ops ``agent`` and a ``mesh-proxy`` sidecar, with a Service and a PDB,
on a 5-node embedded cluster with a fixed seed. The app comes up and warms up for 60 s;
then three rollouts follow one another, each recorded from a converged app: the app
container's image in place, the sidecar's image in place, the app's image by ReCreate
(each one ``Cluster.rollout``: a patch of ``spec.template`` and ``spec.updateStrategy.type``),
sampled every 2 simulated seconds. The first is run again on a fresh cluster with the
same seed and must give identical frames.

How restarts are named: ``app_restarts`` counts every restart of an app container;
``app_inplace_restarts`` the ones that started a new image in the same pod (an in-place
update of the app container) and ``app_crash_restarts`` the rest.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

import kitlib
from kitlib.client.apps import example_app
from kitlib.observe import Recorder, Recording

SEED, NODES, REPLICAS = 11, 5, 50
PATH = "/apis/apps.kruise.io/v1alpha1/namespaces/default/clonesets/shop"


def roll(cluster: kitlib.Cluster, *, container: str, image: str, strategy: str) -> None:
    """Change one container's image and the update strategy (one PATCH)."""
    cluster.rollout("cloneset/shop", images={container: image}, strategy=strategy)


def record(cluster: kitlib.Cluster, *, container: str, image: str,
           strategy: str) -> Recording:
    """Record one rollout from a converged app: a sample, the patch, 36 s every 2 s."""
    with Recorder(cluster) as recorder:
        recorder.sample()
        roll(cluster, container=container, image=image, strategy=strategy)
        recorder.run(36, dt=2)
        return recorder.recording


def app_in_place_from_the_start(cluster: kitlib.Cluster) -> Recording:
    cluster.apply(example_app("shop", replicas=REPLICAS))
    cluster.sleep(60)
    return record(cluster, container="app", image="nginx:1.26", strategy="InPlaceIfPossible")


@pytest.fixture(scope="module")
def recordings() -> dict[str, Recording]:
    """Three rollouts of one app, one after the other, each recorded from converged."""
    with kitlib.connect(nodes=NODES, seed=SEED) as cluster:
        app_in_place = app_in_place_from_the_start(cluster)
        sidecar = record(cluster, container="mesh-proxy",
                         image="nginxinc/nginx-unprivileged:1.26", strategy="InPlaceIfPossible")
        recreate = record(cluster, container="app", image="nginx:1.27", strategy="ReCreate")
    return {"app_in_place": app_in_place, "sidecar_in_place": sidecar,
            "app_recreate": recreate}


@pytest.fixture
def app_in_place(recordings: dict[str, Recording]) -> Recording:
    return recordings["app_in_place"]


@pytest.fixture
def sidecar_in_place(recordings: dict[str, Recording]) -> Recording:
    return recordings["sidecar_in_place"]


@pytest.fixture
def app_recreate(recordings: dict[str, Recording]) -> Recording:
    return recordings["app_recreate"]


def only(recording: Recording) -> dict[str, Any]:
    table = recording.metrics()
    assert list(table["workload"]) == ["cloneset/shop"]
    row: dict[str, Any] = table.iloc[0].to_dict()
    return row


def test_a_sidecar_updated_in_place_keeps_every_app_container_running_and_warm(
        sidecar_in_place: Recording) -> None:
    metrics = only(sidecar_in_place)
    assert metrics["pods_rescheduled"] == 0
    assert metrics["ip_changes"] == metrics["node_changes"] == 0
    assert metrics["app_restarts"] == 0
    containers = sidecar_in_place.containers
    sidecar_restarts = containers.loc[containers["role"] == "sidecar"].groupby("uid")[
        "restarts"].agg(lambda r: r.iloc[-1] - r.iloc[0])
    assert len(sidecar_restarts) == REPLICAS and (sidecar_restarts == 1).all()
    assert metrics["time_to_converge"] > 0
    apps = containers.loc[containers["role"] == "app"]
    assert apps.groupby("uid")["started_at"].nunique().eq(1).all()
    warmth = sidecar_in_place.workloads["cache_hit_rate"]
    assert warmth.is_monotonic_increasing, "the app caches never went cold"


def test_the_app_updated_in_place_restarts_in_its_pod_and_recreate_replaces_every_pod(
        app_in_place: Recording, app_recreate: Recording) -> None:
    in_place, recreate = only(app_in_place), only(app_recreate)
    assert in_place["pods_rescheduled"] == 0
    assert in_place["ip_changes"] == in_place["node_changes"] == 0
    assert (in_place["app_restarts"], in_place["app_inplace_restarts"],
            in_place["app_crash_restarts"]) == (REPLICAS, REPLICAS, 0)
    assert recreate["pods_rescheduled"] == REPLICAS
    assert recreate["ip_changes"] >= REPLICAS
    assert recreate["app_restarts"] == 0, "new pods start, they do not restart"
    for metrics in (in_place, recreate):
        assert metrics["time_to_converge"] > 0
        assert not metrics["budget_exceeded"]
        assert metrics["peak_unavailable"] <= metrics["budget"]
    # An in-place update pulls only the new app image; recreated pods pull it too (the old
    # images stay on the nodes), so the bytes are the same: one new image per node.
    assert in_place["image_bytes_pulled"] == recreate["image_bytes_pulled"] > 0
    assert set(app_in_place.pods["uid"]) == set(
        app_in_place.pods.loc[app_in_place.pods["time"] == app_in_place.info["start"], "uid"])
    assert app_recreate.pods["uid"].nunique() == 2 * REPLICAS


def test_the_frames_show_the_difference_in_sidecars_and_cache_warmth(
        sidecar_in_place: Recording, app_in_place: Recording,
        app_recreate: Recording) -> None:
    sidecar, in_place, recreate = (only(r) for r in (sidecar_in_place, app_in_place,
                                                     app_recreate))
    assert sidecar["mean_cache_hit_rate"] > in_place["mean_cache_hit_rate"]
    assert sidecar["mean_cache_hit_rate"] > recreate["mean_cache_hit_rate"]
    # Restarting the app (in place or in new pods) leaves its caches colder at the end
    # than before the rollout; a sidecar update leaves them warmer (they kept warming).
    for recording, cooled in ((sidecar_in_place, False), (app_in_place, True),
                              (app_recreate, True)):
        warmth = recording.workloads["cache_hit_rate"]
        assert bool(warmth.iloc[-1] < warmth.iloc[0]) is cooled
    # The sidecar keeps running through an app restart in place, not through a recreate.
    for recording, restarted in ((app_in_place, False), (app_recreate, True)):
        sidecars = recording.containers.loc[recording.containers["role"] == "sidecar"]
        assert (sidecars["uid"].nunique() > REPLICAS) is restarted
    final = app_in_place.workloads.iloc[-1]
    assert (final["replicas"], final["updated"], final["ready"]) == (REPLICAS,) * 3
    assert final["ready_endpoints"] == REPLICAS and final["capacity"] == 1.0
    assert final["pdb_disruptions_allowed"] == 5


def test_the_same_seed_gives_identical_frames(app_in_place: Recording) -> None:
    with kitlib.connect(nodes=NODES, seed=SEED) as cluster:
        again = app_in_place_from_the_start(cluster)
    for name, frame in app_in_place.frames.items():
        pd.testing.assert_frame_equal(frame, again.frames[name], obj=name)
    pd.testing.assert_frame_equal(app_in_place.metrics(), again.metrics())
