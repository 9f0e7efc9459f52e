"""Scheduler: binds pending pods to nodes (issue 3, in progress)."""

from __future__ import annotations

from kitlib.cluster.context import ClusterContext

__all__ = ["Scheduler"]


class Scheduler:
    def __init__(self, ctx: ClusterContext) -> None:
        self.ctx = ctx
