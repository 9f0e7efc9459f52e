"""Ready-made example apps: the multi-container pod the mission is about, as manifests.

``example_app`` returns plain manifests (dicts) for one app: a workload whose pods hold
three containers built by different teams —

* ``app``: the business container (``nginx:1.25``, port 80, a readiness probe on ``/``);
* ``agent``: an ops agent (``busybox:1.36`` running ``sleep infinity``, as a log shipper
  would idle);
* ``mesh-proxy``: a service-mesh sidecar (``nginxinc/nginx-unprivileged:1.25``, which
  runs without configuration on port 8080) —

each with resource requests, plus a Service selecting the pods and a PodDisruptionBudget
(``maxUnavailable: 10%`` by default). The images are real, so the same manifests run on a
real cluster; rolling ``app`` from ``nginx:1.25`` to ``nginx:1.26`` is the canonical
in-place update. On the embedded cluster every image is ``KubeletSettings.default_image_size``
(100 MB) unless an ``images.sim.kitlib.io`` object says otherwise, and tags of one
repository share a 70 % base layer, so that update pulls 30 MB.

Simulation knobs (``ready_after_seconds``, ``sim``) go in as pod-template annotations
(``sim.kitlib.io/app.ready-after-seconds``): the embedded cluster's kubelets act on them,
a real cluster ignores them.

``kind="auto"`` picks a CloneSet where the cluster serves OpenKruise's CloneSet and a
Deployment where it does not (``Cluster.deploy_example`` defaults to it).
``example_sidecarset`` is a SidecarSet that injects a sidecar (a mesh proxy, a log agent)
into every pod a selector matches and upgrades it in place.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kitlib.client.ops import ApplyResult, apply, discover
from kitlib.model.errors import NotFound

if TYPE_CHECKING:
    from kitlib.client.cluster import Cluster

__all__ = ["CONTAINERS", "DEFAULT_IMAGES", "deploy_example", "example_app",
           "example_sidecarset"]

#: Role → image of the example app's containers.
DEFAULT_IMAGES = {"app": "nginx:1.25", "agent": "busybox:1.36",
                  "sidecar": "nginxinc/nginx-unprivileged:1.25"}
#: Role → container name.
CONTAINERS = {"app": "app", "agent": "agent", "sidecar": "mesh-proxy"}
STRATEGIES = {"CloneSet": ("InPlaceIfPossible", "InPlaceOnly", "ReCreate"),
              "Deployment": ("RollingUpdate", "Recreate")}
SIM = "sim.kitlib.io"


def example_app(name: str = "shop", *, replicas: int = 6, kind: str = "CloneSet",
                images: dict[str, str] | None = None, strategy: str | None = None,
                max_unavailable: int | str | None = None,
                pdb_max_unavailable: int | str | None = "10%", namespace: str | None = None,
                ready_after_seconds: float | None = None, labels: dict[str, str] | None = None,
                sim: dict[str, str | float] | None = None,
                cluster: Cluster | None = None) -> list[dict[str, Any]]:
    """Manifests of the example app: the workload, a Service and a PDB (module docstring).

    Args:
        name: Name of every object and the ``app`` label of the pods.
        replicas: Pods.
        kind: ``"CloneSet"``, ``"Deployment"`` or ``"auto"`` (needs ``cluster``).
        images: Role (``app``, ``agent``, ``sidecar``) → image, overriding the defaults.
        strategy: CloneSet ``InPlaceIfPossible`` (default), ``InPlaceOnly``, ``ReCreate``;
            Deployment ``RollingUpdate`` (default), ``Recreate``.
        max_unavailable: The update's ``maxUnavailable`` (default: the kind's own).
        pdb_max_unavailable: The PDB's ``maxUnavailable``; None: no PDB.
        namespace: Set on every object (default: none, i.e. where they are applied).
        ready_after_seconds: Simulated seconds the app container needs to become ready.
        labels: Extra labels on every object and pod (not part of the selector).
        sim: More simulation knobs, ``knob`` or ``container.knob`` → value, e.g.
            ``{"stop-seconds": 20}`` (docs/simulation.md), as ``sim.kitlib.io/`` annotations.
        cluster: Needed only for ``kind="auto"``.

    Returns:
        ``[workload, service, pdb]`` (no PDB when ``pdb_max_unavailable`` is None).

    Raises:
        ValueError: An unknown kind, role or strategy for the kind.
    """
    kind = _kind(kind, cluster)
    strategy = strategy or STRATEGIES[kind][0]
    if strategy not in STRATEGIES[kind]:
        raise ValueError(f'a {kind} has no strategy "{strategy}"; use one of '
                         + ", ".join(STRATEGIES[kind]))
    selector = {"app": name}
    pod_labels = {**selector, **(labels or {})}
    meta = _meta(name, namespace, pod_labels)
    workload: dict[str, Any] = {"metadata": meta, "spec": {
        "replicas": replicas, "selector": {"matchLabels": selector},
        "template": _template(pod_labels, images or {}, _knobs(ready_after_seconds, sim))}}
    if kind == "CloneSet":
        workload["apiVersion"], workload["kind"] = "apps.kruise.io/v1alpha1", "CloneSet"
        workload["spec"]["updateStrategy"] = _without_none(
            type=strategy, maxUnavailable=max_unavailable)
    else:
        workload["apiVersion"], workload["kind"] = "apps/v1", "Deployment"
        rolling = _without_none(maxUnavailable=max_unavailable)
        if strategy == "Recreate" and rolling:
            raise ValueError("a Recreate Deployment has no maxUnavailable")
        workload["spec"]["strategy"] = _without_none(type=strategy, rollingUpdate=rolling or None)
    manifests = [workload, _service(_meta(name, namespace, pod_labels), selector)]
    if pdb_max_unavailable is not None:
        manifests.append({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
                          "metadata": _meta(name, namespace, pod_labels), "spec": {
                              "maxUnavailable": pdb_max_unavailable,
                              "selector": {"matchLabels": selector}}})
    return manifests


def deploy_example(cluster: Cluster, name: str = "shop", *, kind: str = "auto",
                   dry_run: bool = False, **options: Any) -> list[ApplyResult]:
    """``cluster.apply(example_app(name, kind=kind, cluster=cluster, **options))``."""
    return apply(cluster, example_app(name, kind=kind, cluster=cluster, **options),
                 dry_run=dry_run)


def example_sidecarset(name: str = "mesh", *, selector: dict[str, str],
                       image: str = DEFAULT_IMAGES["sidecar"],
                       containers: list[dict[str, Any]] | None = None,
                       max_unavailable: int | str = 1, namespace: str | None = None,
                       labels: dict[str, str] | None = None) -> dict[str, Any]:
    """A SidecarSet injecting a sidecar into every new pod ``selector`` matches.

    By default one container named ``name`` running ``image`` (a mesh proxy), injected
    before the app's containers and upgraded in place (``ColdUpgrade``) when its image
    changes, ``max_unavailable`` pods at a time. For a log agent instead::

        example_sidecarset("logging", selector={"app": "shop"}, containers=[
            {"name": "log-agent", "image": "busybox:1.36", "command": ["sleep", "infinity"]}])

    Args:
        name: The SidecarSet's name (cluster-scoped).
        selector: Pod labels (``matchLabels``) of the pods to inject.
        image: The default container's image.
        containers: Sidecar containers, replacing the default one.
        max_unavailable: Pods upgraded at once.
        namespace: Inject only pods of this namespace (v1alpha1 ``spec.namespace``).
        labels: Labels of the SidecarSet.

    Returns:
        The SidecarSet manifest.
    """
    sidecars = containers if containers is not None else [{
        "name": name, "image": image, "ports": [{"name": "proxy", "containerPort": 8080}],
        "resources": {"requests": {"cpu": "50m", "memory": "32Mi"}},
        "podInjectPolicy": "BeforeAppContainer",
        "upgradeStrategy": {"upgradeType": "ColdUpgrade"}}]
    metadata: dict[str, Any] = {"name": name}
    if labels:
        metadata["labels"] = dict(labels)
    return {"apiVersion": "apps.kruise.io/v1alpha1", "kind": "SidecarSet", "metadata": metadata,
            "spec": _without_none(selector={"matchLabels": dict(selector)}, namespace=namespace,
                                  containers=sidecars,
                                  updateStrategy={"type": "RollingUpdate",
                                                  "maxUnavailable": max_unavailable})}


def _kind(kind: str, cluster: Cluster | None) -> str:
    if kind == "auto":
        if cluster is None:
            raise ValueError('kind="auto" asks the cluster whether it serves CloneSets: pass '
                             "cluster=…")
        try:
            discover(cluster, "apps.kruise.io/v1alpha1", "CloneSet")
        except NotFound:
            return "Deployment"
        return "CloneSet"
    if kind not in STRATEGIES:
        raise ValueError(f'example_app makes a CloneSet, a Deployment or picks one ("auto"), '
                         f'not a "{kind}"')
    return kind


def _without_none(**fields: Any) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if v is not None}


def _meta(name: str, namespace: str | None, labels: dict[str, str]) -> dict[str, Any]:
    return _without_none(name=name, namespace=namespace, labels=dict(labels))


def _knobs(ready_after_seconds: float | None,
           sim: dict[str, str | float] | None) -> dict[str, str]:
    """The ``sim.kitlib.io/`` pod annotations for these knobs."""
    knobs = dict(sim or {})
    if ready_after_seconds is not None:
        knobs[f"{CONTAINERS['app']}.ready-after-seconds"] = ready_after_seconds
    return {f"{SIM}/{k}": v if isinstance(v, str) else f"{v:g}" for k, v in knobs.items()}


def _template(labels: dict[str, str], images: dict[str, str],
              annotations: dict[str, str]) -> dict[str, Any]:
    unknown = set(images) - set(DEFAULT_IMAGES)
    if unknown:
        raise ValueError(f"images has unknown roles {sorted(unknown)}; the roles are "
                         + ", ".join(DEFAULT_IMAGES))
    image = {**DEFAULT_IMAGES, **images}
    metadata: dict[str, Any] = {"labels": dict(labels)}
    if annotations:
        metadata["annotations"] = annotations
    return {"metadata": metadata, "spec": {"containers": [
        {"name": CONTAINERS["app"], "image": image["app"],
         "ports": [{"name": "http", "containerPort": 80}],
         "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}},
         "readinessProbe": {"httpGet": {"path": "/", "port": "http"}, "periodSeconds": 5}},
        {"name": CONTAINERS["agent"], "image": image["agent"],
         "command": ["sleep", "infinity"],
         "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}}},
        {"name": CONTAINERS["sidecar"], "image": image["sidecar"],
         "ports": [{"name": "mesh", "containerPort": 8080}],
         "resources": {"requests": {"cpu": "50m", "memory": "32Mi"}}},
    ]}}


def _service(meta: dict[str, Any], selector: dict[str, str]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service", "metadata": meta, "spec": {
        "selector": dict(selector),
        "ports": [{"name": "http", "port": 80, "targetPort": "http"}]}}
