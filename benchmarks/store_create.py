"""``store_create``: pods created in-process through ``EmbeddedCluster().store.create``.

The whole write path (admission defaulting and validation, metadata checks,
indexes, history, digest) with no HTTP in front of it, in a fresh cluster:
first with CPython's default GC thresholds (an embedded cluster inside a
notebook or a test), then with those of a ``kitlib serve`` process
(``kitlib.apiserver.server.tune_gc``). The notes say how much of the time the
cyclic garbage collector took.
"""

from __future__ import annotations

import gc
import time

from benchmarks import GcTimer, Row, check
from benchmarks.objects import pod
from kitlib.apiserver.server import SERVER_GC_THRESHOLDS
from kitlib.cluster.embedded import EmbeddedCluster


def run(quick: bool) -> list[Row]:
    n = 1_000 if quick else 10_000
    rows = [_create(n, "store_create", None)]
    rows.append(_create(n, "store_create (kitlib serve GC thresholds)", SERVER_GC_THRESHOLDS))
    return rows


def _create(n: int, label: str, thresholds: tuple[int, int, int] | None) -> Row:
    previous = gc.get_threshold()
    gc.collect()
    if thresholds is not None:
        gc.set_threshold(*thresholds)
    try:
        cluster = EmbeddedCluster()
        store = cluster.store
        manifests = [pod(i) for i in range(n)]
        rv0 = store.resource_version
        with GcTimer() as gc_time:
            start = time.perf_counter()
            for manifest in manifests:
                store.create("pods", manifest)
            seconds = time.perf_counter() - start
    finally:
        gc.set_threshold(*previous)

    check(store.count("pods") == n, f"{store.count('pods')} pods stored, expected {n}")
    check(store.resource_version == rv0 + n,
          f"RV moved from {rv0} to {store.resource_version}, expected +{n}")
    for i in (0, n // 2, n - 1):
        stored = store.get("pods", "default", manifests[i]["metadata"]["name"])
        check(len(stored["spec"]["containers"]) == 3 and stored["status"]["phase"] == "Pending",
              f"pod {i} stored wrongly: {stored}")
        check(stored["metadata"]["labels"] == manifests[i]["metadata"]["labels"],
              f"pod {i} lost its labels")
    check(store.verify_integrity() == [], "a stored object was mutated")
    return Row(label, n, seconds, n / seconds, "pods/s",
               note=f"cyclic GC {gc_time.seconds:.2f} s ({gc_time.collections} collections)",
               extra={"gc_seconds": gc_time.seconds, "gc_collections": gc_time.collections})
