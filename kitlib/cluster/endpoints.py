"""EndpointsController: Services' EndpointSlices and Endpoints follow pod readiness (issue 3, in progress)."""

from __future__ import annotations

from kitlib.cluster.context import ClusterContext

__all__ = ["EndpointsController"]


class EndpointsController:
    def __init__(self, ctx: ClusterContext) -> None:
        self.ctx = ctx
