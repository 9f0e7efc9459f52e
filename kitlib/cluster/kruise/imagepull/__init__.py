"""ImagePullController: ImagePullJob and NodeImage, image pre-download on nodes
(OpenKruise §4.1).

Two actors, as upstream has two processes: the ImagePullJob controller of
kruise-manager (``job.py``, its decisions in ``plan.py``) writes the job's tag into the
NodeImage of the nodes it selects, at most ``parallelism`` at a time; kruise-daemon on
each node (``daemon.py``) pulls the NodeImage's tags into the node's image store —
the simulated kubelet's, so a later pod start or in-place update finds the image
present — and reports the pulls in the NodeImage status, which the job controller
reads back into the job's status. Defaults, validation and schemas: ``api.py``.
"""

from __future__ import annotations

from kitlib.cluster.context import ClusterContext
from kitlib.cluster.kruise.imagepull.api import admit_image_pull_job
from kitlib.cluster.kruise.imagepull.daemon import ImagePullDaemon
from kitlib.cluster.kruise.imagepull.job import JOBS, ImagePullJobController

__all__ = ["ImagePullController"]


class ImagePullController:
    def __init__(self, ctx: ClusterContext) -> None:
        self.ctx = ctx
        ctx.store.add_admission(JOBS, admit_image_pull_job)
        self.jobs = ImagePullJobController(ctx)
        self.daemon = ImagePullDaemon(ctx)
