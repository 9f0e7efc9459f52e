"""Nodes of the embedded cluster: building Node objects and adding them (issue 3, in progress)."""

from __future__ import annotations

from kitlib.cluster.context import ClusterContext

__all__ = ["add_nodes"]


def add_nodes(ctx: ClusterContext, count: int) -> list[str]:
    raise NotImplementedError("nodes arrive with the embedded-cluster issue")
