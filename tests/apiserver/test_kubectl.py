"""Real kubectl against ``kitlib serve``: the oldest and the newest supported client.

Each kubectl version gets its own ``kitlib serve`` subprocess (a fresh cluster and a
cold discovery cache) and runs what users type every day — get in all its output
forms, watch, describe, apply/create/delete, label/annotate/patch/scale, the clock —
plus the mistakes they make, checking exit codes and the key text of the output.
The server's log must show no internal error (no request answered with a 500).

Skipped when the versioned binaries (``kubectl.1.27`` … beside ``/usr/bin/kubectl``)
are not installed.
"""

from __future__ import annotations

import json
import os
import pty
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.kubectl

#: The oldest and the newest kubectl the project supports.
VERSIONS = ("1.27", "1.33")
_KUBECTL = shutil.which("kubectl")
KUBECTL_DIR = Path(os.path.realpath(_KUBECTL)).parent if _KUBECTL else Path("/usr/bin")
START_TIMEOUT = 30.0
COMMAND_TIMEOUT = 30.0


@dataclass
class Kubectl:
    """One kubectl binary pointed at one ``kitlib serve``."""

    version: str
    binary: Path
    kubeconfig: Path
    cache: Path
    log: Path
    tmp: Path

    def run(self, *args: str, rc: int = 0, kubeconfig: Path | None = None,
            cache: Path | None = None) -> subprocess.CompletedProcess[str]:
        """Run kubectl; assert its exit code is ``rc``."""
        proc = subprocess.run(self.argv(*args, kubeconfig=kubeconfig, cache=cache), text=True,
                              capture_output=True, timeout=COMMAND_TIMEOUT,
                              stdin=subprocess.DEVNULL)
        assert proc.returncode == rc, (
            f"kubectl {self.version} {' '.join(args)} exited {proc.returncode}, expected {rc}\n"
            f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}")
        return proc

    def out(self, *args: str) -> str:
        return self.run(*args).stdout

    def fail(self, *args: str, rc: int = 1) -> str:
        """Run a command that must fail; returns its stderr."""
        return self.run(*args, rc=rc).stderr

    def argv(self, *args: str, kubeconfig: Path | None = None,
             cache: Path | None = None) -> list[str]:
        return [str(self.binary), "--kubeconfig", str(kubeconfig or self.kubeconfig),
                "--cache-dir", str(cache or self.cache), *args]

    def manifest(self, name: str, obj: dict[str, Any]) -> str:
        path = self.tmp / name
        path.write_text(yaml.safe_dump(obj, sort_keys=False))
        return str(path)


def _start_server(tmp: Path) -> tuple[subprocess.Popen[bytes], Path, Path]:
    kubeconfig, log = tmp / "kc", tmp / "server.log"
    with log.open("wb") as sink:
        proc = subprocess.Popen([sys.executable, "-m", "kitlib", "serve", "--port", "0",
                                 "--kubeconfig", str(kubeconfig)],
                                stdin=subprocess.DEVNULL, stdout=sink, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + START_TIMEOUT
    while not kubeconfig.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"kitlib serve did not start (exit {proc.poll()}):\n{log.read_text()}")
        time.sleep(0.05)
    return proc, kubeconfig, log


def _stop_server(proc: subprocess.Popen[bytes], log: Path) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)
        pytest.fail("kitlib serve did not exit within 15 s of SIGTERM")
    text = log.read_text()
    assert proc.returncode == 0, f"kitlib serve exited {proc.returncode} on SIGTERM:\n{text}"
    assert "Traceback" not in text and "internal error" not in text, text


@pytest.fixture(scope="module", params=VERSIONS, ids=[f"kubectl{v}" for v in VERSIONS])
def kubectl(request: pytest.FixtureRequest,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kubectl]:
    """A fresh ``kitlib serve`` and the kubectl of one version pointed at it."""
    version: str = request.param
    binary = KUBECTL_DIR / f"kubectl.{version}"
    if not os.access(binary, os.X_OK):
        pytest.skip(f"{binary} is not installed (the versioned kubectl binaries live beside "
                    "/usr/bin/kubectl)")
    tmp = tmp_path_factory.mktemp(f"kubectl-{version}")
    proc, kubeconfig, log = _start_server(tmp)
    try:
        yield Kubectl(version, binary, kubeconfig, tmp / "cache", log, tmp)
    finally:
        _stop_server(proc, log)


# -- manifests ------------------------------------------------------------------------------


def pod(name: str, labels: dict[str, str] | None = None, image: str = "nginx:1.25") -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "labels": labels or {"app": name}},
            "spec": {"containers": [{"name": "c", "image": image}]}}


def configmap(name: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "labels": labels or {"app": name}}, "data": {"a": "b"}}


def deployment(name: str, labels: dict[str, str] | None = None, replicas: int = 2) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "labels": labels or {"app": name}},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "c", "image": "nginx:1.25"}]}}}}


def _rows(text: str) -> dict[str, list[str]]:
    """Table output as {first cell: cells} (header included, under its first cell)."""
    return {line.split()[0]: line.split() for line in text.splitlines() if line.strip()}


# -- get ------------------------------------------------------------------------------------


def test_get_namespaces(kubectl: Kubectl) -> None:
    rows = _rows(kubectl.out("get", "ns"))
    assert rows["NAME"] == ["NAME", "STATUS", "AGE"]
    for ns in ("default", "kube-system", "kube-public", "kube-node-lease"):
        assert rows[ns][1:] == ["Active", "0s"]


def test_get_empty(kubectl: Kubectl) -> None:
    result = kubectl.run("get", "events", "-n", "kube-public")
    assert result.stdout == ""
    assert "No resources found in kube-public namespace." in result.stderr


def test_get_pods_forms(kubectl: Kubectl) -> None:
    kubectl.run("apply", "-f", kubectl.manifest("g.yaml", pod("g", {"app": "g", "tier": "x"})))
    rows = _rows(kubectl.out("get", "pods"))
    assert rows["NAME"] == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert rows["g"] == ["g", "0/1", "Pending", "0", "0s"]

    wide = kubectl.out("get", "pods", "-o", "wide")
    assert wide.split("\n")[0].split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP",
                                           "NODE", "NOMINATED", "NODE", "READINESS", "GATES"]
    assert _rows(wide)["g"] == ["g", "0/1", "Pending", "0", "0s", "<none>", "<none>",
                                "<none>", "<none>"]

    all_ns = _rows(kubectl.out("get", "pods", "-A"))
    assert all_ns["NAMESPACE"][:2] == ["NAMESPACE", "NAME"]
    assert all_ns["default"][:3] == ["default", "g", "0/1"]

    labels = _rows(kubectl.out("get", "pods", "--show-labels"))
    assert labels["NAME"][-1] == "LABELS"
    assert labels["g"][-1] == "app=g,tier=x"

    assert kubectl.out("get", "pods", "-o", "name") == "pod/g\n"

    as_yaml = yaml.safe_load(kubectl.out("get", "pod", "g", "-o", "yaml"))
    assert (as_yaml["kind"], as_yaml["apiVersion"]) == ("Pod", "v1")
    assert as_yaml["metadata"]["creationTimestamp"].endswith("Z")
    assert as_yaml["spec"]["containers"][0]["imagePullPolicy"] == "IfNotPresent"
    assert as_yaml["status"]["phase"] == "Pending"

    as_json = json.loads(kubectl.out("get", "pods", "-o", "json"))
    assert as_json["kind"] == "List"
    assert [p["metadata"]["name"] for p in as_json["items"]] == ["g"]
    kubectl.run("delete", "pod", "g")


def test_get_deployments_configmaps(kubectl: Kubectl) -> None:
    kubectl.run("apply", "-f", kubectl.manifest("gd.yaml", deployment("gd")))
    kubectl.run("apply", "-f", kubectl.manifest("gc.yaml", configmap("gc")))
    rows = _rows(kubectl.out("get", "deploy"))
    assert rows["NAME"] == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    assert rows["gd"] == ["gd", "0/2", "2", "0", "0s"]  # pods created, none ready yet
    wide = _rows(kubectl.out("get", "deploy", "gd", "-o", "wide"))
    assert wide["NAME"][-3:] == ["CONTAINERS", "IMAGES", "SELECTOR"]
    assert wide["gd"][-3:] == ["c", "nginx:1.25", "app=gd"]
    cms = _rows(kubectl.out("get", "cm"))
    assert cms["NAME"] == ["NAME", "DATA", "AGE"]
    assert cms["gc"] == ["gc", "1", "0s"]
    assert kubectl.out("get", "cm", "gc", "-o", "jsonpath={.data.a}") == "b"
    kubectl.run("delete", "deploy", "gd")
    kubectl.run("delete", "cm", "gc")


def test_get_events(kubectl: Kubectl) -> None:
    kubectl.run("apply", "-f", kubectl.manifest("ev-pod.yaml", pod("ev")))
    uid = kubectl.out("get", "pod", "ev", "-o", "jsonpath={.metadata.uid}")
    event = {"apiVersion": "v1", "kind": "Event", "metadata": {"name": "ev.1"},
             "involvedObject": {"kind": "Pod", "name": "ev", "namespace": "default",
                                "uid": uid, "apiVersion": "v1"},
             "reason": "Scheduled", "message": "Successfully assigned default/ev to node-1",
             "type": "Normal", "source": {"component": "default-scheduler"},
             "firstTimestamp": "2026-01-01T00:00:00Z", "lastTimestamp": "2026-01-01T00:00:00Z",
             "count": 1}
    assert kubectl.out("create", "-f", kubectl.manifest("ev.yaml", event)) == "event/ev.1 created\n"
    lines = [line.split() for line in kubectl.out("get", "events").splitlines()]
    assert lines[0] == ["LAST", "SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
    # (the scheduler's own events about pods of other tests are listed too)
    assert ["0s", "Normal", "Scheduled", "pod/ev"] in [line[:4] for line in lines]
    all_ns = kubectl.out("get", "events", "-A")
    assert all_ns.split()[0] == "NAMESPACE" and "Successfully assigned default/ev" in all_ns

    described = kubectl.out("describe", "pod", "ev")
    for text in ("Name:         ev", "Namespace:    default", "Priority: 0",
                 "Service Account: default", "Status:       Pending",
                 "Image:        nginx:1.25", "QoS Class:                   BestEffort"):
        assert " ".join(text.split()) in " ".join(described.split())
    events = described.split("Events:")[1]
    assert "Scheduled" in events and "Successfully assigned default/ev to node-1" in events
    kubectl.run("delete", "pod", "ev")


# -- watch ----------------------------------------------------------------------------------


def _wait_for(path: Path, text: str, proc: subprocess.Popen[bytes], timeout: float = 15) -> str:
    deadline = time.monotonic() + timeout
    while True:
        content = path.read_text()
        if text in content:
            return content
        assert proc.poll() is None, f"kubectl get -w exited {proc.returncode}:\n{content}"
        assert time.monotonic() < deadline, f"no {text!r} in the watch output:\n{content}"
        time.sleep(0.05)


def test_get_watch(kubectl: Kubectl) -> None:
    kubectl.run("apply", "-f", kubectl.manifest("w0.yaml", pod("w0")))
    out = kubectl.tmp / "watch.out"
    with out.open("wb") as sink:
        proc = subprocess.Popen(kubectl.argv("get", "pods", "-w", "--output-watch-events",
                                             "--show-labels"),
                                stdin=subprocess.DEVNULL, stdout=sink, stderr=subprocess.STDOUT)
    try:
        _wait_for(out, "w0", proc)
        kubectl.run("apply", "-f", kubectl.manifest("w1.yaml", pod("w1")))
        _wait_for(out, "ADDED      w1", proc)
        kubectl.run("label", "pod", "w1", "stage=two")
        _wait_for(out, "app=w1,stage=two", proc)
        kubectl.run("delete", "pod", "w1")
        text = _wait_for(out, "DELETED", proc)
        time.sleep(0.3)  # anything printed late (e.g. a duplicate row) shows up now
        assert proc.poll() is None, "kubectl get -w must keep watching"
    finally:
        proc.kill()
        proc.wait(timeout=10)
    lines = [line.split() for line in out.read_text().splitlines()]
    assert lines[0] == ["EVENT", "NAME", "READY", "STATUS", "RESTARTS", "AGE", "LABELS"]
    events = [(cells[0], cells[1], cells[-1]) for cells in lines[1:]]
    # The scheduler marks w1 unschedulable (the cluster has no nodes): a status-only MODIFIED.
    events = [e for e in events if e != ("MODIFIED", "w1", "app=w1")]
    assert events == [("ADDED", "w0", "app=w0"), ("ADDED", "w1", "app=w1"),
                      ("MODIFIED", "w1", "app=w1,stage=two"),
                      ("DELETED", "w1", "app=w1,stage=two")], text
    kubectl.run("delete", "pod", "w0")


# -- apply, create, delete ------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["pod", "configmap", "deployment"])
def test_apply_create_configure_unchanged(kubectl: Kubectl, kind: str) -> None:
    make = {"pod": pod, "configmap": configmap, "deployment": deployment}[kind]
    name = f"ap-{kind}"
    resource = "deployment.apps" if kind == "deployment" else kind
    path = kubectl.manifest(f"{name}.yaml", make(name, {"app": name, "rev": "1"}))
    assert kubectl.out("apply", "-f", path) == f"{resource}/{name} created\n"
    assert kubectl.out("apply", "-f", path) == f"{resource}/{name} unchanged\n"
    kubectl.manifest(f"{name}.yaml", make(name, {"app": name, "rev": "2"}))
    assert kubectl.out("apply", "-f", path) == f"{resource}/{name} configured\n"
    assert kubectl.out("apply", "-f", path) == f"{resource}/{name} unchanged\n"
    assert kubectl.out("get", kind, name, "-o", "jsonpath={.metadata.labels.rev}") == "2"
    assert kubectl.out("delete", "-f", path) == f'{resource} "{name}" deleted\n'


def test_create_imperative(kubectl: Kubectl) -> None:
    """1.32+ sends these bodies as protobuf, older kubectl as JSON."""
    assert kubectl.out("create", "namespace", "made") == "namespace/made created\n"
    assert kubectl.out("create", "configmap", "mcm", "-n", "made", "--from-literal=k=v") == \
        "configmap/mcm created\n"
    assert kubectl.out("create", "deployment", "mdep", "-n", "made", "--image=nginx:1.27",
                       "--replicas=3") == "deployment.apps/mdep created\n"
    assert kubectl.out("get", "cm", "mcm", "-n", "made", "-o", "jsonpath={.data.k}") == "v"
    dep = json.loads(kubectl.out("get", "deploy", "mdep", "-n", "made", "-o", "json"))
    assert dep["spec"]["replicas"] == 3
    assert dep["spec"]["selector"] == {"matchLabels": {"app": "mdep"}}
    assert dep["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.27"
    assert kubectl.out("get", "ns", "made", "-o", "jsonpath={.status.phase}") == "Active"
    err = kubectl.fail("create", "namespace", "made")
    assert 'Error from server (AlreadyExists): namespaces "made" already exists' in err


@pytest.mark.parametrize(("args", "created", "check", "expected"), [
    (["secret", "generic", "sec", "--from-literal=a=b"], "secret/sec",
     "{.type} {.data.a}", "Opaque Yg=="),
    (["serviceaccount", "robot"], "serviceaccount/robot", "{.metadata.name}", "robot"),
    (["service", "clusterip", "svc", "--tcp=80:8080"], "service/svc",
     "{.spec.type} {.spec.ports[0].port} {.spec.ports[0].targetPort}", "ClusterIP 80 8080"),
    (["poddisruptionbudget", "pdb", "--selector=app=web", "--min-available=1"],
     "poddisruptionbudget.policy/pdb", "{.spec.minAvailable} {.spec.selector.matchLabels.app}",
     "1 web"),
], ids=["secret", "serviceaccount", "service", "pdb"])
def test_create_other_kinds(kubectl: Kubectl, args: list[str], created: str, check: str,
                            expected: str) -> None:
    """More of the typed ``create`` commands that 1.32+ sends as protobuf."""
    assert kubectl.out("create", *args) == f"{created} created\n"
    assert kubectl.out("get", created, "-o", f"jsonpath={check}") == expected
    kubectl.run("delete", created)


def test_delete(kubectl: Kubectl) -> None:
    for name, app in (("d1", "sel"), ("d2", "sel"), ("d3", "keep")):
        kubectl.run("apply", "-f", kubectl.manifest(f"{name}.yaml", pod(name, {"app": app})))
    assert kubectl.out("delete", "pod", "d3") == 'pod "d3" deleted\n'
    kubectl.run("apply", "-f", str(kubectl.tmp / "d3.yaml"))
    assert kubectl.out("delete", "pods", "-l", "app=sel") == 'pod "d1" deleted\npod "d2" deleted\n'
    assert kubectl.out("get", "pods", "-l", "app", "-o", "name") == "pod/d3\n"
    kubectl.run("delete", "pod", "d3")
    err = kubectl.fail("delete", "pod", "d3")
    assert 'Error from server (NotFound): pods "d3" not found' in err

    kubectl.run("create", "namespace", "gone")
    kubectl.run("create", "configmap", "inside", "-n", "gone", "--from-literal=a=b")
    assert kubectl.out("delete", "ns", "gone") == 'namespace "gone" deleted\n'
    err = kubectl.fail("get", "ns", "gone")
    assert 'Error from server (NotFound): namespaces "gone" not found' in err
    assert "namespace/gone" not in kubectl.out("get", "ns", "-o", "name")
    assert kubectl.out("get", "cm", "-n", "gone", "-o", "name") == ""  # its content went too


def test_services_get_addresses(kubectl: Kubectl) -> None:
    kubectl.run("create", "service", "clusterip", "sa", "--tcp=80:8080")
    kubectl.run("create", "service", "nodeport", "sb", "--tcp=443:8443")
    kubectl.run("create", "service", "clusterip", "sc", "--clusterip=None", "--tcp=80:80")
    rows = _rows(kubectl.out("get", "svc"))
    assert rows["NAME"] == ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"]
    assert rows["sa"][1] == "ClusterIP" and rows["sa"][2].startswith("10.")
    assert rows["sa"][3:5] == ["<none>", "80/TCP"]
    assert rows["sb"][1] == "NodePort" and rows["sb"][2].startswith("10.")
    assert rows["sb"][4].startswith("443:3") and rows["sb"][4].endswith("/TCP")
    assert rows["sc"][1:3] == ["ClusterIP", "None"]
    for name in ("sa", "sb", "sc"):
        kubectl.run("delete", "service", name)


# -- label, annotate, patch, scale ----------------------------------------------------------


def test_label_annotate(kubectl: Kubectl) -> None:
    kubectl.run("apply", "-f", kubectl.manifest("la.yaml", pod("la")))
    assert kubectl.out("label", "pod", "la", "tier=front") == "pod/la labeled\n"
    assert kubectl.out("label", "pod", "la", "tier=back", "--overwrite") == "pod/la labeled\n"
    assert kubectl.out("label", "pod", "la", "tier=back", "--overwrite") == \
        "pod/la not labeled\n"
    err = kubectl.fail("label", "pod", "la", "tier=again")
    assert "'tier' already has a value (back), and --overwrite is false" in err
    # kubectl 1.27 says "annotate", later ones "annotated".
    assert kubectl.out("annotate", "pod", "la", "note=hello").startswith("pod/la annotate")
    assert kubectl.out("label", "pod", "la", "tier-") == "pod/la unlabeled\n"
    meta = json.loads(kubectl.out("get", "pod", "la", "-o", "json"))["metadata"]
    assert meta["labels"] == {"app": "la"}
    assert meta["annotations"]["note"] == "hello"
    kubectl.run("delete", "pod", "la")


def test_removing_the_last_label_and_annotation(kubectl: Kubectl) -> None:
    assert kubectl.out("run", "lone", "--image=nginx:1.25") == "pod/lone created\n"
    kubectl.run("annotate", "pod", "lone", "note=x")
    assert kubectl.out("label", "pod", "lone", "run-") == "pod/lone unlabeled\n"
    kubectl.run("annotate", "pod", "lone", "note-")
    meta = json.loads(kubectl.out("get", "pod", "lone", "-o", "json"))["metadata"]
    assert "labels" not in meta and "annotations" not in meta  # no "labels: {}", as upstream
    kubectl.run("delete", "pod", "lone")


def _image(kubectl: Kubectl, name: str) -> str:
    return kubectl.out("get", "pod", name, "-o", "jsonpath={.spec.containers[0].image}")


def test_patch(kubectl: Kubectl) -> None:
    kubectl.run("apply", "-f", kubectl.manifest("pa.yaml", pod("pa")))
    out = kubectl.out("patch", "pod", "pa", "-p",
                      '{"spec":{"containers":[{"name":"c","image":"nginx:1.26"}]}}')
    assert out == "pod/pa patched\n"
    assert _image(kubectl, "pa") == "nginx:1.26"
    kubectl.run("patch", "pod", "pa", "--type", "merge", "-p",
                '{"metadata":{"labels":{"merged":"yes"}}}')
    assert kubectl.out("get", "pod", "pa", "-o", "jsonpath={.metadata.labels.merged}") == "yes"
    kubectl.run("patch", "pod", "pa", "--type", "json", "-p",
                '[{"op":"replace","path":"/spec/containers/0/image","value":"nginx:1.27"}]')
    assert _image(kubectl, "pa") == "nginx:1.27"
    same = kubectl.out("patch", "pod", "pa", "--type", "merge", "-p",
                       '{"metadata":{"labels":{"merged":"yes"}}}')
    assert same == "pod/pa patched (no change)\n"

    err = kubectl.fail("patch", "pod", "pa", "-p", '{"spec":{"restartPolicy":"Never"}}')
    assert err.startswith('The Pod "pa" is invalid: spec: Forbidden: pod updates may not '
                          "change fields other than `spec.containers[*].image`")
    err = kubectl.fail("patch", "pod", "pa", "--type", "json", "-p",
                       '[{"op":"replace","path":"/spec/containers/0/name","value":"d"}]')
    assert 'The Pod "pa" is invalid' in err and "may not change fields" in err
    assert _image(kubectl, "pa") == "nginx:1.27"
    kubectl.run("delete", "pod", "pa")


def test_scale(kubectl: Kubectl) -> None:
    kubectl.run("apply", "-f", kubectl.manifest("sc.yaml", deployment("sc")))
    assert kubectl.out("scale", "deployment", "sc", "--replicas=5") == "deployment.apps/sc scaled\n"
    assert _rows(kubectl.out("get", "deploy", "sc"))["sc"][:2] == ["sc", "0/5"]
    assert kubectl.out("get", "deploy", "sc", "-o", "jsonpath={.spec.replicas}") == "5"
    assert kubectl.out("get", "deploy", "sc", "-o", "jsonpath={.metadata.generation}") == "2"
    kubectl.run("delete", "deploy", "sc")


# -- the sim.kitlib.io clock ----------------------------------------------------------------


def test_clock(kubectl: Kubectl) -> None:
    rows = _rows(kubectl.out("get", "clocks"))
    assert rows["NAME"] == ["NAME", "NOW", "SECONDS", "MODE", "SPEED", "PAUSED", "EVENTS", "AGE"]
    assert rows["cluster"][1:4] == ["2026-01-01T00:00:00Z", "0", "stepped"]
    advance = {"apiVersion": "sim.kitlib.io/v1alpha1", "kind": "ClockAdvance",
               "metadata": {"generateName": "a-"}, "spec": {"seconds": 30}}
    path = kubectl.tmp / "advance.json"
    path.write_text(json.dumps(advance))
    out = kubectl.out("create", "-f", str(path))
    assert out.startswith("clockadvance.sim.kitlib.io/a-") and out.endswith(" created\n")
    assert len(out.split()[0]) == len("clockadvance.sim.kitlib.io/a-") + 5  # generated name
    assert kubectl.out("get", "clock", "cluster", "-o", "jsonpath={.status.seconds}") == "30"
    assert _rows(kubectl.out("get", "clock", "cluster"))["cluster"][-1] == "30s"
    assert _rows(kubectl.out("get", "ns"))["default"][-1] == "30s"
    err = kubectl.fail("get", "clock", "other")
    assert 'Error from server (NotFound): clocks.sim.kitlib.io "other" not found' in err


# -- bad input ------------------------------------------------------------------------------


@pytest.mark.parametrize("verb", ["apply", "create"])
def test_unknown_field_is_refused(kubectl: Kubectl, verb: str) -> None:
    manifest = pod(f"uf-{verb}")
    manifest["spec"]["containers"][0]["imagee"] = "nginx"
    err = kubectl.fail(verb, "-f", kubectl.manifest(f"uf-{verb}.yaml", manifest))
    assert "Error from server (BadRequest)" in err
    assert 'strict decoding error: unknown field "spec.containers[0].imagee"' in err
    kubectl.fail("get", "pod", f"uf-{verb}")


@pytest.mark.parametrize(("api_version", "kind"), [("v1", "Podd"), ("apps/v9", "Deployment")])
def test_unknown_kind_is_refused(kubectl: Kubectl, api_version: str, kind: str) -> None:
    manifest = {"apiVersion": api_version, "kind": kind, "metadata": {"name": "k"}}
    err = kubectl.fail("apply", "-f", kubectl.manifest("kind.yaml", manifest))
    assert f'no matches for kind "{kind}" in version "{api_version}"' in err


def test_missing_name_is_refused(kubectl: Kubectl) -> None:
    manifest = configmap("x")
    del manifest["metadata"]["name"]
    path = kubectl.manifest("noname.yaml", manifest)
    err = kubectl.fail("create", "-f", path)
    assert 'The ConfigMap "" is invalid: metadata.name: Required value: name or generateName ' \
        "is required" in err
    assert "resource name may not be empty" in kubectl.fail("apply", "-f", path)


def test_invalid_name_is_refused(kubectl: Kubectl) -> None:
    err = kubectl.fail("apply", "-f", kubectl.manifest("badname.yaml", configmap("Web_1")))
    assert 'The ConfigMap "Web_1" is invalid: metadata.name: Invalid value: "Web_1": a ' \
        "lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters" in err
    err = kubectl.fail("create", "namespace", "Web_1")
    assert 'The Namespace "Web_1" is invalid: metadata.name: Invalid value: "Web_1": a ' \
        "lowercase RFC 1123 label must consist of" in err


def _prompted(kubectl: Kubectl, kubeconfig: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """kubectl without credentials prompts on the terminal for a username and password."""
    controller, terminal = pty.openpty()
    try:
        proc = subprocess.Popen(kubectl.argv(*args, kubeconfig=kubeconfig), stdin=terminal,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        os.write(controller, b"someone\nsecret\n")
        stdout, stderr = proc.communicate(timeout=COMMAND_TIMEOUT)
    finally:
        os.close(terminal)
        os.close(controller)
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)


def test_unauthorized(kubectl: Kubectl) -> None:
    config = yaml.safe_load(kubectl.kubeconfig.read_text())
    config["users"][0]["user"]["token"] = "not-the-token"
    wrong = kubectl.tmp / "kc-wrong"
    wrong.write_text(yaml.safe_dump(config))
    del config["users"][0]["user"]["token"]
    removed = kubectl.tmp / "kc-removed"
    removed.write_text(yaml.safe_dump(config))

    kubectl.run("get", "pods")  # discovery cached: the 401 comes from the request itself
    err = kubectl.run("get", "pods", kubeconfig=wrong, rc=1).stderr
    assert err.strip().endswith("error: You must be logged in to the server (Unauthorized)")
    proc = _prompted(kubectl, removed, "get", "pods")
    assert proc.returncode == 1
    assert "Please enter Username:" in proc.stdout
    assert proc.stderr.strip().endswith(
        "error: You must be logged in to the server (Unauthorized)")
    # With a cold discovery cache, discovery fails first (a real API server reads the same).
    err = kubectl.run("get", "pods", kubeconfig=wrong, cache=kubectl.tmp / "cold", rc=1).stderr
    assert "error: You must be logged in to the server (the server has asked for the client " \
        "to provide credentials)" in err
