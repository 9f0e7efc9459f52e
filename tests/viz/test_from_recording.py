"""The plot builders on a real recording: what ``kitlib.observe`` records is what
``kitlib.viz`` draws (the frames' contract, end to end), for an in-place rollout, a
recreate rollout and a drain of the example app on a small embedded cluster."""

from __future__ import annotations

from collections.abc import Iterator

import plotly.graph_objects as go
import pytest

import kitlib
from kitlib import viz
from kitlib.observe import Recorder, Recording


@pytest.fixture(scope="module")
def recordings() -> Iterator[dict[str, Recording]]:
    with kitlib.connect(nodes=3, seed=4) as cluster:
        cluster.deploy_example("shop", replicas=6)
        cluster.wait_converged("shop", timeout=300)
        runs = {}
        for label, image, strategy in (("in-place", "nginx:1.26", "InPlaceIfPossible"),
                                       ("recreate", "nginx:1.27", "ReCreate")):
            with Recorder(cluster, workloads=["cloneset/shop"]) as recorder:
                recorder.sample()
                cluster.rollout("shop", images={"app": image}, strategy=strategy)
                recorder.run(300, dt=2, until=lambda: cluster.converged("shop"))
                if label == "recreate":
                    cluster.drain("node-1", timeout=120)
                    recorder.sample()
                runs[label] = recorder.recording
        yield runs


def _has_data(figure: go.Figure) -> bool:
    """Some trace has points (an empty figure has none, only its explanation)."""
    def size(values: object) -> int:
        return 0 if values is None else len(values)  # type: ignore[arg-type]
    return any(size(getattr(t, "x", None)) or size(getattr(t, "y", None))
               or size(getattr(t, "z", None)) for t in figure.data)


def test_every_builder_draws_a_real_recording(recordings: dict[str, Recording]) -> None:
    recording = recordings["recreate"]
    figures = {
        "convergence": viz.convergence(recording.workloads),
        "capacity": viz.capacity(recording.workloads),
        "timeline": viz.timeline(recording.pods, recording.containers),
        "placement": viz.placement(recording.pods, recording.nodes),
        "disruptions": viz.disruptions(recording.disruptions),
        "compare": viz.compare(recordings),
        "compare_curves": viz.compare_curves(
            {k: r.workloads for k, r in recordings.items()}),
    }
    empty = [name for name, figure in figures.items() if not _has_data(figure)]
    assert empty == []


def test_the_recorded_drain_shows_as_disruptions(recordings: dict[str, Recording]) -> None:
    disruptions = recordings["recreate"].disruptions
    assert len(disruptions) > 0 and set(disruptions["source"]) == {"drain"}


def test_the_timeline_tells_in_place_from_recreate(recordings: dict[str, Recording]) -> None:
    def names(figure: go.Figure) -> set[str]:
        return {trace.name for trace in figure.data if trace.name}

    in_place = viz.timeline(recordings["in-place"].pods, recordings["in-place"].containers)
    recreate = viz.timeline(recordings["recreate"].pods, recordings["recreate"].containers)
    assert names(in_place) != names(recreate)
