"""AdvancedStatefulSetController: Advanced StatefulSet (apps.kruise.io/v1beta1) with in-place update (issue 4, in progress)."""

from __future__ import annotations

from kitlib.cluster.context import ClusterContext

__all__ = ["AdvancedStatefulSetController"]


class AdvancedStatefulSetController:
    def __init__(self, ctx: ClusterContext) -> None:
        self.ctx = ctx
