"""``RolloutPanel``: pick a workload, change its images and update strategy, watch progress.

The form shows what the workload has now (read through the API when a workload is
picked, and again after every action); **Apply** sends only the fields that differ from
it, in one ``cluster.rollout`` PATCH, so an untouched form changes nothing. Which knobs
a kind has follows ``kitlib.client.workloads``: the partition slider is disabled for a
Deployment (it has none), maxSurge for the StatefulSets.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets

from kitlib.client.raw import get_json
from kitlib.client.refs import WORKLOAD_KINDS, Progress, WorkloadRef, get_workload, progress
from kitlib.model.errors import NotFound
from kitlib.widgets.panels._common import Panel

if TYPE_CHECKING:
    from kitlib.client.cluster import Cluster
    from kitlib.client.refs import WorkloadKind
    from kitlib.client.workloads import RolloutResult

__all__ = ["RolloutPanel", "parse_int_or_percent", "workload_form"]

Obj = dict[str, Any]

#: Strategy options by (kind, OpenKruise?), as ``cluster.rollout(strategy=)`` takes them.
STRATEGIES: dict[tuple[str, bool], tuple[str, ...]] = {
    ("CloneSet", True): ("InPlaceIfPossible", "InPlaceOnly", "ReCreate"),
    ("StatefulSet", True): ("RollingUpdate", "OnDelete", "ReCreate", "InPlaceIfPossible",
                            "InPlaceOnly"),
    ("Deployment", False): ("RollingUpdate", "Recreate"),
    ("StatefulSet", False): ("RollingUpdate", "OnDelete"),
}
NO_PARTITION = "a Deployment has no partition: pause it, or use a CloneSet"
NO_SURGE = "a StatefulSet has no maxSurge"
#: Room for the longest label ("maxUnavailable") and for image references.
LABEL = {"description_width": "8em"}
WIDE = {"width": "30em"}
INT_OR_PERCENT = "an integer or a percentage (25%); empty keeps the current value"


def parse_int_or_percent(text: str, field_name: str) -> int | str | None:
    """``"3"`` → 3, ``"25%"`` → ``"25%"``, ``""`` → None.

    Raises:
        ValueError: anything else, naming the field.
    """
    text = text.strip()
    if not text:
        return None
    if text.endswith("%") and text[:-1].isdigit():
        return text
    if text.isdigit():
        return int(text)
    raise ValueError(f"{field_name} must be an integer or a percentage like 25%, "
                     f"not {text!r}")


@dataclass(frozen=True)
class WorkloadForm:
    """What the form shows for a workload: the values read from its object."""

    images: dict[str, str]
    strategy: str
    partition: int
    replicas: int
    max_unavailable: str
    max_surge: str
    strategies: tuple[str, ...]


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _strategy(kind: WorkloadKind, spec: Obj) -> str:
    if kind.kind == "Deployment":
        return str((spec.get("strategy") or {}).get("type") or "RollingUpdate")
    strategy = spec.get("updateStrategy") or {}
    if kind.kind == "CloneSet":
        return str(strategy.get("type") or "ReCreate")
    kind_type = str(strategy.get("type") or "RollingUpdate")
    policy = (strategy.get("rollingUpdate") or {}).get("podUpdatePolicy")
    return str(policy) if kind.kruise and policy and kind_type != "OnDelete" else kind_type


def _budgets(kind: WorkloadKind, spec: Obj) -> tuple[str, str]:
    """The raw (unscaled) maxUnavailable and maxSurge, as text."""
    if kind.kind == "CloneSet":
        strategy = spec.get("updateStrategy") or {}
        return _text(strategy.get("maxUnavailable")), _text(strategy.get("maxSurge"))
    outer = spec.get("strategy" if kind.kind == "Deployment" else "updateStrategy") or {}
    rolling = outer.get("rollingUpdate") or {}
    return _text(rolling.get("maxUnavailable")), _text(rolling.get("maxSurge"))


def workload_form(kind: WorkloadKind, obj: Obj) -> WorkloadForm:
    """The form's values for workload object ``obj`` of ``kind``."""
    spec = obj.get("spec") or {}
    containers = ((spec.get("template") or {}).get("spec") or {}).get("containers") or []
    state = progress(obj)
    max_unavailable, max_surge = _budgets(kind, spec)
    return WorkloadForm(images={str(c["name"]): str(c.get("image", "")) for c in containers},
                        strategy=_strategy(kind, spec), partition=state.partition,
                        replicas=state.replicas, max_unavailable=max_unavailable,
                        max_surge=max_surge,
                        strategies=STRATEGIES[(kind.kind, kind.kruise)])


def describe(state: Progress) -> str:
    """One line: updated/ready/available of replicas, paused, converged."""
    line = (f"{state.kind.lower()}/{state.name}: {state.updated}/{state.replicas} updated, "
            f"{state.ready} ready, {state.available} available")
    if state.partition:
        line += f", partition {state.partition}"
    if state.paused:
        line += " · paused"
    if state.converged:
        line += " · converged"
    return line


class RolloutPanel(Panel):
    """Roll a workload out: images per container, strategy, partition, budgets, pause, undo.

    Args:
        cluster: the ``Cluster`` handle.
        namespace: where to find workloads (default: the handle's namespace).
        workload: the workload to pick first (``"cloneset/web"``); default the first found.

    Attributes:
        picker: the workload Dropdown (values like ``"cloneset/web"``).
        images: container name → its image Combobox (options: the images seen in the
            namespace's pods, and the current one).
        strategy: the strategy Dropdown (the kind's options).
        partition: pods kept on the old revision (disabled for Deployments).
        max_unavailable, max_surge: Text fields (an int or a percentage).
        apply_button, pause_button, resume_button, undo_button: the actions.
        reload_button: lists the workloads again (one created after the panel).
        progress_line: where the rollout stands (``kitlib.client.refs.progress``).
    """

    def __init__(self, cluster: Cluster, *, namespace: str | None = None,
                 workload: str | None = None) -> None:
        super().__init__(cluster, title="Rollout")
        self.namespace = namespace or cluster.namespace
        self._refs: dict[str, WorkloadRef] = {}
        self._reloading = False
        self._loaded: WorkloadForm | None = None
        self.picker = widgets.Dropdown(description="workload", options=[], style=LABEL,
                                       layout=WIDE)
        self.reload_button = self._button("Reload", self.reload, what="reload",
                                          tooltip="list the namespace's workloads again")
        self.images: dict[str, widgets.Combobox] = {}
        self._image_box = widgets.VBox()
        self.strategy = widgets.Dropdown(description="strategy", options=[], style=LABEL)
        self.partition = widgets.IntSlider(description="partition", min=0, max=0, style=LABEL,
                                           continuous_update=False)
        self.max_unavailable = widgets.Text(description="maxUnavailable", style=LABEL,
                                            placeholder="int or %", tooltip=INT_OR_PERCENT)
        self.max_surge = widgets.Text(description="maxSurge", placeholder="int or %",
                                      style=LABEL, tooltip=INT_OR_PERCENT)
        self.progress_line = widgets.HTML()
        self.apply_button = self._button("Apply", self.apply_form, what="apply",
                                         destructive=True, style="primary",
                                         tooltip="change the workload in one PATCH")
        self.pause_button = self._button("Pause", self.pause, what="pause", destructive=True)
        self.resume_button = self._button("Resume", self.resume, what="resume",
                                          destructive=True)
        self.undo_button = self._button("Undo", self.undo, what="undo", destructive=True,
                                        tooltip="back to the previous revision")
        self._layout(widgets.HBox([self.picker, self.reload_button]), self._image_box, self.strategy, self.partition,
                     widgets.HBox([self.max_unavailable, self.max_surge]),
                     widgets.HBox([self.apply_button, self.pause_button, self.resume_button,
                                   self.undo_button]),
                     self.progress_line)
        self.run("list workloads", lambda: self.reload(select=workload), read=True)
        self.picker.observe(self._on_pick, names="value")

    # -- reading -----------------------------------------------------------------------

    @property
    def ref(self) -> WorkloadRef:
        """The picked workload.

        Raises:
            ValueError: there is none (no workload in the namespace).
        """
        if self.picker.value not in self._refs:
            raise self._nothing_picked()
        return self._refs[self.picker.value]

    def _nothing_picked(self) -> ValueError:
        return ValueError(f'no workload picked (none found in namespace "{self.namespace}")')

    def reload(self, *, select: str | None = None) -> None:
        """List the namespace's workloads again, pick ``select`` (or keep the pick; else
        the first), and load it."""
        self._refs = {str(ref): ref for ref in self._workloads()}
        wanted = select or self.picker.value
        self._reloading = True
        try:
            self.picker.options = list(self._refs)
            if self._refs:
                self.picker.value = wanted if wanted in self._refs else next(iter(self._refs))
        finally:
            self._reloading = False
        if self._refs:
            self.load()

    def _on_pick(self, change: dict[str, Any]) -> None:
        if not self._reloading and change["new"] in self._refs:
            self.run("load workload", self.load, read=True)

    def _workloads(self) -> list[WorkloadRef]:
        found: list[WorkloadRef] = []
        for kind in WORKLOAD_KINDS:
            path = f"/apis/{kind.api_version}/namespaces/{self.namespace}/{kind.plural}"
            try:
                items = get_json(self.cluster.api_client, path)["items"]
            except NotFound:  # the server does not serve this kind
                continue
            found += [WorkloadRef(kind, str(o["metadata"]["name"]), self.namespace)
                      for o in items]
        return found

    def load(self) -> None:
        """Read the picked workload and show its current values in the form."""
        self._fill(get_workload(self.cluster, self.ref))

    def _fill(self, obj: Obj) -> None:
        ref = self.ref
        form = workload_form(ref.kind, obj)
        seen = self._seen_images()
        self.images = {name: widgets.Combobox(
            description=name, value=image, ensure_option=False, style=LABEL, layout=WIDE,
            options=sorted(seen | {image}), placeholder="image")
            for name, image in form.images.items()}
        self._image_box.children = tuple(self.images.values())
        self.strategy.options = form.strategies
        self.strategy.value = form.strategy if form.strategy in form.strategies else None
        self.partition.max = form.replicas
        self.partition.value = form.partition
        self.partition.disabled = ref.kind.kind == "Deployment"
        self.partition.tooltip = NO_PARTITION if self.partition.disabled else ""
        self.max_unavailable.value = form.max_unavailable
        self.max_surge.value = form.max_surge
        self.max_surge.disabled = ref.kind.kind == "StatefulSet"
        self.max_surge.tooltip = NO_SURGE if self.max_surge.disabled else INT_OR_PERCENT
        self._loaded = form
        self._show_progress(obj)

    def _seen_images(self) -> set[str]:
        pods = get_json(self.cluster.api_client,
                        f"/api/v1/namespaces/{self.namespace}/pods")["items"]
        return {str(c["image"]) for pod in pods
                for c in (pod.get("spec") or {}).get("containers") or [] if c.get("image")}

    def refresh(self) -> None:
        """Read the workload again and update the progress line. The form follows changes
        made elsewhere (a notebook cell, kubectl) unless it holds edits not applied yet —
        those are kept, and Apply sends only them."""
        if self.picker.value in self._refs:
            self.run("refresh", self._refresh, read=True)

    def _refresh(self) -> None:
        obj = get_workload(self.cluster, self.ref)
        loaded = self._loaded
        if loaded is not None and workload_form(self.ref.kind, obj) != loaded and \
                not self._edited():
            self._fill(obj)
        else:
            self._show_progress(obj)

    def _edited(self) -> bool:
        """Whether the form holds changes not applied yet (an invalid field counts)."""
        try:
            return bool(self.changes())
        except ValueError:
            return True

    def _show_progress(self, obj: Obj) -> None:
        self.progress_line.value = html.escape(describe(progress(obj)))

    # -- actions -----------------------------------------------------------------------

    def changes(self) -> dict[str, Any]:
        """The ``cluster.rollout`` keywords for what the form changes (``{}``: nothing).

        Raises:
            ValueError: no workload is loaded, or a budget field is neither an integer nor
                a percentage.
        """
        loaded = self._loaded
        if loaded is None:
            raise self._nothing_picked()
        images = {name: box.value.strip() for name, box in self.images.items()
                  if box.value.strip() != loaded.images.get(name)}
        change: dict[str, Any] = {"images": images or None}
        if self.strategy.value and self.strategy.value != loaded.strategy:
            change["strategy"] = self.strategy.value
        if not self.partition.disabled and self.partition.value != loaded.partition:
            change["partition"] = self.partition.value
        for name, box, old in (("max_unavailable", self.max_unavailable,
                                loaded.max_unavailable),
                               ("max_surge", self.max_surge, loaded.max_surge)):
            if box.value.strip() != old and not box.disabled:
                change[name] = parse_int_or_percent(box.value, box.description)
        return {key: value for key, value in change.items() if value is not None}

    def apply_form(self) -> RolloutResult | None:
        """Apply what the form changes in one ``cluster.rollout`` (nothing: say so)."""
        change = self.changes()
        if not change:
            self.say("nothing to change: the form shows the workload as it is")
            return None
        return self._done("applied", self.cluster.rollout(self.ref, namespace=self.namespace,
                                                          **change))

    def pause(self) -> RolloutResult:
        """Pause the picked workload's update."""
        return self._done("paused", self.cluster.pause(self.ref, namespace=self.namespace))

    def resume(self) -> RolloutResult:
        """Resume the picked workload's update."""
        return self._done("resumed", self.cluster.resume(self.ref, namespace=self.namespace))

    def undo(self) -> RolloutResult:
        """Roll the picked workload back to its previous revision."""
        return self._done("rolled back", self.cluster.undo(self.ref, namespace=self.namespace))

    def _done(self, verb: str, result: RolloutResult) -> RolloutResult:
        generation = result.generation
        self.say(f"{result.ref}: {verb} (generation {generation})" if result.changed
                 else f"{result.ref}: unchanged (it already was so)")
        self.load()
        return result
