"""What every kitlib notebook does first and last: open its cluster, save its results.

A notebook's one ``parameters`` cell sets ``mode`` (``"stepped"``: simulated time moves
only when the notebook sleeps — what papermill runs; ``"live"``: the embedded cluster's
clock runs at ``speed`` × wall time, for watching the widgets), ``seed``, sizes, and
``kubeconfig``/``context`` for a real cluster, and ``results`` (where the results JSON
goes). ``open_cluster`` turns those into a ``Cluster``; ``save_results`` writes the
numbers the notebook's assert cells checked, for papermill runs and CI to read back.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kitlib.client.cluster import Cluster
from kitlib.client.connect import connect

__all__ = ["MODES", "open_cluster", "save_results"]

#: The notebooks' ``mode`` parameter: how an embedded cluster's clock runs.
MODES = ("stepped", "live")


def open_cluster(*, mode: str = "stepped", seed: int = 0, nodes: int = 4,
                 kubeconfig: str | None = None, context: str | None = None,
                 namespace: str | None = None, speed: float = 20.0,
                 allow_writes: bool | None = None, kruise: bool = True,
                 feature_gates: str = "") -> Cluster:
    """The cluster a notebook runs against.

    Args:
        mode: ``"stepped"`` or ``"live"`` (paced at ``speed`` × wall time); for a started
            embedded cluster.
        seed: the embedded cluster's seed (same seed, same story).
        nodes: nodes of a started embedded cluster.
        kubeconfig: a real (or already running) cluster's kubeconfig; with it (or
            ``context``) nothing is started and ``mode``/``seed``/``nodes`` do not apply.
        context: kubeconfig context.
        namespace: default namespace of the handle.
        speed: simulated seconds per wall second in ``"live"`` mode.
        allow_writes: see ``kitlib.connect`` (real clusters are read-only by default).
        kruise: whether a started embedded cluster serves OpenKruise.
        feature_gates: OpenKruise feature gates of a started embedded cluster.

    Returns:
        The connected ``Cluster`` (close it at the end, or use ``with``).

    Raises:
        ValueError: an unknown ``mode``.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
    if kubeconfig or context:
        return connect(kubeconfig, context, namespace=namespace, allow_writes=allow_writes)
    return connect(mode="stepped" if mode == "stepped" else "paced", speed=speed, seed=seed,
                   nodes=nodes, namespace=namespace, allow_writes=allow_writes, kruise=kruise,
                   feature_gates=feature_gates)


def save_results(path: str | Path | None, results: Mapping[str, Any]) -> Path | None:
    """Write ``results`` as JSON to ``path`` (directories created; ``None``: nothing).

    Values must be JSON-able: numbers, strings, booleans, lists, dicts; numpy and pandas
    scalars are converted, NaN becomes ``null``.

    Returns:
        The path written, or ``None`` when ``path`` is ``None``.
    """
    if path is None:
        return None
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(_plain(results), indent=2, sort_keys=True) + "\n")
    return target


def _plain(value: Any) -> Any:
    """``value`` with numpy/pandas scalars as Python ones and NaN as None."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if hasattr(value, "item") and callable(value.item):  # numpy / pandas scalars
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value
