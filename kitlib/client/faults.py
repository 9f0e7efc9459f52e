"""Faults on an embedded cluster, injected as data through the Kubernetes API.

The embedded cluster's simulated kubelets read faults from annotations and from the
``images.sim.kitlib.io`` ``Image`` kind (docs/simulation.md); these functions only
write those, so everything they do is also visible and reversible with ``kubectl``:

| fault | what is written | undo |
|---|---|---|
| `fail_node` | node annotation `sim.kitlib.io/down: "true"` | `restore_node` |
| `set_node_condition` | node `sim.kitlib.io/<condition>: "true"` | `on=False` |
| `slow_image_pulls` | node `sim.kitlib.io/pull-bandwidth` | `bytes_per_second=None` |
| `flaky_image` | `Image` `spec.pullable` / `spec.pullFailureRate` | `restore_image` |
| `crash_container` | `sim.kitlib.io/<c>.crash-after-seconds`, `<c>.exit-code` | `heal_container` |
| `make_unready` | pod `sim.kitlib.io/[<c>.]unready-after-seconds` | `make_ready` |

``clear_node_faults`` removes every node fault at once.

What follows is the cluster's doing, as on a real one: a failed node stops renewing its
Lease, the node lifecycle controller marks it ``NotReady``/``Unknown`` after the grace
period, taints it, and its pods are evicted after their ``tolerationSeconds``; a node
restored behaves as after a reboot. Pod knobs count from each container instance's start
and never act in the past (a knob already due acts at once).

A real cluster has no simulation, so every fault raises ``EmbeddedOnlyError`` there:
rehearse on an embedded twin. Every fault is a write: ``require_writes`` unless
``dry_run=True`` (server-side ``dryRun=All``: validated, never stored).
"""

from __future__ import annotations

import hashlib
import math
import re
from typing import TYPE_CHECKING, Any

import orjson

from kitlib.client.ops import MERGE, request_json, require_writes
from kitlib.client.raw import get_json

if TYPE_CHECKING:
    from kitlib.client.cluster import Cluster

__all__ = ["NODE_CONDITIONS", "Faults", "clear_node_faults", "crash_container", "fail_node",
           "flaky_image", "heal_container", "make_ready", "make_unready", "normalize_image",
           "restore_image",
           "restore_node", "set_node_condition", "slow_image_pulls"]

PREFIX = "sim.kitlib.io/"
IMAGES = "/apis/sim.kitlib.io/v1alpha1/images"
#: Node conditions a fault can set, and what the node's kubelet then posts.
NODE_CONDITIONS = {
    "not-ready": "Ready=False (KubeletNotReady)",
    "memory-pressure": "MemoryPressure=True (KubeletHasInsufficientMemory)",
    "disk-pressure": "DiskPressure=True (KubeletHasDiskPressure)",
    "pid-pressure": "PIDPressure=True (KubeletHasInsufficientPID)",
}
NODE_FAULTS = ("down", *NODE_CONDITIONS, "pull-bandwidth")
#: On an ``Image`` object: created by ``flaky_image`` (removed by ``restore_image``).
CREATED = "faults.kitlib.io/created"
#: On an ``Image`` object: the spec fields ``flaky_image`` replaced (JSON).
PREVIOUS = "faults.kitlib.io/previous"
PULL_FIELDS = ("pullable", "pullFailureRate")


def _guard(cluster: Cluster, what: str, *, dry_run: bool) -> None:
    """Faults exist only on an embedded cluster, and are writes."""
    from kitlib.client.cluster import EmbeddedOnlyError  # cluster.py imports this module

    if not cluster.embedded:
        raise EmbeddedOnlyError(
            f"{what} is a simulated fault, and {cluster.api_client.configuration.host} is a "
            "real cluster: it has no simulated kubelets (no sim.kitlib.io API) to inject it "
            "into. Rehearse it on an embedded twin of this cluster (kitlib.twin.from_cluster) "
            "or on kitlib.connect()")
    if not dry_run:
        require_writes(cluster, what)


def _annotate(cluster: Cluster, path: str, annotations: dict[str, str | None], *,
              dry_run: bool) -> dict[str, Any]:
    """Merge-patch ``annotations`` onto the object at ``path`` (None removes one)."""
    return request_json(cluster.api_client, "PATCH", path,
                        body={"metadata": {"annotations": annotations}}, content_type=MERGE,
                        query={"dryRun": "All" if dry_run else None})


def _flag(on: bool) -> str | None:
    return "true" if on else None


# -- nodes -----------------------------------------------------------------------------------

def fail_node(cluster: Cluster, node: str, *, dry_run: bool = False) -> dict[str, Any]:
    """Take ``node`` down: its kubelet and containers stop (``sim.kitlib.io/down``).

    The node stops renewing its Lease; after the grace period (40 s) the node lifecycle
    controller marks it ``Unknown``, taints it ``unreachable`` and evicts its pods after
    their ``tolerationSeconds`` (300 by default). ``restore_node`` brings it back.

    Args:
        cluster: an embedded cluster's handle.
        node: the node's name.
        dry_run: validate only (``dryRun=All``); allowed on a read-only handle.

    Returns:
        The node as patched.

    Raises:
        EmbeddedOnlyError: ``cluster`` is a real cluster.
        WritesNotAllowedError: the handle is read-only and ``dry_run`` is False.
    """
    _guard(cluster, "fail_node", dry_run=dry_run)
    return _annotate(cluster, f"/api/v1/nodes/{node}", {PREFIX + "down": "true"},
                     dry_run=dry_run)


def restore_node(cluster: Cluster, node: str, *, dry_run: bool = False) -> dict[str, Any]:
    """Bring a failed ``node`` back, as after a reboot (its pods' containers restart)."""
    _guard(cluster, "restore_node", dry_run=dry_run)
    return _annotate(cluster, f"/api/v1/nodes/{node}", {PREFIX + "down": None}, dry_run=dry_run)


def set_node_condition(cluster: Cluster, node: str, condition: str, *, on: bool = True,
                       dry_run: bool = False) -> dict[str, Any]:
    """Make ``node``'s kubelet report ``condition`` (or stop reporting it with ``on=False``).

    Args:
        cluster: an embedded cluster's handle.
        node: the node's name.
        condition: a key of ``NODE_CONDITIONS``: ``"not-ready"``, ``"memory-pressure"``,
            ``"disk-pressure"`` or ``"pid-pressure"``. The kubelet posts it at its next
            status update (within 10 s).
        on: set (True) or clear (False) the condition.
        dry_run: validate only.

    Raises:
        ValueError: an unknown condition.
    """
    if condition not in NODE_CONDITIONS:
        raise ValueError(f"unknown node condition {condition!r}; known: "
                         f"{', '.join(NODE_CONDITIONS)}")
    _guard(cluster, "set_node_condition", dry_run=dry_run)
    return _annotate(cluster, f"/api/v1/nodes/{node}", {PREFIX + condition: _flag(on)},
                     dry_run=dry_run)


def slow_image_pulls(cluster: Cluster, node: str, bytes_per_second: float | None, *,
                     dry_run: bool = False) -> dict[str, Any]:
    """Make ``node`` pull images at ``bytes_per_second`` (None: the cluster's default again).

    Pulls are serialized per node, so a slow node delays every pod waiting for an image
    there.

    Args:
        cluster: an embedded cluster's handle.
        node: the node's name.
        bytes_per_second: e.g. ``10e6`` (a 100 MB image then takes 10 s); None removes the
            fault (``KubeletSettings.image_pull_bandwidth``, 100 MB/s by default).
        dry_run: validate only.

    Raises:
        ValueError: ``bytes_per_second`` is not a positive finite number.
    """
    if bytes_per_second is not None and not (math.isfinite(bytes_per_second)
                                             and bytes_per_second > 0):
        raise ValueError(f"bytes_per_second must be a positive number, not {bytes_per_second}")
    _guard(cluster, "slow_image_pulls", dry_run=dry_run)
    value = None if bytes_per_second is None else repr(float(bytes_per_second))
    return _annotate(cluster, f"/api/v1/nodes/{node}", {PREFIX + "pull-bandwidth": value},
                     dry_run=dry_run)


def clear_node_faults(cluster: Cluster, node: str, *, dry_run: bool = False) -> dict[str, Any]:
    """Remove every fault from ``node``: down, conditions and pull bandwidth."""
    _guard(cluster, "clear_node_faults", dry_run=dry_run)
    return _annotate(cluster, f"/api/v1/nodes/{node}",
                     dict.fromkeys((PREFIX + name for name in NODE_FAULTS), None),
                     dry_run=dry_run)


# -- pods ------------------------------------------------------------------------------------

def _pod(cluster: Cluster, pod: str, namespace: str | None) -> tuple[str, dict[str, Any]]:
    path = f"/api/v1/namespaces/{namespace or cluster.namespace}/pods/{pod}"
    return path, get_json(cluster.api_client, path)


def _containers(obj: dict[str, Any], container: str | None) -> list[dict[str, Any]]:
    """The pod's containers (all, or the one named), or a ValueError naming the choices."""
    containers: list[dict[str, Any]] = obj.get("spec", {}).get("containers", [])
    chosen = [c for c in containers if container is None or c.get("name") == container]
    if not chosen:
        names = ", ".join(str(c.get("name")) for c in containers)
        raise ValueError(f"pod {obj['metadata']['name']} has no container {container!r} "
                         f"(it has: {names})")
    return chosen


def crash_container(cluster: Cluster, pod: str, container: str, *, after_seconds: float = 0,
                    exit_code: int = 1, namespace: str | None = None,
                    dry_run: bool = False) -> dict[str, Any]:
    """Make ``container``'s app exit with ``exit_code`` ``after_seconds`` after each start.

    The kubelet restarts it per the pod's ``restartPolicy`` (``restartCount`` + 1, then
    ``CrashLoopBackOff`` 10, 20, 40… s) until ``heal_container``. A container already
    running longer than ``after_seconds`` exits at once; ``after_seconds=0`` is a crash
    loop from the next start on.

    Args:
        cluster: an embedded cluster's handle.
        pod: the pod's name.
        container: one of its containers.
        after_seconds: seconds after each (re)start of the container.
        exit_code: 0 to 255 (0 is a completion, ``Completed``; others ``Error``).
        namespace: the pod's namespace (default: the handle's).
        dry_run: validate only.

    Returns:
        The pod as patched.

    Raises:
        ValueError: no such container, a negative delay or an exit code out of range.
        EmbeddedOnlyError: ``cluster`` is a real cluster.
    """
    if not (after_seconds >= 0 and math.isfinite(after_seconds)) or not 0 <= exit_code <= 255:
        raise ValueError("after_seconds must be at least 0 and exit_code from 0 to 255, not "
                         f"{after_seconds} and {exit_code}")
    _guard(cluster, "crash_container", dry_run=dry_run)
    path, obj = _pod(cluster, pod, namespace)
    _containers(obj, container)
    knobs: dict[str, str | None] = {
        f"{PREFIX}{container}.crash-after-seconds": f"{after_seconds:g}",
        f"{PREFIX}{container}.exit-code": str(exit_code)}
    return _annotate(cluster, path, knobs, dry_run=dry_run)


def heal_container(cluster: Cluster, pod: str, container: str, *,
                   namespace: str | None = None, dry_run: bool = False) -> dict[str, Any]:
    """Undo ``crash_container``: the app no longer exits by itself (from its next start)."""
    _guard(cluster, "heal_container", dry_run=dry_run)
    path, obj = _pod(cluster, pod, namespace)
    _containers(obj, container)
    knobs = (f"{PREFIX}{container}.crash-after-seconds", f"{PREFIX}{container}.exit-code")
    return _annotate(cluster, path, dict.fromkeys(knobs), dry_run=dry_run)


def _unready_key(container: str | None) -> str:
    return f"{PREFIX}{container + '.' if container else ''}unready-after-seconds"


def make_unready(cluster: Cluster, pod: str, *, after_seconds: float = 0,
                 container: str | None = None, namespace: str | None = None,
                 dry_run: bool = False) -> dict[str, Any]:
    """Make the app stop answering readiness probes ``after_seconds`` after each start.

    The container stays alive; at its next readiness probe it turns not ready, the pod's
    ``Ready`` goes False and its endpoints go away. Readiness shows only through a probe,
    as on a real cluster, so the container(s) must have a ``readinessProbe``.

    Args:
        cluster: an embedded cluster's handle.
        pod: the pod's name.
        after_seconds: seconds after each (re)start (already due: at the next probe).
        container: one container (default: every container of the pod).
        namespace: the pod's namespace (default: the handle's).
        dry_run: validate only.

    Raises:
        ValueError: no such container, a negative delay, or no readiness probe to fail.
        EmbeddedOnlyError: ``cluster`` is a real cluster.
    """
    if not (after_seconds >= 0 and math.isfinite(after_seconds)):
        raise ValueError(f"after_seconds must be at least 0, not {after_seconds}")
    _guard(cluster, "make_unready", dry_run=dry_run)
    path, obj = _pod(cluster, pod, namespace)
    unprobed = [str(c["name"]) for c in _containers(obj, container) if not c.get("readinessProbe")]
    if unprobed:
        raise ValueError(f"container(s) {', '.join(unprobed)} of pod {pod} have no "
                         "readinessProbe, so they would stay ready: add one to the pod "
                         "template (or name a container that has one)")
    return _annotate(cluster, path, {_unready_key(container): f"{after_seconds:g}"},
                     dry_run=dry_run)


def make_ready(cluster: Cluster, pod: str, *, container: str | None = None,
               namespace: str | None = None, dry_run: bool = False) -> dict[str, Any]:
    """Undo ``make_unready`` (the same ``container``): readiness passes again at the next probe."""
    _guard(cluster, "make_ready", dry_run=dry_run)
    path, _ = _pod(cluster, pod, namespace)
    return _annotate(cluster, path, {_unready_key(container): None}, dry_run=dry_run)


# -- images ----------------------------------------------------------------------------------

def normalize_image(image: str) -> tuple[str, str]:
    """``(reference, repository)`` as containerd names them: ``nginx:1.25`` is
    ``docker.io/library/nginx:1.25`` in ``docker.io/library/nginx`` (the embedded cluster's
    ``Image`` objects match on these; this is the client's copy of that rule)."""
    name, _, digest = image.partition("@")
    tag = None
    if name.rfind(":") > name.rfind("/"):
        name, _, tag = name.rpartition(":")
    first, _, rest = name.partition("/")
    local = rest and ("." in first or ":" in first or first == "localhost")
    domain, path = (first, rest) if local else ("docker.io", name)
    if domain == "docker.io" and "/" not in path:
        path = "library/" + path
    repository = f"{domain}/{path}"
    return (f"{repository}@{digest}" if digest else f"{repository}:{tag or 'latest'}"), repository


def _image_objects(cluster: Cluster, image: str
                   ) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """The ``Image`` object naming ``image`` exactly, and one for its repository (``:*``)."""
    reference, repository = normalize_image(image)
    exact = wildcard = None
    for obj in get_json(cluster.api_client, IMAGES).get("items", []):
        pattern = str(obj.get("spec", {}).get("image", ""))
        if pattern.endswith(":*") and normalize_image(pattern[:-2])[1] == repository:
            wildcard = obj
        elif not pattern.endswith(":*") and normalize_image(pattern)[0] == reference:
            exact = obj
    return exact, wildcard


def _image_name(reference: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", reference.lower()).strip("-")[:40].strip("-")
    return f"kitlib-fault-{slug}-{hashlib.sha256(reference.encode()).hexdigest()[:8]}"


def flaky_image(cluster: Cluster, image: str, *, fail: bool = False,
                failure_rate: float | None = None, dry_run: bool = False) -> dict[str, Any]:
    """Make pulls of ``image`` fail: every one (``fail=True``) or each with ``failure_rate``.

    Pods pulling it show ``ErrImagePull``, then ``ImagePullBackOff``, and retry 10, 20,
    40… s after each failure (with a rate, draws are seeded: same seed, same failures).
    The ``Image`` object describing the image is changed, its previous values kept in an
    annotation; without one, an object is created (copying a ``repo:*`` object's size,
    layers and behaviour). ``restore_image`` undoes either.

    Args:
        cluster: an embedded cluster's handle.
        image: the image reference, as in pod specs (``"example.com/shop:v2"``).
        fail: every pull fails (``spec.pullable: false``).
        failure_rate: each pull fails with this probability, 0 to 1 (``spec.pullFailureRate``).
        dry_run: validate only.

    Returns:
        The ``Image`` object as written.

    Raises:
        ValueError: neither or both of ``fail`` and ``failure_rate``, or a rate outside 0–1.
        EmbeddedOnlyError: ``cluster`` is a real cluster.
    """
    if fail == (failure_rate is not None):
        raise ValueError("pass either fail=True or failure_rate=<0..1>")
    if failure_rate is not None and not 0 <= failure_rate <= 1:
        raise ValueError(f"failure_rate must be between 0 and 1, not {failure_rate}")
    _guard(cluster, "flaky_image", dry_run=dry_run)
    fault = {"pullable": False} if fail else {"pullable": True, "pullFailureRate": failure_rate}
    query = {"dryRun": "All" if dry_run else None}
    exact, wildcard = _image_objects(cluster, image)
    if exact is None:
        reference = normalize_image(image)[0]
        spec = {**(wildcard or {}).get("spec", {}), "image": image, **fault}
        body = {"apiVersion": "sim.kitlib.io/v1alpha1", "kind": "Image",
                "metadata": {"name": _image_name(reference), "annotations": {CREATED: "true"}},
                "spec": spec}
        return request_json(cluster.api_client, "POST", IMAGES, body=body, query=query)
    annotations = exact["metadata"].get("annotations") or {}
    patch: dict[str, Any] = {"spec": {"pullFailureRate": None, **fault}}
    if CREATED not in annotations and PREVIOUS not in annotations:
        previous = {k: exact["spec"].get(k) for k in PULL_FIELDS}
        patch["metadata"] = {"annotations": {PREVIOUS: orjson.dumps(previous).decode()}}
    return request_json(cluster.api_client, "PATCH", f"{IMAGES}/{exact['metadata']['name']}",
                        body=patch, content_type=MERGE, query=query)


def restore_image(cluster: Cluster, image: str, *, dry_run: bool = False
                  ) -> dict[str, Any] | None:
    """Undo ``flaky_image``: pulls of ``image`` succeed again (at each pod's next retry).

    Returns:
        The ``Image`` object as restored, or None when ``flaky_image`` had created it (it
        is deleted) or there was nothing to undo.
    """
    _guard(cluster, "restore_image", dry_run=dry_run)
    exact, _ = _image_objects(cluster, image)
    annotations = (exact or {}).get("metadata", {}).get("annotations") or {}
    query = {"dryRun": "All" if dry_run else None}
    if exact is None or not ({CREATED, PREVIOUS} & annotations.keys()):
        return None
    path = f"{IMAGES}/{exact['metadata']['name']}"
    if CREATED in annotations:
        request_json(cluster.api_client, "DELETE", path, query=query)
        return None
    previous = orjson.loads(annotations[PREVIOUS])
    patch = {"metadata": {"annotations": {PREVIOUS: None}},
             "spec": {k: previous.get(k) for k in PULL_FIELDS}}
    return request_json(cluster.api_client, "PATCH", path, body=patch, content_type=MERGE,
                        query=query)


class Faults:
    """The faults of one ``Cluster`` handle, as methods: ``cluster.faults.crash_container(…)``.

    Each method is the module function of the same name with the handle bound; see those
    for what each fault does. Embedded clusters only (``EmbeddedOnlyError`` elsewhere).
    """

    def __init__(self, cluster: Cluster) -> None:
        self._cluster = cluster

    def fail_node(self, node: str, *, dry_run: bool = False) -> dict[str, Any]:
        """See ``fail_node``."""
        return fail_node(self._cluster, node, dry_run=dry_run)

    def restore_node(self, node: str, *, dry_run: bool = False) -> dict[str, Any]:
        """See ``restore_node``."""
        return restore_node(self._cluster, node, dry_run=dry_run)

    def clear_node_faults(self, node: str, *, dry_run: bool = False) -> dict[str, Any]:
        """See ``clear_node_faults``."""
        return clear_node_faults(self._cluster, node, dry_run=dry_run)

    def set_node_condition(self, node: str, condition: str, *, on: bool = True,
                           dry_run: bool = False) -> dict[str, Any]:
        """See ``set_node_condition``."""
        return set_node_condition(self._cluster, node, condition, on=on, dry_run=dry_run)

    def slow_image_pulls(self, node: str, bytes_per_second: float | None, *,
                         dry_run: bool = False) -> dict[str, Any]:
        """See ``slow_image_pulls``."""
        return slow_image_pulls(self._cluster, node, bytes_per_second, dry_run=dry_run)

    def flaky_image(self, image: str, *, fail: bool = False, failure_rate: float | None = None,
                    dry_run: bool = False) -> dict[str, Any]:
        """See ``flaky_image``."""
        return flaky_image(self._cluster, image, fail=fail, failure_rate=failure_rate,
                           dry_run=dry_run)

    def restore_image(self, image: str, *, dry_run: bool = False) -> dict[str, Any] | None:
        """See ``restore_image``."""
        return restore_image(self._cluster, image, dry_run=dry_run)

    def crash_container(self, pod: str, container: str, *, after_seconds: float = 0,
                        exit_code: int = 1, namespace: str | None = None,
                        dry_run: bool = False) -> dict[str, Any]:
        """See ``crash_container``."""
        return crash_container(self._cluster, pod, container, after_seconds=after_seconds,
                               exit_code=exit_code, namespace=namespace, dry_run=dry_run)

    def heal_container(self, pod: str, container: str, *, namespace: str | None = None,
                       dry_run: bool = False) -> dict[str, Any]:
        """See ``heal_container``."""
        return heal_container(self._cluster, pod, container, namespace=namespace,
                              dry_run=dry_run)

    def make_unready(self, pod: str, *, after_seconds: float = 0, container: str | None = None,
                     namespace: str | None = None, dry_run: bool = False) -> dict[str, Any]:
        """See ``make_unready``."""
        return make_unready(self._cluster, pod, after_seconds=after_seconds,
                            container=container, namespace=namespace, dry_run=dry_run)

    def make_ready(self, pod: str, *, container: str | None = None,
                   namespace: str | None = None, dry_run: bool = False) -> dict[str, Any]:
        """See ``make_ready``."""
        return make_ready(self._cluster, pod, container=container, namespace=namespace,
                          dry_run=dry_run)
