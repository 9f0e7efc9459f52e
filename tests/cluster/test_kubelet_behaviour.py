"""App behaviour knobs and node faults read from annotations and Image objects."""

from __future__ import annotations

import math

import pytest

from kitlib.cluster.kubelet.behaviour import (
    Behaviour,
    NodeFaults,
    annotation_problems,
    node_faults,
    resolve_behaviour,
)
from kitlib.cluster.kubelet.probes import Window

DEFAULTS = Behaviour(start_seconds=1.0, stop_seconds=1.0)


def resolve(annotations: dict[str, str], container: str = "app",
            image: dict[str, object] | None = None) -> Behaviour:
    behaviour, problems = resolve_behaviour(defaults=DEFAULTS, image=image or {},
                                            annotations=annotations, container=container)
    assert problems == []
    return behaviour


def test_no_knobs_is_the_defaults() -> None:
    assert resolve({"other.io/x": "1"}) == DEFAULTS


def test_pod_knobs_apply_to_every_container_and_container_knobs_override_them() -> None:
    annotations = {"sim.kitlib.io/ready-after-seconds": "5",
                   "sim.kitlib.io/app.ready-after-seconds": "30",
                   "sim.kitlib.io/start-seconds": "2.5"}
    assert (resolve(annotations).ready_after_seconds, resolve(annotations).start_seconds) == (
        30.0, 2.5)
    assert resolve(annotations, "sidecar").ready_after_seconds == 5.0


def test_annotations_override_the_images_behaviour_knob_by_knob() -> None:
    image = {"crashAfterSeconds": 30, "startSeconds": 4}
    behaviour = resolve({"sim.kitlib.io/start-seconds": "1"}, image=image)
    assert (behaviour.start_seconds, behaviour.exit_after_seconds, behaviour.exit_code) == (
        1.0, 30.0, 1)


@pytest.mark.parametrize(("annotations", "exit_after", "code"), [
    ({"sim.kitlib.io/crash-after-seconds": "30"}, 30.0, 1),
    ({"sim.kitlib.io/complete-after-seconds": "30"}, 30.0, 0),
    ({"sim.kitlib.io/crash-after-seconds": "30", "sim.kitlib.io/exit-code": "42"}, 30.0, 42),
    ({"sim.kitlib.io/crash-on-start": "true"}, 0.0, 1),
    ({"sim.kitlib.io/crash-on-start": "app, other"}, 0.0, 1),
    ({"sim.kitlib.io/crash-on-start": "other"}, None, 1),
    ({"sim.kitlib.io/crash-on-start": "false"}, None, 1),
    ({"sim.kitlib.io/app.crash-on-start": "true"}, 0.0, 1),
    # the most specific source wins the "exits by itself" setting
    ({"sim.kitlib.io/crash-on-start": "true", "sim.kitlib.io/app.complete-after-seconds": "9"},
     9.0, 0),
])
def test_exit_knobs(annotations: dict[str, str], exit_after: float | None, code: int) -> None:
    behaviour = resolve(annotations)
    assert (behaviour.exit_after_seconds, behaviour.exit_code) == (exit_after, code)


def test_bad_values_and_unknown_knobs_are_reported_and_ignored() -> None:
    behaviour, problems = resolve_behaviour(
        defaults=DEFAULTS, image={}, container="app",
        annotations={"sim.kitlib.io/ready-after-seconds": "soon",
                     "sim.kitlib.io/app.readiness-after": "3",
                     "sim.kitlib.io/exit-code": "300"})
    assert behaviour == DEFAULTS
    assert problems == [
        "sim.kitlib.io/exit-code: invalid value '300': must be an exit code from 0 to 255",
        "sim.kitlib.io/ready-after-seconds: invalid value 'soon': must be a number of "
        "seconds, at least 0",
        "sim.kitlib.io/app.readiness-after: unknown knob 'readiness-after' (known: "
        "start-seconds, ready-after-seconds, unready-after-seconds, crash-after-seconds, "
        "complete-after-seconds, crash-on-start, exit-code, liveness-fails-after-seconds, "
        "stop-seconds, prestop-seconds)"]


def test_annotation_problems_cover_every_container_and_unknown_container_names() -> None:
    annotations = {"sim.kitlib.io/ap.start-seconds": "1", "sim.kitlib.io/app.start-seconds": "1",
                   "sim.kitlib.io/log.stop-seconds": "-1", "other.io/x": "y"}
    assert annotation_problems(annotations, ["app", "log"]) == [
        "sim.kitlib.io/ap.start-seconds: the pod has no container 'ap'",
        "sim.kitlib.io/log.stop-seconds: invalid value '-1': must be a number of seconds, "
        "at least 0"]
    assert annotation_problems({"other.io/x": "y"}, ["app"]) == []


def test_health_windows() -> None:
    behaviour = Behaviour(ready_after_seconds=5, unready_after_seconds=50,
                          liveness_fails_after_seconds=40)
    assert behaviour.health(100.0) == Window(105.0, 140.0)
    assert behaviour.liveness(100.0) == Window(-math.inf, 140.0)
    assert Behaviour().liveness(100.0) == Window(-math.inf, None)


def test_node_faults_from_annotations() -> None:
    assert node_faults(None) == NodeFaults()
    assert node_faults({"sim.kitlib.io/down": "true", "sim.kitlib.io/pull-bandwidth": "10e6",
                        "sim.kitlib.io/disk-pressure": "True"}) == NodeFaults(
        down=True, disk_pressure=True, pull_bandwidth=10e6)
    assert node_faults({"sim.kitlib.io/down": "yes",
                        "sim.kitlib.io/pull-bandwidth": "-5"}) == NodeFaults()
