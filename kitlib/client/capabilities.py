"""What a cluster can do for the kit, read once per handle, and what to do about the rest.

``capabilities(cluster)`` reads, through the Kubernetes API only (no RBAC APIs, no
SelfSubjectAccessReview):

* **embedded or real**: whether the ``sim.kitlib.io`` Clock answers (``Cluster.embedded``);
* the **server version** (``/version``);
* **discovery** (``/apis``, ``/api/v1``, ``/apis/<group>/<version>``): which OpenKruise
  kinds are served and in which versions, ``policy/v1`` PodDisruptionBudgets, the
  ``pods/eviction`` subresource, EndpointSlices and Endpoints;
* the **kruise-manager** Deployment in ``kruise-system``, where readable: its image tag
  (the OpenKruise version) and its ``--feature-gates``; Forbidden or absent means
  *unknown*, never an error. An embedded cluster started by ``kitlib.connect()`` knows
  the gates it was started with;
* **writes**: the handle's ``allow_writes``, and a best-effort probe of whether the
  credentials may write in the handle's namespace — a server-side dry-run create of a
  ConfigMap (never stored): 2xx yes, 403 no, anything else unknown.

The result is cached per handle; ``capabilities(cluster, refresh=True)`` reads again.
``Capabilities.missing()`` says, for each absent feature, what it means for the kit and
how to get it (OpenKruise: ``kitlib.client.errors.INSTALL_KRUISE``). ``require`` turns an
absence into ``MissingCapabilityError`` at the call that needs the feature, and
``preferred_workload_kind`` / ``fallback_note`` are the fallback the notebooks use
(a Deployment where CloneSet is not served, and what that loses).
"""

from __future__ import annotations

import dataclasses
import html
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kitlib.client.errors import INSTALL_KRUISE, MissingCapabilityError
from kitlib.client.ops import request_json
from kitlib.client.raw import get_json
from kitlib.model.errors import ApiError, Forbidden, NotFound

if TYPE_CHECKING:
    from kitlib.client.cluster import Cluster

__all__ = ["FEATURES", "Capabilities", "Feature", "Missing", "ServedKind", "capabilities",
           "fallback_note", "preferred_workload_kind", "require"]

KRUISE_NAMESPACE = "kruise-system"
KRUISE_MANAGER = "kruise-controller-manager"
#: Where feature gates are set on a real cluster (the OpenKruise chart's value).
SET_GATE = ("set it on kruise-manager: `helm upgrade kruise openkruise/kruise --reuse-values "
            "--set featureGates=\"{gate}=true\"` (embedded: kitlib.connect(feature_gates="
            "\"{gate}=true\") or `kitlib serve --feature-gates {gate}=true`)")
UPGRADE_KRUISE = ("upgrade OpenKruise (`helm upgrade kruise openkruise/kruise`) to a version "
                  "that serves it")
UPGRADE_KUBERNETES = "upgrade the cluster to a Kubernetes version that serves it (1.21 or later)"


@dataclass(frozen=True)
class Feature:
    """Something the kit uses: an API kind (``group``/``plural``) or a controller switch.

    ``meaning`` says in a sentence what its absence means for the kit; ``remedy`` how to
    get it. ``optional`` features are reported when served but never listed as missing.
    """

    name: str
    group: str
    plural: str
    meaning: str
    remedy: str
    version: str | None = None  #: a version the kit needs (None: any)
    kruise: bool = False
    optional: bool = False
    aliases: tuple[str, ...] = ()


def _kruise(name: str, group: str, plural: str, meaning: str, *aliases: str,
            optional: bool = False) -> Feature:
    return Feature(name, group, plural, meaning, UPGRADE_KRUISE, kruise=True, optional=optional,
                   aliases=aliases)


#: Every kind the kit looks for, OpenKruise first.
FEATURES: tuple[Feature, ...] = (
    _kruise("CloneSet", "apps.kruise.io", "clonesets",
            "no in-place updates, partition or maxSurge on one workload kind: notebooks fall "
            "back to Deployments, whose every update replaces the pods", "clonesets", "clone"),
    _kruise("AdvancedStatefulSet", "apps.kruise.io", "statefulsets",
            "stateful apps cannot be updated in place or several pods at a time",
            "Advanced StatefulSet", "asts", "statefulsets.apps.kruise.io"),
    _kruise("SidecarSet", "apps.kruise.io", "sidecarsets",
            "sidecars cannot be injected or upgraded in place across workloads", "sidecarsets"),
    _kruise("ContainerRecreateRequest", "apps.kruise.io", "containerrecreaterequests",
            "one container cannot be restarted in place (restart_container needs it)", "crr"),
    _kruise("ImagePullJob", "apps.kruise.io", "imagepulljobs",
            "images cannot be pre-pulled onto nodes before a rollout", "imagepulljobs"),
    _kruise("NodeImage", "apps.kruise.io", "nodeimages", "per-node pull state is not visible",
            "nodeimages", optional=True),
    _kruise("PodUnavailableBudget", "policy.kruise.io", "podunavailablebudgets",
            "in-place updates and deletions are not held back by an availability budget "
            "(a PodDisruptionBudget guards evictions only)", "pub"),
    _kruise("BroadcastJob", "apps.kruise.io", "broadcastjobs", "", "bcj", optional=True),
    _kruise("AdvancedDaemonSet", "apps.kruise.io", "daemonsets", "", "Advanced DaemonSet",
            optional=True),
    Feature("PodDisruptionBudget", "policy", "poddisruptionbudgets",
            "the example apps get no budget and drains are not held back by one",
            UPGRADE_KUBERNETES, version="v1", aliases=("pdb",)),
    Feature("Eviction", "", "pods/eviction",
            "evict and drain cannot go through the Eviction API, so no budget is honoured",
            UPGRADE_KUBERNETES, aliases=("pods/eviction",)),
    Feature("EndpointSlice", "discovery.k8s.io", "endpointslices",
            "serving capacity is read from Endpoints instead", UPGRADE_KUBERNETES,
            version="v1", optional=True, aliases=("endpointslices",)),
    Feature("Endpoints", "", "endpoints", "serving capacity cannot be measured",
            "the server must serve core v1 Endpoints"),
)

#: OpenKruise feature gates that change what the kit's operations do: default, meaning when off.
GATES: dict[str, tuple[bool, str]] = {
    "CloneSetPartitionRollback": (
        False, "raising a CloneSet's partition does not roll updated pods back"),
    "PodUnavailableBudgetUpdateGate": (
        False, "PodUnavailableBudgets do not hold back in-place updates (only deletions and "
               "evictions)"),
    "PreDownloadImageForInPlaceUpdate": (
        False, "CloneSets do not pre-pull a new image onto nodes before updating in place"),
}

#: What a fallback kind loses, by the kind it replaces.
FALLBACKS: dict[str, tuple[str, tuple[str, ...]]] = {
    "CloneSet": ("Deployment", (
        "in-place updates (every image change replaces the pod: new name, node and IP, cold "
        "caches, all containers restarted)",
        "partition (a rollout can only be staged with pause/resume)",
        "maxUnavailable rounding up (a Deployment rounds it down)",
        "PodUnavailableBudget protection and in-place container restarts")),
    "AdvancedStatefulSet": ("StatefulSet", (
        "in-place updates", "maxUnavailable (pods are updated one at a time)",
        "reserveOrdinals and unordered scale-in")),
    "PodUnavailableBudget": ("PodDisruptionBudget", (
        "protection against in-place updates and deletions (evictions only)",)),
}

_BY_NAME: dict[str, Feature] = {key.lower(): f for f in FEATURES for key in (f.name, *f.aliases)}


@dataclass(frozen=True)
class ServedKind:
    """A kind the server serves: its group, plural and the versions serving it."""

    name: str
    group: str
    plural: str
    versions: tuple[str, ...]

    @property
    def api_version(self) -> str:
        """The first (preferred) version serving it, as ``apiVersion``."""
        return f"{self.group}/{self.versions[0]}" if self.group else self.versions[0]


@dataclass(frozen=True)
class Missing:
    """An absent feature: what its absence means for the kit and how to get it."""

    feature: str
    meaning: str
    remedy: str

    def __str__(self) -> str:
        return f"{self.feature}: {self.meaning}. To get it: {self.remedy}."


@dataclass(frozen=True)
class Capabilities:
    """What one cluster offers the kit (see the module docstring); holds no credential."""

    server: str
    embedded: bool
    clock_mode: str
    server_version: str
    namespace: str
    #: Served kinds the kit knows, by feature name (``FEATURES``).
    kinds: Mapping[str, ServedKind]
    #: OpenKruise's version (kruise-manager's image tag), or None with ``kruise_manager_note``.
    kruise_manager_version: str | None
    kruise_manager_note: str
    #: OpenKruise feature gates (``GATES``), or None when they cannot be read.
    feature_gates: Mapping[str, bool] | None
    allow_writes: bool
    #: Whether a dry-run create in ``namespace`` was accepted (None: could not tell).
    server_accepts_writes: bool | None
    write_probe_note: str

    @property
    def kruise(self) -> bool:
        """Whether any OpenKruise kind is served."""
        return any(feature.kruise for feature in FEATURES if feature.name in self.kinds)

    def has(self, feature: str) -> bool:
        """Whether ``feature`` (a name of ``FEATURES``, an alias, a gate, ``"OpenKruise"``,
        ``"simulation"`` or ``"writes"``) is available; an unknown gate counts as available."""
        return not _check(self, feature)

    def missing(self) -> list[Missing]:
        """What the kit would use but this cluster lacks, each with meaning and remedy."""
        found: list[Missing] = []
        if not self.embedded:
            found.append(_SIMULATION)
        if not self.kruise:
            found.append(_no_kruise())
        found += [_missing_kind(f) for f in FEATURES
                  if not f.optional and f.name not in self.kinds and (self.kruise or not f.kruise)]
        if self.kruise and self.feature_gates is not None:
            found += [_missing_gate(gate) for gate in GATES if not self.feature_gates[gate]]
        if not self.allow_writes:
            found.append(_read_only())
        if self.server_accepts_writes is False:
            found.append(Missing("write permission", self.write_probe_note,
                                 f"ask for a Role allowing writes in namespace {self.namespace}"))
        return found

    def rows(self) -> list[tuple[str, str, str]]:
        """``(feature, status, detail)`` rows of ``report()``."""
        rows = [("cluster", "embedded" if self.embedded else "real",
                 f"{self.server}, Kubernetes {self.server_version}, clock {self.clock_mode}"),
                ("OpenKruise", "served" if self.kruise else "missing",
                 f"kruise-manager {self.kruise_manager_version}" if self.kruise_manager_version
                 else self.kruise_manager_note)]
        for feature in FEATURES:
            kind = self.kinds.get(feature.name)
            if kind is not None:
                rows.append((feature.name, "served", f"{kind.group or 'core'} "
                             f"{', '.join(kind.versions)}"))
            elif not feature.optional and (self.kruise or not feature.kruise):
                rows.append((feature.name, "missing", feature.meaning))
        if self.kruise:
            rows.append(("feature gates", "unknown" if self.feature_gates is None else "read",
                         _gates_text(self.feature_gates)))
        rows.append(("writes", "allowed" if self.allow_writes else "read-only",
                     f"namespace {self.namespace}; {self.write_probe_note}"))
        return rows

    def report(self) -> str:
        """A short text table of ``rows()``, then what is missing and how to get it."""
        rows = [("feature", "status", "detail"), *self.rows()]
        width = [max(len(row[i]) for row in rows) for i in range(2)]
        lines = [f"{a:<{width[0]}}  {b:<{width[1]}}  {c}" for a, b, c in rows]
        missing = self.missing()
        if missing:
            lines += ["", "missing:"] + [f"- {item}" for item in missing]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        cells = "".join(
            f"<tr><td>{html.escape(a)}</td><td>{html.escape(b)}</td><td>{html.escape(c)}</td>"
            "</tr>" for a, b, c in self.rows())
        missing = "".join(f"<li>{html.escape(str(item))}</li>" for item in self.missing())
        return ("<table><thead><tr><th>feature</th><th>status</th><th>detail</th></tr></thead>"
                f"<tbody>{cells}</tbody></table>"
                + (f"<p>Missing:</p><ul>{missing}</ul>" if missing else ""))


_SIMULATION = Missing(
    "simulation", "faults (fail_node, crash_container, flaky_image…) and simulated time exist "
    "only on an embedded cluster", "rehearse on an embedded twin of this cluster "
    "(kitlib.twin.from_cluster) or on kitlib.connect()")


def _no_kruise() -> Missing:
    return Missing("OpenKruise", "no CloneSet, Advanced StatefulSet, SidecarSet, "
                   "ContainerRecreateRequest, ImagePullJob or PodUnavailableBudget: in-place "
                   "updates and partitions are unavailable and notebooks fall back to "
                   "Deployments and PodDisruptionBudgets", INSTALL_KRUISE)


def _missing_kind(feature: Feature) -> Missing:
    served = f"{feature.group}/{feature.version}" if feature.version else feature.group or "v1"
    return Missing(f"{feature.name} ({served})", feature.meaning, feature.remedy)


def _missing_gate(gate: str) -> Missing:
    return Missing(f"feature gate {gate}", GATES[gate][1], SET_GATE.format(gate=gate))


def _read_only() -> Missing:
    return Missing("writes", "this handle is read-only: mutating operations raise "
                   "WritesNotAllowedError (dry_run=True still works)",
                   "connect with kitlib.connect(..., allow_writes=True) or set "
                   "cluster.allow_writes = True")


def _gates_text(gates: Mapping[str, bool] | None) -> str:
    if gates is None:
        return "kruise-manager's --feature-gates could not be read"
    return ", ".join(f"{name}={str(on).lower()}" for name, on in gates.items())


# -- reading ---------------------------------------------------------------------------------

_CACHE: weakref.WeakKeyDictionary[Cluster, Capabilities] = weakref.WeakKeyDictionary()


def capabilities(cluster: Cluster, *, refresh: bool = False) -> Capabilities:
    """What ``cluster`` offers the kit (cached per handle; ``refresh=True`` reads again).

    Args:
        cluster: the handle to inspect.
        refresh: read the cluster again instead of returning the cached answer.

    Returns:
        The ``Capabilities``; ``allow_writes`` always reflects the handle as it is now.
    """
    cached = None if refresh else _CACHE.get(cluster)
    if cached is None:
        cached = _CACHE[cluster] = _read(cluster)
    if cached.allow_writes != cluster.allow_writes:
        cached = dataclasses.replace(cached, allow_writes=cluster.allow_writes)
    return cached


def _read(cluster: Cluster) -> Capabilities:
    kinds = _served_kinds(cluster)
    kruise = any(f.kruise and f.name in kinds for f in FEATURES)
    version, note, gates = _kruise_manager(cluster, kruise=kruise)
    accepts, probe_note = _write_probe(cluster)
    return Capabilities(
        server=str(cluster.api_client.configuration.host), embedded=cluster.embedded,
        clock_mode=cluster.mode, server_version=_server_version(cluster),
        namespace=cluster.namespace, kinds=kinds, kruise_manager_version=version,
        kruise_manager_note=note, feature_gates=gates, allow_writes=cluster.allow_writes,
        server_accepts_writes=accepts, write_probe_note=probe_note)


def _server_version(cluster: Cluster) -> str:
    try:
        return str(get_json(cluster.api_client, "/version").get("gitVersion") or "unknown")
    except ApiError:
        return "unknown"


def _served_kinds(cluster: Cluster) -> dict[str, ServedKind]:
    """Features served, from one discovery pass over the groups the kit knows."""
    groups = {g["name"]: [v["version"] for v in g.get("versions", [])]
              for g in get_json(cluster.api_client, "/apis").get("groups", [])}
    groups[""] = ["v1"]
    served: dict[str, ServedKind] = {}
    for group in {f.group for f in FEATURES} & groups.keys():
        for version in groups[group]:
            for plural in _plurals(cluster, group, version):
                feature = next((f for f in FEATURES if (f.group, f.plural) == (group, plural)
                                and f.version in (None, version)), None)
                if feature is not None:
                    before = served.get(feature.name)
                    versions = (before.versions if before else ()) + (version,)
                    served[feature.name] = ServedKind(feature.name, group, plural, versions)
    return served


def _plurals(cluster: Cluster, group: str, version: str) -> list[str]:
    path = f"/apis/{group}/{version}" if group else f"/api/{version}"
    try:
        listing = get_json(cluster.api_client, path)
    except NotFound:
        return []
    return [str(entry["name"]) for entry in listing.get("resources", [])]


def _kruise_manager(cluster: Cluster, *, kruise: bool
                    ) -> tuple[str | None, str, dict[str, bool] | None]:
    """kruise-manager's version, a note when unknown, and its feature gates."""
    if not kruise:
        return None, "not installed", None
    if cluster.embedded:
        process = getattr(cluster, "_process", None)
        gates = getattr(process, "feature_gates", None)
        return None, "simulated by kitlib", None if gates is None else parse_gates(gates)
    path = f"/apis/apps/v1/namespaces/{KRUISE_NAMESPACE}/deployments/{KRUISE_MANAGER}"
    try:
        deployment = get_json(cluster.api_client, path)
    except Forbidden:
        return None, f"unknown (Forbidden: this user cannot read {KRUISE_NAMESPACE})", None
    except NotFound:
        return None, f"unknown (no {KRUISE_MANAGER} in {KRUISE_NAMESPACE})", None
    manager = _manager_container(deployment)
    image = str(manager.get("image", ""))
    tag = image.rpartition(":")[2] if ":" in image.rpartition("/")[2] else None
    args = [str(a) for a in manager.get("args", []) + manager.get("command", [])]
    gates = next((a.partition("=")[2] for a in args if a.startswith("--feature-gates=")), "")
    return tag, image or "unknown", parse_gates(gates)


def _manager_container(deployment: dict[str, Any]) -> dict[str, Any]:
    containers = deployment.get("spec", {}).get("template", {}).get("spec", {}).get(
        "containers", [])
    return next((c for c in containers if c.get("name") == "manager"),
                containers[0] if containers else {})


def parse_gates(text: str) -> dict[str, bool]:
    """The kit's ``GATES`` as set by ``--feature-gates`` text (upstream defaults otherwise)."""
    gates = {name: default for name, (default, _) in GATES.items()}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, _, value = item.partition("=")
        if name in gates:
            gates[name] = value.strip().lower() == "true"
    return gates


def _write_probe(cluster: Cluster) -> tuple[bool | None, str]:
    """A server-side dry-run create of a ConfigMap: may these credentials write here?"""
    body = {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"generateName": "kitlib-capabilities-probe-"}}
    try:
        request_json(cluster.api_client, "POST",
                     f"/api/v1/namespaces/{cluster.namespace}/configmaps", body=body,
                     query={"dryRun": "All"})
    except Forbidden:
        return False, "the server refuses writes here (a dry-run create was Forbidden)"
    except NotFound:
        return None, f"namespace {cluster.namespace} does not exist"
    except ApiError as exc:
        return None, f"could not tell whether the server accepts writes ({exc.code})"
    return True, "the server accepts writes here (dry-run create allowed)"


# -- asking for a feature --------------------------------------------------------------------

def _check(caps: Capabilities, feature: str) -> str:
    """Why ``feature`` is unavailable on ``caps`` ("" when it is available)."""
    key = feature.strip().lower().replace(" ", "")
    found = _BY_NAME.get(key) or _BY_NAME.get(feature.strip().lower())
    if found is not None:
        if found.name in caps.kinds:
            return ""
        if found.kruise and not caps.kruise:
            return f"{found.name} is not served. {_no_kruise()}"
        return str(_missing_kind(found))
    gate = next((g for g in GATES if g.lower() == key), None)
    if gate is not None:
        off = caps.feature_gates is not None and not caps.feature_gates[gate]
        return str(_missing_gate(gate)) if off else ""
    simple = {"openkruise": (caps.kruise, _no_kruise), "kruise": (caps.kruise, _no_kruise),
              "simulation": (caps.embedded, lambda: _SIMULATION),
              "embedded": (caps.embedded, lambda: _SIMULATION),
              "writes": (caps.allow_writes, _read_only)}
    if key in simple:
        present, missing = simple[key]
        return "" if present else str(missing())
    known = ", ".join([f.name for f in FEATURES] + list(GATES) + ["OpenKruise", "simulation",
                                                                   "writes"])
    raise ValueError(f"unknown feature {feature!r}; known: {known}")


def require(cluster: Cluster, feature: str) -> None:
    """Raise ``MissingCapabilityError`` unless ``cluster`` has ``feature``.

    Args:
        cluster: the handle.
        feature: a kind of ``FEATURES`` or an alias (``"CloneSet"``, ``"pdb"``,
            ``"Advanced StatefulSet"``), a feature gate of ``GATES`` (unknown counts as on),
            ``"OpenKruise"``, ``"simulation"`` or ``"writes"``.

    Raises:
        MissingCapabilityError: the feature is absent; the message says what that means
            and how to get it.
        ValueError: ``feature`` is not a name the kit knows.
    """
    reason = _check(capabilities(cluster), feature)
    if reason:
        raise MissingCapabilityError(feature, reason)


def preferred_workload_kind(cluster: Cluster) -> str:
    """``"CloneSet"`` where the cluster serves it, else ``"Deployment"`` (the fallback)."""
    return "CloneSet" if "CloneSet" in capabilities(cluster).kinds else "Deployment"


def fallback_note(cluster: Cluster, kind: str = "CloneSet") -> str:
    """What using ``kind``'s fallback on ``cluster`` loses; ``""`` when ``kind`` is served.

    Args:
        cluster: the handle.
        kind: ``"CloneSet"``, ``"AdvancedStatefulSet"`` or ``"PodUnavailableBudget"``.

    Raises:
        ValueError: ``kind`` has no fallback.
    """
    feature = _BY_NAME.get(kind.strip().lower())
    if feature is None or feature.name not in FALLBACKS:
        raise ValueError(f"no fallback is known for {kind!r}; known: {', '.join(FALLBACKS)}")
    if feature.name in capabilities(cluster).kinds:
        return ""
    fallback, lost = FALLBACKS[feature.name]
    return (f"This cluster does not serve {feature.name}, so a {fallback} is used instead. "
            f"Lost: {'; '.join(lost)}. To get {feature.name}: {INSTALL_KRUISE}.")
