"""Notes ``from_cluster`` leaves about what it read but could not reproduce."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

from kitlib.client.cluster import Cluster
from kitlib.twin.capture import _Capture, _note_webhook_containers, _ready_delay


def pod(*containers: str) -> dict[str, Any]:
    return {"metadata": {"name": "p"}, "spec": {"containers": [{"name": c} for c in containers]}}


def test_containers_a_webhook_injected_are_named() -> None:
    state = _Capture(cast(Cluster, SimpleNamespace(namespace="default")), ("default",))
    web = {"apiVersion": "apps/v1", "kind": "Deployment",
           "metadata": {"name": "web", "namespace": "default"},
           "spec": {"template": {"spec": {"containers": [{"name": "app"}]}}}}
    state.workloads.append((web, [pod("app", "istio-proxy", "log-agent")]))
    sidecarset = {"spec": {"containers": [{"name": "log-agent"}]}}
    _note_webhook_containers(state, [sidecarset])
    assert state.notes == [
        "deployment/web: its pods run containers that neither its template nor a copied "
        "SidecarSet declares (istio-proxy), added by a webhook the twin does not have: the "
        "twin's pods run without them."]


def test_the_readiness_delay_is_ready_transition_minus_last_container_start() -> None:
    def timed(ready: str, *starts: str) -> dict[str, Any]:
        return {"status": {
            "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": ready}],
            "containerStatuses": [{"state": {"running": {"startedAt": s}}} for s in starts]}}

    assert _ready_delay(timed("2026-01-01T00:01:00Z", "2026-01-01T00:00:10Z",
                              "2026-01-01T00:00:30Z")) == 30
    # a container restarted after the pod became ready tells nothing about readiness
    assert _ready_delay(timed("2026-01-01T00:01:00Z", "2026-01-01T00:02:00Z")) is None
    assert _ready_delay({"status": {"conditions": [{"type": "Ready", "status": "False"}]}}) is None
