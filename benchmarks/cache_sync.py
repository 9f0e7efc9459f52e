"""``cache_sync``: a ``WatchCache`` of every pod, from ``start()`` to ``wait_synced()``.

The informer's initial fill: LIST (raw JSON + ``orjson``) into the cache's dict,
paged with ``limit=500`` (client-go's default) and in one page. The pods are
those of ``list_pods_api`` (Running, three containers, about 3.9 KB of JSON
apiece), written in-process before the client — a separate process
(``benchmarks.cache_client``) — connects. The claim is the client's CPU: 10,000
pods into the cache in well under a second. Every run must hold every pod
exactly once.
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

TARGET_CPU = 0.5  # client CPU seconds for the paged fill at full size
REPEAT = 3
_LABELS = {"paged_500": "paged, limit 500", "one_page": "one page"}


def run(quick: bool) -> list[Row]:
    n = 500 if quick else 10_000
    with ServerThread() as srv, tempfile.TemporaryDirectory(prefix="kitlib-bench-") as tmp:
        keys = srv.call(populate_pods, srv.cluster.store, n)
        srv.call(srv.cluster.settle)
        out = Path(tmp) / "result.json"
        done = subprocess.run([sys.executable, "-m", "benchmarks.cache_client",
                               str(srv.kubeconfig), str(REPEAT), str(out)],
                              cwd=ROOT, capture_output=True, text=True, timeout=1800,
                              check=False)
        check(done.returncode == 0, f"the cache client failed ({done.returncode}):\n"
                                    f"{done.stderr[-3000:]}")
        result: dict[str, Any] = orjson.loads(out.read_bytes())
    expected = sorted(name for _, name in keys)
    rows = []
    for way, label in _LABELS.items():
        for run_ in [{"names": result[way]["warm_up_names"]}, *result[way]["runs"]]:
            check(sorted(run_["names"]) == expected,
                  f"{label}: the cache held {len(run_['names'])} pods, expected {n}")
        low, median = best_and_median([r["seconds"] for r in result[way]["runs"]])
        cpu = min(r["cpu"] for r in result[way]["runs"])
        target = f"CPU <= {TARGET_CPU} s" if way == "paged_500" and not quick else ""
        rows.append(Row(f"cache_sync: {label}", n, low, n / low, "pods/s", target,
                        cpu <= TARGET_CPU if target else None,
                        note=f"median {median:.3f} s of {REPEAT}; client CPU {cpu:.3f} s",
                        extra={"best": low, "median": median, "client_cpu_best": cpu,
                               "runs": [r["seconds"] for r in result[way]["runs"]],
                               "client_cpu": [r["cpu"] for r in result[way]["runs"]]}))
    return rows
