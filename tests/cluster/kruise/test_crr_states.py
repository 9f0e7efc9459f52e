"""kruise-daemon's per-container recreate state as a table (upstream
``pkg/daemon/containerrecreate/crr_daemon_util.go``,
``getCurrentCRRContainersRecreateStates``)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from kitlib.cluster.kruise.crr.daemon import recreate_states

CREATED = "2026-01-01T00:00:30Z"


def crr(previous: dict[str, Any] | None = None, synced: list[dict[str, Any]] | None = None,
        **strategy: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": "r", "creationTimestamp": CREATED, "annotations": {}}
    if synced is not None:
        meta["annotations"]["crr.apps.kruise.io/sync-container-statuses"] = json.dumps(synced)
    return {"metadata": meta,
            "spec": {"containers": [{"name": "log", "statusContext": {
                "containerID": "containerd://old", "restartCount": 0}}],
                "strategy": strategy},
            "status": {"containerRecreateStates": [previous]} if previous else {}}


def running(cid: str, started: str, restarts: int = 0) -> dict[str, Any]:
    return {"log": {"name": "log", "containerID": cid, "restartCount": restarts,
                    "state": {"running": {"startedAt": started}}}}


NEW = running("containerd://new", "2026-01-01T00:00:32Z", 1)
KILLED = {"name": "log", "phase": "Recreating", "isKilled": True}


@pytest.mark.parametrize(("case", "previous", "synced", "statuses", "now", "phase"), [
    ("not killed yet", None, None, running("containerd://old", "2026-01-01T00:00:04Z"),
     30, "Pending"),
    ("killed, still stopping", KILLED, None,
     running("containerd://old", "2026-01-01T00:00:04Z"), 30, "Recreating"),
    ("exited", KILLED, None, {"log": {"name": "log", "state": {"terminated": {}}}}, 31,
     "Recreating"),
    ("restarted, not synced yet", KILLED, None, NEW, 32, "Recreating"),
    ("restarted and ready", KILLED,
     [{"name": "log", "containerID": "containerd://new", "ready": True}], NEW, 32,
     "Succeeded"),
    ("restarted, not ready", KILLED,
     [{"name": "log", "containerID": "containerd://new", "ready": False}], NEW, 32,
     "Recreating"),
    ("finished stays finished", {"name": "log", "phase": "Failed", "isKilled": True}, None,
     NEW, 40, "Failed"),
])
def test_the_state(case: str, previous: dict[str, Any] | None,
                   synced: list[dict[str, Any]] | None, statuses: dict[str, Any],
                   now: float, phase: str) -> None:
    [state] = recreate_states(crr(previous, synced), statuses, now)
    assert state["phase"] == phase, case


def test_min_started_seconds_must_pass_first() -> None:
    synced = [{"name": "log", "containerID": "containerd://new", "ready": True}]
    body = crr(KILLED, synced, minStartedSeconds=10)
    assert recreate_states(body, NEW, 42)[0]["phase"] == "Recreating"
    assert recreate_states(body, NEW, 42.5)[0]["phase"] == "Succeeded"


def test_a_container_not_on_the_node_waits() -> None:
    [state] = recreate_states(crr(), {}, 30)
    assert state == {"name": "log", "phase": "Pending", "isKilled": False,
                     "message": "not found container on Node"}
