"""DisruptionController: PodDisruptionBudget status and the eviction subresource (issue 3, in progress)."""

from __future__ import annotations

from kitlib.cluster.context import ClusterContext

__all__ = ["DisruptionController"]


class DisruptionController:
    def __init__(self, ctx: ClusterContext) -> None:
        self.ctx = ctx
