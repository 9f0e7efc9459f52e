"""What the CloneSet controller reads of each pod, computed once per stored version.

A reconcile of a CloneSet looks at every pod it owns several times (claims, the
scale/update arithmetic, the in-place refresh, the update order, status). The
store never mutates a stored object — a write replaces it — so everything derived
from one pod object stays true until the pod is written again. ``PodViews`` keeps,
per CloneSet, one ``PodView`` per pod name and recomputes it only when the stored
object is a different one: a reconcile of a 100,000-pod CloneSet then costs a
dictionary lookup per unchanged pod instead of re-reading labels, conditions and
annotations. Values that depend on the clock (availability with
``minReadySeconds``) are derived from cached timestamps at the moment they are asked.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kitlib.cluster.kruise.cloneset.diff import PodFacts
from kitlib.cluster.kruise.cloneset.status import is_update_ready
from kitlib.cluster.kruise.cloneset.update import active_key
from kitlib.cluster.kruise.inplace import GRACE_ANNOTATION, REVISION_LABEL
from kitlib.cluster.kruise.lifecycle import NORMAL, state_of
from kitlib.cluster.podutil import condition, controller_of
from kitlib.cluster.workloads.podorder import is_active
from kitlib.model.objects import parse_time
from kitlib.model.selectors import LabelSelector

__all__ = ["PodView", "PodViews"]

Obj = dict[str, Any]


@dataclass(slots=True)
class PodView:
    """The facts of one stored pod object (``pod``) the controller decides on."""

    pod: Obj
    name: str
    active: bool
    #: uid of the controlling ownerReference ("" when none)
    controller_uid: str
    labels: dict[str, str]
    #: the revision label's hash part ("" when unlabelled)
    revision_hash: str
    state: str
    update_ready: bool
    ready: bool
    #: when Ready last became True (None when not ready or not recorded)
    ready_since: float | None
    has_grace: bool
    #: the (generation, update revision) for which the in-place refresh found nothing to do
    quiet_for: tuple[int, str] | None = None
    #: (update revision hash, listed in podsToDelete) and the ``PodFacts`` for them
    facts: tuple[tuple[str, bool], PodFacts] | None = None
    #: (selector text, whether it matched the labels)
    _selected: tuple[str, bool] | None = None
    _active_key: tuple[Any, ...] | None = None

    @classmethod
    def of(cls, pod: Obj) -> PodView:
        meta = pod.get("metadata") or {}
        labels = meta.get("labels") or {}
        ref = controller_of(pod)
        revision = str(labels.get(REVISION_LABEL, ""))
        ready_cond = condition(pod, "Ready")
        ready = ready_cond is not None and ready_cond.get("status") == "True"
        since = ready_cond.get("lastTransitionTime") if ready and ready_cond else None
        return cls(pod=pod, name=str(meta.get("name", "")), active=is_active(pod),
                   controller_uid=str(ref.get("uid", "")) if ref else "",
                   labels=labels, revision_hash=revision.rsplit("-", 1)[-1] if revision else "",
                   state=state_of(pod), update_ready=is_update_ready(pod), ready=ready,
                   ready_since=parse_time(since) if since else None,
                   has_grace=GRACE_ANNOTATION in (meta.get("annotations") or {}))

    def at_revision(self, revision_hash: str) -> bool:
        """Upstream ``EqualToRevisionHash`` with the revision's hash part."""
        return bool(self.revision_hash) and self.revision_hash == revision_hash

    def available(self, min_ready_seconds: float, now: float) -> bool:
        """``is_pod_available``: Normal (or no) lifecycle state, update-ready, and Ready for
        ``min_ready_seconds``."""
        if self.state not in ("", NORMAL) or not self.update_ready or not self.ready:
            return False
        if min_ready_seconds <= 0:
            return True
        return self.ready_since is not None and self.ready_since + min_ready_seconds <= now

    def matches(self, selector: LabelSelector, text: str) -> bool:
        """``selector`` (whose string form is ``text``) against the pod's labels."""
        if self._selected is None or self._selected[0] != text:
            self._selected = (text, selector.matches(self.labels))
        return self._selected[1]

    @property
    def active_key(self) -> tuple[Any, ...]:
        """The pod's place in upstream's ``ActivePods`` order (see ``update.active_key``)."""
        if self._active_key is None:
            self._active_key = active_key(self.pod)
        return self._active_key


class PodViews:
    """``PodView`` per pod of one CloneSet, refreshed only for pods stored anew."""

    def __init__(self) -> None:
        self._views: dict[str, PodView] = {}

    def get(self, name: str, pod: Obj) -> PodView:
        view = self._views.get(name)
        if view is None or view.pod is not pod:
            view = self._views[name] = PodView.of(pod)
        return view

    def pod(self, name: str) -> Obj:
        """The pod object the view of ``name`` was made from."""
        return self._views[name].pod

    def __len__(self) -> int:
        return len(self._views)

    def prune(self, names: set[str]) -> None:
        """Forget pods no longer claimed (called when many are gone)."""
        if len(self._views) > len(names):
            self._views = {n: v for n, v in self._views.items() if n in names}
