"""``kubectl drain``, ``cordon`` and ``uncordon`` against ``kitlib serve`` end to end.

A paced cluster with three nodes runs a Deployment of five pods whose app takes 60
simulated seconds to become Ready, behind a PodDisruptionBudget with
``maxUnavailable: 1``; the clock runs at 10× wall clock while kubectl drains (so that
a replacement takes 6 s, longer than kubectl's 5 s retry delay) and at 200× while the
test only waits for a rollout. Draining a node that hosts two of them goes one pod at a time:
the second eviction is refused with a 429 (kubectl prints "will retry after 5s") until
the first pod's replacement is Ready on another node. A budget that allows nothing
keeps drain retrying until its timeout.

Real kubectl, the oldest and the newest supported (``kubectl.1.27``/``kubectl.1.33``
beside ``/usr/bin/kubectl``); skipped when they are not installed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_kubectl import KUBECTL_DIR, START_TIMEOUT, VERSIONS, Kubectl

pytestmark = pytest.mark.kubectl

SPEED = 10
FAST = 200
VIOLATION = "Cannot evict pod as it would violate the pod's disruption budget."


def app(name: str, *, replicas: int, ready_after: int, budget: dict[str, Any],
        namespace: str = "default") -> list[dict[str, Any]]:
    """A Deployment (pods with an emptyDir and a readiness probe) and its PDB."""
    labels = {"app": name}
    meta = {"name": name, "namespace": namespace}
    return [
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta,
         "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                  "template": {
                      "metadata": {"labels": labels, "annotations": {
                          "sim.kitlib.io/ready-after-seconds": str(ready_after)}},
                      "spec": {"containers": [{
                          "name": "app", "image": "nginx:1.27",
                          "readinessProbe": {"httpGet": {"path": "/", "port": 80},
                                             "periodSeconds": 5},
                          "volumeMounts": [{"name": "scratch", "mountPath": "/tmp"}]}],
                          "volumes": [{"name": "scratch", "emptyDir": {}}]}}}},
        {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": meta,
         "spec": {"selector": {"matchLabels": labels}, **budget}},
    ]


@pytest.fixture(scope="module", params=VERSIONS, ids=[f"kubectl{v}" for v in VERSIONS])
def kubectl(request: pytest.FixtureRequest,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kubectl]:
    """A paced three-node ``kitlib serve`` and one kubectl version pointed at it."""
    version: str = request.param
    binary = KUBECTL_DIR / f"kubectl.{version}"
    if not os.access(binary, os.X_OK):
        pytest.skip(f"{binary} is not installed")
    tmp = tmp_path_factory.mktemp(f"drain-{version}")
    kubeconfig, log = tmp / "kc", tmp / "server.log"
    with log.open("wb") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "kitlib", "serve", "--port", "0", "--kubeconfig",
             str(kubeconfig), "--mode", "paced", "--speed", str(SPEED), "--nodes", "3",
             "--seed", "1"], stdin=subprocess.DEVNULL, stdout=sink, stderr=subprocess.STDOUT)
    try:
        _wait_for(kubeconfig, proc, log)
        yield Kubectl(version, binary, kubeconfig, tmp / "cache", log, tmp)
    finally:
        proc.terminate()
        proc.wait(timeout=15)
    text = log.read_text()
    assert "Traceback" not in text and "internal error" not in text, text


def _wait_for(kubeconfig: Path, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while not kubeconfig.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"kitlib serve did not start:\n{log.read_text()}")
        time.sleep(0.05)


def pods_by_node(kubectl: Kubectl, namespace: str, app_name: str) -> dict[str, list[str]]:
    listed = json.loads(kubectl.out("get", "pods", "-n", namespace, "-l", f"app={app_name}",
                                    "-o", "json"))
    out: dict[str, list[str]] = {}
    for item in listed["items"]:
        out.setdefault(item["spec"].get("nodeName", ""), []).append(item["metadata"]["name"])
    return out


def ready_pods(kubectl: Kubectl, namespace: str, app_name: str) -> Counter[str]:
    """Ready, not terminating pods of the app per node."""
    listed = json.loads(kubectl.out("get", "pods", "-n", namespace, "-l", f"app={app_name}",
                                    "-o", "json"))
    return Counter(item["spec"]["nodeName"] for item in listed["items"]
                   if not item["metadata"].get("deletionTimestamp") and any(
                       c["type"] == "Ready" and c["status"] == "True"
                       for c in item["status"].get("conditions", ())))


def speed(kubectl: Kubectl, value: int) -> None:
    kubectl.run("patch", "clock", "cluster", "--type", "merge", "-p",
                json.dumps({"spec": {"speed": value}}))


def rolled_out(kubectl: Kubectl, name: str, namespace: str = "default") -> None:
    """Wait (at ``FAST`` speed) until the Deployment's rollout is complete."""
    speed(kubectl, FAST)
    kubectl.run("rollout", "status", f"deployment/{name}", "-n", namespace, "--timeout", "25s")
    speed(kubectl, SPEED)


def deploy(kubectl: Kubectl, name: str, **kw: Any) -> None:
    manifest = kubectl.manifest(f"{name}.yaml", {"apiVersion": "v1", "kind": "List",
                                                 "items": app(name, **kw)})
    kubectl.run("apply", "-f", manifest)
    rolled_out(kubectl, name, kw.get("namespace", "default"))


def test_drain_evicts_one_pod_at_a_time_and_waits_for_replacements(kubectl: Kubectl) -> None:
    deploy(kubectl, "web", replicas=5, ready_after=60, budget={"maxUnavailable": 1})
    assert kubectl.out("get", "pdb", "web").split("\n")[1].split()[1:4] == ["N/A", "1", "1"]
    node, victims = max(pods_by_node(kubectl, "default", "web").items(),
                        key=lambda kv: (len(kv[1]), kv[0]))
    assert len(victims) == 2
    watch_out = kubectl.tmp / "watch.txt"
    with watch_out.open("w") as sink:
        watcher = subprocess.Popen(kubectl.argv("get", "pods", "-w"), stdout=sink,
                                   stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        drained = kubectl.run("drain", node, "--ignore-daemonsets", "--delete-emptydir-data",
                              "--timeout", "25s")
    finally:
        watcher.terminate()
        watcher.wait(timeout=10)
    out, err = drained.stdout, drained.stderr
    assert out.startswith(f"node/{node} cordoned\n") and out.endswith(f"node/{node} drained\n")
    for pod in victims:
        assert f"evicting pod default/{pod}\n" in out and f"pod/{pod} evicted\n" in out
    refused = [pod for pod in victims if f'error when evicting pods/"{pod}" -n "default" '
               f"(will retry after 5s): {VIOLATION}" in err]
    assert len(refused) == 1, err
    first = next(pod for pod in victims if pod not in refused)
    assert out.index(f"pod/{first} evicted") < out.index(f"pod/{refused[0]} evicted")
    assert node not in pods_by_node(kubectl, "default", "web")
    rolled_out(kubectl, "web")
    assert sum(ready_pods(kubectl, "default", "web").values()) == 5
    states = watch_out.read_text()
    for state in ("Running", "Terminating", "Pending", "ContainerCreating"):
        assert state in states, states
    assert kubectl.out("uncordon", node) == f"node/{node} uncordoned\n"


def test_cordon_and_uncordon_mark_a_node_unschedulable(kubectl: Kubectl) -> None:
    assert kubectl.out("cordon", "node-2") == "node/node-2 cordoned\n"
    assert kubectl.out("cordon", "node-2") == "node/node-2 already cordoned\n"
    row = kubectl.out("get", "node", "node-2").split("\n")[1].split()
    assert row[:2] == ["node-2", "Ready,SchedulingDisabled"]
    assert kubectl.out("uncordon", "node-2") == "node/node-2 uncordoned\n"
    assert kubectl.out("get", "node", "node-2").split("\n")[1].split()[1] == "Ready"


def test_a_budget_that_allows_nothing_keeps_drain_retrying_until_its_timeout(
        kubectl: Kubectl) -> None:
    kubectl.run("create", "namespace", "frozen")
    deploy(kubectl, "frozen", namespace="frozen", replicas=2, ready_after=0,
           budget={"minAvailable": 2})
    node = sorted(pods_by_node(kubectl, "frozen", "frozen"))[0]
    result = kubectl.run("drain", node, "--pod-selector", "app=frozen", "--ignore-daemonsets",
                         "--delete-emptydir-data", "--timeout", "7s", rc=1)
    retries = result.stderr.count("(will retry after 5s): " + VIOLATION)
    assert retries >= 2, result.stderr
    assert "global timeout reached: 7s" in result.stderr
    assert f'There are pending pods in node "{node}" when an error occurred' in result.stderr
    assert sum(ready_pods(kubectl, "frozen", "frozen").values()) == 2
    kubectl.run("uncordon", node)
