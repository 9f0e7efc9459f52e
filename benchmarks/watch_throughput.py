"""``watch_throughput``: watch events per second delivered over HTTPS.

A watcher process (``benchmarks.watch_client``: a separate process, as a
notebook is from its ``kitlib serve``) opens raw streaming watches on
``/api/v1/namespaces/<ns>/configmaps?watch=1&resourceVersion=<rv>`` through the
official client's connection pool. Once they are open, the server commits N
ConfigMap creates in-process on its own loop, in one of two ways:

* **burst**: all N in one go, then the loop streams them — the rate is the
  delivery throughput of the watch path (encode, HTTP, TLS, client parse);
* **interleaved**: yielding to the loop every ``YIELD_EVERY`` writes, so that
  streaming overlaps writing (as with writes arriving from clients) — the rate
  is bounded by the write rate too.

The rate is events over the time from the first to the last event received
(all watchers together for the 10-watcher rows). Every watcher must receive
every committed resourceVersion exactly once, in order, as ``ADDED``.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

from benchmarks import BenchmarkFailed, Row, check
from benchmarks.harness import ROOT, ServerThread, wait_ready
from benchmarks.objects import configmap
from kitlib.store.store import Store

TARGET_RATE = 50_000.0  # events/s to one watcher, full size
YIELD_EVERY = 200


def run(quick: bool) -> list[Row]:
    n = 2_000 if quick else 20_000
    target = None if quick else TARGET_RATE
    with ServerThread(history_size=200_000) as srv:
        return [
            _scenario(srv, "1 watcher, burst", "w-one-burst", n, watchers=1, burst=True,
                      target=target),
            _scenario(srv, "1 watcher, interleaved", "w-one-inter", n, watchers=1,
                      burst=False, target=target),
            _scenario(srv, "10 watchers, burst (total)", "w-ten-burst", n, watchers=10,
                      burst=True),
            _scenario(srv, "10 watchers, interleaved (total)", "w-ten-inter", n, watchers=10,
                      burst=False),
            _scenario(srv, "kubernetes.watch (deserialize=False), burst", "w-official",
                      n // 4, watchers=1, burst=True, official=True),
        ]


def _scenario(srv: ServerThread, label: str, ns: str, n: int, *, watchers: int, burst: bool,
              target: float | None = None, official: bool = False) -> Row:
    store: Store = srv.cluster.store
    srv.call(store.create, "namespaces", {"metadata": {"name": ns}})
    manifests = [configmap(i, ns) for i in range(n)]
    rv0 = srv.call(lambda: store.resource_version)
    with tempfile.TemporaryDirectory(prefix="kitlib-bench-watch-") as tmp:
        out = Path(tmp) / "result.json"
        args = [sys.executable, "-m", "benchmarks.watch_client", str(srv.kubeconfig),
                f"/api/v1/namespaces/{ns}/configmaps", str(rv0), str(n), str(watchers), str(out)]
        if official:
            args.append("--official")
        child = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, text=True)
        try:
            wait_ready(child, timeout=60)
            cpu0 = srv.thread_time()
            rvs, w0, w1 = srv.run(_write(store, manifests, None if burst else YIELD_EVERY))
            code = child.wait(timeout=600)
            server_cpu = srv.thread_time() - cpu0
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
        check(code == 0, f"the watcher process exited with {code}")
        result: dict[str, Any] = orjson.loads(out.read_bytes())
    check(not result["errors"], f"watchers failed: {result['errors']}")
    check(rvs == list(range(rv0 + 1, rv0 + n + 1)),
          "the writes did not get contiguous resourceVersions")
    expected = [["ADDED", rv] for rv in rvs]
    for i, w in enumerate(result["watchers"]):
        got = w["events"]
        if got != expected:
            seen = [rv for _, rv in got]
            missing = sorted(set(rvs) - set(seen))
            raise BenchmarkFailed(
                f"{label}: watcher {i} got {len(got)} events, expected {n}: {len(missing)} "
                f"missing (first {missing[:5]}), {len(seen) - len(set(seen))} duplicated, "
                f"in order: {seen == sorted(seen)}")
    first = min(w["first"] for w in result["watchers"])
    last = max(w["last"] for w in result["watchers"])
    seconds = last - first
    total = n * watchers
    rate = total / seconds
    return Row(f"watch_throughput: {label}", n, seconds, rate, "events/s",
               f">= {target:,.0f} events/s" if target else "",
               rate >= target if target else None,
               note=f"{watchers}x{n} events; writes {n / (w1 - w0):,.0f}/s; server CPU "
                    f"{server_cpu:.2f} s",
               extra={"watchers": watchers, "events": total, "burst": burst,
                      "write_seconds": w1 - w0, "server_cpu_seconds": server_cpu,
                      "first_event_after_write_start": first - w0,
                      "last_event_after_write_end": last - w1,
                      "write_start_to_last_event_rate": total / (last - w0)})


async def _write(store: Store, manifests: list[dict[str, Any]],
                 yield_every: int | None) -> tuple[list[int], float, float]:
    rvs = []
    start = time.monotonic()
    for i, manifest in enumerate(manifests, 1):
        created = store.create("configmaps", manifest)
        rvs.append(int(created["metadata"]["resourceVersion"]))
        if yield_every and i % yield_every == 0:
            await asyncio.sleep(0)
    return rvs, start, time.monotonic()
