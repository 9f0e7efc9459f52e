"""Which pods a SidecarSet upgrades next: pure functions, tested as tables.

Upstream ``pkg/controller/sidecarset/sidecarset_strategy.go`` (``GetNextUpgradePods``,
``calculateUpgradeCount``) and ``pkg/control/sidecarcontrol`` (``IsPodStateConsistent``):

* a pod is a candidate if it is not updated (its recorded hash differs from the
  SidecarSet's), is selected by ``updateStrategy.selector`` (when set) and is
  *upgradable*: its recorded hash-without-image equals the SidecarSet's, i.e. only
  images changed since its sidecars were injected. Pods whose other fields changed are
  returned as not upgradable and are never touched. A candidate with a sidecar
  container that is ready but not yet consistent (an earlier upgrade still in flight)
  waits for a later round;
* candidates are sorted as upstream: k8s ``ActivePods`` order (unassigned, then
  Pending < Unknown < Running, not ready < ready, ready for less time, more restarts,
  newer first), then ``priorityStrategy`` (``updatesort.sort_by_priority``), then
  ``scatterStrategy`` (``updatesort.sort_by_scatter``) whose terms with value ``*`` are
  first expanded to one term per value of that key found on the matched pods, in pod-name
  order, duplicates dropped (upstream ``parseUpdateScatterTerms``);
* ``partition`` (``CalculatePartitionReplicas`` over all matched pods: round up, a
  percent that rounds to every pod but is not ``100%`` leaves one, clamped) is the
  number of not-updated pods left alone: the last ones of that order;
* ``maxUnavailable`` (rounded up over all matched pods, default 1) bounds the pods
  being upgraded: updated pods that are not yet consistent or not ready use the
  budget; a not-ready candidate is upgraded without using it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kitlib.cluster.kruise.partition import partition_replicas
from kitlib.cluster.kruise.updatesort import sort_by_priority, sort_by_scatter
from kitlib.model.intstr import scaled_value

__all__ = [
    "PodState", "calculate_partition", "calculate_upgrade_count", "get_next_upgrade_pods",
    "normalize_image", "parse_scatter_terms", "sort_upgrade_order",
]


@dataclass(frozen=True)
class PodState:
    """What the upgrade decision needs to know about one matched pod."""

    name: str
    updated: bool = False
    ready: bool = True
    consistent: bool = True
    upgradable: bool = True
    #: A sidecar container is ready but not yet consistent: a previous upgrade is still
    #: in flight, so the pod waits (upstream ``IsSidecarSetUpgradable``'s ``consistent``).
    upgrading: bool = False
    selected: bool = True
    #: ActivePods sort key (smaller upgrades first); see ``active_order``.
    order: tuple[Any, ...] = ()
    #: The pod's labels (for ``priorityStrategy`` and ``scatterStrategy``).
    labels: Mapping[str, str] = field(default_factory=dict)


def calculate_partition(partition: Any, replicas: int) -> int:
    """Upstream ``CalculatePartitionReplicas`` (shared with CloneSet)."""
    return partition_replicas(partition, replicas)


def calculate_upgrade_count(strategy: dict[str, Any], pods: Sequence[PodState],
                            waiting: Sequence[PodState]) -> int:
    """How many of ``waiting`` (sorted candidates) to upgrade now."""
    total = len(pods)
    partition = calculate_partition(strategy.get("partition"), total)
    if len(waiting) - partition <= 0:
        return 0
    waiting = waiting[:len(waiting) - partition]
    raw = strategy.get("maxUnavailable")
    max_unavailable = 1 if raw is None else scaled_value(raw, total, round_up=True,
                                                         field="maxUnavailable")
    busy = sum(1 for p in pods if p.updated and not (p.consistent and p.ready))
    count = 0
    for pod in waiting:
        if not pod.ready:
            count += 1
            continue
        if busy >= max_unavailable:
            break
        busy += 1
        count += 1
    return count


def get_next_upgrade_pods(strategy: dict[str, Any],
                          pods: Sequence[PodState]) -> tuple[list[str], list[str]]:
    """``(pods to upgrade now, pods that cannot be upgraded in place)``, by name."""
    pods = sorted(pods, key=lambda p: p.name)
    waiting: list[int] = []
    not_upgradable: list[str] = []
    for i, pod in enumerate(pods):
        if pod.updated or not pod.selected:
            continue
        if not pod.upgradable:
            not_upgradable.append(pod.name)
        elif not pod.upgrading:
            waiting.append(i)
    order = [pods[i] for i in sort_upgrade_order(strategy, pods, waiting)]
    count = calculate_upgrade_count(strategy, pods, order)
    return [p.name for p in order[:count]], not_upgradable


def sort_upgrade_order(strategy: dict[str, Any], pods: Sequence[PodState],
                       waiting: list[int]) -> list[int]:
    """Upstream ``SortUpdateIndexes``: ActivePods order, then priority, then scatter."""
    order = sorted(waiting, key=lambda i: pods[i].order)
    shims = [{"metadata": {"labels": p.labels}} for p in pods]
    if strategy.get("priorityStrategy"):
        order = sort_by_priority(strategy["priorityStrategy"], shims, order)
    if strategy.get("scatterStrategy"):
        terms = parse_scatter_terms(strategy["scatterStrategy"], pods)
        order = sort_by_scatter(terms, shims, order)
    return order


def parse_scatter_terms(terms: Sequence[dict[str, Any]],
                        pods: Sequence[PodState]) -> list[dict[str, str]]:
    """Upstream ``parseUpdateScatterTerms``: ``{key, value: "*"}`` becomes one term per
    value of ``key`` on ``pods`` (in their order); a term already listed is not repeated."""
    out: list[dict[str, str]] = []
    seen: set[tuple[str, str]] = set()
    for term in terms:
        key, value = str(term.get("key", "")), str(term.get("value", ""))
        expanded = [value] if value != "*" else [p.labels[key] for p in pods if key in p.labels]
        for v in expanded:
            if (key, v) not in seen:
                seen.add((key, v))
                out.append({"key": key, "value": v})
    return out


def normalize_image(image: str) -> str:
    """An image reference as the runtime reports it (``nginx`` → ``docker.io/library/
    nginx:latest``), so a spec image and ``status.image`` can be compared."""
    if "@" not in image and ":" not in image.rsplit("/", 1)[-1]:
        image += ":latest"
    first = image.split("/", 1)[0]
    if "/" not in image:
        return "docker.io/library/" + image
    if "." not in first and ":" not in first and first != "localhost":
        return "docker.io/" + image
    return image


