"""The OpenKruise kinds the embedded cluster serves, and its feature gates.

Same API groups, kinds, plurals, short names, subresources and printer columns
as OpenKruise's CRDs, so the same YAML and the same ``kubectl get`` work on the
embedded cluster and on a real cluster with OpenKruise installed. Custom kinds
answer strategic merge patches with 415 and need a resourceVersion on update,
as CRs do.

``KruiseSettings.enabled=False`` (``kitlib serve --no-kruise``) leaves them out:
the cluster then behaves like a plain Kubernetes cluster without OpenKruise.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from kitlib.model.registry import PrinterColumn, ResourceType, ScaleSpec, Subresource

__all__ = [
    "KRUISE_KINDS",
    "FeatureGates",
    "KruiseSettings",
    "kruise_kinds",
    "parse_feature_gates",
]

_STATUS = Subresource("status")
_SCALE = Subresource("scale", group="autoscaling", version="v1", kind="Scale")
_CR_SCALE = ScaleSpec(".spec.replicas", ".status.replicas", ".status.labelSelector")
_AGE = PrinterColumn("Age", ".metadata.creationTimestamp", "date")


def _cr(group: str, version: str, kind: str, plural: str, namespaced: bool, *,
        short: tuple[str, ...] = (), scale: bool = False,
        columns: tuple[PrinterColumn, ...] = ()) -> ResourceType:
    return ResourceType(
        group, version, kind, plural, namespaced, kind.lower(), short, ("all",) if scale else (),
        subresources=(_STATUS, _SCALE) if scale else (_STATUS,), strategic_merge=False,
        unconditional_update=False, printer_columns=columns, scale=_CR_SCALE if scale else None)


CLONESET = _cr("apps.kruise.io", "v1alpha1", "CloneSet", "clonesets", True, short=("clone",),
               scale=True, columns=(
                   PrinterColumn("DESIRED", ".spec.replicas", "integer"),
                   PrinterColumn("UPDATED", ".status.updatedReplicas", "integer"),
                   PrinterColumn("UPDATED_READY", ".status.updatedReadyReplicas", "integer"),
                   PrinterColumn("READY", ".status.readyReplicas", "integer"),
                   PrinterColumn("TOTAL", ".status.replicas", "integer"), _AGE,
                   PrinterColumn("CONTAINERS", ".spec.template.spec.containers[*].name",
                                 priority=1),
                   PrinterColumn("IMAGES", ".spec.template.spec.containers[*].image",
                                 priority=1),
                   PrinterColumn("SELECTOR", ".status.labelSelector", priority=1)))
SIDECARSET = _cr("apps.kruise.io", "v1alpha1", "SidecarSet", "sidecarsets", False, columns=(
    PrinterColumn("MATCHED", ".status.matchedPods", "integer"),
    PrinterColumn("UPDATED", ".status.updatedPods", "integer"),
    PrinterColumn("READY", ".status.readyPods", "integer"), _AGE))
IMAGEPULLJOB = _cr("apps.kruise.io", "v1alpha1", "ImagePullJob", "imagepulljobs", True,
                   columns=(PrinterColumn("TOTAL", ".status.desired", "integer"),
                            PrinterColumn("ACTIVE", ".status.active", "integer"),
                            PrinterColumn("SUCCEED", ".status.succeeded", "integer"),
                            PrinterColumn("FAILED", ".status.failed", "integer"), _AGE,
                            PrinterColumn("MESSAGE", ".status.message")))
NODEIMAGE = _cr("apps.kruise.io", "v1alpha1", "NodeImage", "nodeimages", False, columns=(
    PrinterColumn("DESIRED", ".status.desired", "integer"),
    PrinterColumn("PULLING", ".status.pulling", "integer"),
    PrinterColumn("SUCCEED", ".status.succeeded", "integer"),
    PrinterColumn("FAILED", ".status.failed", "integer"), _AGE))
CONTAINER_RECREATE_REQUEST = _cr(
    "apps.kruise.io", "v1alpha1", "ContainerRecreateRequest", "containerrecreaterequests", True,
    short=("crr",), columns=(PrinterColumn("PHASE", ".status.phase"),
                             PrinterColumn("POD", ".spec.podName"),
                             PrinterColumn("NODE", ".metadata.labels.crr\\.apps\\.kruise\\.io/node-name"),
                             _AGE))
ADVANCED_STATEFULSET = _cr(
    "apps.kruise.io", "v1beta1", "StatefulSet", "statefulsets", True, short=("asts",), scale=True,
    columns=(PrinterColumn("DESIRED", ".spec.replicas", "integer"),
             PrinterColumn("CURRENT", ".status.replicas", "integer"),
             PrinterColumn("UPDATED", ".status.updatedReplicas", "integer"),
             PrinterColumn("READY", ".status.readyReplicas", "integer"), _AGE))
POD_UNAVAILABLE_BUDGET = _cr(
    "policy.kruise.io", "v1alpha1", "PodUnavailableBudget", "podunavailablebudgets", True,
    short=("pub",), columns=(PrinterColumn("ALLOWED", ".status.unavailableAllowed", "integer"),
                             PrinterColumn("CURRENT", ".status.currentAvailable", "integer"),
                             PrinterColumn("DESIRED", ".status.desiredAvailable", "integer"),
                             PrinterColumn("TOTAL", ".status.totalReplicas", "integer"), _AGE))

KRUISE_KINDS: tuple[ResourceType, ...] = (
    CLONESET, SIDECARSET, IMAGEPULLJOB, NODEIMAGE, CONTAINER_RECREATE_REQUEST,
    ADVANCED_STATEFULSET, POD_UNAVAILABLE_BUDGET)


def kruise_kinds() -> tuple[ResourceType, ...]:
    return KRUISE_KINDS


@dataclass(frozen=True)
class FeatureGates:
    """OpenKruise feature gates that change behaviour, with upstream's defaults."""

    CloneSetPartitionRollback: bool = False
    CloneSetShortHash: bool = False
    PreparingUpdateAsUpdate: bool = False
    PodUnavailableBudgetDeleteGate: bool = True
    PodUnavailableBudgetUpdateGate: bool = False
    InPlaceUpdateEnvFromMetadata: bool = True
    InPlaceWorkloadVerticalScaling: bool = False
    PreDownloadImageForInPlaceUpdate: bool = False
    KruisePodReadinessGate: bool = False


def parse_feature_gates(text: str, base: FeatureGates | None = None) -> FeatureGates:
    """``"CloneSetPartitionRollback=true,PodUnavailableBudgetUpdateGate=true"`` (the
    kruise-manager ``--feature-gates`` syntax) applied over ``base``."""
    gates = dataclasses.asdict(base or FeatureGates())
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, _, value = item.partition("=")
        if name not in gates:
            raise ValueError(f"unknown feature gate {name!r}; known: {', '.join(sorted(gates))}")
        if value.lower() not in ("true", "false"):
            raise ValueError(f"feature gate {name} needs =true or =false, got {item!r}")
        gates[name] = value.lower() == "true"
    return FeatureGates(**gates)


@dataclass(frozen=True)
class KruiseSettings:
    #: Serve the OpenKruise kinds and run their controllers.
    enabled: bool = True
    gates: FeatureGates = field(default_factory=FeatureGates)
