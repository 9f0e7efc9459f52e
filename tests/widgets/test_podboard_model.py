"""The PodBoard's model as tables of cases: raw pods and nodes in, entries and deltas out."""

from __future__ import annotations

from typing import Any

import pytest

from kitlib.viz import PALETTE, image_colors
from kitlib.widgets._board_model import (
    BoardModel,
    assign_colors,
    matches,
    node_entry,
    pod_entry,
    pod_state,
)


def status(name: str, *, state: str = "running", reason: str = "", ready: bool = True,
           image: str = "nginx:1.25", restarts: int = 0, exit_code: int = 0) -> dict[str, Any]:
    detail: dict[str, Any] = {"reason": reason} if reason else {}
    if state == "terminated":
        detail["exitCode"] = exit_code
    return {"name": name, "state": {state: detail}, "ready": ready, "image": image,
            "restartCount": restarts}


def pod(name: str = "web-1", *, node: str = "node-0", phase: str = "Running",
        ready: bool = True, statuses: list[dict[str, Any]] | None = None,
        containers: list[tuple[str, str]] | None = None, deleting: bool = False,
        uid: str = "u1", labels: dict[str, str] | None = None,
        conditions: list[dict[str, str]] | None = None) -> dict[str, Any]:
    containers = containers or [("app", "nginx:1.25")]
    meta: dict[str, Any] = {"namespace": "default", "name": name, "uid": uid,
                            "labels": labels or {"app": "web"}}
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:01:00Z"
    return {"metadata": meta,
            "spec": {"nodeName": node, "containers": [{"name": n, "image": i}
                                                      for n, i in containers]},
            "status": {"phase": phase,
                       "conditions": [{"type": "Ready", "status": str(ready)}]
                       + (conditions or []),
                       "containerStatuses": statuses if statuses is not None
                       else [status(n, image=i, ready=ready) for n, i in containers]}}


@pytest.mark.parametrize(("raw", "expected"), [
    (pod(node="", phase="Pending", statuses=[]), "waiting"),
    (pod(phase="Pending", ready=False,
         statuses=[status("app", state="waiting", reason="ContainerCreating", ready=False)]),
     "waiting"),
    (pod(phase="Pending", ready=False,
         statuses=[status("app", state="waiting", reason="ImagePullBackOff", ready=False)]),
     "waiting"),
    (pod(ready=False, statuses=[status("app", ready=False)]), "running"),
    (pod(), "ready"),
    (pod(ready=False, statuses=[status("app", state="waiting", reason="CrashLoopBackOff",
                                       ready=False, restarts=4)]), "crashloop"),
    (pod(ready=False, statuses=[status("app", state="terminated", reason="Error",
                                       exit_code=1, ready=False)]), "crashloop"),
    (pod(phase="Failed", ready=False), "crashloop"),
    (pod(deleting=True), "terminating"),
    (pod(deleting=True, ready=False, statuses=[status("app", state="waiting",
                                                      reason="CrashLoopBackOff")]),
     "terminating"),
])
def test_pod_state_buckets(raw: dict[str, Any], expected: str) -> None:
    assert pod_state(raw) == expected


def test_a_pull_error_is_a_waiting_pod_with_a_failing_container() -> None:
    raw = pod(phase="Pending", ready=False,
              statuses=[status("app", state="waiting", reason="ErrImagePull", ready=False)])
    entry = pod_entry(raw)
    assert entry["state"] == "waiting" and entry["containers"][0]["failing"]


def test_roles_follow_the_observe_rule_and_can_be_overridden() -> None:
    raw = pod(containers=[("app", "a:1"), ("istio-proxy", "p:1"), ("logs", "l:1")])
    assert [c["role"] for c in pod_entry(raw)["containers"]] == ["app", "sidecar", "agent"]
    roles = {"logs": "app", "app": "agent"}
    assert [c["role"] for c in pod_entry(raw, roles=roles)["containers"]] == \
        ["agent", "sidecar", "app"]


@pytest.mark.parametrize(("raw", "inplace"), [
    (pod(), False),
    (pod(containers=[("app", "nginx:1.26")], statuses=[status("app", image="nginx:1.25")]),
     True),
    (pod(containers=[("app", "nginx:1.26")],
         statuses=[status("app", image="docker.io/library/nginx:1.26")]), False),
    (pod(labels={"lifecycle.apps.kruise.io/state": "Updating"}), True),
    (pod(conditions=[{"type": "InPlaceUpdateReady", "status": "False"}]), True),
])
def test_an_in_place_update_in_progress_is_flagged(raw: dict[str, Any], inplace: bool) -> None:
    assert pod_entry(raw)["inplace"] is inplace


def test_node_entry_reads_pool_zone_readiness_cordon_and_taints() -> None:
    node = {"metadata": {"name": "n1", "labels": {"topology.kubernetes.io/zone": "z1",
                                                  "cloud.google.com/gke-nodepool": "gpu"}},
            "spec": {"unschedulable": True, "taints": [
                {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"},
                {"key": "gpu", "value": "true", "effect": "NoExecute"}]},
            "status": {"conditions": [{"type": "Ready", "status": "Unknown"}]}}
    assert node_entry(node) == {
        "name": "n1", "zone": "z1", "pool": "gpu", "ready": False, "unschedulable": True,
        "taints": ["node.kubernetes.io/unschedulable:NoSchedule", "gpu=true:NoExecute"]}


def test_pods_keep_their_slot_until_they_leave_and_newcomers_fill_gaps() -> None:
    model = BoardModel()
    model.apply({("pod", f"default/p{i}"): pod(f"p{i}", uid=f"u{i}") for i in range(3)})
    assert [model.pods[f"default/p{i}"]["slot"] for i in range(3)] == [0, 1, 2]
    model.apply({("pod", "default/p1"): None})
    model.apply({("pod", "default/p0"): pod("p0", uid="u0", ready=False,
                                            statuses=[status("app", ready=False)])})
    assert model.pods["default/p0"]["slot"] == 0, "a change in place keeps the slot"
    model.apply({("pod", "default/p3"): pod("p3", uid="u3")})
    assert model.pods["default/p3"]["slot"] == 1, "the freed slot is reused"
    model.apply({("pod", "default/p2"): pod("p2", uid="u2", node="node-1")})
    assert model.pods["default/p2"]["slot"] == 0, "a new node, a new slot"


def test_a_delta_holds_only_what_changed_and_nothing_means_no_delta() -> None:
    model = BoardModel()
    first = model.apply({("node", "node-0"): {"metadata": {"name": "node-0"}},
                         ("pod", "default/p0"): pod("p0")})
    assert first is not None
    assert (first["base"], first["version"]) == (0, 1)
    assert [n["name"] for n in first["nodes"]["upsert"]] == ["node-0"]
    assert [p["key"] for p in first["pods"]["upsert"]] == ["default/p0"]
    assert model.apply({("pod", "default/p0"): pod("p0")}) is None, "unchanged: no delta"
    assert model.apply({("pod", "default/gone"): None}) is None, "unknown removal: no delta"
    gone = model.apply({("pod", "default/p0"): None})
    assert gone is not None
    assert gone["pods"]["remove"] == ["default/p0"] and gone["version"] == 2
    assert model.state_counts() == dict.fromkeys(
        ["waiting", "running", "ready", "crashloop", "terminating"], 0)


def test_colours_start_as_the_plots_and_never_move() -> None:
    first = assign_colors({}, ["nginx:1.25", "envoy:1"])
    assert first == image_colors(["nginx:1.25", "envoy:1"])
    second = assign_colors(first, ["nginx:1.25", "nginx:1.26", "envoy:1"])
    assert {k: second[k] for k in first} == first
    assert second["nginx:1.26"] not in first.values()
    third = assign_colors(second, ["nginx:1.27", "envoy:1"])
    assert third["nginx:1.27"] not in second.values()
    many = assign_colors({}, [f"img:{i}" for i in range(len(PALETTE))])
    more = assign_colors(many, ["img:0", "new:1"])
    assert more["new:1"] != more["img:0"], "palette used up: take a colour not on screen"


@pytest.mark.parametrize(("text", "expected"), [
    ("", True), ("web", True), ("WEB-1", True), ("cloneset/web", False), ("app=web", True),
    ("app=other", False), ("ns:default", True), ("ns:kube-system", False),
    ("node:node-0", True), ("node:node-1", False), ("nginx:1.25 app=web", True),
    ("nginx app=other", False),
])
def test_filter_terms(text: str, expected: bool) -> None:
    assert matches(pod_entry(pod()), text) is expected
