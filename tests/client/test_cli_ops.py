"""The operations command line (``kitlib status|evict|drain|rollout|record|explain|…``)
against ``kitlib serve``, run as ``python -m kitlib`` in a subprocess as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

import kitlib
from kitlib.client.raw import get_json

if TYPE_CHECKING:
    from conftest import ThreadedServer

APP = """
apiVersion: apps.kruise.io/v1alpha1
kind: CloneSet
metadata: {name: web, namespace: NS}
spec:
  replicas: 4
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: app, image: "nginx:1.25"}]
  updateStrategy: {type: InPlaceIfPossible, maxUnavailable: 1}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: web, namespace: NS}
spec:
  BUDGET
  selector: {matchLabels: {app: web}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: api, namespace: NS}
spec:
  replicas: 2
  selector: {matchLabels: {app: api}}
  template:
    metadata: {labels: {app: api}}
    spec:
      containers: [{name: app, image: "nginx:1.25"}]
"""


def kitlib_cli(*args: str, kubeconfig: Path | str | None = None,
               env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``python -m kitlib ARGS`` (``KUBECONFIG`` set to ``kubeconfig``, as kubectl reads it)."""
    environ = {**os.environ, **(env or {})}
    if kubeconfig is not None:
        environ["KUBECONFIG"] = str(kubeconfig)
    return subprocess.run([sys.executable, "-m", "kitlib", *args], capture_output=True,
                          text=True, timeout=120, check=False, env=environ)


def one_error_line(result: subprocess.CompletedProcess[str], command: str) -> str:
    """The single ``kitlib <command>: error: ...`` line a failed command prints."""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"kitlib {command}: error: "), result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


def deploy(cluster: kitlib.Cluster, namespace: str, budget: str = "maxUnavailable: 1") -> None:
    cluster.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    cluster.apply(APP.replace("NS", namespace).replace("BUDGET", budget))
    cluster.sleep(60)


def pods(cluster: kitlib.Cluster, namespace: str, app: str = "web") -> list[dict[str, Any]]:
    items = get_json(cluster.api_client, f"/api/v1/namespaces/{namespace}/pods",
                     labelSelector=f"app={app}")["items"]
    return [p for p in items if not p["metadata"].get("deletionTimestamp")]


@pytest.fixture(scope="module")
def cluster() -> Iterator[kitlib.Cluster]:
    """One ``kitlib serve`` child process with 3 nodes; each test uses its own namespace."""
    with kitlib.connect(nodes=3, seed=5) as handle:
        yield handle


@pytest.fixture
def drained(start_api_server: Callable[..., ThreadedServer]) -> Iterator[kitlib.Cluster]:
    """A cluster of its own for drains (they move every namespace's pods)."""
    server = start_api_server(nodes=2)
    with kitlib.connect(kubeconfig=server.kubeconfig) as handle:
        yield handle


# -- status ----------------------------------------------------------------------------------

def test_status_lists_workloads_with_progress_and_a_nodes_summary(
        cluster: kitlib.Cluster) -> None:
    deploy(cluster, "status")
    result = kitlib_cli("-n", "status", "status", kubeconfig=cluster.kubeconfig)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["NAME", "REPLICAS", "UPDATED", "READY", "AVAILABLE",
                                "PARTITION", "PAUSED", "CONVERGED"]
    assert lines[1].split() == ["cloneset/web", "4", "4", "4", "4", "0", "no", "yes"]
    assert lines[2].split() == ["deployment/api", "2", "2", "2", "2", "-", "no", "yes"]
    assert lines[-1] == "nodes: 3, 3 ready"
    assert result.stderr == "", "no progress bar and no noise when stderr is not a terminal"


def test_status_of_a_workload_shows_its_rollout_and_its_pods(cluster: kitlib.Cluster) -> None:
    deploy(cluster, "detail")
    result = kitlib_cli("status", "web", "--namespace", "detail", kubeconfig=cluster.kubeconfig)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.startswith("cloneset/web (namespace detail)\n")
    assert "updated 4/4 (partition 0), ready 4, available 4, unavailable 0 (maxUnavailable 1" \
        in out
    assert "converged: yes" in out
    rows = [line.split() for line in out.splitlines() if line.startswith("web-")]
    assert len(rows) == 4
    assert all(row[1:3] == ["1/1", "Running"] and row[-1] == "(updated)" for row in rows), rows


def test_status_of_a_missing_workload_is_one_error_line_with_exit_code_1(
        cluster: kitlib.Cluster) -> None:
    result = kitlib_cli("status", "nope", kubeconfig=cluster.kubeconfig)
    assert result.returncode == 1
    assert 'no workload named "nope" in namespace "default"' in one_error_line(result, "status")


# -- evict -----------------------------------------------------------------------------------

def test_evict_exits_0_when_allowed_and_1_with_the_budgets_reason_when_refused(
        cluster: kitlib.Cluster) -> None:
    deploy(cluster, "evict")
    first, second = sorted(p["metadata"]["name"] for p in pods(cluster, "evict"))[:2]
    dry = kitlib_cli("evict", first, "-n", "evict", "--dry-run", kubeconfig=cluster.kubeconfig)
    assert (dry.returncode, dry.stdout) == (0, f"pod/{first} evicted (server dry run)\n")
    assert first in {p["metadata"]["name"] for p in pods(cluster, "evict")}, "dry run only"

    allowed = kitlib_cli("evict", first, "-n", "evict", kubeconfig=cluster.kubeconfig)
    assert (allowed.returncode, allowed.stdout) == (0, f"pod/{first} evicted\n")
    refused = kitlib_cli("evict", second, "-n", "evict", kubeconfig=cluster.kubeconfig)
    assert refused.returncode == 1
    line = one_error_line(refused, "evict")
    assert f"eviction of pod {second} refused: " in line
    assert "disruption budget web needs 3 healthy pods and has 3" in line

    gone = kitlib_cli("evict", "nope", "-n", "evict", kubeconfig=cluster.kubeconfig)
    assert gone.returncode == 1
    assert 'pod "nope" not found in namespace "evict"' in one_error_line(gone, "evict")


def test_mutating_commands_need_allow_writes_on_a_real_cluster(plain_server: Path) -> None:
    result = kitlib_cli("evict", "web-1", "--kubeconfig", str(plain_server))
    assert result.returncode == 1
    line = one_error_line(result, "evict")
    assert "a real cluster: pass --allow-writes to allow it, or --dry-run" in line


# -- drain -----------------------------------------------------------------------------------

def test_drain_shows_progress_and_reports_a_budget_that_blocks_it(
        drained: kitlib.Cluster) -> None:
    deploy(drained, "default", budget="minAvailable: 4")
    node = pods(drained, "default")[0]["spec"]["nodeName"]
    dry = kitlib_cli("drain", node, "--dry-run", kubeconfig=drained.kubeconfig)
    assert dry.returncode == 1
    assert "evictions would be refused now (server dry run)" in one_error_line(dry, "drain")
    assert "would be refused now: The disruption budget web needs 4" in dry.stdout
    blocked = kitlib_cli("drain", node, "--timeout", "20", "--progress",
                         kubeconfig=drained.kubeconfig)
    assert blocked.returncode == 1, blocked.stderr
    assert blocked.stdout.startswith(f"node/{node} cordoned\nevicting pod default/")
    error = blocked.stderr.strip().splitlines()[-1]
    assert error.startswith(f"kitlib drain: error: node/{node} not drained after 20 s: "
                            "global timeout reached: 20s"), error
    assert "disruption budget web needs 4 healthy pods and has 4" in error
    assert f"drain {node}:" in blocked.stderr and " pods" in blocked.stderr, "a progress bar"
    assert "Traceback" not in blocked.stderr

    drained.apply(APP.replace("NS", "default").replace("BUDGET", "maxUnavailable: 2"))
    drained.sleep(5)
    done = kitlib_cli("drain", node, "--progress", kubeconfig=drained.kubeconfig)
    assert done.returncode == 0, done.stderr
    assert f"node/{node} drained in " in done.stdout
    assert "| 0/0 pods" in done.stderr or "100%" in done.stderr
    assert not [p for p in pods(drained, "default") if p["spec"].get("nodeName") == node]
    assert kitlib_cli("uncordon", node, kubeconfig=drained.kubeconfig).stdout == \
        f"node/{node} uncordoned\n"


def test_drain_dry_run_changes_nothing(drained: kitlib.Cluster) -> None:
    deploy(drained, "default")
    node = pods(drained, "default")[0]["spec"]["nodeName"]
    result = kitlib_cli("drain", node, "--dry-run", kubeconfig=drained.kubeconfig)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"node/{node} cordoned (server dry run)\n")
    assert "(server dry run)" in result.stdout.splitlines()[1]
    live = get_json(drained.api_client, f"/api/v1/nodes/{node}")
    assert not live["spec"].get("unschedulable")
    assert len(pods(drained, "default")) == 4


# -- rollout ---------------------------------------------------------------------------------

def test_rollout_set_image_waits_with_a_progress_bar_until_converged(
        cluster: kitlib.Cluster) -> None:
    deploy(cluster, "roll")
    result = kitlib_cli("rollout", "set-image", "cloneset/web", "--image", "app=nginx:1.26",
                        "--partition", "1", "--wait", "--progress", "-n", "roll",
                        kubeconfig=cluster.kubeconfig)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "cloneset/web patched"
    assert lines[1].startswith("cloneset/web converged after ")
    assert "cloneset/web:" in result.stderr and "3/4 pods" in result.stderr
    images = sorted(p["spec"]["containers"][0]["image"] for p in pods(cluster, "roll"))
    assert images == ["nginx:1.25", "nginx:1.26", "nginx:1.26", "nginx:1.26"]

    finish = kitlib_cli("rollout", "set-image", "web", "--partition", "0", "--wait",
                        "--timeout", "1", "-n", "roll", kubeconfig=cluster.kubeconfig)
    assert finish.returncode == 1
    assert "timed out after 1 s waiting for cloneset/web to converge" in \
        one_error_line(finish, "rollout set-image")
    status = kitlib_cli("rollout", "status", "web", "-n", "roll",
                        kubeconfig=cluster.kubeconfig)
    assert status.returncode == 0, status.stderr
    assert status.stdout.startswith("cloneset/web converged after ")


def test_rollout_pause_resume_and_undo_a_deployment(cluster: kitlib.Cluster) -> None:
    deploy(cluster, "undo")
    ns = ("-n", "undo")
    changed = kitlib_cli("rollout", "set-image", "deploy/api", "--image", "app=nginx:1.26",
                         "--wait", *ns, kubeconfig=cluster.kubeconfig)
    assert changed.returncode == 0, changed.stderr
    paused = kitlib_cli("rollout", "pause", "deploy/api", *ns, kubeconfig=cluster.kubeconfig)
    assert paused.stdout == "deployment/api patched\n"
    refused = kitlib_cli("rollout", "undo", "deploy/api", *ns, kubeconfig=cluster.kubeconfig)
    assert refused.returncode == 1
    assert "resume it first" in one_error_line(refused, "rollout undo")
    resumed = kitlib_cli("rollout", "resume", "deploy/api", *ns, kubeconfig=cluster.kubeconfig)
    assert resumed.stdout == "deployment/api patched\n"
    dry = kitlib_cli("rollout", "undo", "deploy/api", "--dry-run", *ns,
                     kubeconfig=cluster.kubeconfig)
    assert dry.stdout == "deployment/api patched (server dry run)\n"
    undone = kitlib_cli("rollout", "undo", "deploy/api", "--wait", *ns,
                        kubeconfig=cluster.kubeconfig)
    assert undone.returncode == 0, undone.stderr
    assert {p["spec"]["containers"][0]["image"] for p in pods(cluster, "undo", "api")} == \
        {"nginx:1.25"}


# -- usage and connection errors ------------------------------------------------------------

@pytest.mark.parametrize(("args", "command", "message"), [
    (("rollout", "set-image", "web", "--image", "app"), "rollout set-image",
     "argument --image: expected CONTAINER=IMAGE, not 'app'"),
    (("rollout", "set-image", "web"), "rollout set-image", "nothing to change"),
    (("rollout", "set-image", "web", "--partition", "x"), "rollout set-image",
     "not an integer or a percentage: 'x'"),
    (("rollout", "undo", "web", "--wait", "--dry-run"), "rollout undo",
     "--wait cannot be combined with --dry-run"),
    (("drain", "node-0", "--timeout", "-1"), "drain", "must not be negative"),
    (("rollout",), "rollout", "the following arguments are required: VERB"),
])
def test_usage_errors_are_one_line_with_exit_code_2(
        cluster: kitlib.Cluster, args: tuple[str, ...], command: str, message: str) -> None:
    result = kitlib_cli(*args, kubeconfig=cluster.kubeconfig)
    assert result.returncode == 2, result.stderr
    assert message in one_error_line(result, command)


def test_without_a_kubeconfig_commands_say_how_to_get_one_and_start_nothing(
        tmp_path: Path) -> None:
    result = kitlib_cli("status", env={"HOME": str(tmp_path), "KUBECONFIG": "",
                                       "TMPDIR": str(tmp_path)})
    assert result.returncode == 1
    line = one_error_line(result, "status")
    assert "no kubeconfig at ~/.kube/config" in line and "kitlib serve --kubeconfig" in line
    assert not list(tmp_path.iterdir()), "no embedded cluster was started"


def test_an_unknown_context_is_one_error_line(cluster: kitlib.Cluster) -> None:
    result = kitlib_cli("status", "--context", "nope", kubeconfig=cluster.kubeconfig)
    assert result.returncode == 1
    assert "nope" in one_error_line(result, "status")


# -- record, explain -------------------------------------------------------------------------

def test_record_writes_frames_and_metrics_of_an_in_place_rollout(
        cluster: kitlib.Cluster, tmp_path: Path) -> None:
    from kitlib.client.workloads import rollout
    from kitlib.observe import Recording

    deploy(cluster, "rec")
    rollout(cluster, "cloneset/web", images={"app": "nginx:1.26"}, namespace="rec")
    out = tmp_path / "recording"
    result = kitlib_cli("record", "cloneset/web", "-n", "rec", "--duration", "40", "--dt", "2",
                        "--out", str(out), "--progress", kubeconfig=cluster.kubeconfig)
    assert result.returncode == 0, result.stderr
    assert "record: 100%" in result.stderr and "40/40 s" in result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split()[:3] == ["WORKLOAD", "TIME_TO_CONVERGE", "PEAK_UNAVAILABLE"]
    assert lines[1].split()[0] == "cloneset/web"
    assert lines[-1] == f"recorded 21 samples over 40 s (cluster time) to {out} (csv)"
    recording = Recording.load(out)
    assert recording.workloads["time"].nunique() == 21
    metrics = recording.metrics().set_index("workload").loc["cloneset/web"]
    assert metrics["pods_rescheduled"] == 0, metrics
    assert (out / "metrics.csv").read_text().startswith("workload,time_to_converge,")

    parquet = kitlib_cli("record", "-n", "rec", "--duration", "2", "--out", str(tmp_path / "p"),
                         "--format", "parquet", kubeconfig=cluster.kubeconfig)
    assert parquet.returncode == 0, parquet.stderr
    assert (tmp_path / "p" / "workloads.parquet").is_file()
    assert len(Recording.load(tmp_path / "p").workloads) == 3 * 2, "2 workloads, 3 samples"


def test_explain_says_why_a_rollout_does_not_move(cluster: kitlib.Cluster) -> None:
    deploy(cluster, "why")
    set_image = kitlib_cli("rollout", "set-image", "web", "-n", "why", "--image",
                           "app=nginx:1.26", "--partition", "4", kubeconfig=cluster.kubeconfig)
    assert set_image.returncode == 0, set_image.stderr
    result = kitlib_cli("explain", "cloneset/web", "-n", "why", kubeconfig=cluster.kubeconfig)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("cloneset/web: ")
    assert "partition 4" in result.stdout, result.stdout


def test_status_and_rollout_on_a_cluster_without_openkruise(
        start_api_server: Callable[..., ThreadedServer]) -> None:
    server = start_api_server(nodes=1, kruise=False)
    with kitlib.connect(kubeconfig=server.kubeconfig) as plain:
        plain.apply(APP.split("---")[2].replace("NS", "default"))
        plain.sleep(30)
    status = kitlib_cli("status", kubeconfig=server.kubeconfig)
    assert status.returncode == 0, status.stderr
    assert [line.split()[0] for line in status.stdout.splitlines()[:2]] == [
        "NAME", "deployment/api"]
    missing = kitlib_cli("rollout", "pause", "cloneset/api", kubeconfig=server.kubeconfig)
    assert missing.returncode == 1
    one_error_line(missing, "rollout pause")
    caps = kitlib_cli("capabilities", kubeconfig=server.kubeconfig)
    assert caps.returncode == 0, caps.stderr
    assert "helm install kruise" in caps.stdout, caps.stdout
