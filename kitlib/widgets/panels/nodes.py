"""``NodePanel`` (cordon, drain with live progress, fail/restore) and ``EvictionPanel``.

A drain runs ``cluster.drain`` in the click handler and feeds its ``on_progress`` events
to an ``IntProgress`` and a log as they come (the handler runs on the kernel's loop, so
the widgets are touched from there). On a stepped embedded cluster the drain advances
the cluster clock itself (``cluster.sleep`` between polls), so the controllers evict and
reschedule while it runs. Failing and restoring a node are embedded-cluster faults: on a
real cluster those buttons stay disabled, with a tooltip saying so.

``EvictionPanel`` evicts the pod selected on a PodBoard (any object with a
``selected_pod`` trait, ``"namespace/name"``) through the Eviction API, and shows either
"evicted" or the refusal with the budget's reason, beside ``cluster.explain`` for the pod.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets

from kitlib.client.raw import get_json
from kitlib.model.errors import NotFound
from kitlib.widgets.panels._common import Panel, error_html, ok_html, selected_pod

if TYPE_CHECKING:
    import traitlets

    from kitlib.client.cluster import Cluster
    from kitlib.client.drain import DrainEvent, DrainResult, EvictionResult

__all__ = ["EvictionPanel", "NodePanel"]

Obj = dict[str, Any]
#: Lines of drain log kept on screen.
LOG_LINES = 200


def _node_state(node: Obj) -> str:
    conditions = {c.get("type"): c.get("status")
                  for c in (node.get("status") or {}).get("conditions") or []}
    ready = "Ready" if conditions.get("Ready") == "True" else "NotReady"
    cordoned = ", cordoned" if (node.get("spec") or {}).get("unschedulable") else ""
    return f"{node['metadata']['name']}: {ready}{cordoned}"


class NodePanel(Panel):
    """Cordon, uncordon, drain (with progress), and fail or restore a node.

    Args:
        cluster: the ``Cluster`` handle.
        board: a PodBoard (any object with a ``selected_node`` trait): clicking a node there
            picks it here.

    Attributes:
        picker: the node Dropdown.
        node_state: the picked node's state (Ready or NotReady, cordoned).
        cordon_button, uncordon_button, drain_button: the maintenance actions.
        fail_button, restore_button: the embedded cluster's node faults.
        force, delete_emptydir_data: the drain's kubectl flags.
        progress: the drain's ``IntProgress`` (pods evicted of pods to evict).
        log_lines: the drain log, one line per event (shown in ``drain_log``).
    """

    def __init__(self, cluster: Cluster, *, board: traitlets.HasTraits | None = None) -> None:
        super().__init__(cluster, title="Nodes")
        self.picker = widgets.Dropdown(description="node", options=[])
        self.node_state = widgets.HTML()
        self.force = widgets.Checkbox(description="force (pods without a controller)",
                                      value=False, indent=False)
        self.delete_emptydir_data = widgets.Checkbox(description="delete emptyDir data",
                                                     value=False, indent=False)
        self.progress = widgets.IntProgress(description="drain", min=0, max=1, value=0)
        self.log_lines: list[str] = []
        self.drain_log = widgets.HTML()
        self.cordon_button = self._node_button("Cordon", self.cordon, "cordon")
        self.uncordon_button = self._node_button("Uncordon", self.uncordon, "uncordon")
        self.drain_button = self._node_button("Drain", self.drain, "drain", style="warning")
        self.fail_button = self._node_button("Fail node", self.fail, "fail", style="danger")
        self.restore_button = self._node_button("Restore node", self.restore, "restore")
        self._layout(self.picker, self.node_state,
                     widgets.HBox([self.cordon_button, self.uncordon_button,
                                   self.drain_button]),
                     widgets.HBox([self.force, self.delete_emptydir_data]),
                     self.progress, self.drain_log,
                     widgets.HBox([self.fail_button, self.restore_button]))
        self.run("list nodes", self.reload, read=True)
        self.picker.observe(lambda _: self.refresh(), names="value")
        if board is not None:
            board.observe(self._on_board_node, names="selected_node")

    def _node_button(self, description: str, handler: Any, what: str,
                     style: str = "") -> widgets.Button:
        embedded_only = what in ("fail", "restore")
        return self._button(description, handler, what=what, destructive=True,
                            embedded_only=embedded_only, style=style,
                            tooltip=f"{what} the picked node" + (
                                " (a simulated fault)" if embedded_only else ""))

    # -- reading -----------------------------------------------------------------------

    @property
    def node(self) -> str:
        """The picked node.

        Raises:
            ValueError: none is picked.
        """
        if not self.picker.value:
            raise ValueError("no node picked")
        return str(self.picker.value)

    def reload(self) -> None:
        """List the nodes again (the pick is kept when the node still exists)."""
        nodes = get_json(self.cluster.api_client, "/api/v1/nodes")["items"]
        names = sorted(str(n["metadata"]["name"]) for n in nodes)
        current = self.picker.value
        self.picker.options = names
        if current in names:
            self.picker.value = current
        self.refresh()

    def refresh(self) -> None:
        """Show the picked node's state (Ready, cordoned)."""
        if self.picker.value:
            self.run("read node", self._show_state, read=True)

    def _show_state(self) -> None:
        node = get_json(self.cluster.api_client, f"/api/v1/nodes/{self.node}")
        self.node_state.value = html.escape(_node_state(node))

    def _on_board_node(self, change: dict[str, Any]) -> None:
        name = change["new"]
        if name and name not in self.picker.options:
            self.run("list nodes", self.reload, read=True)
        if name in self.picker.options:
            self.picker.value = name

    # -- actions -----------------------------------------------------------------------

    def cordon(self) -> None:
        """Mark the picked node unschedulable."""
        self.cluster.cordon(self.node)
        self._done(f"{self.node}: cordoned")

    def uncordon(self) -> None:
        """Make the picked node schedulable again."""
        self.cluster.uncordon(self.node)
        self._done(f"{self.node}: uncordoned")

    def fail(self) -> None:
        """Take the picked node down (embedded cluster)."""
        self.cluster.fail_node(self.node)
        self._done(f"{self.node}: failed (its kubelet stopped)")

    def restore(self) -> None:
        """Bring the picked node back (embedded cluster)."""
        self.cluster.restore_node(self.node)
        self._done(f"{self.node}: restored")

    def drain(self) -> DrainResult:
        """Drain the picked node, showing each eviction as it happens."""
        node = self.node
        self.progress.value, self.progress.max = 0, 1
        self.progress.bar_style = ""
        self.log_lines = []
        result = self.cluster.drain(node, force=self.force.value,
                                    delete_emptydir_data=self.delete_emptydir_data.value,
                                    on_progress=self._on_drain_event)
        if result.completed:
            self.progress.value = self.progress.max
            self.progress.bar_style = "success"
            self._done(f"{node}: drained, {len(result.evicted)} pod(s) evicted in "
                       f"{result.duration:g} s, {len(result.refusals)} refusal(s)")
        else:
            self.progress.bar_style = "danger"
            self.status.value = error_html(f"{node}: drain incomplete: {result.reason}")
        return result

    def _on_drain_event(self, event: DrainEvent) -> None:
        if event.kind == "planned":  # the drain's own filters decide the bar's length
            self.progress.max = max(1, len(event.pods))
            self._log(f"draining {self.node}: {len(event.pods)} pod(s) to evict")
            return
        text = f"{event.time:8.1f} s  {event.kind:9} {event.pod or ''}"
        self._log(text + (f": {event.reason}" if event.reason else ""))
        if event.kind == "evicted":
            self.progress.value = min(self.progress.max, self.progress.value + 1)
            self.notify("drain progress")

    def _log(self, line: str) -> None:
        self.log_lines = [*self.log_lines, line][-LOG_LINES:]
        self.drain_log.value = ('<pre style="max-height:12em;overflow:auto;margin:0">'
                                + html.escape("\n".join(self.log_lines)) + "</pre>")

    def _done(self, text: str) -> None:
        self.say(text)
        self.refresh()


class EvictionPanel(Panel):
    """Evict the pod selected on a board; show the outcome, a refusal's reason, and why.

    Args:
        cluster: the ``Cluster`` handle.
        board: a PodBoard, or any ``traitlets.HasTraits`` with a ``selected_pod`` trait
            (``"namespace/name"``).

    Attributes:
        target: which pod is selected.
        evict_button: the action.
        result: ``evicted …`` or ``refused: <the budget's reason>``.
        explanation: ``cluster.explain("pod/…")`` for the pod, after an attempt.
        last: the last ``EvictionResult``.
    """

    def __init__(self, cluster: Cluster, *, board: traitlets.HasTraits) -> None:
        super().__init__(cluster, title="Evict the selected pod")
        self.board = board
        self.target = widgets.HTML()
        self.result = widgets.HTML()
        self.explanation = widgets.HTML()
        self.last: EvictionResult | None = None
        self.evict_button = self._button("Evict", self.evict, what="evict", destructive=True,
                                         style="danger",
                                         tooltip="evict through the Eviction API (budgets "
                                                 "decide)")
        self._layout(self.target, self.evict_button, self.result, self.explanation)
        board.observe(lambda _: self._show_target(), names="selected_pod")
        self._show_target()

    def _show_target(self) -> None:
        pod = str(getattr(self.board, "selected_pod", "") or "")
        self.target.value = (f"selected pod: <code>{html.escape(pod)}</code>" if pod
                             else "click a pod on the board to select it")

    def evict(self) -> EvictionResult:
        """Evict the selected pod and show the outcome (refusals with their reason).

        Raises:
            ValueError: no pod is selected.
        """
        namespace, name = selected_pod(str(getattr(self.board, "selected_pod", "") or ""))
        self.result.value, self.explanation.value = "", ""
        result = self.cluster.evict(name, namespace)
        self.last = result
        pod = f"{namespace}/{name}"
        if result.allowed:
            self.result.value = ok_html(f"evicted {pod}" + (
                f" ({result.reason})" if result.reason else ""))
        else:
            self.result.value = error_html(f"refused: {result.reason}")
        self.say(f"eviction of {pod}: {'allowed' if result.allowed else 'refused'}")
        self.explanation.value = self._explain(namespace, name)
        return result

    def _explain(self, namespace: str, name: str) -> str:
        try:
            return self.cluster.explain(f"pod/{name}", namespace)._repr_html_()
        except NotFound:
            return f"pod {html.escape(namespace)}/{html.escape(name)} is gone"
