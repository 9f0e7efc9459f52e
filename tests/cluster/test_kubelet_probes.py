"""Probe schedules as arithmetic: when a result flips, given the probe and the app's
health window (runs at start + initialDelaySeconds + k × periodSeconds)."""

from __future__ import annotations

import pytest

from kitlib.cluster.kubelet.probes import (
    Probe,
    Window,
    failure_streak,
    startup_outcome,
    success_streak,
)

READINESS = Probe("Readiness")  # upstream defaults: delay 0, period 10, success 1, failure 3


def test_defaults_are_upstreams() -> None:
    probe = Probe.of({"readinessProbe": {"httpGet": {"port": 80}}}, "Readiness")
    assert probe == Probe("Readiness", 0.0, 10.0, 1, 3, "httpGet", "80", None)


def test_liveness_and_startup_always_need_one_success() -> None:
    spec = {"successThreshold": 4, "exec": {"command": ["true"]}}
    assert Probe.of({"livenessProbe": spec}, "Liveness").success_threshold == 1  # type: ignore[union-attr]
    assert Probe.of({"readinessProbe": spec}, "Readiness").success_threshold == 4  # type: ignore[union-attr]


def test_a_missing_probe_is_none() -> None:
    assert Probe.of({"name": "app"}, "Startup") is None


@pytest.mark.parametrize(("probe", "not_before", "window", "expected"), [
    (READINESS, 0, Window(0), 0),  # answers at once: the first run passes
    (READINESS, 0, Window(5), 10),  # ready at 5 s: the run at 10 s
    (READINESS, 0, Window(10), 10),  # exactly on a run
    (Probe("Readiness", initial_delay=3), 0, Window(5), 13),  # runs 3, 13, 23…
    (Probe("Readiness", success_threshold=3), 0, Window(5), 30),  # 10, 20, 30 must pass
    (Probe("Readiness", success_threshold=3), 0, Window(5, 25), None),  # unready before 30
    (READINESS, 15, Window(0), 20),  # runs up to 15 s were already counted
])
def test_success_streak(probe: Probe, not_before: float, window: Window,
                        expected: float | None) -> None:
    assert success_streak(probe, 0.0, not_before, window) == expected


@pytest.mark.parametrize(("probe", "not_before", "window", "expected"), [
    (READINESS, 0, Window(0), None),  # healthy forever
    (READINESS, 0, Window(0, 25), 50),  # runs 30, 40, 50 fail
    (READINESS, 0, Window(100), 20),  # runs 0, 10, 20 fail before it ever answers
    (READINESS, 0, Window(15), None),  # 0 and 10 fail, then 20 passes for good
    (READINESS, 0, Window(12, 18), 20),  # no run inside the window: 0, 10, 20 all fail
    (Probe("Liveness", period=5, failure_threshold=1), 0, Window(-1e9, 12), 15),
    (READINESS, 42, Window(0, 25), 70),  # failures counted from 42 s: 50, 60, 70
])
def test_failure_streak(probe: Probe, not_before: float, window: Window,
                        expected: float | None) -> None:
    assert failure_streak(probe, 0.0, not_before, window) == expected


@pytest.mark.parametrize(("probe", "window", "expected"), [
    (Probe("Startup", period=2, failure_threshold=10), Window(7), (8.0, True)),
    (Probe("Startup", period=2, failure_threshold=3), Window(7), (4.0, False)),
    (Probe("Startup", period=2, failure_threshold=3), Window(0, 1), (0.0, True)),
    (Probe("Startup", period=2, failure_threshold=3), Window(3, 10), (4.0, True)),
    (Probe("Startup", period=2, failure_threshold=3), Window(1, 2), (4.0, False)),
])
def test_startup_outcome(probe: Probe, window: Window,
                         expected: tuple[float, bool]) -> None:
    assert startup_outcome(probe, 0.0, window) == expected


def test_runs_are_anchored_at_the_container_start() -> None:
    probe = Probe("Readiness", initial_delay=5, period=10)
    assert [probe.run_at_or_after(100.0, t) for t in (0, 105, 105.5, 115, 116)] == [
        105.0, 105.0, 115.0, 115.0, 125.0]


@pytest.mark.parametrize(("handler", "message"), [
    ({"httpGet": {"port": 80}}, "HTTP probe failed with statuscode: 503"),
    ({"tcpSocket": {"port": 5432}}, "dial tcp 10.1.2.3:5432: connect: connection refused"),
    ({"grpc": {"port": 9000}}, 'service unhealthy (responded with "NOT_SERVING")'),
    ({"exec": {"command": ["check"]}}, "command exited with non-zero status 1"),
])
def test_failure_messages_name_the_handler(handler: dict[str, object], message: str) -> None:
    probe = Probe.of({"livenessProbe": handler}, "Liveness")
    assert probe is not None and probe.failure_message("10.1.2.3") == message
