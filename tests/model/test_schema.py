"""Tests for kitlib.model.schema: unknown fields, wrong JSON types and pruning."""

from __future__ import annotations

import copy
from typing import Any

import pydantic
import pytest

from kitlib.model.schema import MAX_PROBLEMS, FieldProblems, check, prune, register_schema

# ------------------------------------------------------------------------------------------
# Fixtures as plain builders
# ------------------------------------------------------------------------------------------

TS = "2024-01-02T15:04:05Z"


def container(name: str = "app", **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "image": "nginx:1.25",
        "imagePullPolicy": "IfNotPresent",
        "command": ["/bin/sh", "-c"],
        "args": ["exec nginx"],
        "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
        "env": [
            {"name": "MODE", "value": "prod"},
            {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        ],
        "resources": {"limits": {"cpu": 1, "memory": "256Mi"},
                      "requests": {"cpu": "500m", "memory": "128Mi"}},
        "volumeMounts": [{"name": "data", "mountPath": "/data", "readOnly": True}],
        "livenessProbe": {"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 10},
        "readinessProbe": {"tcpSocket": {"port": 8080}, "initialDelaySeconds": 5},
        "securityContext": {"runAsNonRoot": True, "runAsUser": 1000},
        **extra,
    }


def pod_spec(*containers: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "containers": list(containers) or [container("a"), container("b"), container("c")],
        "volumes": [{"name": "data", "emptyDir": {"sizeLimit": "1Gi"}},
                    {"name": "cfg", "configMap": {"name": "cfg", "defaultMode": 420}}],
        "restartPolicy": "Always",
        "terminationGracePeriodSeconds": 30,
        "nodeSelector": {"kubernetes.io/os": "linux"},
        "tolerations": [{"key": "k", "operator": "Exists", "effect": "NoSchedule"}],
        "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [{"matchExpressions": [
                {"key": "zone", "operator": "In", "values": ["a", "b"]}]}]}}},
        **extra,
    }


def meta(name: str = "web", **extra: Any) -> dict[str, Any]:
    return {"name": name, "namespace": "default", "labels": {"app": "web"}, **extra}


def pod(**spec_extra: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": meta(
            "web-0",
            uid="0b8c",
            resourceVersion="12",
            creationTimestamp=TS,
            annotations={"note": "x"},
            ownerReferences=[{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-1",
                              "uid": "u1", "controller": True, "blockOwnerDeletion": True}],
        ),
        "spec": pod_spec(nodeName="node-1", **spec_extra),
        "status": {
            "phase": "Running",
            "podIP": "10.0.0.7",
            "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": TS}],
            "containerStatuses": [{
                "name": "a", "ready": True, "restartCount": 0, "image": "nginx:1.25",
                "imageID": "sha", "state": {"running": {"startedAt": TS}},
            }],
        },
    }


def deployment(**spec_extra: Any) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": meta(),
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app": "web"}},
            "strategy": {"type": "RollingUpdate",
                         "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": 1}},
            "template": {"metadata": {"labels": {"app": "web"}},
                         "spec": pod_spec(container("web"))},
            **spec_extra,
        },
    }


def pdb(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": meta(),
        "spec": {"selector": {"matchLabels": {"app": "web"}}, **spec},
    }


def clone_set(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "apps.kruise.io/v1alpha1",
        "kind": "CloneSet",
        "metadata": meta(),
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}},
                         "spec": {"containers": [{"name": "web", "image": "nginx"}]}},
            "updateStrategy": {"type": "InPlaceIfPossible", "partition": "50%"},
            **spec,
        },
        "status": {"replicas": 2, "anything": {"goes": ["here"]}},
    }


CLONE_SET_SCHEMA: dict[str, Any] = {
    "spec": {
        "replicas": "int",
        "selector": "ref:V1LabelSelector",
        "template": "ref:V1PodTemplateSpec",
        "volumeClaimTemplates": ["ref:V1PersistentVolumeClaim"],
        "updateStrategy": {"type": "str", "partition": "intstr", "maxUnavailable": "intstr",
                           "paused": "bool", "priorityWeights": {"*": "float"}},
        "lifecycle": "object",
    },
    "status": "object",
}


def problems(obj: dict[str, Any]) -> FieldProblems:
    result = check(obj)
    assert result is not None, "expected the kind to have a schema"
    return result


def wrong(obj: dict[str, Any]) -> list[str]:
    result = problems(obj)
    assert result.unknown == []
    return result.wrong_type


VALID = {
    "pod": pod(),
    "deployment": deployment(),
    "service": {
        "apiVersion": "v1", "kind": "Service", "metadata": meta(),
        "spec": {"type": "ClusterIP", "selector": {"app": "web"}, "clusterIP": "10.96.0.10",
                 "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"},
                           {"name": "metrics", "port": 9090, "targetPort": 9090}]},
        "status": {"loadBalancer": {}},
    },
    "configmap": {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta(),
                  "data": {"app.conf": "x=1"}, "binaryData": {"blob": "aGVsbG8="}},
    "secret": {"apiVersion": "v1", "kind": "Secret", "metadata": meta(), "type": "Opaque",
               "data": {"password": "c2VjcmV0"}, "stringData": {"user": "admin"}},
    "node": {
        "apiVersion": "v1", "kind": "Node", "metadata": {"name": "node-1", "labels": {"a": "b"}},
        "spec": {"podCIDR": "10.244.0.0/24", "unschedulable": False,
                 "taints": [{"key": "k", "value": "v", "effect": "NoSchedule"}]},
        "status": {
            "capacity": {"cpu": 4, "memory": "16Gi", "pods": "110"},
            "allocatable": {"cpu": "3800m", "memory": 16000000000, "pods": 110},
            "conditions": [{"type": "Ready", "status": "True", "lastHeartbeatTime": TS,
                            "lastTransitionTime": TS, "reason": "KubeletReady"}],
            "addresses": [{"type": "InternalIP", "address": "10.0.0.1"}],
            "nodeInfo": {"kubeletVersion": "v1.31.0", "architecture": "amd64",
                         "bootID": "", "containerRuntimeVersion": "", "kernelVersion": "",
                         "kubeProxyVersion": "", "machineID": "", "operatingSystem": "linux",
                         "osImage": "", "systemUUID": ""},
        },
    },
    "pdb": pdb(minAvailable=2),
    "namespace": {"apiVersion": "v1", "kind": "Namespace",
                  "metadata": {"name": "team-a", "labels": {"team": "a"}},
                  "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}},
    "lease": {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": meta(),
              "spec": {"holderIdentity": "me", "leaseDurationSeconds": 15,
                       "renewTime": "2024-01-02T15:04:05.123456Z"}},
    "endpointslice": {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                      "metadata": meta(), "addressType": "IPv4",
                      "endpoints": [{"addresses": ["10.0.0.7"],
                                     "conditions": {"ready": True}}],
                      "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]},
    "event": {"apiVersion": "v1", "kind": "Event", "metadata": meta("e1"),
              "involvedObject": {"kind": "Pod", "name": "web-0"}, "reason": "Started",
              "count": 1, "firstTimestamp": TS, "type": "Normal"},
    "eviction": {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": meta("web-0"),
                 "deleteOptions": {"gracePeriodSeconds": 0}},
    "scale": {"apiVersion": "autoscaling/v1", "kind": "Scale", "metadata": meta(),
              "spec": {"replicas": 5}},
    "deleteoptions": {"apiVersion": "v1", "kind": "DeleteOptions",
                      "propagationPolicy": "Foreground", "preconditions": {"uid": "u"}},
    "controllerrevision": {"apiVersion": "apps/v1", "kind": "ControllerRevision",
                           "metadata": meta(), "revision": 2,
                           "data": {"spec": {"free": ["form", 1, None, True]}}},
}

# ------------------------------------------------------------------------------------------
# Valid objects
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(VALID))
def test_valid_objects_have_no_problems(name: str) -> None:
    result = problems(VALID[name])
    assert result == FieldProblems([], [], 0)
    assert result.ok
    assert result.messages() == []


@pytest.mark.parametrize("name", sorted(VALID))
def test_prune_of_a_valid_object_is_an_equal_copy(name: str) -> None:
    obj = VALID[name]
    pruned = prune(obj)
    assert pruned == obj
    assert pruned is not obj


# ------------------------------------------------------------------------------------------
# Unknown fields
# ------------------------------------------------------------------------------------------


def test_unknown_top_level_field() -> None:
    obj = pod()
    obj["extra"] = {"x": 1}
    assert problems(obj).unknown == ["extra"]


def test_unknown_nested_fields_have_exact_paths() -> None:
    obj = deployment(foo=1)
    containers = obj["spec"]["template"]["spec"]["containers"]
    containers.append(container("second", imagee="nginx"))
    containers[1]["env"][1]["valueFrom"]["fieldRef"]["fieldpath"] = "x"
    result = problems(obj)
    assert result.unknown == [
        "spec.template.spec.containers[1].env[1].valueFrom.fieldRef.fieldpath",
        "spec.template.spec.containers[1].imagee",
        "spec.foo",
    ]
    assert result.wrong_type == []
    assert result.messages() == [f'unknown field "{p}"' for p in result.unknown]


def test_unknown_metadata_field() -> None:
    obj = pod()
    obj["metadata"]["foo"] = "bar"
    obj["metadata"]["ownerReferences"][0]["controler"] = True
    assert problems(obj).unknown == ["metadata.ownerReferences[0].controler", "metadata.foo"]


def test_field_names_are_case_sensitive() -> None:
    obj = deployment(Replicas=3)
    assert problems(obj).unknown == ["spec.Replicas"]


def test_group_prefixed_classes_are_picked_per_group() -> None:
    core_event = {"apiVersion": "v1", "kind": "Event", "metadata": meta("e"),
                  "involvedObject": {"kind": "Pod"}, "regarding": {"kind": "Pod"}}
    events_event = {"apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": meta("e"),
                    "eventTime": "2024-01-02T15:04:05.000001Z",
                    "involvedObject": {"kind": "Pod"}, "regarding": {"kind": "Pod"}}
    assert problems(core_event).unknown == ["regarding"]
    assert problems(events_event).unknown == ["involvedObject"]


# ------------------------------------------------------------------------------------------
# Wrong types
# ------------------------------------------------------------------------------------------


def test_string_for_an_integer() -> None:
    assert wrong(deployment(replicas="three")) == [
        'spec.replicas: expected an integer, got the string "three"'
    ]


@pytest.mark.parametrize("value, shown", [(True, "the boolean true"), (3.0, "the number 3.0"),
                                          (2.5, "the number 2.5")])
def test_bools_and_floats_are_not_integers(value: Any, shown: str) -> None:
    assert wrong(deployment(replicas=value)) == [f"spec.replicas: expected an integer, got {shown}"]


def test_list_for_a_map() -> None:
    obj = pod()
    obj["metadata"]["labels"] = ["a"]
    assert wrong(obj) == ["metadata.labels: expected an object (a map), got a list"]


def test_map_for_a_list_stops_descending() -> None:
    obj = deployment()
    obj["spec"]["template"]["spec"]["containers"] = {"name": "web", "imagee": "x"}
    assert wrong(obj) == ["spec.template.spec.containers: expected a list, got an object"]


def test_scalar_for_a_struct() -> None:
    obj = deployment(strategy="RollingUpdate")
    assert wrong(obj) == ['spec.strategy: expected an object, got the string "RollingUpdate"']


def test_integer_for_a_string() -> None:
    obj = pod()
    obj["metadata"]["resourceVersion"] = 5
    obj["metadata"]["labels"]["app"] = 1
    obj["spec"]["containers"][2]["args"] = ["--port", 80]
    assert wrong(obj) == [
        "metadata.labels.app: expected a string, got the number 1",
        "metadata.resourceVersion: expected a string, got the number 5",
        "spec.containers[2].args[1]: expected a string, got the number 80",
    ]


def test_string_for_a_boolean() -> None:
    obj = pod(hostNetwork="true")
    assert wrong(obj) == ['spec.hostNetwork: expected a boolean (true or false), '
                          'got the string "true"']


def test_integers_are_fine_for_floats() -> None:
    crd_schema = {"type": "object", "properties": {
        "replicas": {"type": "integer", "minimum": 0, "maximum": 10.5, "multipleOf": 1}}}
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {"group": "example.com", "scope": "Namespaced",
                 "names": {"plural": "widgets", "kind": "Widget"},
                 "versions": [{"name": "v1", "served": True, "storage": True,
                               "schema": {"openAPIV3Schema": crd_schema}}]},
    }
    assert problems(crd).ok
    crd_schema["properties"]["replicas"]["maximum"] = "10"
    assert wrong(crd) == [
        "spec.versions[0].schema.openAPIV3Schema.properties.replicas.maximum: "
        'expected a number, got the string "10"'
    ]


@pytest.mark.parametrize("cpu", [1, 0.5, "500m", "2"])
def test_quantities_accept_strings_and_numbers(cpu: Any) -> None:
    obj = pod()
    obj["spec"]["containers"][0]["resources"] = {"limits": {"cpu": cpu}, "requests": {"cpu": cpu}}
    obj["spec"]["volumes"][0]["emptyDir"]["sizeLimit"] = cpu
    assert problems(obj).ok


def test_quantities_reject_booleans_and_lists() -> None:
    obj = pod()
    obj["spec"]["containers"][0]["resources"] = {"limits": {"cpu": True, "memory": ["1Gi"]}}
    assert wrong(obj) == [
        "spec.containers[0].resources.limits.cpu: expected a quantity "
        '(e.g. "500m", "1Gi" or a number), got the boolean true',
        "spec.containers[0].resources.limits.memory: expected a quantity "
        '(e.g. "500m", "1Gi" or a number), got a list',
    ]


def test_resource_quota_quantities() -> None:
    quota = {"apiVersion": "v1", "kind": "ResourceQuota", "metadata": meta(),
             "spec": {"hard": {"pods": 10, "requests.cpu": "4"}},
             "status": {"hard": {"pods": 10}, "used": {"pods": 3}}}
    assert problems(quota).ok


@pytest.mark.parametrize("value", ["10%", 1, 0])
def test_int_or_string_accepts_both(value: Any) -> None:
    assert problems(pdb(maxUnavailable=value)).ok
    assert problems(deployment(strategy={"rollingUpdate": {"maxSurge": value}})).ok


@pytest.mark.parametrize("value, shown", [(1.5, "the number 1.5"), (True, "the boolean true"),
                                          ({"a": 1}, "an object")])
def test_int_or_string_rejects_other_types(value: Any, shown: str) -> None:
    assert wrong(pdb(minAvailable=value)) == [
        f'spec.minAvailable: expected an integer or a string (e.g. 1 or "25%"), got {shown}'
    ]


def test_timestamps_must_be_rfc3339_strings() -> None:
    obj = pod()
    obj["metadata"]["creationTimestamp"] = "yesterday"
    obj["status"]["conditions"][0]["lastTransitionTime"] = 1700000000
    assert wrong(obj) == [
        'metadata.creationTimestamp: expected an RFC 3339 time string '
        '(e.g. "2024-01-02T15:04:05Z"), got the string "yesterday"',
        "status.conditions[0].lastTransitionTime: expected an RFC 3339 time string "
        '(e.g. "2024-01-02T15:04:05Z"), got the number 1700000000',
    ]


@pytest.mark.parametrize("stamp", ["2024-01-02T15:04:05Z", "2024-01-02T15:04:05.123456Z",
                                   "2024-01-02T15:04:05+02:00"])
def test_timestamp_forms(stamp: str) -> None:
    obj = pod()
    obj["metadata"]["deletionTimestamp"] = stamp
    assert problems(obj).ok


def test_secret_data_must_be_base64() -> None:
    secret = copy.deepcopy(VALID["secret"])
    secret["data"]["bad"] = "not base64!"
    assert wrong(secret) == [
        'data.bad: expected a base64-encoded string, got the string "not base64!"'
    ]


def test_free_form_objects_take_anything() -> None:
    revision = copy.deepcopy(VALID["controllerrevision"])
    revision["data"] = {"whatever": {"nested": [1, "two", {"three": 3.0}]}}
    assert problems(revision).ok


def test_wrong_type_top_level_value() -> None:
    assert wrong({"apiVersion": "v1", "kind": "Pod", "spec": "x"}) == [
        'spec: expected an object, got the string "x"'
    ]


# ------------------------------------------------------------------------------------------
# Nulls, caps and kinds without a schema
# ------------------------------------------------------------------------------------------


def test_null_is_allowed_anywhere() -> None:
    obj = deployment(replicas=None, strategy=None, paused=None)
    obj["metadata"]["labels"] = {"app": None}
    obj["metadata"]["annotations"] = None
    template_spec = obj["spec"]["template"]["spec"]
    template_spec["containers"][0].update(env=None, resources={"limits": {"cpu": None}})
    template_spec["containers"].append(None)
    assert problems(obj).ok


def test_problems_are_capped() -> None:
    obj = pod()
    for i in range(25):
        obj["spec"][f"unknown{i:02}"] = i
    obj["spec"]["hostNetwork"] = "yes"
    result = problems(obj)
    assert len(result.unknown) + len(result.wrong_type) == MAX_PROBLEMS == 20
    assert result.unknown == [f"spec.unknown{i:02}" for i in range(20)]
    assert result.more == 6
    assert not result.ok
    assert result.messages()[-1] == "and 6 more"
    assert len(result.messages()) == 21


@pytest.mark.parametrize("obj", [
    {"apiVersion": "example.com/v1", "kind": "Widget", "spec": {"anything": 1}},
    {"apiVersion": "apps.example.com/v1beta1", "kind": "StatefulSet", "spec": {"x": 1}},
    {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Pod", "spec": {"x": 1}},
    {"apiVersion": "v1", "kind": "NoSuchKind"},
    {"kind": "Pod", "spec": {"x": 1}},
    {"apiVersion": "v1", "spec": {"x": 1}},
    {"apiVersion": 1, "kind": "Pod"},
])
def test_kinds_without_a_schema_are_skipped(obj: dict[str, Any]) -> None:
    assert check(obj) is None
    before = copy.deepcopy(obj)
    assert prune(obj) is obj
    assert obj == before


# ------------------------------------------------------------------------------------------
# Hand-written schemas
# ------------------------------------------------------------------------------------------


def test_registered_schema_checks_a_custom_kind() -> None:
    register_schema("apps.kruise.io/v1alpha1", "CloneSet", CLONE_SET_SCHEMA)
    assert problems(clone_set()).ok
    obj = clone_set(paused=True, lifecycle={"preDelete": {"anything": 1}})
    obj["metadata"]["lables"] = {}
    obj["spec"]["template"]["spec"]["containers"][0]["imagee"] = "nginx:1.26"
    obj["spec"]["updateStrategy"].update(paused="yes", priorityWeights={"a": 1, "b": "2"})
    result = problems(obj)
    assert result.unknown == [
        "metadata.lables",
        "spec.template.spec.containers[0].imagee",
        "spec.paused",
    ]
    assert result.wrong_type == [
        'spec.updateStrategy.paused: expected a boolean (true or false), got the string "yes"',
        'spec.updateStrategy.priorityWeights.b: expected a number, got the string "2"',
    ]


def test_registered_schema_prune() -> None:
    register_schema("apps.kruise.io/v1alpha1", "CloneSet", CLONE_SET_SCHEMA)
    obj = clone_set(scaleStrategy={"maxUnavailable": 1})
    obj["spec"]["template"]["spec"]["containers"][0]["imagee"] = "x"
    expected = clone_set()
    assert prune(obj) == expected


def test_registered_schema_lists_maps_and_unknown_top_level() -> None:
    register_schema("example.com/v1", "Gadget", {
        "spec": {"ports": ["int"], "weights": {"*": ["float"]}, "when": "datetime"},
    })
    ok = {"apiVersion": "example.com/v1", "kind": "Gadget", "metadata": {"name": "g"},
          "spec": {"ports": [80, 443], "weights": {"a": [1, 0.5]}, "when": TS}}
    assert problems(ok).ok
    bad = {"apiVersion": "example.com/v1", "kind": "Gadget", "status": {},
           "spec": {"ports": [80, "443"], "weights": {"a": 1}, "when": "now"}}
    result = problems(bad)
    assert result.unknown == ["status"]
    assert result.wrong_type == [
        'spec.ports[1]: expected an integer, got the string "443"',
        "spec.weights.a: expected a list, got the number 1",
        'spec.when: expected an RFC 3339 time string (e.g. "2024-01-02T15:04:05Z"), '
        'got the string "now"',
    ]


@pytest.mark.parametrize("schema", [
    {"spec": "integer"},
    {"spec": ["int", "str"]},
    {"spec": {"replicas": 3}},
    {"spec": []},
])
def test_malformed_schemas_are_rejected(schema: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="schema at spec"):
        register_schema("example.com/v1", "Broken", schema)


def test_unknown_reference_fails_on_first_use() -> None:
    register_schema("example.com/v1", "Dangling", {"spec": "ref:V1NoSuchModel"})
    with pytest.raises(ValueError, match="V1NoSuchModel"):
        check({"apiVersion": "example.com/v1", "kind": "Dangling", "spec": {}})


# ------------------------------------------------------------------------------------------
# Prune
# ------------------------------------------------------------------------------------------


def test_prune_drops_exactly_the_unknown_fields() -> None:
    clean = deployment()
    dirty = copy.deepcopy(clean)
    dirty["extra"] = 1
    dirty["metadata"]["foo"] = {"bar": 1}
    dirty["spec"]["foo"] = [1, 2]
    dirty["spec"]["template"]["spec"]["containers"][0]["imagee"] = "nginx"
    dirty["spec"]["template"]["spec"]["containers"][0]["ports"][0]["hostport"] = 1
    dirty_before = copy.deepcopy(dirty)

    pruned = prune(dirty)

    assert pruned == clean
    assert dirty == dirty_before  # the input is not modified
    assert problems(pruned).ok


def test_prune_returns_an_independent_copy() -> None:
    obj = deployment()
    pruned = prune(obj)
    pruned["spec"]["template"]["spec"]["containers"][0]["env"][0]["value"] = "changed"
    pruned["metadata"]["labels"]["new"] = "x"
    assert obj == deployment()


def test_prune_keeps_nulls_and_wrongly_typed_values() -> None:
    obj = deployment(replicas="three", paused=None, bogus=None)
    obj["spec"]["template"]["spec"]["containers"] = {"name": "web", "imagee": "x"}
    pruned = prune(obj)
    assert pruned["spec"]["replicas"] == "three"
    assert pruned["spec"]["paused"] is None
    assert "bogus" not in pruned["spec"]
    assert pruned["spec"]["template"]["spec"]["containers"] == {"name": "web", "imagee": "x"}


# ------------------------------------------------------------------------------------------
# No pydantic models on the hot path
# ------------------------------------------------------------------------------------------


def test_no_client_model_is_instantiated(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(self: Any, *args: Any, **kwargs: Any) -> None:
        raise AssertionError("a pydantic model was instantiated")

    monkeypatch.setattr(pydantic.BaseModel, "__init__", refuse)
    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": meta(),
           "spec": {"backoffLimit": 2, "template": {"spec": pod_spec(container("j"))}}}
    assert problems(job).ok
    assert prune(job) == job
    assert problems(pod()).ok
