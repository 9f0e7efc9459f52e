"""The objects the benchmarks write: realistic pods and small ConfigMaps."""

from __future__ import annotations

from typing import Any

from kitlib.store.store import Store

__all__ = ["NAMESPACES", "configmap", "pod", "populate_pods", "running_status"]

#: Namespaces the bulk pods are spread over (created by ``populate_pods``).
NAMESPACES = tuple(f"bench-{i}" for i in range(10))
_APPS = 50


def pod(i: int, namespace: str = "default") -> dict[str, Any]:
    """Pod ``i``: three containers (ports, resources, env, probes) and five labels."""
    app = f"app-{i % _APPS}"
    containers = []
    for c, (name, image) in enumerate((("web", "nginx:1.27"), ("sidecar", "envoy:1.31"),
                                       ("metrics", "prom/statsd-exporter:v0.27.1"))):
        containers.append({
            "name": name,
            "image": image,
            "ports": [{"name": f"p{c}", "containerPort": 8080 + c}],
            "env": [{"name": "APP", "value": app}, {"name": "INDEX", "value": str(i)}],
            "resources": {"requests": {"cpu": "100m", "memory": "128Mi"},
                          "limits": {"cpu": "500m", "memory": "256Mi"}},
            "readinessProbe": {"httpGet": {"path": "/healthz", "port": 8080 + c},
                               "periodSeconds": 10},
        })
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": f"{app}-{i:06d}",
            "namespace": namespace,
            "labels": {"app": app, "tier": ("web", "api", "worker")[i % 3],
                       "track": "stable" if i % 10 else "canary",
                       "pod-template-hash": f"{i % _APPS:08x}", "index": str(i)},
            "annotations": {"kitlib.io/benchmark": "true"},
        },
        "spec": {"containers": containers, "nodeName": f"node-{i % 100:03d}"},
    }


def running_status(obj: dict[str, Any], i: int) -> dict[str, Any]:
    """A Running status for pod ``obj`` (all containers ready, some restarted)."""
    started = obj["metadata"]["creationTimestamp"]
    statuses = []
    for c in obj["spec"]["containers"]:
        statuses.append({
            "name": c["name"], "image": c["image"], "imageID": f"docker.io/{c['image']}@sha256:"
            + "0" * 64, "containerID": f"containerd://{i:064x}", "ready": True,
            "started": True, "restartCount": i % 3,
            "state": {"running": {"startedAt": started}},
        })
    ip = f"10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}"
    return {
        "phase": "Running", "qosClass": obj["status"].get("qosClass", "Burstable"),
        "hostIP": f"192.168.0.{i % 100}", "podIP": ip, "podIPs": [{"ip": ip}],
        "startTime": started,
        "conditions": [{"type": t, "status": "True", "lastProbeTime": None,
                        "lastTransitionTime": started}
                       for t in ("PodScheduled", "Initialized", "ContainersReady", "Ready")],
        "containerStatuses": statuses,
    }


def configmap(i: int, namespace: str = "default") -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": f"cm-{i:06d}", "namespace": namespace,
                         "labels": {"bench": "watch"}},
            "data": {"index": str(i), "payload": "x" * 64}}


def populate_pods(store: Store, count: int) -> list[tuple[str, str]]:
    """Create ``count`` Running pods spread over ``NAMESPACES``; returns their (ns, name)."""
    for ns in NAMESPACES:
        if store.peek("namespaces", "", ns) is None:
            store.create("namespaces", {"metadata": {"name": ns}})
    keys = []
    for i in range(count):
        ns = NAMESPACES[i % len(NAMESPACES)]
        created = store.create("pods", pod(i, ns))
        name = created["metadata"]["name"]

        def set_status(draft: dict[str, Any], i: int = i) -> None:
            draft["status"] = running_status(draft, i)

        store.modify("pods", ns, name, set_status, subresource="status")
        keys.append((ns, name))
    return keys
