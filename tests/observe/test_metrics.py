"""The metric functions on small hand-made frames (no cluster)."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
import pytest

from kitlib.observe import FRAMES, METRICS, Recording
from kitlib.observe.metrics import (
    app_restarts,
    capacity_stats,
    image_bytes_pulled,
    ip_and_node_changes,
    peak_unavailable,
    pods_rescheduled,
    time_to_converge,
)
from kitlib.observe.schema import typed


def frame(name: str, *rows: dict[str, Any]) -> pd.DataFrame:
    return typed(list(rows), FRAMES[name])


def progress(*samples: tuple[float, int, bool], replicas: int = 3,
             unavailable: int = 0, max_unavailable: int = 1) -> pd.DataFrame:
    """``workloads`` rows: (time, generation, converged) per sample."""
    return frame("workloads", *({
        "time": t, "workload": "cloneset/web", "kind": "CloneSet", "replicas": replicas,
        "available": replicas - unavailable, "unavailable": unavailable,
        "max_unavailable": max_unavailable, "generation": g, "observed_generation": g,
        "converged": c, "sample": i} for i, (t, g, c) in enumerate(samples)))


def pod(t: float, name: str, uid: str, *, node: str = "n1", ip: str = "",
        sample: int | None = None, deleting: bool = False) -> dict[str, Any]:
    return {"time": t, "pod": name, "uid": uid, "node": node, "ip": ip or f"10.0.0.{uid}",
            "workload": "cloneset/web", "sample": int(t) if sample is None else sample,
            "deleting": deleting}


def app(t: float, uid: str, *, restarts: int = 0, started: float = 0.0,
        image: str = "web:1", running: str | None = None, role: str = "app",
        sample: int | None = None) -> dict[str, Any]:
    return {"time": t, "uid": uid, "container": role, "role": role, "image": image,
            "image_running": image if running is None else running, "restarts": restarts,
            "started_at": started, "sample": int(t) if sample is None else sample}


# -- time to converge --------------------------------------------------------------------------

def test_time_to_converge_runs_from_the_first_spec_change_to_converged() -> None:
    rows = progress((0, 1, True), (5, 1, True), (10, 2, False), (15, 2, False), (20, 2, True),
                    (25, 3, False), (30, 3, True))
    assert time_to_converge(rows, start=0) == 10.0


def test_time_to_converge_is_nan_without_a_change_or_without_convergence() -> None:
    assert math.isnan(time_to_converge(progress((0, 1, True), (5, 1, True)), start=0))
    assert math.isnan(time_to_converge(progress((0, 1, True), (5, 2, False)), start=0))
    assert math.isnan(time_to_converge(progress(), start=0))


def test_a_workload_created_or_changing_at_its_first_sample_counts_from_there() -> None:
    assert time_to_converge(progress((10, 1, False), (15, 1, True)), start=0) == 5.0
    assert time_to_converge(progress((0, 2, False), (4, 2, False), (8, 2, True)), start=0) == 8.0


def test_rows_are_ordered_by_time_then_sample_whatever_their_order() -> None:
    rows = progress((0, 1, True), (0, 2, False), (6, 2, True))
    assert time_to_converge(rows.iloc[::-1], start=0) == 6.0


# -- unavailability ------------------------------------------------------------------------------

def test_peak_unavailable_is_compared_with_the_budget_of_its_sample() -> None:
    rows = pd.concat([progress((0, 1, True)),
                      progress((5, 2, False), unavailable=2, max_unavailable=2),
                      progress((10, 2, False), unavailable=1, max_unavailable=1)])
    assert peak_unavailable(rows) == (2, 2, False)
    rows = pd.concat([rows, progress((15, 2, False), unavailable=2, max_unavailable=1)])
    assert peak_unavailable(rows)[2] is True


def test_starting_up_is_not_a_disruption() -> None:
    rows = pd.concat([progress((0, 1, False), unavailable=3),
                      progress((5, 1, True)), progress((10, 1, True), unavailable=1)])
    assert peak_unavailable(rows) == (1, 1, False)
    assert peak_unavailable(progress((0, 1, False), unavailable=3)) == (3, 1, True)


def test_a_recording_that_starts_mid_rollout_counts_from_its_first_sample() -> None:
    rows = pd.concat([progress((0, 1, False), unavailable=3, max_unavailable=1),
                      progress((5, 1, True))])
    replicas = int(rows["replicas"].iloc[0])
    all_there = pd.DataFrame({"time": [0.0] * replicas, "sample": [0] * replicas,
                              "deleting": [False] * replicas})
    assert peak_unavailable(rows, all_there) == (3, 1, True)
    # one pod of three at the first sample: starting up, counted once it was whole
    assert peak_unavailable(rows, all_there.iloc[:1]) == (0, 1, False)
    starting = pd.concat([rows, progress((10, 1, True), unavailable=1)])
    assert peak_unavailable(starting, all_there.iloc[:1]) == (1, 1, False)


# -- pods and their identity ---------------------------------------------------------------------

def test_pods_rescheduled_counts_new_uids_net_of_scale_up() -> None:
    pods = frame("pods", pod(0, "a", "1"), pod(0, "b", "2"),
                 pod(5, "a", "1"), pod(5, "c", "3"),  # b replaced by c
                 pod(10, "a", "1"), pod(10, "c", "3"), pod(10, "d", "4"))  # scaled to 3
    workload = pd.concat([progress((0, 1, True), replicas=2), progress((5, 1, True), replicas=2),
                          progress((10, 2, True), replicas=3)])
    assert pods_rescheduled(pods, workload, start=0) == 1


def test_the_initial_set_is_the_first_sample_even_when_two_samples_share_its_time() -> None:
    pods = frame("pods", pod(0, "a", "1", sample=0), pod(0, "b", "2", sample=1),
                 pod(2, "b", "2", sample=2))
    workload = progress((0, 1, True), replicas=1)
    assert pods_rescheduled(pods, workload, start=0) == 1


def test_statefulset_pods_are_followed_by_name() -> None:
    pods = frame("pods", pod(0, "db-0", "1", ip="10.0.0.1", node="n1"),
                 pod(5, "db-0", "2", ip="10.0.0.9", node="n2"),
                 pod(10, "db-0", "2", ip="10.0.0.9", node="n2"))
    assert ip_and_node_changes(pods, kind="StatefulSet", rescheduled=1) == (1, 1)


def test_other_pods_count_in_place_ip_changes_replacements_and_net_moves() -> None:
    pods = frame("pods", pod(0, "a", "1", ip="10.0.0.1", node="n1"),
                 pod(0, "b", "2", ip="10.0.0.2", node="n1"),
                 pod(5, "a", "1", ip="10.0.0.7", node="n1"),   # a's sandbox was recreated
                 pod(5, "c", "3", ip="10.0.1.3", node="n2"),   # b replaced on another node
                 pod(5, "b", "2", ip="10.0.0.2", node="n1", deleting=True))
    assert ip_and_node_changes(pods, kind="CloneSet", rescheduled=1) == (2, 1)
    assert ip_and_node_changes(frame("pods"), kind="CloneSet", rescheduled=0) == (0, 0)


# -- restarts ---------------------------------------------------------------------------------------

def test_an_in_place_image_change_is_an_in_place_restart_even_if_the_spec_changed_first() -> None:
    rows = frame("containers",
                 app(0, "1", image="web:2", running="web:1"),   # spec patched, old instance
                 app(2, "1", image="web:2", running="web:2", restarts=1, started=2),
                 app(4, "1", image="web:2", running="web:2", restarts=1, started=2))
    assert app_restarts(rows) == (1, 0)


def test_crashes_are_restarts_with_the_same_image() -> None:
    rows = frame("containers", app(0, "1"), app(2, "1", restarts=2, started=2),
                 app(4, "1", restarts=2, started=2))
    assert app_restarts(rows) == (0, 2)


def test_a_restart_seen_only_through_started_at_counts_once() -> None:
    rows = frame("containers", app(0, "1", started=0), app(5, "1", started=4))
    assert app_restarts(rows) == (0, 1)


def test_a_first_start_and_other_roles_are_not_app_restarts() -> None:
    rows = frame("containers", app(0, "1", started=math.nan), app(2, "1", started=1),
                 app(0, "2", role="mesh-proxy"),
                 app(2, "2", role="mesh-proxy", restarts=1, started=2, image="p:2"))
    rows.loc[rows["container"] == "mesh-proxy", "role"] = "sidecar"
    assert app_restarts(rows) == (0, 0)
    assert app_restarts(frame("containers")) == (0, 0)


# -- pulls and capacity ------------------------------------------------------------------------------

def test_image_bytes_count_each_image_once_per_node() -> None:
    pulls = frame("pulls", {"node": "n1", "image": "web:2", "bytes": 100},
                  {"node": "n1", "image": "web:2", "bytes": 100},
                  {"node": "n2", "image": "web:2", "bytes": 100},
                  {"node": "n2", "image": "proxy:2", "bytes": 30})
    assert image_bytes_pulled(pulls) == 230


def test_capacity_statistics_skip_missing_values() -> None:
    rows = frame("workloads", {"capacity": 1.0, "cache_hit_rate": 0.5},
                 {"capacity": 0.5, "cache_hit_rate": math.nan}, {"capacity": math.nan})
    assert capacity_stats(rows) == (0.5, 0.75, 0.5)
    low, mean, warm = capacity_stats(frame("workloads"))
    assert math.isnan(low) and math.isnan(mean) and math.isnan(warm)


# -- the table -----------------------------------------------------------------------------------

def test_metrics_has_one_row_per_workload_with_the_schema_columns() -> None:
    workloads = pd.concat([progress((0, 1, True), (5, 2, False), (10, 2, True)),
                           progress((0, 1, True)).assign(workload="deployment/api",
                                                         kind="Deployment")])
    recording = Recording.from_frames({
        "workloads": workloads,
        "pods": frame("pods", pod(0, "a", "1"), pod(10, "a2", "2")),
        "containers": frame("containers", app(0, "1"), app(10, "2")),
        "pulls": frame("pulls", {"workload": "cloneset/web", "node": "n1", "image": "web:2",
                                 "bytes": 7})})
    table = recording.metrics()
    assert list(table.columns) == list(METRICS)
    assert list(table["workload"]) == ["cloneset/web", "deployment/api"]
    web = table.iloc[0]
    assert (web["time_to_converge"], web["pods_rescheduled"], web["image_bytes_pulled"]) == (
        5.0, 1, 7)
    assert math.isnan(table.iloc[1]["time_to_converge"])


@pytest.mark.parametrize("name", list(FRAMES))
def test_an_empty_recording_has_every_column_with_its_dtype(name: str) -> None:
    empty = Recording.from_frames({})
    assert list(empty.frames[name].columns) == list(FRAMES[name])
    assert empty.metrics().empty
