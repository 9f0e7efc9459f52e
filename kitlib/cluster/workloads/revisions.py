"""Deployment revisions: annotations, template identity and history cleanup.

What ``kubectl rollout history`` and ``kubectl rollout undo`` read lives here:

* every ReplicaSet of a Deployment carries ``deployment.kubernetes.io/revision``
  (one more than the highest old revision when it becomes the new one; a reused
  old ReplicaSet — a rollback — keeps its former numbers in
  ``deployment.kubernetes.io/revision-history``), and the Deployment carries
  the revision of its new ReplicaSet;
* the Deployment's own annotations (``kubernetes.io/change-cause`` ...) are
  copied onto the new ReplicaSet, except the ones in ``ANNOTATIONS_TO_SKIP``
  (``kubectl rollout undo`` copies them back the other way);
* ``desired-replicas`` / ``max-replicas`` record the Deployment size (and size
  plus surge) the ReplicaSet was last scaled for, the basis of proportional
  scaling.

Templates are compared as upstream's ``EqualIgnoreHash`` does: without the
``pod-template-hash`` label, and with ``null`` fields equal to absent ones (a
Go client cannot tell them apart).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from kitlib.model.objects import annotations_of, meta_of, name_of, parse_time

__all__ = [
    "ANNOTATIONS_TO_SKIP",
    "DESIRED_REPLICAS",
    "MAX_REPLICAS",
    "POD_TEMPLATE_HASH",
    "REVISION",
    "REVISION_HISTORY",
    "canonical_template",
    "equal_ignore_hash",
    "history_to_delete",
    "max_revision",
    "new_rs_annotations",
    "revision_of",
]

Obj = dict[str, Any]

POD_TEMPLATE_HASH = "pod-template-hash"
REVISION = "deployment.kubernetes.io/revision"
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
DESIRED_REPLICAS = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"
#: Never copied from a Deployment to its ReplicaSets (upstream ``annotationsToSkip``).
ANNOTATIONS_TO_SKIP = frozenset({
    "kubectl.kubernetes.io/last-applied-configuration", REVISION, REVISION_HISTORY,
    DESIRED_REPLICAS, MAX_REPLICAS, "deprecated.deployment.rollback.to",
})
#: Upstream ``maxRevHistoryLengthInChars``.
MAX_REVISION_HISTORY_CHARS = 2000


def revision_of(obj: Obj) -> int:
    """The ``deployment.kubernetes.io/revision`` of ``obj``; 0 when absent or not a number."""
    try:
        return int(annotations_of(obj).get(REVISION, ""))
    except ValueError:
        return 0


def max_revision(objs: Iterable[Obj]) -> int:
    return max((revision_of(o) for o in objs), default=0)


def _drop_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_nulls(v) for v in value]
    return value


def canonical_template(template: Obj | None) -> Obj:
    """``template`` without its ``pod-template-hash`` label, nulls and empty label maps."""
    clean: Obj = _drop_nulls(template or {})
    meta = dict(clean.get("metadata") or {})
    labels = {k: v for k, v in (meta.get("labels") or {}).items() if k != POD_TEMPLATE_HASH}
    meta.pop("labels", None)
    if labels:
        meta["labels"] = labels
    if not meta.get("annotations"):
        meta.pop("annotations", None)
    clean["metadata"] = meta
    return clean


def equal_ignore_hash(a: Obj | None, b: Obj | None) -> bool:
    return canonical_template(a) == canonical_template(b)


def _copied_annotations(deployment: Obj, current: dict[str, str]) -> dict[str, str]:
    out = dict(current)
    for key, value in annotations_of(deployment).items():
        if key not in ANNOTATIONS_TO_SKIP:
            out[key] = value
    return out


def new_rs_annotations(deployment: Obj, current: dict[str, str], new_revision: int, *,
                       exists: bool, desired: int, max_replicas: int) -> dict[str, str]:
    """Upstream ``SetNewReplicaSetAnnotations``: the new ReplicaSet's annotations."""
    out = _copied_annotations(deployment, current)
    old = current.get(REVISION)
    try:
        old_revision = int(old) if old else 0
    except ValueError:
        return dict(current)
    if old_revision < new_revision:
        out[REVISION] = str(new_revision)
        if old:
            history = _append_history(current.get(REVISION_HISTORY, ""), old)
            if history is not None:
                out[REVISION_HISTORY] = history
    if not exists:
        out[DESIRED_REPLICAS] = str(desired)
        out[MAX_REPLICAS] = str(max_replicas)
    return out


def _append_history(history: str, old: str) -> str | None:
    if not history:
        return old
    parts = history.split(",")
    total = len(history) + len(old) + 1
    start = 0
    while total > MAX_REVISION_HISTORY_CHARS and start < len(parts):
        total -= len(parts[start]) + 1
        start += 1
    if total > MAX_REVISION_HISTORY_CHARS:
        return None
    return ",".join([*parts[start:], old])


def history_to_delete(limit: int | None, old_rss: Sequence[Obj]) -> list[str]:
    """Upstream ``cleanupDeployment``: the old ReplicaSets beyond ``revisionHistoryLimit``.

    Oldest revision first; only ReplicaSets with no replicas (spec and status),
    an observed spec, and no deletion under way are ever deleted.
    """
    alive = [rs for rs in old_rss if not meta_of(rs).get("deletionTimestamp")]
    if limit is None or len(alive) <= limit:
        return []
    alive.sort(key=lambda rs: (revision_of(rs), parse_time(meta_of(rs)["creationTimestamp"]),
                               name_of(rs)))
    out = []
    for rs in alive[:len(alive) - limit]:
        status = rs.get("status") or {}
        if status.get("replicas", 0) or (rs.get("spec") or {}).get("replicas", 0) or \
                int(meta_of(rs).get("generation") or 0) > int(status.get("observedGeneration")
                                                              or 0):
            continue
        out.append(name_of(rs))
    return out
