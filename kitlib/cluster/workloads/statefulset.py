"""StatefulSetController: StatefulSets keep ordered pods (issue 3, in progress)."""

from __future__ import annotations

from kitlib.cluster.context import ClusterContext

__all__ = ["StatefulSetController"]


class StatefulSetController:
    def __init__(self, ctx: ClusterContext) -> None:
        self.ctx = ctx
