"""CloneSetController: CloneSet scale and update, in place or by recreate (issue 4, in progress)."""

from __future__ import annotations

from kitlib.cluster.context import ClusterContext

__all__ = ["CloneSetController"]


class CloneSetController:
    def __init__(self, ctx: ClusterContext) -> None:
        self.ctx = ctx
