"""Server-side printing: the Tables ``kubectl get`` shows, cell by cell."""

from __future__ import annotations

import json
from typing import Any

import pytest

from kitlib.apiserver.tables import column_definitions, row_cells, table_for
from kitlib.model.errors import BadRequest
from kitlib.model.objects import format_time
from kitlib.model.registry import PrinterColumn, ResourceType, builtin_registry

NOW = 10_000.0
REG = builtin_registry()


def ago(seconds: float) -> str:
    return format_time(NOW - seconds)


def meta(name: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "namespace": "default", "uid": f"uid-{name}",
            "resourceVersion": "7", "creationTimestamp": ago(720), **extra}


def running(name: str, *, ready: bool = True, restarts: int = 0,
            last_finished: str | None = None) -> dict[str, Any]:
    status: dict[str, Any] = {
        "name": name, "image": "nginx:1.27", "imageID": "", "ready": ready,
        "started": True, "restartCount": restarts,
        "state": {"running": {"startedAt": ago(600)}}, "lastState": {},
    }
    if last_finished:
        status["lastState"] = {"terminated": {"exitCode": 1, "reason": "Error",
                                              "finishedAt": last_finished}}
    return status


def waiting(name: str, reason: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "image": "nginx:1.27", "imageID": "", "ready": False,
            "started": False, "restartCount": 0, "state": {"waiting": {"reason": reason}},
            "lastState": {}, **extra}


def pod(name: str, containers: list[str], status: dict[str, Any],
        **meta_extra: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": meta(name, labels={"app": "web"}, **meta_extra),
        "spec": {"nodeName": "node-1",
                 "containers": [{"name": c, "image": "nginx:1.27"} for c in containers]},
        "status": status,
    }


def cells(key: str, obj: dict[str, Any]) -> list[Any]:
    return row_cells(REG.get(key), obj, now=NOW)


def names(key: str) -> list[tuple[str, str, int]]:
    return [(c["name"], c["type"], c["priority"]) for c in column_definitions(REG.get(key))]


# --- pods -------------------------------------------------------------------------------


def test_pod_columns_follow_upstream() -> None:
    defs = column_definitions(REG.get("pods"))
    assert defs[0] == {"name": "Name", "type": "string", "format": "name",
                       "description": defs[0]["description"], "priority": 0}
    assert defs[0]["description"]
    assert names("pods") == [
        ("Name", "string", 0), ("Ready", "string", 0), ("Status", "string", 0),
        ("Restarts", "string", 0), ("Age", "string", 0), ("IP", "string", 1),
        ("Node", "string", 1), ("Nominated Node", "string", 1),
        ("Readiness Gates", "string", 1),
    ]
    assert all(set(d) == {"name", "type", "format", "description", "priority"} for d in defs)


def test_running_three_container_pod_with_one_restart() -> None:
    obj = pod("web-0", ["app", "sidecar", "metrics"], {
        "phase": "Running", "podIP": "10.244.1.5", "podIPs": [{"ip": "10.244.1.5"}],
        "conditions": [{"type": "Ready", "status": "False"}],
        "containerStatuses": [
            running("app"),
            running("sidecar", restarts=1, last_finished=ago(45)),
            running("metrics", ready=False),
        ],
    })
    assert cells("pods", obj) == ["web-0", "2/3", "Running", "1 (45s ago)", "12m",
                                  "10.244.1.5", "node-1", "<none>", "<none>"]


def test_crashloop_pod() -> None:
    status = waiting("app", "CrashLoopBackOff", restartCount=5)
    status["lastState"] = {"terminated": {"exitCode": 1, "reason": "Error",
                                          "finishedAt": ago(30)}}
    obj = pod("crash", ["app"], {"phase": "Running", "podIP": "10.244.1.9",
                                 "containerStatuses": [status]})
    assert cells("pods", obj)[:5] == ["crash", "0/1", "CrashLoopBackOff", "5 (30s ago)", "12m"]


@pytest.mark.parametrize("reason", ["ImagePullBackOff", "ErrImagePull", "ContainerCreating"])
def test_waiting_reason_becomes_status(reason: str) -> None:
    obj = pod("p", ["app"], {"phase": "Pending", "containerStatuses": [waiting("app", reason)]})
    assert cells("pods", obj) == ["p", "0/1", reason, "0", "12m", "<none>", "node-1",
                                  "<none>", "<none>"]


def test_pending_unscheduled_pod() -> None:
    obj = pod("p", ["app"], {"phase": "Pending", "nominatedNodeName": "node-2"})
    del obj["spec"]["nodeName"]
    assert cells("pods", obj) == ["p", "0/1", "Pending", "0", "12m", "<none>", "<none>",
                                  "node-2", "<none>"]


def test_scheduling_gated_pod() -> None:
    obj = pod("p", ["app"], {"phase": "Pending", "conditions": [
        {"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}]})
    assert cells("pods", obj)[2] == "SchedulingGated"


def test_terminating_pod() -> None:
    obj = pod("web-1", ["app"], {"phase": "Running", "containerStatuses": [running("app")]},
              deletionTimestamp=ago(5), deletionGracePeriodSeconds=30)
    assert cells("pods", obj)[:4] == ["web-1", "1/1", "Terminating", "0"]


def test_deleted_pod_on_lost_node_is_unknown() -> None:
    obj = pod("web-1", ["app"], {"phase": "Running", "reason": "NodeLost",
                                 "containerStatuses": [running("app")]},
              deletionTimestamp=ago(5))
    assert cells("pods", obj)[2] == "Unknown"
    del obj["metadata"]["deletionTimestamp"]
    assert cells("pods", obj)[2] == "NodeLost"


def test_completed_pod_being_deleted_stays_completed() -> None:
    done = {"name": "job", "image": "busybox", "imageID": "", "ready": False,
            "restartCount": 0, "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}
    obj = pod("job-x", ["job"], {"phase": "Succeeded", "containerStatuses": [done]},
              deletionTimestamp=ago(1))
    assert cells("pods", obj)[:3] == ["job-x", "0/1", "Completed"]


def test_failed_container_without_reason() -> None:
    failed: dict[str, Any] = {"name": "app", "image": "busybox", "imageID": "", "ready": False,
                              "restartCount": 0, "state": {"terminated": {"exitCode": 137}}}
    obj = pod("p", ["app"], {"phase": "Failed", "containerStatuses": [failed]})
    assert cells("pods", obj)[2] == "ExitCode:137"
    failed["state"]["terminated"] = {"exitCode": 0, "signal": 9}
    assert cells("pods", obj)[2] == "Signal:9"


def test_one_container_completed_one_running_with_ready_pod() -> None:
    done = {"name": "once", "image": "busybox", "imageID": "", "ready": False,
            "restartCount": 0, "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}
    obj = pod("p", ["once", "app"], {"phase": "Running",
                                     "conditions": [{"type": "Ready", "status": "True"}],
                                     "containerStatuses": [done, running("app")]})
    assert cells("pods", obj)[1:3] == ["1/2", "Running"]
    obj["status"]["conditions"] = []
    assert cells("pods", obj)[2] == "NotReady"


def init_pod(init_status: dict[str, Any]) -> dict[str, Any]:
    obj = pod("init", ["app"], {
        "phase": "Pending",
        "conditions": [{"type": "Initialized", "status": "False"}],
        "initContainerStatuses": [init_status],
        "containerStatuses": [waiting("app", "PodInitializing")],
    })
    obj["spec"]["initContainers"] = [{"name": "setup", "image": "busybox"}]
    return obj


def test_init_container_running() -> None:
    status = running("setup", ready=False)
    assert cells("pods", init_pod(status))[:4] == ["init", "0/1", "Init:0/1", "0"]


def test_init_container_waiting_and_failed() -> None:
    assert cells("pods", init_pod(waiting("setup", "ErrImagePull")))[2] == "Init:ErrImagePull"
    assert cells("pods", init_pod(waiting("setup", "PodInitializing")))[2] == "Init:0/1"
    failed = {"name": "setup", "image": "busybox", "imageID": "", "ready": False,
              "restartCount": 2, "state": {"terminated": {"exitCode": 1, "reason": "Error"}},
              "lastState": {"terminated": {"exitCode": 1, "finishedAt": ago(90)}}}
    assert cells("pods", init_pod(failed))[2:4] == ["Init:Error", "2 (90s ago)"]


def test_init_done_then_app_containers_decide() -> None:
    done = {"name": "setup", "image": "busybox", "imageID": "", "ready": False,
            "restartCount": 0, "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}
    obj = init_pod(done)
    obj["status"].update(phase="Running", containerStatuses=[running("app")])
    assert cells("pods", obj)[1:3] == ["1/1", "Running"]


def test_sidecar_init_container_counts_as_a_container() -> None:
    obj = init_pod(running("proxy", restarts=2, last_finished=ago(200)))
    obj["spec"]["initContainers"] = [{"name": "proxy", "image": "envoy",
                                      "restartPolicy": "Always"}]
    obj["status"].update(phase="Running",
                         conditions=[{"type": "Initialized", "status": "True"}],
                         containerStatuses=[running("app")])
    assert cells("pods", obj)[1:4] == ["2/2", "Running", "2 (3m20s ago)"]


def test_readiness_gates_and_pod_ips() -> None:
    obj = pod("p", ["app"], {
        "phase": "Running", "podIPs": [{"ip": "10.0.0.7"}, {"ip": "fd00::7"}],
        "conditions": [{"type": "example.com/lb", "status": "True"}],
        "containerStatuses": [running("app")]})
    obj["spec"]["readinessGates"] = [{"conditionType": "example.com/lb"}]
    assert cells("pods", obj)[5:] == ["10.0.0.7", "node-1", "<none>", "1/1"]


# --- nodes ------------------------------------------------------------------------------


def node(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "creationTimestamp": ago(5 * 86400),
                     "labels": {"kubernetes.io/hostname": name,
                                "node-role.kubernetes.io/control-plane": "",
                                "node-role.kubernetes.io/worker": "true"}},
        "spec": spec,
        "status": {
            "conditions": [{"type": "MemoryPressure", "status": "False"},
                           {"type": "Ready", "status": "False"}],
            "addresses": [{"type": "InternalIP", "address": "172.18.0.3"},
                          {"type": "Hostname", "address": name}],
            "nodeInfo": {"kubeletVersion": "v1.33.1", "osImage": "Debian GNU/Linux 12",
                         "kernelVersion": "6.8.0", "containerRuntimeVersion": "containerd://2.0"},
        },
    }


def test_cordoned_not_ready_node() -> None:
    assert cells("nodes", node("node-1", unschedulable=True)) == [
        "node-1", "NotReady,SchedulingDisabled", "control-plane,worker", "5d", "v1.33.1",
        "172.18.0.3", "<none>", "Debian GNU/Linux 12", "6.8.0", "containerd://2.0",
    ]
    assert names("nodes")[4:] == [
        ("Version", "string", 0), ("Internal-IP", "string", 1), ("External-IP", "string", 1),
        ("OS-Image", "string", 1), ("Kernel-Version", "string", 1),
        ("Container-Runtime", "string", 1),
    ]


def test_node_without_ready_condition_or_roles() -> None:
    obj = {"metadata": {"name": "bare", "creationTimestamp": ago(30),
                        "labels": {"kubernetes.io/role": "edge"}}}
    assert cells("nodes", obj) == ["bare", "Unknown", "edge", "30s", "", "<none>", "<none>",
                                   "<unknown>", "<unknown>", "<unknown>"]
    obj["metadata"]["labels"] = {}
    assert cells("nodes", obj)[2] == "<none>"


# --- workloads --------------------------------------------------------------------------


def template(*containers: tuple[str, str]) -> dict[str, Any]:
    return {"metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": n, "image": i} for n, i in containers]}}


def test_deployment() -> None:
    obj = {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta("web"),
        "spec": {"replicas": 3,
                 "selector": {"matchLabels": {"app": "web"},
                              "matchExpressions": [{"key": "tier", "operator": "In",
                                                    "values": ["fe", "be"]}]},
                 "template": template(("nginx", "nginx:1.27"), ("log", "fluentbit:3"))},
        "status": {"replicas": 3, "readyReplicas": 2, "updatedReplicas": 3,
                   "availableReplicas": 2},
    }
    assert cells("deployments.apps", obj) == [
        "web", "2/3", 3, 2, "12m", "nginx,log", "nginx:1.27,fluentbit:3",
        "app=web,tier in (be,fe)",
    ]
    assert names("deployments.apps") == [
        ("Name", "string", 0), ("Ready", "string", 0), ("Up-to-date", "string", 0),
        ("Available", "string", 0), ("Age", "string", 0), ("Containers", "string", 1),
        ("Images", "string", 1), ("Selector", "string", 1),
    ]


def test_replicaset_statefulset_daemonset() -> None:
    rs = {"metadata": meta("web-5d8f"),
          "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                   "template": template(("nginx", "nginx:1.27"))},
          "status": {"replicas": 2, "readyReplicas": 1}}
    assert cells("replicasets.apps", rs) == ["web-5d8f", 2, 2, 1, "12m", "nginx",
                                             "nginx:1.27", "app=web"]
    sts = {"metadata": meta("db"), "spec": {"replicas": 3, "template": template(("pg", "pg:16"))},
           "status": {"readyReplicas": 3}}
    assert cells("statefulsets.apps", sts) == ["db", "3/3", "12m", "pg", "pg:16"]
    ds_template = template(("agent", "agent:1"))
    ds_template["spec"]["nodeSelector"] = {"kubernetes.io/os": "linux"}
    ds = {"metadata": meta("agent"), "spec": {"template": ds_template, "selector": {}},
          "status": {"desiredNumberScheduled": 3, "currentNumberScheduled": 3,
                     "numberReady": 2, "updatedNumberScheduled": 3, "numberAvailable": 2}}
    assert cells("daemonsets.apps", ds) == ["agent", 3, 3, 2, 3, 2, "kubernetes.io/os=linux",
                                            "12m", "agent", "agent:1", "<none>"]


def test_controllerrevision() -> None:
    obj: dict[str, Any] = {"metadata": meta("web-7c9", ownerReferences=[
        {"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "web", "uid": "u",
         "controller": True}]), "revision": 2}
    assert cells("controllerrevisions.apps", obj) == ["web-7c9", "statefulset.apps/web", 2,
                                                      "12m"]
    del obj["metadata"]["ownerReferences"]
    assert cells("controllerrevisions.apps", obj)[1] == "<none>"


def test_pdb_with_percentages_and_unset_fields() -> None:
    obj = {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": meta("web"),
           "spec": {"maxUnavailable": "10%", "selector": {"matchLabels": {"app": "web"}}},
           "status": {"disruptionsAllowed": 1, "currentHealthy": 10, "desiredHealthy": 9}}
    assert cells("poddisruptionbudgets.policy", obj) == ["web", "N/A", "10%", 1, "12m"]
    obj["spec"] = {"minAvailable": 2}
    obj["status"] = {}
    assert cells("poddisruptionbudgets.policy", obj) == ["web", "2", "N/A", 0, "12m"]
    assert names("poddisruptionbudgets.policy")[3] == ("Allowed Disruptions", "integer", 0)


# --- other core kinds -------------------------------------------------------------------


def test_namespace_service_endpoints() -> None:
    assert cells("namespaces", {"metadata": {"name": "default", "creationTimestamp": ago(7200)},
                                "status": {"phase": "Active"}}) == ["default", "Active", "120m"]
    svc = {"metadata": meta("web"), "spec": {
        "type": "NodePort", "clusterIP": "10.96.0.12", "clusterIPs": ["10.96.0.12"],
        "selector": {"app": "web"},
        "ports": [{"port": 80, "protocol": "TCP", "nodePort": 30080},
                  {"port": 53, "protocol": "UDP"}]}}
    assert cells("services", svc) == ["web", "NodePort", "10.96.0.12", "<none>",
                                      "80:30080/TCP,53/UDP", "12m", "app=web"]
    lb = {"metadata": meta("lb"), "spec": {"type": "LoadBalancer", "clusterIP": "10.96.0.9",
                                           "ports": [{"port": 443}]},
          "status": {"loadBalancer": {}}}
    assert cells("services", lb)[2:5] == ["10.96.0.9", "<pending>", "443/TCP"]
    ep = {"metadata": meta("web"), "subsets": [{
        "addresses": [{"ip": f"10.0.0.{i}"} for i in range(1, 4)],
        "ports": [{"port": 80}, {"port": 8080}]}]}
    assert cells("endpoints", ep) == ["web", "10.0.0.1:80,10.0.0.2:80,10.0.0.3:80 + 3 more...",
                                      "12m"]
    assert cells("endpoints", {"metadata": meta("none")})[1] == "<none>"


def test_endpointslice() -> None:
    obj = {"metadata": meta("web-abc"), "addressType": "IPv4",
           "ports": [{"name": "http", "port": 80}, {"name": "metrics"}],
           "endpoints": [{"addresses": ["10.0.0.1"]}, {"addresses": ["10.0.0.2"]}]}
    assert cells("endpointslices.discovery.k8s.io", obj) == [
        "web-abc", "IPv4", "80,metrics", "10.0.0.1,10.0.0.2", "12m"]
    assert cells("endpointslices.discovery.k8s.io",
                 {"metadata": meta("e"), "addressType": "IPv4"})[2:4] == ["<unset>", "<unset>"]


def test_configmap_secret_serviceaccount_lease() -> None:
    assert cells("configmaps", {"metadata": meta("cfg"), "data": {"a": "1", "b": "2"},
                                "binaryData": {"c": "AA=="}}) == ["cfg", 3, "12m"]
    assert cells("secrets", {"metadata": meta("tls"), "type": "kubernetes.io/tls",
                             "data": {"tls.crt": "", "tls.key": ""}}) == [
        "tls", "kubernetes.io/tls", 2, "12m"]
    assert cells("serviceaccounts", {"metadata": meta("default")}) == ["default", 0, "12m"]
    assert cells("leases.coordination.k8s.io", {
        "metadata": meta("node-1"), "spec": {"holderIdentity": "node-1"}}) == [
        "node-1", "node-1", "12m"]


def test_core_v1_event() -> None:
    obj = {
        "apiVersion": "v1", "kind": "Event", "metadata": meta("web-0.17a"),
        "involvedObject": {"kind": "Pod", "name": "web-0", "namespace": "default",
                           "fieldPath": "spec.containers{app}"},
        "reason": "BackOff", "type": "Warning",
        "message": "Back-off restarting failed container app\n",
        "source": {"component": "kubelet", "host": "node-1"},
        "firstTimestamp": ago(600), "lastTimestamp": ago(40), "count": 7,
    }
    assert cells("events", obj) == [
        "40s", "Warning", "BackOff", "pod/web-0", "spec.containers{app}", "kubelet, node-1",
        "Back-off restarting failed container app", "10m", 7, "web-0.17a",
    ]
    assert [(n, p) for n, _, p in names("events")] == [
        ("Last Seen", 0), ("Type", 0), ("Reason", 0), ("Object", 0), ("Subobject", 1),
        ("Source", 1), ("Message", 0), ("First Seen", 1), ("Count", 1), ("Name", 1)]


def test_new_style_event_without_legacy_timestamps() -> None:
    obj = {"metadata": meta("e"), "involvedObject": {"kind": "Node"}, "type": "Normal",
           "reason": "Starting", "eventTime": "2026-01-01T02:46:00.000000Z",
           "reportingComponent": "kubelet", "message": "Starting kubelet."}
    got = cells("events", obj)
    assert got[:4] == ["40s", "Normal", "Starting", "node"]
    assert got[5] == "kubelet"
    assert got[7:9] == ["40s", 1]


# --- custom kinds -----------------------------------------------------------------------


CLONESET = ResourceType(
    "apps.kruise.io", "v1alpha1", "CloneSet", "clonesets", True, "cloneset", ("clone",),
    printer_columns=(
        PrinterColumn("DESIRED", ".spec.replicas", "integer"),
        PrinterColumn("UPDATED", ".status.updatedReplicas", "integer"),
        PrinterColumn("STRATEGY", ".spec.updateStrategy.type"),
        PrinterColumn("APP", ".metadata.labels.app"),
        PrinterColumn("FIRST", ".spec.template.spec.containers[0].name", priority=1),
        PrinterColumn("IMAGES", ".spec.template.spec.containers[*].image", priority=1,
                      description="All images."),
        PrinterColumn("SYNCED", ".status.lastSyncTime", "date"),
    ),
)


def cloneset() -> dict[str, Any]:
    return {"apiVersion": "apps.kruise.io/v1alpha1", "kind": "CloneSet",
            "metadata": meta("cs1", labels={"app": "demo"}),
            "spec": {"replicas": 2, "template": template(("main", "nginx:1.27"),
                                                         ("side", "busybox:1.36"))},
            "status": {"updatedReplicas": 1, "lastSyncTime": ago(3 * 3600)}}


def test_custom_kind_printer_columns() -> None:
    assert row_cells(CLONESET, cloneset(), now=NOW) == [
        "cs1", 2, 1, None, "demo", "main", "nginx:1.27,busybox:1.36", "3h", "12m"]
    defs = column_definitions(CLONESET)
    assert [(d["name"], d["type"], d["priority"]) for d in defs] == [
        ("Name", "string", 0), ("DESIRED", "integer", 0), ("UPDATED", "integer", 0),
        ("STRATEGY", "string", 0), ("APP", "string", 0), ("FIRST", "string", 1),
        ("IMAGES", "string", 1), ("SYNCED", "date", 0), ("Age", "date", 0)]
    assert defs[6]["description"] == "All images."
    assert ".spec.replicas" in defs[1]["description"]


def test_custom_kind_edge_cases() -> None:
    rt = ResourceType("example.com", "v1", "Widget", "widgets", True, printer_columns=(
        PrinterColumn("Ready", "{.status.ready}", "boolean"),
        PrinterColumn("Count", ".status.count", "integer"),
        PrinterColumn("Dotted", ".metadata.annotations.example\\.com/tier"),
        PrinterColumn("Created", ".metadata.creationTimestamp", "date"),
    ))
    obj = {"metadata": meta("w", annotations={"example.com/tier": "gold"}),
           "status": {"ready": True, "count": "seven"}}
    assert row_cells(rt, obj, now=NOW) == ["w", True, None, "gold", "12m"]
    assert [d["name"] for d in column_definitions(rt)][-1] == "Created"


def test_kind_without_printer_columns_is_name_and_age() -> None:
    rt = ResourceType("example.com", "v1", "Gadget", "gadgets", False)
    assert [(d["name"], d["type"]) for d in column_definitions(rt)] == [
        ("Name", "string"), ("Age", "date")]
    assert row_cells(rt, {"metadata": {"name": "g"}}, now=NOW) == ["g", "<unknown>"]


# --- the Table envelope -----------------------------------------------------------------


def test_table_with_partial_object_metadata() -> None:
    objs = [pod("a", ["app"], {"phase": "Pending"}), pod("b", ["app"], {"phase": "Pending"})]
    table = table_for(REG.get("pods"), objs, now=NOW, resource_version="42")
    assert table["kind"] == "Table" and table["apiVersion"] == "meta.k8s.io/v1"
    assert table["metadata"] == {"resourceVersion": "42"}
    assert table["columnDefinitions"] == column_definitions(REG.get("pods"))
    assert [r["cells"][0] for r in table["rows"]] == ["a", "b"]
    assert table["rows"][0]["object"] == {"kind": "PartialObjectMetadata",
                                          "apiVersion": "meta.k8s.io/v1",
                                          "metadata": objs[0]["metadata"]}
    json.dumps(table)


def test_table_include_object_modes_and_paging() -> None:
    obj = pod("a", ["app"], {"phase": "Pending"})
    none = table_for(REG.get("pods"), [obj], now=NOW, resource_version="1",
                     include_object="None", continue_token="tok", with_definitions=False)
    assert none["metadata"] == {"resourceVersion": "1", "continue": "tok"}
    assert none["columnDefinitions"] == []
    assert none["rows"] == [{"cells": row_cells(REG.get("pods"), obj, now=NOW)}]
    full = table_for(REG.get("pods"), [obj], now=NOW, resource_version="1",
                     include_object="Object")
    assert full["rows"][0]["object"] == obj
    empty = table_for(CLONESET, [], now=NOW, resource_version="3")
    assert empty["rows"] == [] and len(empty["columnDefinitions"]) == 9
    with pytest.raises(BadRequest):
        table_for(REG.get("pods"), [obj], now=NOW, resource_version="1",
                  include_object="Everything")


@pytest.mark.parametrize("rt", list(REG), ids=lambda rt: rt.key)
def test_every_builtin_kind_prints_a_cell_per_column(rt: ResourceType) -> None:
    minimal = row_cells(rt, {"metadata": {"name": "x"}}, now=NOW)
    assert len(minimal) == len(column_definitions(rt))
    assert column_definitions(rt)[0]["format"] == "name" or rt.key == "events"
    json.dumps(minimal)
