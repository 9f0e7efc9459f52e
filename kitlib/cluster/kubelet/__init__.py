"""KubeletManager: one simulated kubelet per node (issue 3, in progress)."""

from __future__ import annotations

from kitlib.cluster.context import ClusterContext

__all__ = ["KubeletManager"]


class KubeletManager:
    def __init__(self, ctx: ClusterContext) -> None:
        self.ctx = ctx
