"""The cluster-at-scale benchmarks' own machinery (``benchmarks/scale_common.py``,
``cluster_scale``, ``drain_pdb``) on tiny clusters: the O(1) pod tally agrees with a full
recount at every engine event and does see budgets being used, the stepping caps fail
loudly, and the in-process drain driver empties its nodes within the PDBs. The timings
themselves live in ``python -m benchmarks`` (CI runs its ``--quick`` sizes)."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from benchmarks import BenchmarkFailed, drain_pdb, scale_common
from benchmarks.cluster_scale import CLONESETS, IMAGES, NAME, NAMESPACE, pod_tally, rollout_done
from benchmarks.scale_common import run_until, scaled
from kitlib.client.apps import example_app
from kitlib.cluster.embedded import ClusterSettings, EmbeddedCluster
from kitlib.cluster.podutil import is_terminating


def _cloneset(cluster: EmbeddedCluster, replicas: int, max_unavailable: str) -> None:
    cluster.create(example_app(NAME, replicas=replicas, kind="CloneSet",
                               max_unavailable=max_unavailable, pdb_max_unavailable=None,
                               namespace=NAMESPACE)[0])


def _set_image(cluster: EmbeddedCluster, image: str) -> None:
    def edit(cs: dict[str, Any]) -> None:
        cs["spec"]["template"]["spec"]["containers"][0]["image"] = image
    cluster.store.modify(CLONESETS, NAMESPACE, NAME, edit)
    cluster.settle()


def test_the_tally_agrees_with_a_full_recount_after_every_event() -> None:
    """Given a 12-pod CloneSet created and rolled in place, when a full scan of the pods
    is classified after every engine event, then it equals the tally's counters, and the
    tally's peak of unavailable pods is at least the scan's (it also sees the states
    between two writes of one event) and within maxUnavailable 25 % of 12 = 3."""
    cluster = EmbeddedCluster(ClusterSettings(seed=3, nodes=2))
    tally = pod_tally(12).attach(cluster)
    scanned_peak = 0

    def recount(*_: object) -> None:
        nonlocal scanned_peak
        pods = [p for p in cluster.store.iter_objects("pods", NAMESPACE)
                if p["metadata"]["labels"].get("app") == NAME and not is_terminating(p)]
        assert +tally.counts == Counter(tally.classify(p) for p in pods)
        keys = [tally.classify(p) for p in pods]
        scanned_peak = max(scanned_peak, sum(1 for k in keys if k is not None and not k[2]))

    cluster.engine.on_event = recount
    _cloneset(cluster, 12, "25%")
    run_until(cluster, lambda: rollout_done(cluster, tally, 12, IMAGES[0]), cap=300,
              what="create")
    tally.reset_peaks()
    scanned_peak = 0
    _set_image(cluster, IMAGES[1])
    run_until(cluster, lambda: rollout_done(cluster, tally, 12, IMAGES[1]), cap=600,
              what="rollout")
    cluster.engine.on_event = None
    assert 1 <= scanned_peak <= tally.peaks["unavailable"] <= 3


def test_the_tally_sees_a_wide_budget_being_used() -> None:
    """maxUnavailable 100 %: the tally's peak goes far above the 10 % the benchmark
    allows, so a controller that overspent would fail the benchmark's check."""
    cluster = EmbeddedCluster(ClusterSettings(seed=4, nodes=2))
    tally = pod_tally(10).attach(cluster)
    _cloneset(cluster, 10, "100%")
    run_until(cluster, lambda: rollout_done(cluster, tally, 10, IMAGES[0]), cap=300,
              what="create")
    tally.reset_peaks()
    _set_image(cluster, IMAGES[1])
    run_until(cluster, lambda: rollout_done(cluster, tally, 10, IMAGES[1]), cap=600,
              what="rollout")
    assert tally.peaks["unavailable"] > 1


def test_a_phase_that_never_ends_fails_at_its_simulated_cap() -> None:
    cluster = EmbeddedCluster(ClusterSettings(seed=0, nodes=1))
    with pytest.raises(BenchmarkFailed, match=r"not done after 30 simulated seconds|went idle"):
        run_until(cluster, lambda: False, cap=30, what="waiting for nothing")
    assert 30 < cluster.now <= 40  # stopped at the first event past the cap


def test_the_scale_factor_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KITLIB_BENCH_SCALE", "0.01")
    assert scaled(100_000) == 1_000
    assert scaled(100, minimum=10) == 10
    monkeypatch.setenv("KITLIB_BENCH_SCALE", "zero")
    with pytest.raises(BenchmarkFailed, match="KITLIB_BENCH_SCALE"):
        scaled(10)


def test_the_drain_driver_empties_its_nodes_within_the_budgets() -> None:
    """3 of 6 nodes drained under 2 apps' PDBs (10 pods each: maxUnavailable 10 %,
    minAvailable 90 %, one disruption allowed at a time): every planned pod evicted, some
    refused first (the PDBs bind), no budget negative, no app below desiredHealthy."""
    result = drain_pdb.measure(nodes=6, drain=3, apps=2, per_app=10)
    assert result["evicted"] > 0 and result["refused"] > 0
    assert result["min_allowed"] == 0 and result["min_margin"] >= 0


def test_a_size_that_cannot_fit_in_memory_fails_at_once_saying_what_to_run() -> None:
    """A 100,000-pod run on a machine without ~40 GB free fails before any child starts,
    naming the scale variable, instead of being killed by the OOM killer hours later."""
    available = scale_common._available_mb()
    if available is None:
        pytest.skip("no /proc/meminfo on this platform: the check is skipped there")
    pods = int(available / scale_common.RSS_PER_POD_MB) + 1000
    with pytest.raises(BenchmarkFailed, match=scale_common.SCALE_ENV):
        scale_common.check_memory("cluster_scale", {"pods": pods})
    scale_common.check_memory("cluster_scale", {"pods": 10})


def test_the_tree_comparison_driver_converges_and_reports_what_it_measured() -> None:
    from benchmarks.compare_trees import drive

    result = drive(20)
    assert result["pods"] == 20 and result["events"] > 20
    assert result["create_sim"] > 0 and result["rollout_sim"] > 0
    assert result["create_cpu"] > 0 and result["rollout_cpu"] > 0 and result["peak_rss_mb"] > 0
