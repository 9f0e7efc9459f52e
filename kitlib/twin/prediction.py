"""``Prediction``: what a rehearsal on a twin says an operation will do.

A prediction is data (a frozen dataclass, so tests and notebooks compare fields) that
reads as plain sentences (``str``) and as a small HTML card in Jupyter
(``_repr_html_``). Times are cluster seconds of the twin: simulated, measured from the
moment the operation started.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field

__all__ = ["BlockedEviction", "Prediction", "count"]


@dataclass(frozen=True)
class BlockedEviction:
    """A pod the operation could not evict, why, and the budget that refused it.

    ``pod`` is ``name`` in the default namespace, else ``namespace/name``; ``budget`` is
    the PodDisruptionBudget's name when one refused (``None`` otherwise).
    """

    pod: str
    reason: str
    budget: str | None = None

    def __str__(self) -> str:
        return f"pod {self.pod} cannot be evicted: {self.reason}"


@dataclass(frozen=True)
class Prediction:
    """The predicted outcome of one operation rehearsed on a twin.

    Attributes:
        what: the operation, as a phrase (``"draining node-3"``).
        converged: whether the operation finished and every workload converged again.
        convergence_time: cluster seconds from the start until then (``None`` if never).
        blocked_evictions: pods that could not be evicted, with the reason.
        peak_unavailable: per workload (``cloneset/pay``), the most pods unavailable at
            once during the operation (``replicas − available``, as the workload's status
            reports it, sampled every step).
        budgets: per workload, how many pods its rollout strategy lets be unavailable
            (``maxUnavailable`` scaled with the kind's rounding), to read the peak against.
        pods_rescheduled: pods that were deleted and replaced by new pods (an in-place
            update does not count; a drained or failed node's pods do).
        notes: everything else worth knowing, in sentences.
        timeout: the cluster seconds the rehearsal waited at most.
    """

    what: str
    converged: bool
    convergence_time: float | None
    blocked_evictions: tuple[BlockedEviction, ...] = ()
    peak_unavailable: dict[str, int] = field(default_factory=dict)
    budgets: dict[str, int] = field(default_factory=dict)
    pods_rescheduled: int = 0
    notes: tuple[str, ...] = ()
    timeout: float = 0.0

    @property
    def blocked(self) -> bool:
        """Whether some eviction was refused for good."""
        return bool(self.blocked_evictions)

    def headline(self) -> str:
        """The first sentence: converges in how long, blocks on what, or times out."""
        subject = self.what[:1].upper() + self.what[1:]
        if self.blocked_evictions:
            return (f"{subject} blocks: "
                    + "; ".join(str(b) for b in self.blocked_evictions) + ".")
        if self.converged and self.convergence_time is not None:
            return (f"{subject} converges in {self.convergence_time:g} s of cluster time, "
                    f"with {count(self.pods_rescheduled, 'pod')} rescheduled.")
        return f"{subject} does not converge within {self.timeout:g} s of cluster time."

    def peak_sentence(self) -> str:
        """Peak unavailability of the workloads that had any, against their budgets."""
        parts = [f"{key} {peak}" + (f" (budget {self.budgets[key]})" if key in self.budgets
                                    else "")
                 for key, peak in sorted(self.peak_unavailable.items()) if peak]
        return ("Peak unavailable: " + ", ".join(parts) + ".") if parts else \
            "No workload had a pod unavailable."

    def __str__(self) -> str:
        return " ".join([self.headline(), self.peak_sentence(), *self.notes])

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><td>{html.escape(key)}</td><td>{peak}</td>"
            f"<td>{self.budgets.get(key, '')}</td></tr>"
            for key, peak in sorted(self.peak_unavailable.items()))
        table = ("<table><tr><th>workload</th><th>peak unavailable</th><th>budget</th></tr>"
                 f"{rows}</table>") if rows else ""
        notes = "".join(f"<li>{html.escape(n)}</li>" for n in self.notes)
        colour = "#0072B2" if self.converged else "#D55E00"
        return (f'<div><p style="color:{colour}"><b>{html.escape(self.headline())}</b></p>'
                f"{table}{f'<ul>{notes}</ul>' if notes else ''}</div>")


def count(n: int, noun: str) -> str:
    """``1 pod``, ``2 pods``."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
