"""ContainerRecreateRequestController: restart containers of a running pod in place
(OpenKruise §4.2).

Three parts, as upstream: the webhook (``api.py``: defaults, validation, the pod's
identity labels and the containers' ``statusContext``), the kruise-manager controller
(``manager.py``: completion on a gone pod / deadline / silent daemon, readiness via
``KruisePodReady``, the ``active`` label, TTL) and kruise-daemon's worker
(``daemon.py``: phases and the kills, through the simulated kubelet).
"""

from __future__ import annotations

from kitlib.cluster.context import ClusterContext
from kitlib.cluster.kruise.crr.api import CRRS, crr_admission
from kitlib.cluster.kruise.crr.daemon import CRRDaemon
from kitlib.cluster.kruise.crr.manager import CRRManager

__all__ = ["ContainerRecreateRequestController"]


class ContainerRecreateRequestController:
    def __init__(self, ctx: ClusterContext) -> None:
        self.ctx = ctx
        ctx.store.add_admission(CRRS, crr_admission(ctx.store))
        self.manager = CRRManager(ctx)
        self.daemon = CRRDaemon(ctx)
