"""PodUnavailableBudgetController: PodUnavailableBudget status and its admission checks (issue 4, in progress)."""

from __future__ import annotations

from kitlib.cluster.context import ClusterContext

__all__ = ["PodUnavailableBudgetController"]


class PodUnavailableBudgetController:
    def __init__(self, ctx: ClusterContext) -> None:
        self.ctx = ctx
