"""ContainerRecreateRequestController: ContainerRecreateRequest: restart containers in place (issue 4, in progress)."""

from __future__ import annotations

from kitlib.cluster.context import ClusterContext

__all__ = ["ContainerRecreateRequestController"]


class ContainerRecreateRequestController:
    def __init__(self, ctx: ClusterContext) -> None:
        self.ctx = ctx
