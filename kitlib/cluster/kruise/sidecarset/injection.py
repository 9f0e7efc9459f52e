"""Sidecar injection at pod CREATE (upstream ``pkg/webhook/pod/mutating/sidecarset.go``).

For every SidecarSet (by name) that is not ``injectionStrategy.paused`` and whose
``namespace`` / ``namespaceSelector`` and ``selector`` match the new pod:

1. ``initContainers`` (with ``IS_INJECTED=true`` and their transferred env) are
   appended after the pod's own, sorted by name;
2. containers: ``BeforeAppContainer`` ones are put before the app containers (in
   SidecarSet order), ``AfterAppContainer`` ones after; a pod container of the same
   name is replaced where it stands. Each gets ``IS_INJECTED=true``, its ``transferEnv``
   copied from the app container, and, with ``shareVolumePolicy: enabled``, the app
   containers' volume mounts;
3. the SidecarSet volumes its sidecars mount, and its ``imagePullSecrets``, are added
   when the pod has none of that name;
4. ``patchPodMetadata`` annotations (``Retain``, ``Overwrite``, ``MergePatchJson``);
5. annotations ``kruise.io/sidecarset-hash``, ``…-hash-without-image`` (JSON maps per
   SidecarSet) and ``kruise.io/sidecarset-injected-list``.

Only CREATE injects: a pod that existed before a SidecarSet never gets its sidecars.
Pods in ``kube-system`` and ``kube-public`` are left alone, as upstream. A
``HotUpgrade`` container ``X`` is injected as ``X-1`` (working, real image) and ``X-2``
(``hotUpgradeEmptyImage``) with the working-container and version annotations
(``hotupgrade.hot_upgrade_containers``).
"""

from __future__ import annotations

from typing import Any

import orjson

from kitlib.cluster.admission import default_pod_spec, pod_spec_errors
from kitlib.cluster.context import ClusterContext
from kitlib.cluster.kruise.sidecarset.admission import SIDECARSETS
from kitlib.cluster.kruise.sidecarset.hashes import (
    HASH,
    HASH_WITHOUT_IMAGE,
    INJECTED_LIST,
    dumps,
    hash_of,
    hash_without_image_of,
    pod_hash_map,
    upgrade_spec,
)
from kitlib.cluster.kruise.sidecarset.hotupgrade import (
    WORKING,
    hot_upgrade_containers,
    is_hot,
    working_map,
)
from kitlib.model.objects import format_time
from kitlib.model.registry import ResourceType
from kitlib.model.selectors import LabelSelector

__all__ = ["SidecarInjector", "matches_pod", "sidecar_container"]

Obj = dict[str, Any]
_SKIP_NAMESPACES = ("kube-system", "kube-public")
_EXTRAS = ("podInjectPolicy", "upgradeStrategy", "shareVolumePolicy", "transferEnv")
_INJECTED_ENV = {"name": "IS_INJECTED", "value": "true"}


class SidecarInjector:
    """The pod mutating webhook's SidecarSet part, for ``store.add_admission("pods", …)``."""

    def __init__(self, ctx: ClusterContext) -> None:
        self.ctx = ctx
        self.store = ctx.store

    def __call__(self, op: str, rt: ResourceType, obj: Obj, old: Obj | None) -> Obj:
        if op != "CREATE" or obj["metadata"].get("namespace") in _SKIP_NAMESPACES:
            return obj
        matched = [ss for ss in self._sidecarsets() if self.matches(ss, obj)]
        if matched:
            inject(obj, matched, format_time(self.ctx.now))
            # the API server validates the pod after the mutating webhooks (a HotUpgrade
            # sidecar without hotUpgradeEmptyImage leaves X-2 with no image)
            problems = pod_spec_errors(obj.get("spec"), "spec")
            if problems:
                raise rt.invalid(obj["metadata"].get("name") or "", problems)
        return obj

    def _sidecarsets(self) -> list[Obj]:
        return sorted(self.store.iter_objects(SIDECARSETS), key=lambda s: s["metadata"]["name"])

    def matches(self, ss: Obj, pod: Obj) -> bool:
        spec = ss.get("spec") or {}
        if (spec.get("injectionStrategy") or {}).get("paused"):
            return False
        return matches_pod(ss, pod, self._namespace_labels(pod["metadata"].get("namespace", "")))

    def _namespace_labels(self, namespace: str) -> dict[str, str]:
        ns = self.store.peek("namespaces", "", namespace)
        return dict((ns or {}).get("metadata", {}).get("labels") or {})


def matches_pod(ss: Obj, pod: Obj, namespace_labels: dict[str, str]) -> bool:
    """Upstream ``PodMatchedSidecarSet``: namespace, namespaceSelector, then selector."""
    spec = ss.get("spec") or {}
    namespace = pod["metadata"].get("namespace", "")
    if spec.get("namespace") and spec["namespace"] != namespace:
        return False
    if spec.get("namespaceSelector") is not None:
        labels = {**namespace_labels, "kubernetes.io/metadata.name": namespace}
        if not LabelSelector.from_object(spec["namespaceSelector"]).matches(labels):
            return False
    selector = spec.get("selector")
    if not selector:
        return False
    return LabelSelector.from_object(selector).matches(pod["metadata"].get("labels") or {})


def inject(pod: Obj, sidecarsets: list[Obj], now: str) -> None:
    pod_spec = pod.setdefault("spec", {})
    app = list(pod_spec.get("containers") or [])
    hashes, without = pod_hash_map(pod, HASH), pod_hash_map(pod, HASH_WITHOUT_IMAGE)
    init: list[Obj] = []
    before: list[Obj] = []
    after: list[Obj] = []
    hot_annotations: dict[str, str] = {}
    working = working_map(pod)
    for ss in sidecarsets:
        spec, name = ss.get("spec") or {}, ss["metadata"]["name"]
        for c in spec.get("initContainers") or ():
            init.append(sidecar_container(c, pod, app))
        _add_named(pod_spec, "imagePullSecrets", spec.get("imagePullSecrets") or ())
        volumes = {v.get("name"): v for v in spec.get("volumes") or ()}
        for c in spec.get("containers") or ():
            built = sidecar_container(c, pod, app)
            _add_named(pod_spec, "volumes", [volumes[m["name"]] for m in c.get("volumeMounts")
                                             or () if m.get("name") in volumes])
            for one in _hot_pair(c, built, hot_annotations, working):
                _place(app, before, after, one, c.get("podInjectPolicy"))
        sidecars = [c["name"] for c in spec.get("containers") or ()]
        revision = (ss.get("status") or {}).get("latestRevision", "")
        hashes[name] = upgrade_spec(name, hash_of(ss), sidecars, now, revision)
        without[name] = upgrade_spec(name, hash_without_image_of(ss), sidecars, now, revision)
        _patch_metadata(pod, spec.get("patchPodMetadata") or ())
    pod_spec["initContainers"] = [*(pod_spec.get("initContainers") or ()),
                                  *sorted(init, key=lambda c: c["name"])]
    if not pod_spec["initContainers"]:
        del pod_spec["initContainers"]
    pod_spec["containers"] = [*before, *app, *after]
    default_pod_spec(pod_spec)  # the built-in defaulting ran before this webhook
    annotations = pod["metadata"].setdefault("annotations", {})
    annotations[HASH], annotations[HASH_WITHOUT_IMAGE] = dumps(hashes), dumps(without)
    annotations[INJECTED_LIST] = ",".join(s["metadata"]["name"] for s in sidecarsets)
    if working:
        annotations.update(hot_annotations)
        annotations[WORKING] = dumps(working)


def _hot_pair(c: Obj, built: Obj, annotations: dict[str, str],
              working: dict[str, str]) -> list[Obj]:
    """``[built]``, or for a HotUpgrade sidecar ``[X-1, X-2]`` (recording their version
    annotations and ``X-1`` as the working one)."""
    if not is_hot(c):
        return [built]
    pair, versions = hot_upgrade_containers(built, c)
    annotations.update(versions)
    working[c["name"]] = pair[0]["name"]
    return pair


def _place(app: list[Obj], before: list[Obj], after: list[Obj], built: Obj,
           policy: str | None) -> None:
    for i, existing in enumerate(app):
        if existing.get("name") == built["name"]:
            app[i] = built
            return
    (after if policy == "AfterAppContainer" else before).append(built)


def sidecar_container(c: Obj, pod: Obj, app: list[Obj]) -> Obj:
    """The container injected for SidecarSet container ``c`` into ``pod``."""
    out = {k: orjson.loads(orjson.dumps(v)) for k, v in c.items() if k not in _EXTRAS}
    if (c.get("shareVolumePolicy") or {}).get("type") == "enabled":
        out["volumeMounts"] = _merge_mounts(out.get("volumeMounts") or [], app)
    env = [*(out.get("env") or []), dict(_INJECTED_ENV)]
    names = {e.get("name") for e in env}
    for e in _transfer_env(c, pod, app):
        if e.get("name") not in names:
            env.append(e)
            names.add(e.get("name"))
    out["env"] = env
    return out


def _merge_mounts(own: list[Obj], app: list[Obj]) -> list[Obj]:
    paths = {m.get("mountPath") for m in own}
    out = list(own)
    for container in app:
        for m in container.get("volumeMounts") or ():
            if m.get("mountPath") in paths or \
                    m.get("mountPath") == "/var/run/secrets/kubernetes.io/serviceaccount":
                continue
            paths.add(m.get("mountPath"))
            out.append(dict(m))
    return out


def _transfer_env(c: Obj, pod: Obj, app: list[Obj]) -> list[Obj]:
    out: list[Obj] = []
    by_name = {a.get("name"): a for a in app}
    for rule in c.get("transferEnv") or ():
        source = rule.get("sourceContainerName") or _source_from_field(rule, pod)
        env = {e.get("name"): e for e in (by_name.get(source) or {}).get("env") or ()}
        wanted = [rule["envName"]] if rule.get("envName") else list(rule.get("envNames") or ())
        out += [dict(env[n]) for n in wanted if n in env]
    return out


def _source_from_field(rule: Obj, pod: Obj) -> str:
    path = (((rule.get("sourceContainerNameFrom") or {}).get("fieldRef") or {})
            .get("fieldPath") or "")
    for prefix, field in (("metadata.labels['", "labels"), ("metadata.annotations['",
                                                            "annotations")):
        if path.startswith(prefix) and path.endswith("']"):
            return str((pod["metadata"].get(field) or {}).get(path[len(prefix):-2], ""))
    return str(pod["metadata"].get("name", "")) if path == "metadata.name" else ""


def _add_named(pod_spec: Obj, field: str, items: Any) -> None:
    present = {i.get("name") for i in pod_spec.get(field) or ()}
    added = []
    for item in items:
        if item.get("name") not in present:
            present.add(item.get("name"))
            added.append(orjson.loads(orjson.dumps(item)))
    if added:
        pod_spec[field] = [*(pod_spec.get(field) or ()), *added]


def _patch_metadata(pod: Obj, patches: Any) -> None:
    annotations = pod["metadata"].setdefault("annotations", {})
    for patch in patches:
        policy = patch.get("patchPolicy") or "Retain"
        for key, value in (patch.get("annotations") or {}).items():
            if policy == "Overwrite" or key not in annotations:
                annotations[key] = value
            elif policy == "MergePatchJson":
                annotations[key] = _merge_json(annotations[key], value)


def _merge_json(current: str, patch: str) -> str:
    try:
        base, extra = orjson.loads(current), orjson.loads(patch)
    except orjson.JSONDecodeError:
        return current
    if isinstance(base, dict) and isinstance(extra, dict):
        return orjson.dumps({**base, **extra}).decode()
    return current
