"""Tests for kitlib.model.patch: merge patch (RFC 7386), JSON patch (RFC 6902) and
Kubernetes strategic merge patch."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kitlib.model.errors import BadRequest, Invalid
from kitlib.model.patch import json_merge_patch, json_patch, strategic_merge_patch

# ------------------------------------------------------------------------------------------
# Fixtures as plain builders
# ------------------------------------------------------------------------------------------


def container(name: str, image: str = "nginx:1.25", **extra: Any) -> dict[str, Any]:
    return {"name": name, "image": image, **extra}


def pod(*containers: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "namespace": "default", "labels": {"app": "web"}},
        "spec": {"containers": list(containers), **spec},
    }


def workload(kind: str, *containers: dict[str, Any], **pod_spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": kind,
        "metadata": {"name": "w", "namespace": "default"},
        "spec": {
            "replicas": 2,
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": list(containers), **pod_spec},
            },
        },
    }


def template_patch(pod_spec_patch: dict[str, Any]) -> dict[str, Any]:
    return {"spec": {"template": {"spec": pod_spec_patch}}}


def has_directive(value: Any) -> bool:
    if isinstance(value, dict):
        return any(str(k).startswith("$") or has_directive(v) for k, v in value.items())
    if isinstance(value, list):
        return any(has_directive(item) for item in value)
    return False


KUBECTL_APPLY_BODY: dict[str, Any] = {
    "metadata": {"annotations": {"a": "b"}, "labels": {"tier": "x"}},
    "spec": {
        "$setElementOrder/containers": [{"name": "c"}],
        "containers": [{"image": "nginx:1.26", "name": "c"}],
    },
}

# ------------------------------------------------------------------------------------------
# RFC 7386 merge patch
# ------------------------------------------------------------------------------------------

# RFC 7386 Appendix A, verbatim.
RFC7386_EXAMPLES = [
    ({"a": "b"}, {"a": "c"}, {"a": "c"}),
    ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
    ({"a": "b"}, {"a": None}, {}),
    ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
    ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
    ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
    ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
    ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
    (["a", "b"], ["c", "d"], ["c", "d"]),
    ({"a": "b"}, ["c"], ["c"]),
    ({"a": "foo"}, None, None),
    ({"a": "foo"}, "bar", "bar"),
    ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
    ([1, 2], {"a": "b", "c": None}, {"a": "b"}),
    ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
]


@pytest.mark.parametrize(("original", "patch", "expected"), RFC7386_EXAMPLES)
def test_merge_patch_follows_the_rfc7386_examples(original: Any, patch: Any, expected: Any) -> None:
    assert json_merge_patch(original, patch) == expected


def test_merge_patch_null_deletes_key() -> None:
    original = {"metadata": {"labels": {"app": "web", "tier": "x"}}}
    patched = json_merge_patch(original, {"metadata": {"labels": {"tier": None}}})
    assert patched == {"metadata": {"labels": {"app": "web"}}}


def test_merge_patch_replaces_lists_wholesale() -> None:
    original = pod(container("a"), container("b"))
    patched = json_merge_patch(original, {"spec": {"containers": [container("a", "x")]}})
    assert patched["spec"]["containers"] == [container("a", "x")]


def test_merge_patch_result_shares_nothing_with_its_inputs() -> None:
    original = pod(container("a"))
    patch = {"spec": {"tolerations": [{"key": "k"}]}}
    patched = json_merge_patch(original, patch)
    patched["metadata"]["labels"]["new"] = "1"
    patched["spec"]["tolerations"][0]["key"] = "changed"
    assert original == pod(container("a"))
    assert patch == {"spec": {"tolerations": [{"key": "k"}]}}


def test_merge_patch_for_scale_sets_only_the_replicas() -> None:
    original = workload("Deployment", container("c"))
    patched = json_merge_patch(original, {"spec": {"replicas": 3}})
    assert patched["spec"]["replicas"] == 3
    assert patched["spec"]["template"] == original["spec"]["template"]


# ------------------------------------------------------------------------------------------
# RFC 6902 JSON patch
# ------------------------------------------------------------------------------------------

DOC: dict[str, Any] = {"metadata": {"labels": {"app": "web"}}, "spec": {"replicas": 2, "args": ["a", "b"]}}

JSON_PATCH_CASES = [
    pytest.param(
        [{"op": "add", "path": "/metadata/labels/tier", "value": "x"}],
        {"metadata": {"labels": {"app": "web", "tier": "x"}}, "spec": DOC["spec"]},
        id="add-a-member",
    ),
    pytest.param(
        [{"op": "add", "path": "/spec/args/-", "value": "c"}],
        {"metadata": DOC["metadata"], "spec": {"replicas": 2, "args": ["a", "b", "c"]}},
        id="append-to-a-list",
    ),
    pytest.param(
        [{"op": "remove", "path": "/spec/args/0"}],
        {"metadata": DOC["metadata"], "spec": {"replicas": 2, "args": ["b"]}},
        id="remove-a-list-element",
    ),
    pytest.param(
        [{"op": "replace", "path": "/spec/replicas", "value": 5}],
        {"metadata": DOC["metadata"], "spec": {"replicas": 5, "args": ["a", "b"]}},
        id="replace-a-value",
    ),
    pytest.param(
        [{"op": "move", "from": "/metadata/labels/app", "path": "/metadata/labels/name"}],
        {"metadata": {"labels": {"name": "web"}}, "spec": DOC["spec"]},
        id="move-a-member",
    ),
    pytest.param(
        [{"op": "copy", "from": "/spec/replicas", "path": "/spec/minReadySeconds"}],
        {"metadata": DOC["metadata"], "spec": {**DOC["spec"], "minReadySeconds": 2}},
        id="copy-a-member",
    ),
    pytest.param(
        [
            {"op": "test", "path": "/spec/replicas", "value": 2},
            {"op": "replace", "path": "/spec/replicas", "value": 3},
        ],
        {"metadata": DOC["metadata"], "spec": {"replicas": 3, "args": ["a", "b"]}},
        id="test-then-replace",
    ),
    pytest.param([], DOC, id="empty-list-changes-nothing"),
]


@pytest.mark.parametrize(("ops", "expected"), JSON_PATCH_CASES)
def test_json_patch_applies_rfc6902_operations(ops: list[Any], expected: Any) -> None:
    before = copy.deepcopy(DOC)
    assert json_patch(DOC, ops) == expected
    assert before == DOC


def test_json_patch_failed_test_op_is_invalid() -> None:
    ops = [
        {"op": "replace", "path": "/metadata/labels/app", "value": "db"},
        {"op": "test", "path": "/spec/replicas", "value": 3},
    ]
    with pytest.raises(Invalid) as caught:
        json_patch(DOC, ops)
    assert caught.value.code == 422
    message = caught.value.message
    assert "operation 1" in message
    assert '"/spec/replicas" is 2' in message
    assert "expects 3" in message


def test_json_patch_test_of_a_missing_path_is_invalid() -> None:
    with pytest.raises(Invalid, match='"/spec/paused" does not exist'):
        json_patch(DOC, [{"op": "test", "path": "/spec/paused", "value": True}])


APPLY_FAILURES = [
    pytest.param({"op": "remove", "path": "/spec/paused"}, '"/spec/paused" does not exist',
                 id="remove-a-missing-member"),
    pytest.param({"op": "replace", "path": "/spec/args/7", "value": "x"},
                 '"/spec/args/7" does not exist', id="replace-past-the-end-of-a-list"),
    pytest.param({"op": "add", "path": "/status/phase", "value": "Running"},
                 '"/status" does not exist', id="add-under-a-missing-parent"),
    pytest.param({"op": "move", "from": "/nope", "path": "/spec/x"},
                 'the "from" location "/nope" does not exist', id="move-from-a-missing-member"),
    pytest.param({"op": "add", "path": "/spec/replicas/x", "value": 1},
                 '"/spec/replicas" is 2, not an object or a list', id="add-into-a-number"),
    pytest.param({"op": "add", "path": "/spec/args/9", "value": "x"},
                 "outside of list", id="insert-past-the-end-of-a-list"),
]


@pytest.mark.parametrize(("op", "reason"), APPLY_FAILURES)
def test_json_patch_that_cannot_apply_is_invalid_and_says_why(op: dict[str, Any],
                                                              reason: str) -> None:
    with pytest.raises(Invalid) as caught:
        json_patch(DOC, [{"op": "test", "path": "/spec/replicas", "value": 2}, op])
    assert "json patch operation 1" in caught.value.message
    assert reason in caught.value.message


MALFORMED_OPS = [
    pytest.param("add", "must be an object", id="op-is-not-an-object"),
    pytest.param({"path": "/a"}, "'op'", id="op-member-missing"),
    pytest.param({"op": "frobnicate", "path": "/a"}, "Unknown operation", id="unknown-op"),
    pytest.param({"op": "remove"}, "'path'", id="path-member-missing"),
    pytest.param({"op": "add", "path": "/a"}, "'value'", id="value-member-missing"),
    pytest.param({"op": "copy", "path": "/a"}, "'from'", id="from-member-missing"),
    pytest.param({"op": "add", "path": "a", "value": 1}, "must start with /", id="relative-path"),
]


@pytest.mark.parametrize(("op", "reason"), MALFORMED_OPS)
def test_json_patch_malformed_op_is_bad_request(op: Any, reason: str) -> None:
    with pytest.raises(BadRequest) as caught:
        json_patch(DOC, [op])
    assert caught.value.code == 400
    assert "json patch operation 0" in caught.value.message
    assert "malformed operation" in caught.value.message
    assert reason in caught.value.message


@pytest.mark.parametrize("body", [{"op": "add"}, "[]", None, 3], ids=repr)
def test_json_patch_non_list_body_is_bad_request(body: Any) -> None:
    with pytest.raises(BadRequest, match="must be a list of operations"):
        json_patch(DOC, body)


def test_json_patch_never_mutates_its_inputs_even_when_it_fails() -> None:
    before = copy.deepcopy(DOC)
    value = {"k": ["v"]}
    ops = [{"op": "add", "path": "/spec/x", "value": value},
           {"op": "remove", "path": "/spec/args/0"},
           {"op": "test", "path": "/spec/replicas", "value": 9}]
    with pytest.raises(Invalid):
        json_patch(DOC, ops)
    patched = json_patch(DOC, ops[:2])
    patched["spec"]["x"]["k"].append("w")
    assert before == DOC
    assert value == {"k": ["v"]}


# ------------------------------------------------------------------------------------------
# Strategic merge patch: keyed lists
# ------------------------------------------------------------------------------------------


def test_container_image_patch_changes_only_that_container() -> None:
    original = pod(container("app", ports=[{"containerPort": 80}]), container("sidecar"))
    patched = strategic_merge_patch(
        original, {"spec": {"containers": [{"name": "app", "image": "nginx:1.26"}]}}, kind="Pod"
    )
    assert patched["spec"]["containers"] == [
        container("app", "nginx:1.26", ports=[{"containerPort": 80}]),
        container("sidecar"),
    ]
    assert patched["metadata"] == original["metadata"]


def test_kubectl_apply_body_merges_pod_containers_by_name() -> None:
    original = pod(container("c", resources={"limits": {"cpu": "1"}}))
    patched = strategic_merge_patch(original, KUBECTL_APPLY_BODY, kind="Pod")
    assert patched["spec"] == {
        "containers": [container("c", "nginx:1.26", resources={"limits": {"cpu": "1"}})]
    }
    assert patched["metadata"]["labels"] == {"app": "web", "tier": "x"}
    assert patched["metadata"]["annotations"] == {"a": "b"}
    assert not has_directive(patched)


def test_kubectl_apply_body_merges_deployment_template_containers_by_name() -> None:
    original = workload("Deployment", container("c", env=[{"name": "A", "value": "1"}]))
    body = {"metadata": KUBECTL_APPLY_BODY["metadata"],
            "spec": {"template": {"spec": KUBECTL_APPLY_BODY["spec"]}}}
    patched = strategic_merge_patch(original, body, kind="Deployment")
    assert patched["spec"]["template"]["spec"]["containers"] == [
        container("c", "nginx:1.26", env=[{"name": "A", "value": "1"}])
    ]
    assert patched["spec"]["replicas"] == 2
    assert patched["metadata"]["labels"] == {"tier": "x"}
    assert not has_directive(patched)


def test_kubectl_apply_body_sent_verbatim_to_a_deployment_keeps_the_template() -> None:
    original = workload("Deployment", container("c"))
    patched = strategic_merge_patch(original, KUBECTL_APPLY_BODY, kind="Deployment")
    assert patched["spec"]["template"] == original["spec"]["template"]
    assert patched["spec"]["containers"] == [{"image": "nginx:1.26", "name": "c"}]
    assert patched["metadata"]["annotations"] == {"a": "b"}
    assert not has_directive(patched)


@pytest.mark.parametrize("kind", ["Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "Job",
                                  "CloneSet"])
def test_every_pod_template_merges_containers_by_name(kind: str) -> None:
    original = workload(kind, container("a"), container("b"))
    patch = template_patch({"containers": [{"name": "b", "image": "busybox"}]})
    patched = strategic_merge_patch(original, patch, kind=kind)
    assert patched["spec"]["template"]["spec"]["containers"] == [
        container("a"), container("b", "busybox")
    ]


def test_cronjob_job_template_pod_spec_merges_containers_by_name() -> None:
    original = {"spec": {"jobTemplate": {"spec": {"template": {"spec": {
        "containers": [container("a"), container("b")]}}}}}}
    patch = {"spec": {"jobTemplate": {"spec": {"template": {"spec": {
        "containers": [{"name": "a", "image": "x"}]}}}}}}
    patched = strategic_merge_patch(original, patch, kind="CronJob")
    containers = patched["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    assert containers == [container("a", "x"), container("b")]


# (kind, original, patch, expected) — each keyed list merges an existing element and
# appends a new one.
KEYED_LISTS = [
    pytest.param(
        "Pod",
        pod(container("c", env=[{"name": "A", "value": "1"}, {"name": "B", "value": "2"}])),
        {"spec": {"containers": [{"name": "c", "env": [{"name": "B", "value": "3"},
                                                         {"name": "C", "value": "4"}]}]}},
        ("spec", "containers", 0, "env"),
        [{"name": "A", "value": "1"}, {"name": "B", "value": "3"}, {"name": "C", "value": "4"}],
        id="container-env-by-name",
    ),
    pytest.param(
        "Pod",
        pod(container("c", ports=[{"containerPort": 80, "name": "http"}])),
        {"spec": {"containers": [{"name": "c", "ports": [{"containerPort": 80, "protocol": "TCP"},
                                                           {"containerPort": 443}]}]}},
        ("spec", "containers", 0, "ports"),
        [{"containerPort": 80, "name": "http", "protocol": "TCP"}, {"containerPort": 443}],
        id="container-ports-by-containerPort",
    ),
    pytest.param(
        "Pod",
        pod(container("c", volumeMounts=[{"mountPath": "/a", "name": "v"}])),
        {"spec": {"containers": [{"name": "c", "volumeMounts": [
            {"mountPath": "/a", "readOnly": True}, {"mountPath": "/b", "name": "w"}]}]}},
        ("spec", "containers", 0, "volumeMounts"),
        [{"mountPath": "/a", "name": "v", "readOnly": True}, {"mountPath": "/b", "name": "w"}],
        id="container-volumeMounts-by-mountPath",
    ),
    pytest.param(
        "Pod",
        pod(container("c", volumeDevices=[{"devicePath": "/dev/a", "name": "v"}])),
        {"spec": {"containers": [{"name": "c", "volumeDevices": [
            {"devicePath": "/dev/a", "name": "w"}]}]}},
        ("spec", "containers", 0, "volumeDevices"),
        [{"devicePath": "/dev/a", "name": "w"}],
        id="container-volumeDevices-by-devicePath",
    ),
    pytest.param(
        "Pod",
        pod(container("c"), initContainers=[container("init")]),
        {"spec": {"initContainers": [{"name": "init", "image": "x"}, {"name": "more"}]}},
        ("spec", "initContainers"),
        [container("init", "x"), {"name": "more"}],
        id="initContainers-by-name",
    ),
    pytest.param(
        "Deployment",
        workload("Deployment", container("c"), volumes=[{"name": "v", "emptyDir": {}}]),
        template_patch({"volumes": [{"name": "v", "emptyDir": {"medium": "Memory"}},
                                    {"name": "w", "configMap": {"name": "cm"}}]}),
        ("spec", "template", "spec", "volumes"),
        [{"name": "v", "emptyDir": {"medium": "Memory"}}, {"name": "w", "configMap": {"name": "cm"}}],
        id="volumes-by-name",
    ),
    pytest.param(
        "Pod",
        pod(container("c"), imagePullSecrets=[{"name": "a"}]),
        {"spec": {"imagePullSecrets": [{"name": "b"}]}},
        ("spec", "imagePullSecrets"),
        [{"name": "a"}, {"name": "b"}],
        id="imagePullSecrets-by-name",
    ),
    pytest.param(
        "Pod",
        pod(container("c"), hostAliases=[{"ip": "10.0.0.1", "hostnames": ["a"]}]),
        {"spec": {"hostAliases": [{"ip": "10.0.0.1", "hostnames": ["b"]}, {"ip": "10.0.0.2"}]}},
        ("spec", "hostAliases"),
        [{"ip": "10.0.0.1", "hostnames": ["b"]}, {"ip": "10.0.0.2"}],
        id="hostAliases-by-ip-with-atomic-hostnames",
    ),
    pytest.param(
        "Service",
        {"spec": {"ports": [{"port": 80, "targetPort": 8080}]}},
        {"spec": {"ports": [{"port": 80, "targetPort": 9090}, {"port": 443}]}},
        ("spec", "ports"),
        [{"port": 80, "targetPort": 9090}, {"port": 443}],
        id="service-ports-by-port",
    ),
    pytest.param(
        "Node",
        {"status": {"addresses": [{"type": "InternalIP", "address": "10.0.0.1"}]}},
        {"status": {"addresses": [{"type": "Hostname", "address": "n1"}]}},
        ("status", "addresses"),
        [{"type": "InternalIP", "address": "10.0.0.1"}, {"type": "Hostname", "address": "n1"}],
        id="node-addresses-by-type",
    ),
    pytest.param(
        "Pod",
        {"metadata": {"ownerReferences": [{"uid": "u1", "name": "rs", "controller": True}]}},
        {"metadata": {"ownerReferences": [{"uid": "u1", "blockOwnerDeletion": True},
                                          {"uid": "u2", "name": "other"}]}},
        ("metadata", "ownerReferences"),
        [{"uid": "u1", "name": "rs", "controller": True, "blockOwnerDeletion": True},
         {"uid": "u2", "name": "other"}],
        id="ownerReferences-by-uid",
    ),
]


def dig(value: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        value = value[step]
    return value


@pytest.mark.parametrize(("kind", "original", "patch", "where", "expected"), KEYED_LISTS)
def test_keyed_lists_merge_by_their_merge_key(
    kind: str, original: dict[str, Any], patch: dict[str, Any], where: tuple[Any, ...],
    expected: list[Any],
) -> None:
    assert dig(strategic_merge_patch(original, patch, kind=kind), where) == expected


CONDITION_KINDS = ["Pod", "Node", "Deployment", "PodDisruptionBudget", "CloneSet"]


@pytest.mark.parametrize("kind", CONDITION_KINDS)
def test_status_conditions_merge_by_type_for_every_kind(kind: str) -> None:
    original = {"status": {"conditions": [
        {"type": "Ready", "status": "False", "reason": "Starting"},
        {"type": "Scheduled", "status": "True"},
    ]}}
    patch = {"status": {"conditions": [{"type": "Ready", "status": "True", "reason": None},
                                       {"type": "Extra", "status": "True"}]}}
    assert strategic_merge_patch(original, patch, kind=kind)["status"]["conditions"] == [
        {"type": "Ready", "status": "True"},
        {"type": "Scheduled", "status": "True"},
        {"type": "Extra", "status": "True"},
    ]


def test_new_keyed_elements_are_appended_in_patch_order() -> None:
    original = pod(container("b"))
    patch = {"spec": {"containers": [{"name": "z"}, {"name": "b", "image": "x"}, {"name": "a"}]}}
    names = [c["name"] for c in strategic_merge_patch(original, patch, kind="Pod")["spec"][
        "containers"]]
    assert names == ["b", "z", "a"]


def test_finalizers_merge_as_an_ordered_set() -> None:
    original = {"metadata": {"finalizers": ["a", "b"]}}
    patch = {"metadata": {"finalizers": ["c", "a", "c"]}}
    patched = strategic_merge_patch(original, patch, kind="Namespace")
    assert patched["metadata"]["finalizers"] == ["a", "b", "c"]


# ------------------------------------------------------------------------------------------
# Strategic merge patch: atomic lists and maps
# ------------------------------------------------------------------------------------------


def test_tolerations_are_replaced_atomically() -> None:
    original = pod(container("c"), tolerations=[{"key": "a", "operator": "Exists"},
                                                {"key": "b", "operator": "Exists"}])
    patch = {"spec": {"tolerations": [{"key": "a", "effect": "NoSchedule"}]}}
    patched = strategic_merge_patch(original, patch, kind="Pod")
    assert patched["spec"]["tolerations"] == [{"key": "a", "effect": "NoSchedule"}]


ATOMIC_LISTS = [
    pytest.param("Pod", ("spec", "containers", 0, "args"),
                 {"spec": {"containers": [{"name": "c", "args": ["--new"]}]}}, ["--new"],
                 id="container-args"),
    pytest.param("Pod", ("spec", "containers", 0, "command"),
                 {"spec": {"containers": [{"name": "c", "command": ["sh"]}]}}, ["sh"],
                 id="container-command"),
    pytest.param("Pod", ("spec", "readinessGates"),
                 {"spec": {"readinessGates": [{"conditionType": "b"}]}},
                 [{"conditionType": "b"}], id="readinessGates"),
    pytest.param("Pod", ("status", "containerStatuses"),
                 {"status": {"containerStatuses": [{"name": "c", "ready": True}]}},
                 [{"name": "c", "ready": True}], id="pod-containerStatuses"),
    pytest.param("Node", ("spec", "taints"),
                 {"spec": {"taints": [{"key": "b", "effect": "NoSchedule"}]}},
                 [{"key": "b", "effect": "NoSchedule"}], id="node-taints"),
    pytest.param("Node", ("status", "images"),
                 {"status": {"images": [{"names": ["b"]}]}}, [{"names": ["b"]}],
                 id="node-images"),
    pytest.param("Widget", ("spec", "items"),
                 {"spec": {"items": [{"name": "b"}]}}, [{"name": "b"}],
                 id="unknown-kind-lists"),
    pytest.param("Deployment", ("spec", "containers"),
                 {"spec": {"containers": [{"name": "b"}]}}, [{"name": "b"}],
                 id="containers-outside-a-pod-spec"),
]

ATOMIC_ORIGINAL: dict[str, Any] = {
    "spec": {
        "containers": [container("c", args=["--old"], command=["bash"])],
        "readinessGates": [{"conditionType": "a"}],
        "taints": [{"key": "a", "effect": "NoExecute"}],
        "items": [{"name": "a"}],
    },
    "status": {
        "containerStatuses": [{"name": "c", "ready": False, "restartCount": 3},
                              {"name": "d", "ready": True}],
        "images": [{"names": ["a"]}],
    },
}


@pytest.mark.parametrize(("kind", "where", "patch", "expected"), ATOMIC_LISTS)
def test_lists_without_a_merge_key_are_replaced_atomically(
    kind: str, where: tuple[Any, ...], patch: dict[str, Any], expected: list[Any]
) -> None:
    assert dig(strategic_merge_patch(ATOMIC_ORIGINAL, patch, kind=kind), where) == expected


def test_maps_merge_recursively_and_null_deletes_a_key() -> None:
    original = {"spec": {"unschedulable": True, "podCIDR": "10.0.0.0/24"},
                "metadata": {"labels": {"a": "1", "b": "2"}}}
    patch = {"spec": {"unschedulable": None}, "metadata": {"labels": {"b": None, "c": "3"}}}
    assert strategic_merge_patch(original, patch, kind="Node") == {
        "spec": {"podCIDR": "10.0.0.0/24"},
        "metadata": {"labels": {"a": "1", "c": "3"}},
    }


TYPE_MISMATCHES = [
    pytest.param({"a": [1, 2]}, {"a": {"b": 1}}, {"a": {"b": 1}}, id="map-over-list"),
    pytest.param({"a": {"b": 1}}, {"a": [3]}, {"a": [3]}, id="list-over-map"),
    pytest.param({"a": "text"}, {"a": {"b": None, "c": 1}}, {"a": {"c": 1}}, id="map-over-string"),
    pytest.param({"a": {"b": 1}}, {"a": 7}, {"a": 7}, id="number-over-map"),
]


@pytest.mark.parametrize(("original", "patch", "expected"), TYPE_MISMATCHES)
def test_on_a_type_mismatch_the_patch_value_replaces(original: dict[str, Any],
                                                     patch: dict[str, Any], expected: Any) -> None:
    assert strategic_merge_patch(original, patch, kind="ConfigMap") == expected


# ------------------------------------------------------------------------------------------
# Strategic merge patch: directives
# ------------------------------------------------------------------------------------------


def test_set_element_order_is_dropped_and_orders_containers() -> None:
    original = pod(container("a"), container("b"), container("c"))
    patch = {"spec": {"$setElementOrder/containers": [{"name": "c"}, {"name": "a"}],
                      "containers": [{"name": "a", "image": "x"}]}}
    patched = strategic_merge_patch(original, patch, kind="Pod")
    assert [c["name"] for c in patched["spec"]["containers"]] == ["c", "a", "b"]
    assert patched["spec"]["containers"][1]["image"] == "x"
    assert "$setElementOrder/containers" not in patched["spec"]


def test_set_element_order_orders_a_primitive_list() -> None:
    original = {"metadata": {"finalizers": ["a", "b"]}}
    patch = {"metadata": {"$setElementOrder/finalizers": ["c", "b", "a"], "finalizers": ["c"]}}
    patched = strategic_merge_patch(original, patch, kind="Pod")
    assert patched == {"metadata": {"finalizers": ["c", "b", "a"]}}


def test_delete_directive_removes_keyed_container() -> None:
    original = pod(container("app"), container("sidecar"))
    patch = {"spec": {"containers": [{"$patch": "delete", "name": "sidecar"}]}}
    patched = strategic_merge_patch(original, patch, kind="Pod")
    assert patched["spec"]["containers"] == [container("app")]


def test_delete_directive_for_an_absent_element_changes_nothing() -> None:
    original = pod(container("app"))
    patch = {"spec": {"containers": [{"$patch": "delete", "name": "ghost"}]}}
    assert strategic_merge_patch(original, patch, kind="Pod") == original


def test_replace_directive_in_a_map_replaces_the_map() -> None:
    original = {"metadata": {"labels": {"a": "1", "b": "2"}}}
    patch = {"metadata": {"labels": {"$patch": "replace", "c": "3"}}}
    patched = strategic_merge_patch(original, patch, kind="ConfigMap")
    assert patched == {"metadata": {"labels": {"c": "3"}}}


def test_replace_directive_in_a_list_replaces_the_whole_list() -> None:
    original = pod(container("a", env=[{"name": "X", "value": "1"}]), container("b"))
    patch = {"spec": {"containers": [{"name": "n", "image": "x"}, {"$patch": "replace"}]}}
    patched = strategic_merge_patch(original, patch, kind="Pod")
    assert patched["spec"]["containers"] == [container("n", "x")]


def test_delete_directive_on_a_map_value_deletes_the_map() -> None:
    original = {"spec": {"selector": {"app": "web"}, "type": "ClusterIP"}}
    patch = {"spec": {"selector": {"$patch": "delete"}}}
    assert strategic_merge_patch(original, patch, kind="Service") == {"spec": {"type": "ClusterIP"}}


def test_retain_keys_keeps_only_the_listed_keys() -> None:
    original = workload("Deployment", container("c"))
    original["spec"]["strategy"] = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}
    patch = {"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}}
    patched = strategic_merge_patch(original, patch, kind="Deployment")
    assert patched["spec"]["strategy"] == {"type": "Recreate"}


def test_retain_keys_inside_a_keyed_volume_switches_its_source() -> None:
    original = pod(container("c"), volumes=[{"name": "v", "emptyDir": {}}])
    patch = {"spec": {"volumes": [{"$retainKeys": ["configMap", "name"], "name": "v",
                                   "configMap": {"name": "cm"}}]}}
    patched = strategic_merge_patch(original, patch, kind="Pod")
    assert patched["spec"]["volumes"] == [{"name": "v", "configMap": {"name": "cm"}}]


def test_delete_from_primitive_list_removes_those_values() -> None:
    original = {"metadata": {"finalizers": ["a", "b", "c"]}}
    patch = {"metadata": {"$deleteFromPrimitiveList/finalizers": ["b", "zzz"]}}
    patched = strategic_merge_patch(original, patch, kind="Pod")
    assert patched == {"metadata": {"finalizers": ["a", "c"]}}


def test_directives_never_reach_the_result() -> None:
    original = pod(container("a", env=[{"name": "X"}]), container("b"))
    patch = {
        "metadata": {"$deleteFromPrimitiveList/finalizers": ["x"],
                     "$setElementOrder/finalizers": ["y"], "finalizers": ["y"]},
        "spec": {
            "$setElementOrder/containers": [{"name": "b"}, {"name": "a"}, {"name": "new"}],
            "containers": [
                {"name": "a", "$setElementOrder/env": [{"name": "X"}],
                 "env": [{"name": "X", "value": "1"}]},
                {"name": "new", "env": [{"$patch": "replace"}, {"name": "E", "value": "v"}],
                 "resources": {"$retainKeys": ["limits"], "limits": {"cpu": "1"}}},
            ],
            "tolerations": [{"key": "t"}, {"$patch": "replace"}],
            "nodeSelector": {"$patch": "replace", "zone": "a"},
        },
    }
    patched = strategic_merge_patch(original, patch, kind="Pod")
    assert not has_directive(patched)
    assert [c["name"] for c in patched["spec"]["containers"]] == ["b", "a", "new"]
    assert patched["spec"]["containers"][2]["env"] == [{"name": "E", "value": "v"}]
    assert patched["spec"]["tolerations"] == [{"key": "t"}]
    assert patched["spec"]["nodeSelector"] == {"zone": "a"}


def test_fields_that_merely_start_with_a_dollar_are_kept() -> None:
    original = {"spec": {"schema": {"type": "object"}}}
    patch = {"spec": {"schema": {"$ref": "#/definitions/x"}}}
    patched = strategic_merge_patch(original, patch, kind="CustomResourceDefinition")
    assert patched == {"spec": {"schema": {"type": "object", "$ref": "#/definitions/x"}}}


# ------------------------------------------------------------------------------------------
# Strategic merge patch: bad patches
# ------------------------------------------------------------------------------------------


def test_element_without_its_merge_key_is_a_bad_request() -> None:
    with pytest.raises(BadRequest) as caught:
        strategic_merge_patch(pod(container("c")), {"spec": {"containers": [{"image": "x"}]}},
                              kind="Pod")
    assert caught.value.code == 400
    assert caught.value.message.startswith(
        'spec.containers: every element of a strategic merge patch list needs its merge key '
        '"name"'
    )


def test_missing_merge_key_names_the_full_nested_field() -> None:
    patch = template_patch({"containers": [{"name": "c", "env": [{"value": "1"}]}]})
    with pytest.raises(BadRequest, match=r'^spec\.template\.spec\.containers\.env: .* "name"'):
        strategic_merge_patch(workload("Deployment", container("c")), patch, kind="Deployment")


BAD_DIRECTIVES = [
    pytest.param({"metadata": {"labels": {"$patch": "explode"}}}, "unknown strategic merge",
                 id="unknown-map-patch-type"),
    pytest.param({"spec": {"containers": [{"$patch": "merge", "name": "c"}]}},
                 "unknown strategic merge", id="unknown-list-patch-type"),
    pytest.param({"spec": {"$retainKeys": "containers"}}, "'$retainKeys' needs a list",
                 id="retain-keys-not-a-list"),
    pytest.param({"spec": {"$setElementOrder/containers": {"name": "c"}}},
                 "'$setElementOrder/containers' needs a list", id="element-order-not-a-list"),
    pytest.param({"metadata": {"$deleteFromPrimitiveList/finalizers": "a"}},
                 "'$deleteFromPrimitiveList/finalizers' needs a list",
                 id="delete-from-list-not-a-list"),
    pytest.param({"spec": {"containers": ["c"]}}, 'needs its merge key "name"',
                 id="keyed-list-element-not-an-object"),
]


@pytest.mark.parametrize(("patch", "reason"), BAD_DIRECTIVES)
def test_malformed_directives_are_bad_requests(patch: dict[str, Any], reason: str) -> None:
    with pytest.raises(BadRequest) as caught:
        strategic_merge_patch(pod(container("c")), patch, kind="Pod")
    assert reason in caught.value.message


def test_a_non_object_strategic_patch_is_a_bad_request() -> None:
    with pytest.raises(BadRequest, match="must be a JSON object"):
        strategic_merge_patch(pod(), [{"op": "add"}], kind="Pod")  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------
# Properties
# ------------------------------------------------------------------------------------------

KEYS = ["spec", "status", "metadata", "containers", "env", "name", "image", "conditions",
        "type", "finalizers", "template", "tolerations", "a", "$patch", "$retainKeys",
        "$setElementOrder/containers", "$deleteFromPrimitiveList/finalizers"]
SCALARS = st.none() | st.booleans() | st.integers(-3, 3) | st.sampled_from(
    ["a", "b", "c", "replace", "delete", "name"])
JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(KEYS), inner,
                                                                max_size=4),
    max_leaves=20,
)
OBJECTS = st.dictionaries(st.sampled_from(KEYS), JSON, max_size=5)
KINDS = st.sampled_from(["Pod", "Deployment", "Node", "Service", "Widget"])


@settings(max_examples=300, deadline=None)
@given(original=JSON, patch=JSON)
def test_json_merge_patch_never_mutates_its_inputs(original: Any, patch: Any) -> None:
    original_before, patch_before = copy.deepcopy(original), copy.deepcopy(patch)
    json_merge_patch(original, patch)
    assert original == original_before
    assert patch == patch_before


@settings(max_examples=300, deadline=None)
@given(original=OBJECTS, patch=OBJECTS, kind=KINDS)
def test_strategic_merge_patch_never_mutates_its_inputs(
    original: dict[str, Any], patch: dict[str, Any], kind: str
) -> None:
    original_before, patch_before = copy.deepcopy(original), copy.deepcopy(patch)
    try:
        patched = strategic_merge_patch(original, patch, kind=kind)
    except BadRequest:
        pass
    else:
        _scribble(patched)
    assert original == original_before
    assert patch == patch_before


def _scribble(value: Any) -> None:
    """Mutate every container in ``value``: the result must share none with the inputs."""
    if isinstance(value, dict):
        for item in list(value.values()):
            _scribble(item)
        value["scribbled"] = True
    elif isinstance(value, list):
        for item in value:
            _scribble(item)
        value.append("scribbled")


@settings(max_examples=200, deadline=None)
@given(original=JSON, patch=JSON)
def test_json_merge_patch_is_idempotent(original: Any, patch: Any) -> None:
    once = json_merge_patch(original, patch)
    assert json_merge_patch(once, patch) == once
