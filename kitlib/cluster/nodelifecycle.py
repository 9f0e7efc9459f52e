"""NodeLifecycleController: node health, taints and taint-based eviction (issue 3, in progress)."""

from __future__ import annotations

from kitlib.cluster.context import ClusterContext

__all__ = ["NodeLifecycleController"]


class NodeLifecycleController:
    def __init__(self, ctx: ClusterContext) -> None:
        self.ctx = ctx
