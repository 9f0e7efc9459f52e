"""``kubectl_get_pods``: ``kubectl get pods -A`` (server-side Table output).

kubectl asks for ``as=Table`` in pages of 500 (``--chunk-size`` default), so
this times paging, the pod printer and kubectl's own work together. kubectl
also throttles itself (client-go's default 5 requests/s after a burst of 10):
with 10,000 pods, pages 11 to 20 each wait about 0.2 s for a token, whatever
the server does. The second row, ``--chunk-size=0`` (one request), shows the
time without that wait.

Discovery is warmed by one untimed run with the same ``--cache-dir``. Three
timed runs; best and median reported. The output must have a header and one
``3/3 Running`` line per pod.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from benchmarks import Row, best_and_median, check
from benchmarks.harness import ServerThread
from benchmarks.objects import populate_pods

TARGET_SECONDS = 2.0
REPEAT = 3
KUBECTL = "/usr/bin/kubectl"


def run(quick: bool) -> list[Row]:
    n = 500 if quick else 10_000
    kubectl = KUBECTL if os.access(KUBECTL, os.X_OK) else shutil.which("kubectl")
    if kubectl is None:
        return [Row("kubectl_get_pods", n, None, skipped=f"kubectl not found at {KUBECTL} "
                                                          "nor on PATH")]
    rows = []
    with ServerThread() as srv, tempfile.TemporaryDirectory(prefix="kitlib-kubectl-") as tmp:
        keys = srv.call(populate_pods, srv.cluster.store, n)
        srv.call(srv.cluster.settle)
        expected = sorted(keys)
        base = [kubectl, "--kubeconfig", str(srv.kubeconfig), "--cache-dir",
                str(Path(tmp) / "cache"), "get", "pods", "-A"]
        env = {**os.environ, "HOME": tmp, "KUBECONFIG": str(srv.kubeconfig)}
        _check_output(_kubectl(base, env), expected)  # warm the discovery cache
        for label, extra, has_target in (("kubectl_get_pods", [], True),
                                         ("kubectl_get_pods --chunk-size=0", ["--chunk-size=0"],
                                          False)):
            samples = []
            requests0 = srv.server.app.requests if srv.server.app else 0
            cpu0 = srv.thread_time()
            for _ in range(REPEAT):
                start = time.perf_counter()
                output = _kubectl(base + extra, env)
                samples.append(time.perf_counter() - start)
                _check_output(output, expected)
            server_cpu = (srv.thread_time() - cpu0) / REPEAT
            requests = ((srv.server.app.requests if srv.server.app else 0) - requests0) / REPEAT
            best, median = best_and_median(samples)
            target = f"<= {TARGET_SECONDS} s" if has_target and not quick else ""
            rows.append(Row(label, n, best, n / best, "pods/s", target,
                            best <= TARGET_SECONDS if target else None,
                            note=f"median {median:.3f} s of {REPEAT}; {requests:.0f} requests; "
                                 f"server CPU {server_cpu:.2f} s/run",
                            extra={"best": best, "median": median, "runs": samples,
                                   "requests_per_run": requests,
                                   "server_cpu_seconds_per_run": server_cpu}))
    return rows


def _kubectl(cmd: list[str], env: dict[str, str]) -> str:
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300,
                          check=False)
    check(done.returncode == 0,
          f"kubectl exited with {done.returncode}: {done.stderr.strip()[-2000:]}")
    return done.stdout


def _check_output(output: str, expected: list[tuple[str, str]]) -> None:
    lines = output.splitlines()
    check(lines and lines[0].split()[:3] == ["NAMESPACE", "NAME", "READY"],
          f"unexpected kubectl header: {lines[:1]!r}")
    rows = [tuple(line.split()[:2]) for line in lines[1:]]
    check(len(rows) == len(expected),
          f"kubectl printed {len(rows)} pods, expected {len(expected)}")
    check(sorted(rows) == expected, "kubectl printed different pods than were created")
    check(all(line.split()[2:4] == ["3/3", "Running"] for line in lines[1:]),
          "kubectl shows a pod that is not 3/3 Running")
