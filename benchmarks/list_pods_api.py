"""``list_pods_api``: one full ``GET /api/v1/pods`` over HTTPS, three ways.

(a) kitlib's read path, ``kitlib.client.raw.get_json`` (raw bytes + orjson);
(b) the official client's default, ``CoreV1Api.list_pod_for_all_namespaces()``
    (every pod deserialized into models);
(c) the official client with ``_preload_content=False`` and ``json.loads``.

The pods (Running, three containers each, about 3.9 KB of JSON apiece) are
written in-process on the server's loop before any client connects. The client
is a separate process (``benchmarks.list_client``), as a notebook is from its
``kitlib serve``. Each way runs three times after one untimed warm-up request
(connection set-up); best and median are reported, and every run must return
every pod exactly once. The client also reports the seconds its cyclic GC ran
within each timed run (the largest of the runs is in the note).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import orjson

from benchmarks import Row, best_and_median, check
from benchmarks.harness import ROOT, ServerThread
from benchmarks.objects import populate_pods

TARGET_SECONDS = 0.3  # (a) at full size
REPEAT = 3
_LABELS = {
    "kitlib": "kitlib get_json (a)",
    "official_models": "official models (b)",
    "official_raw": "official raw+json.loads (c)",
}


def run(quick: bool) -> list[Row]:
    n = 500 if quick else 10_000
    with ServerThread() as srv, tempfile.TemporaryDirectory(prefix="kitlib-bench-") as tmp:
        keys = srv.call(populate_pods, srv.cluster.store, n)
        srv.call(srv.cluster.settle)
        out = Path(tmp) / "result.json"
        cpu0 = srv.thread_time()
        done = subprocess.run([sys.executable, "-m", "benchmarks.list_client",
                               str(srv.kubeconfig), str(REPEAT), str(out)],
                              cwd=ROOT, capture_output=True, text=True, timeout=1800,
                              check=False)
        check(done.returncode == 0, f"the list client failed ({done.returncode}):\n"
                                    f"{done.stderr[-3000:]}")
        result: dict[str, Any] = orjson.loads(out.read_bytes())
        requests = len(_LABELS) * (REPEAT + 1)
        server_cpu = (srv.thread_time() - cpu0) / requests
    expected = sorted(name for _, name in keys)
    rows = []
    best: dict[str, tuple[float, float]] = {}
    for way, label in _LABELS.items():
        check(sorted(result[way]["warm_up_names"]) == expected,
              f"{label}: the warm-up list returned the wrong pods")
        for run_ in result[way]["runs"]:
            names = run_["names"]
            check(len(names) == n and sorted(names) == expected,
                  f"{label}: listed {len(names)} pods, expected {n} (or different names)")
        low, median = best_and_median([r["seconds"] for r in result[way]["runs"]])
        client_cpu = min(r["cpu"] for r in result[way]["runs"])
        gc_seconds = max(r["gc_seconds"] for r in result[way]["runs"])
        best[way] = (low, median)
        target = f"<= {TARGET_SECONDS} s" if way == "kitlib" and not quick else ""
        rows.append(Row(f"list_pods_api: {label}", n, low, n / low, "pods/s", target,
                        low <= TARGET_SECONDS if target else None,
                        note=f"median {median:.3f} s of {REPEAT}; client CPU {client_cpu:.3f} s; "
                             f"GC in a run up to {gc_seconds:.3f} s",
                        extra={"best": low, "median": median, "client_cpu_best": client_cpu,
                               "runs": [r["seconds"] for r in result[way]["runs"]],
                               "client_cpu": [r["cpu"] for r in result[way]["runs"]],
                               "client_gc": [r["gc_seconds"] for r in result[way]["runs"]]}))
    rows[0].note += f"; server CPU {server_cpu:.3f} s/request (all ways)"
    rows[0].extra["server_cpu_per_request"] = server_cpu
    ratio = best["official_models"][0] / best["kitlib"][0]
    rows.append(Row("list_pods_api: ratio (b)/(a)", n, None, ratio, "x",
                    note=f"best runs; medians give "
                         f"{best['official_models'][1] / best['kitlib'][1]:.1f}x",
                    extra={"ratio_best": ratio,
                           "ratio_median": best["official_models"][1] / best["kitlib"][1]}))
    return rows
