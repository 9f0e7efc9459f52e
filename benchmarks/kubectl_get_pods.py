"""``kubectl_get_pods``: ``kubectl get pods -A`` (server-side Table output).

kubectl asks for ``as=Table`` in pages of 500 (``--chunk-size`` default), so
this times paging, the pod printer and kubectl's own work together. kubectl
also throttles itself: client-go's default token bucket (5 requests/s after a
burst of 10, ``rest.DefaultQPS``/``DefaultBurst``) applies to every request but
discovery, and neither kubectl nor client-go turns it off when the server
advertises API Priority and Fairness (client-go reads the
``X-Kubernetes-PF-*`` headers only to word its retry messages). With 10,000
pods (20 pages) the last page cannot leave before 2.0 s after the first,
whatever the server does: ``throttle_floor`` gives that bound, and one extra
run with ``-v=6`` per kubectl reports how long kubectl says it waited. The
``--chunk-size=0`` row (one request) shows the time without that wait.

Besides the ``kubectl`` on ``PATH`` (or ``/usr/bin/kubectl``), the versioned
binaries next to it (``kubectl.1.27``, ``kubectl.1.33``, as the Google Cloud
SDK installs them) are timed too when present.

Discovery is warmed by one untimed run with the same ``--cache-dir``. Three
timed runs; best and median reported. The output must have a header and one
``3/3 Running`` line per pod.
"""

from __future__ import annotations

import math
import os
import re
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
#: Versioned kubectl binaries timed beside the default one when installed next to it.
VERSIONS = ("1.27", "1.33")
#: kubectl's default page size (``--chunk-size``).
CHUNK_SIZE = 500
#: client-go's default client-side rate limiter (``rest.DefaultQPS``, ``rest.DefaultBurst``).
CLIENT_QPS = 5.0
CLIENT_BURST = 10

# "Waited for 169.7ms due to client-side throttling" (<= 1.29),
# 'delay="174.3ms" reason="client-side throttling' (structured logging, >= 1.30).
_WAIT = re.compile(r'(?:Waited for |delay=")([0-9.]+)(ms|µs|us|s)\b.*client-side throttling')
_UNITS = {"s": 1.0, "ms": 1e-3, "µs": 1e-6, "us": 1e-6}


def throttle_floor(requests: int) -> float:
    """Seconds from the first to the last of ``requests`` back-to-back requests that
    client-go's default token bucket allows (``burst`` at once, then ``qps`` a second)."""
    return max(requests - CLIENT_BURST, 0) / CLIENT_QPS


def throttle_waits(log: str) -> float:
    """Total seconds a ``kubectl -v=6`` log says were spent in client-side throttling."""
    return sum(float(m.group(1)) * _UNITS[m.group(2)] for m in _WAIT.finditer(log))


def run(quick: bool) -> list[Row]:
    n = 500 if quick else 10_000
    default = KUBECTL if os.access(KUBECTL, os.X_OK) else shutil.which("kubectl")
    if default is None:
        return [Row("kubectl_get_pods", n, None, skipped=f"kubectl not found at {KUBECTL} "
                                                          "nor on PATH")]
    runs: list[tuple[str, str, list[str]]] = [
        ("kubectl_get_pods", default, []),
        ("kubectl_get_pods --chunk-size=0", default, ["--chunk-size=0"])]
    for version, binary in _versioned(default):
        runs.append((f"kubectl_get_pods (kubectl {version})", binary, []))
    rows = []
    with ServerThread() as srv, tempfile.TemporaryDirectory(prefix="kitlib-kubectl-") as tmp:
        keys = srv.call(populate_pods, srv.cluster.store, n)
        srv.call(srv.cluster.settle)
        expected = sorted(keys)
        env = {**os.environ, "HOME": tmp, "KUBECONFIG": str(srv.kubeconfig)}
        for label, kubectl, extra in runs:
            base = [kubectl, "--kubeconfig", str(srv.kubeconfig), "--cache-dir",
                    str(Path(tmp) / "cache" / Path(kubectl).name), "get", "pods", "-A", *extra]
            _check_output(_kubectl(base, env).stdout, expected)  # warm the discovery cache
            rows.append(_timed(srv, label, base, env, expected,
                               has_target=not extra and not quick))
    return rows


def _versioned(default: str) -> list[tuple[str, str]]:
    """``(version, path)`` of the versioned kubectl binaries beside ``default``."""
    directory = Path(os.path.realpath(default)).parent
    found = [(v, directory / f"kubectl.{v}") for v in VERSIONS]
    return [(v, str(path)) for v, path in found if os.access(path, os.X_OK)]


def _timed(srv: ServerThread, label: str, base: list[str], env: dict[str, str],
           expected: list[tuple[str, str]], *, has_target: bool) -> Row:
    n = len(expected)
    samples = []
    requests0 = srv.server.app.requests if srv.server.app else 0
    cpu0 = srv.thread_time()
    for _ in range(REPEAT):
        start = time.perf_counter()
        output = _kubectl(base, env).stdout
        samples.append(time.perf_counter() - start)
        _check_output(output, expected)
    server_cpu = (srv.thread_time() - cpu0) / REPEAT
    requests = ((srv.server.app.requests if srv.server.app else 0) - requests0) / REPEAT
    verbose = _kubectl([*base, "-v=6"], env)  # untimed: how long kubectl says it waited
    _check_output(verbose.stdout, expected)
    waited = throttle_waits(verbose.stderr)
    pages = 1 if "--chunk-size=0" in base else math.ceil(n / CHUNK_SIZE)
    best, median = best_and_median(samples)
    target = f"<= {TARGET_SECONDS} s" if has_target else ""
    return Row(label, n, best, n / best, "pods/s", target,
               best <= TARGET_SECONDS if target else None,
               note=f"median {median:.3f} s of {REPEAT}; {requests:.0f} requests; server CPU "
                    f"{server_cpu:.2f} s/run; throttled {waited:.2f} s (-v=6 run; floor "
                    f"{throttle_floor(pages):.1f} s for {pages} pages)",
               extra={"best": best, "median": median, "runs": samples,
                      "requests_per_run": requests, "server_cpu_seconds_per_run": server_cpu,
                      "throttle_wait_seconds": waited, "pages": pages,
                      "throttle_floor_seconds": throttle_floor(pages)})


def _kubectl(cmd: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300,
                          check=False)
    check(done.returncode == 0,
          f"kubectl exited with {done.returncode}: {done.stderr.strip()[-2000:]}")
    return done


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
