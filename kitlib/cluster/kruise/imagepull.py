"""ImagePullController: ImagePullJob and NodeImage: image pre-download on nodes (issue 4, in progress)."""

from __future__ import annotations

from kitlib.cluster.context import ClusterContext

__all__ = ["ImagePullController"]


class ImagePullController:
    def __init__(self, ctx: ClusterContext) -> None:
        self.ctx = ctx
