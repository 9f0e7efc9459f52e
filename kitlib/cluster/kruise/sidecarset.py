"""SidecarSetController: SidecarSet injection and in-place sidecar upgrades (issue 4, in progress)."""

from __future__ import annotations

from kitlib.cluster.context import ClusterContext

__all__ = ["SidecarSetController"]


class SidecarSetController:
    def __init__(self, ctx: ClusterContext) -> None:
        self.ctx = ctx
