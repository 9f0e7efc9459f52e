"""The frames a ``Recording`` holds: their columns and dtypes, in one place.

This is the contract between the recorders (``kitlib.observe``), the plot builders
(``kitlib.viz``), the widgets and the notebooks. Every frame is tidy (one row per thing
per sample); ``time`` is cluster time in seconds (``cluster.now()``: simulated seconds on
an embedded cluster, Unix seconds on a real one).

Columns beyond the shared schema are marked *extra* in ``FRAMES``' comments; consumers
may ignore them. ``typed`` gives any frame its exact columns and dtypes, so an empty
recording, a recording read back from CSV and a live one compare equal.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pandas as pd

__all__ = ["FRAMES", "METRICS", "typed"]

S, F, N, B = "str", "float", "int", "bool"

#: Frame name → ordered ``{column: dtype}`` (``str``, ``float``, ``int`` or ``bool``).
FRAMES: dict[str, dict[str, str]] = {
    "pods": {"time": F, "namespace": S, "pod": S, "uid": S, "workload": S, "node": S, "ip": S,
             "phase": S, "ready": B, "deleting": B, "revision": S,
             # extra, in every sampled frame: the sample's number (orders samples of
             # one time; 0 for the first sample of the recording)
             "sample": N},
    "containers": {"time": F, "namespace": S, "pod": S, "uid": S, "workload": S,
                   "container": S, "role": S, "image": S, "state": S, "reason": S, "ready": B,
                   "restarts": N, "started_at": F, "cache_hit_rate": F,
                   # extra: the image the container instance runs (status.image, in the
                   # spec's short form; "" before the kubelet reports it), where ``image``
                   # is the one the spec asks for (they differ during an update)
                   "image_running": S, "sample": N},
    "workloads": {"time": F, "workload": S, "kind": S, "replicas": N, "updated": N, "ready": N,
                  "available": N, "unavailable": N, "max_unavailable": N, "partition": N,
                  "paused": B, "pdb_disruptions_allowed": F, "ready_endpoints": F,
                  "capacity": F, "cache_hit_rate": F,
                  # extra: what time_to_converge is computed from
                  "generation": N, "observed_generation": N, "converged": B,
                  "update_revision": S, "sample": N},
    "disruptions": {"time": F, "namespace": S, "pod": S, "node": S, "workload": S,
                    "allowed": B, "reason": S, "source": S},
    "nodes": {"time": F, "node": S, "ready": B, "unschedulable": B, "zone": S, "pool": S,
              "pods": N, "sample": N},
    # extra frame: one row per kubelet "Pulled" event that reports an image size
    "pulls": {"time": F, "namespace": S, "pod": S, "uid": S, "workload": S, "node": S,
              "image": S, "bytes": N},
}

#: ``Recording.metrics()``: one row per workload.
METRICS: dict[str, str] = {
    "workload": S, "time_to_converge": F, "peak_unavailable": N, "budget": N,
    "budget_exceeded": B, "pods_rescheduled": N, "ip_changes": N, "node_changes": N,
    "app_restarts": N, "image_bytes_pulled": N, "min_capacity": F, "mean_capacity": F,
    "mean_cache_hit_rate": F,
    # extra: app_restarts split by cause
    "app_inplace_restarts": N, "app_crash_restarts": N,
}

_DTYPES = {S: object, F: "float64", N: "int64", B: "bool"}
_FILL: dict[str, Any] = {S: "", N: 0, B: False}


def typed(data: pd.DataFrame | Iterable[Sequence[Any]] | Iterable[Mapping[str, Any]],
          columns: Mapping[str, str]) -> pd.DataFrame:
    """A frame with exactly ``columns`` (in order) and their dtypes.

    Args:
        data: a DataFrame, or rows as tuples in ``columns``' order, or rows as dicts.
        columns: ``{column: dtype}``, e.g. ``FRAMES["pods"]``.

    Returns:
        A new frame; missing strings become ``""``, missing ints ``0``, missing bools
        ``False``; floats keep ``NaN``.
    """
    if isinstance(data, pd.DataFrame):
        frame = data.reindex(columns=list(columns))
    else:
        rows = list(data)
        frame = pd.DataFrame(rows, columns=list(columns) if not rows or not isinstance(
            rows[0], Mapping) else None).reindex(columns=list(columns))
    for name, kind in columns.items():
        column = frame[name]
        if kind in _FILL:
            column = column.where(column.notna(), _FILL[kind])
        if kind == S:
            column = column.map(str)
        frame[name] = column.astype(_DTYPES[kind])
    return frame.reset_index(drop=True)
