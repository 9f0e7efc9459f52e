"""The control panels against the embedded cluster (stepped), clicked from Python.

One 3-node server for the module; each test uses its own workloads. A PodBoard stand-in
(``Board``: the two selection traits) selects pods and nodes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import traitlets

import kitlib
from kitlib.client.raw import get_json
from kitlib.widgets.panels import (
    EMBEDDED_ONLY,
    WRITES_TOOLTIP,
    ClockPanel,
    EvictionPanel,
    NodePanel,
    RolloutPanel,
)
from kitlib.widgets.panels.rollout import parse_int_or_percent
from tests.conftest import ThreadedServer, module_server


class Board(traitlets.HasTraits):
    """What the panels read of a PodBoard."""

    selected_pod = traitlets.Unicode("")
    selected_node = traitlets.Unicode("")


server = module_server(nodes=3)


@pytest.fixture(scope="module")
def cluster(connected: kitlib.Cluster) -> kitlib.Cluster:
    return connected


def deploy(cluster: kitlib.Cluster, name: str, **options: Any) -> list[dict[str, Any]]:
    cluster.deploy_example(name, **options)
    cluster.wait_converged(name, timeout=300)
    return pods(cluster, name)


def pods(cluster: kitlib.Cluster, app: str) -> list[dict[str, Any]]:
    items = get_json(cluster.api_client, "/api/v1/namespaces/default/pods",
                     labelSelector=f"app={app}")["items"]
    return sorted(items, key=lambda p: p["metadata"]["name"])


def errors(panel: Any) -> str:
    return "".join(o.get("text", "") for o in panel.output.outputs)


# -- enablement --------------------------------------------------------------------------

def test_a_read_only_handle_disables_every_destructive_button(server: ThreadedServer) -> None:
    with kitlib.connect(kubeconfig=server.kubeconfig, allow_writes=False) as read_only:
        panels = [RolloutPanel(read_only), NodePanel(read_only),
                  EvictionPanel(read_only, board=Board())]
        buttons = [b for panel in panels for b in panel.destructive]
        assert {b.description for b in buttons} == {
            "Apply", "Pause", "Resume", "Undo", "Cordon", "Uncordon", "Drain", "Fail node",
            "Restore node", "Evict"}
        assert all(b.disabled and b.tooltip == WRITES_TOOLTIP for b in buttons)
        read_only.allow_writes = True
        for panel in panels:
            panel.refresh_guards()
        assert not any(b.disabled for b in buttons)
        assert "allow_writes=True" in WRITES_TOOLTIP


def test_on_a_real_cluster_faults_and_the_clock_are_disabled(plain_server: Path) -> None:
    with kitlib.connect(kubeconfig=plain_server, allow_writes=True) as real:
        nodes, clock = NodePanel(real), ClockPanel(real)
        assert not nodes.cordon_button.disabled and not nodes.drain_button.disabled
        for button in (nodes.fail_button, nodes.restore_button):
            assert button.disabled and button.tooltip == EMBEDDED_ONLY
        assert all(c.disabled and c.tooltip == EMBEDDED_ONLY for c in clock.controls)
        assert "list nodes failed: NotFound" in errors(nodes), "the error is shown, not raised"
        assert "list nodes failed" in nodes.status.value


def test_the_embedded_cluster_enables_faults_and_the_clock(cluster: kitlib.Cluster) -> None:
    nodes, clock = NodePanel(cluster), ClockPanel(cluster)
    assert not nodes.fail_button.disabled and not nodes.restore_button.disabled
    assert nodes.picker.options == ("node-0", "node-1", "node-2")
    assert not clock.step_button.disabled and clock.speed.disabled, "stepped: no speed"
    assert clock.mode.value == "stepped" and "t = " in clock.readout.value


# -- rollout -------------------------------------------------------------------------------

def test_apply_rolls_a_cloneset_out_in_place(cluster: kitlib.Cluster) -> None:
    before = deploy(cluster, "inplace", replicas=3)
    panel = RolloutPanel(cluster, workload="cloneset/inplace")
    assert "cloneset/inplace" in panel.picker.options
    assert set(panel.images) == {"app", "agent", "mesh-proxy"}
    assert panel.images["app"].value == "nginx:1.25"
    assert "busybox:1.36" in panel.images["app"].options, "images seen in the namespace"
    assert panel.strategy.options == ("InPlaceIfPossible", "InPlaceOnly", "ReCreate")
    assert panel.strategy.value == "InPlaceIfPossible"
    assert (panel.partition.max, panel.partition.disabled) == (3, False)

    panel.images["app"].value = "nginx:1.26"
    assert panel.changes() == {"images": {"app": "nginx:1.26"}}
    panel.apply_button.click()
    assert "applied (generation 2)" in panel.status.value, errors(panel)
    cluster.wait_converged("cloneset/inplace", timeout=300)
    after = pods(cluster, "inplace")
    assert [p["metadata"]["uid"] for p in after] == [p["metadata"]["uid"] for p in before]
    assert {c["image"] for p in after for c in p["spec"]["containers"]
            if c["name"] == "app"} == {"nginx:1.26"}
    panel.refresh()
    assert "3/3 updated" in panel.progress_line.value
    assert "converged" in panel.progress_line.value


def test_an_untouched_form_changes_nothing(cluster: kitlib.Cluster) -> None:
    deploy(cluster, "still", replicas=2)
    panel = RolloutPanel(cluster, workload="cloneset/still")
    panel.apply_button.click()
    assert "nothing to change" in panel.status.value
    assert get_json(cluster.api_client, panel.ref.path)["metadata"]["generation"] == 1


def test_pause_resume_and_undo(cluster: kitlib.Cluster) -> None:
    deploy(cluster, "paused", replicas=2)
    panel = RolloutPanel(cluster, workload="cloneset/paused")
    panel.pause_button.click()
    assert "paused (generation 2)" in panel.status.value
    assert "· paused" in panel.progress_line.value
    panel.images["app"].value = "nginx:1.26"
    panel.apply_button.click()
    cluster.sleep(30)
    panel.refresh()
    assert "0/2 updated" in panel.progress_line.value, "a paused update does not move"
    panel.resume_button.click()
    assert "resumed" in panel.status.value and "· paused" not in panel.progress_line.value
    cluster.wait_converged("cloneset/paused", timeout=300)
    panel.undo_button.click()
    assert "rolled back" in panel.status.value, errors(panel)
    assert panel.images["app"].value == "nginx:1.25", "the form shows the old template"


def test_a_deployment_has_no_partition_and_its_own_strategies(cluster: kitlib.Cluster) -> None:
    deploy(cluster, "plain", replicas=2, kind="Deployment")
    panel = RolloutPanel(cluster, workload="deployment/plain")
    assert panel.partition.disabled and "no partition" in panel.partition.tooltip
    assert panel.strategy.options == ("RollingUpdate", "Recreate")
    assert not panel.max_surge.disabled
    panel.strategy.value = "Recreate"
    panel.apply_button.click()
    assert "applied" in panel.status.value, errors(panel)
    assert get_json(cluster.api_client, panel.ref.path)["spec"]["strategy"]["type"] == \
        "Recreate"


def statefulset(name: str, *, kruise: bool) -> dict[str, Any]:
    return {"apiVersion": "apps.kruise.io/v1beta1" if kruise else "apps/v1",
            "kind": "StatefulSet", "metadata": {"name": name},
            "spec": {"replicas": 3, "serviceName": name,
                     "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}}, "spec": {
                         "containers": [{"name": "app", "image": "nginx:1.25"}]}}}}


@pytest.mark.parametrize(("kind", "kruise", "strategies", "current"), [
    ("statefulset", False, ("RollingUpdate", "OnDelete"), "RollingUpdate"),
    # an Advanced StatefulSet shows its pod update policy (defaulted to ReCreate)
    ("asts", True, ("RollingUpdate", "OnDelete", "ReCreate", "InPlaceIfPossible",
                    "InPlaceOnly"), "ReCreate")])
def test_a_statefulset_has_a_partition_and_no_surge(cluster: kitlib.Cluster, kind: str,
                                                     kruise: bool, strategies: tuple[str, ...],
                                                     current: str) -> None:
    name = f"{kind}-db"
    cluster.apply(statefulset(name, kruise=kruise))
    cluster.wait_converged(f"{kind}/{name}", timeout=300)
    panel = RolloutPanel(cluster, workload=f"{kind}/{name}")
    assert panel.strategy.options == strategies and panel.strategy.value == current
    assert panel.max_surge.disabled and not panel.partition.disabled
    assert panel.partition.max == 3
    panel.partition.value = 2
    panel.images["app"].value = "nginx:1.26"
    assert panel.changes() == {"images": {"app": "nginx:1.26"}, "partition": 2}
    panel.apply_button.click()
    assert "applied" in panel.status.value, errors(panel)
    spec = get_json(cluster.api_client, panel.ref.path)["spec"]
    assert spec["updateStrategy"]["rollingUpdate"]["partition"] == 2
    assert "partition 2" in panel.progress_line.value


def test_errors_land_in_the_output(cluster: kitlib.Cluster) -> None:
    deploy(cluster, "broken", replicas=2)
    panel = RolloutPanel(cluster, workload="cloneset/broken")
    panel.max_unavailable.value = "lots"
    panel.apply_button.click()
    assert "maxUnavailable must be an integer or a percentage" in errors(panel)
    panel.max_unavailable.value = ""
    # a stale form: the picker still shows a container the template no longer has
    panel.images["ghost"] = type(panel.images["app"])(value="nginx:1.26")
    panel.apply_button.click()
    assert "apply failed: Invalid" in panel.status.value
    assert "ghost" in errors(panel)
    panel.undo_button.click()
    assert "undo failed: Invalid" in errors(panel), "no previous revision"


def test_reload_lists_a_workload_created_later(cluster: kitlib.Cluster) -> None:
    panel = RolloutPanel(cluster)
    deploy(cluster, "later", replicas=1)
    assert "cloneset/later" not in panel.picker.options
    panel.reload_button.click()
    assert "cloneset/later" in panel.picker.options


def test_a_namespace_without_workloads_says_so_on_apply(cluster: kitlib.Cluster) -> None:
    panel = RolloutPanel(cluster, namespace="empty")
    assert panel.picker.options == ()
    for button, what in ((panel.apply_button, "apply"), (panel.pause_button, "pause")):
        button.click()
        assert f"{what} failed: ValueError: no workload picked" in panel.status.value
    assert 'no workload picked (none found in namespace "empty")' in errors(panel)


def test_parse_int_or_percent() -> None:
    assert [parse_int_or_percent(t, "x") for t in ("3", " 25% ", "")] == [3, "25%", None]
    with pytest.raises(ValueError, match="x must be"):
        parse_int_or_percent("1.5", "x")


# -- nodes ---------------------------------------------------------------------------------

def _node_with_pods(cluster: kitlib.Cluster, app: str) -> str:
    pods = get_json(cluster.api_client, "/api/v1/namespaces/default/pods",
                    labelSelector=f"app={app}")["items"]
    return str(pods[0]["spec"]["nodeName"])


def test_drain_shows_progress_to_100_percent_and_a_log(cluster: kitlib.Cluster) -> None:
    deploy(cluster, "drained", replicas=3, pdb_max_unavailable=None)
    node = _node_with_pods(cluster, "drained")
    board = Board()
    panel = NodePanel(cluster, board=board)
    heard: list[str] = []
    panel.on_action(heard.append)
    board.selected_node = node
    assert panel.picker.value == node, "the panel follows the board's selection"
    start = cluster.now()
    panel.drain_button.click()
    try:
        assert panel.progress.max >= 1
        assert panel.progress.value == panel.progress.max, errors(panel)
        assert panel.progress.bar_style == "success"
        assert "drained" in panel.status.value
        assert any("evicted" in line for line in panel.log_lines)
        assert panel.log_lines[0].startswith(f"draining {node}")
        assert cluster.now() > start, "a stepped drain advances the clock itself"
        assert "cordoned" in panel.node_state.value
        assert heard[-1] == "drain" and "drain progress" in heard
    finally:
        panel.uncordon_button.click()
    assert "uncordoned" in panel.status.value and "cordoned" not in panel.node_state.value


def test_cordon_and_fail_then_restore_a_node(cluster: kitlib.Cluster) -> None:
    panel = NodePanel(cluster)
    panel.picker.value = "node-2"
    panel.cordon_button.click()
    assert "node-2: Ready, cordoned" in panel.node_state.value
    panel.uncordon_button.click()
    panel.fail_button.click()
    assert "node-2: failed" in panel.status.value, errors(panel)
    cluster.sleep(60)
    panel.refresh()
    assert "NotReady" in panel.node_state.value
    panel.restore_button.click()
    cluster.sleep(30)
    panel.refresh()
    assert "node-2: Ready" in panel.node_state.value


# -- eviction ------------------------------------------------------------------------------

def test_an_eviction_a_budget_refuses_shows_the_budget_reason(cluster: kitlib.Cluster) -> None:
    pods = deploy(cluster, "guarded", replicas=2, pdb_max_unavailable=0)
    board = Board()
    panel = EvictionPanel(cluster, board=board)
    assert "click a pod" in panel.target.value
    panel.evict_button.click()
    assert "select a pod on the board first" in errors(panel)
    board.selected_pod = f"default/{pods[0]['metadata']['name']}"
    assert pods[0]["metadata"]["name"] in panel.target.value
    panel.evict_button.click()
    assert panel.last is not None and not panel.last.allowed
    assert panel.last.reason and "disruption budget" in panel.last.reason
    assert f"refused: {panel.last.reason}"[:40] in panel.result.value
    assert "pod/" in panel.explanation.value and pods[0]["metadata"]["name"] in \
        panel.explanation.value


def test_an_allowed_eviction_says_evicted(cluster: kitlib.Cluster) -> None:
    pods = deploy(cluster, "free", replicas=2, pdb_max_unavailable=None)
    pod = f"default/{pods[0]['metadata']['name']}"
    panel = EvictionPanel(cluster, board=Board(selected_pod=pod))
    panel.evict_button.click()
    assert f"evicted {pod}" in panel.result.value, errors(panel)
    assert panel.last is not None and panel.last.allowed


# -- clock ---------------------------------------------------------------------------------

def test_a_clock_step_advances_simulated_time(cluster: kitlib.Cluster) -> None:
    panel = ClockPanel(cluster, step=7.5)
    heard: list[str] = []
    panel.on_action(heard.append)
    start = cluster.now()
    panel.step_button.click()
    assert cluster.now() == pytest.approx(start + 7.5)
    assert f"t = {start + 7.5:.1f} s" in panel.readout.value
    assert heard == ["step"]


def test_the_clock_mode_speed_and_pause_write_the_clock(cluster: kitlib.Cluster) -> None:
    panel = ClockPanel(cluster)
    try:
        panel.mode.value = "paced"
        assert cluster.clock()["spec"]["mode"] == "paced"
        assert not panel.speed.disabled and not panel.paused.disabled
        assert panel.step_button.disabled, "a running paced clock is not stepped"
        panel.speed.value = 100.0
        assert cluster.clock()["spec"]["speed"] == 100.0
        panel.paused.value = True
        assert cluster.clock()["spec"]["paused"] is True
        assert not panel.step_button.disabled, "a paused clock can be stepped"
        assert "paused" in panel.readout.value
    finally:
        cluster.set_clock(mode="stepped", paused=False)
    panel.refresh()
    assert panel.mode.value == "stepped" and not panel.paused.value
    assert cluster.clock()["spec"]["mode"] == "stepped", "refresh does not write the clock"


def test_the_form_follows_a_rollout_made_elsewhere_but_keeps_pending_edits(
        cluster: kitlib.Cluster) -> None:
    deploy(cluster, "elsewhere")
    panel = RolloutPanel(cluster, workload="cloneset/elsewhere")
    assert panel.images["app"].value == "nginx:1.25"
    cluster.rollout("cloneset/elsewhere", images={"app": "nginx:1.26"})  # e.g. a cell
    panel.refresh()
    assert panel.images["app"].value == "nginx:1.26", "the form must not show a stale image"
    assert panel.changes() == {}, "so Apply cannot roll the pods back by accident"
    panel.images["agent"].value = "busybox:1.37"  # an edit not applied yet
    cluster.rollout("cloneset/elsewhere", images={"app": "nginx:1.27"})
    panel.refresh()
    assert panel.images["agent"].value == "busybox:1.37"
    assert panel.changes() == {"images": {"agent": "busybox:1.37"}}
