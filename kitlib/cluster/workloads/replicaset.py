"""ReplicaSetController: ReplicaSets keep their pods (issue 3, in progress)."""

from __future__ import annotations

from kitlib.cluster.context import ClusterContext

__all__ = ["ReplicaSetController"]


class ReplicaSetController:
    def __init__(self, ctx: ClusterContext) -> None:
        self.ctx = ctx
