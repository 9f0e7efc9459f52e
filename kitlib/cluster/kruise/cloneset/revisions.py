"""CloneSet ControllerRevisions and the revision labels on its pods.

A revision is a ControllerRevision ``<cs>-<hash>`` whose data is
``{"spec": {"template": {..., "$patch": "replace"}}}`` — only ``spec.template`` feeds
it, so changing replicas, partition or the strategy makes no revision (upstream
``pkg/controller/cloneset/revision``). Reverting to an older template re-uses that
revision with a new number (``history.resolve_revisions``).

Pods carry ``controller-revision-hash: <cs>-<hash>`` (just ``<hash>`` with the
``CloneSetShortHash`` gate) and ``pod-template-hash: <hash>``.
"""

from __future__ import annotations

from typing import Any

from kitlib.cluster.kruise.inplace import REVISION_LABEL, TEMPLATE_HASH_LABEL
from kitlib.cluster.workloads.history import apply_revision

__all__ = ["revision_labels", "revision_template", "short_hash"]

Obj = dict[str, Any]


def short_hash(revision: str) -> str:
    """The text after the last ``-`` of a revision name."""
    return revision.rsplit("-", 1)[-1]


def revision_labels(revision: str, *, short: bool) -> dict[str, str]:
    return {REVISION_LABEL: short_hash(revision) if short else revision,
            TEMPLATE_HASH_LABEL: short_hash(revision)}


def revision_template(cs: Obj, revision: Obj) -> Obj:
    """The pod template recorded in ``revision``."""
    return dict(apply_revision(cs, revision)["spec"]["template"])
