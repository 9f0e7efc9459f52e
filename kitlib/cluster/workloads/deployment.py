"""DeploymentController: Deployments roll ReplicaSets (issue 3, in progress)."""

from __future__ import annotations

from kitlib.cluster.context import ClusterContext

__all__ = ["DeploymentController"]


class DeploymentController:
    def __init__(self, ctx: ClusterContext) -> None:
        self.ctx = ctx
