"""Tests for kitlib.apiserver.protobuf: real kubectl bodies plus hand-built edge cases.

The ``fixtures/protobuf/*.bin`` bodies were captured from kubectl 1.32/1.33 (see the
README there); the ``*-1.31.json`` files are what kubectl 1.31 sends as JSON for the same
commands, so decoding the protobuf must give exactly that JSON (minus its nulls).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from kitlib.apiserver.protobuf import MAGIC, PROTOBUF_CONTENT_TYPE, decode_request
from kitlib.model.errors import UnsupportedMediaType

FIXTURES = Path(__file__).parent / "fixtures" / "protobuf"
VERSIONS = ("1.32", "1.33")

_DEPLOYMENT_LABELS = {"app": "web"}
#: PodDisruptionBudgetStatus's counters have no omitempty: zeros are sent.
_PDB_STATUS = {"disruptionsAllowed": 0, "currentHealthy": 0, "desiredHealthy": 0,
               "expectedPods": 0}

EXPECTED: dict[str, dict[str, Any]] = {
    "namespace": {
        "kind": "Namespace", "apiVersion": "v1",
        "metadata": {"name": "demo"}, "spec": {}, "status": {},
    },
    "configmap": {
        "kind": "ConfigMap", "apiVersion": "v1",
        "metadata": {"name": "cfg"}, "data": {"a": "b"},
    },
    "configmap-full": {
        "kind": "ConfigMap", "apiVersion": "v1",
        "metadata": {"name": "cfg"},
        "data": {"a": "b", "empty": ""},
        "binaryData": {"blob": "AP/+gA=="},
    },
    "deployment": {
        "kind": "Deployment", "apiVersion": "apps/v1",
        "metadata": {"name": "web", "labels": _DEPLOYMENT_LABELS},
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": _DEPLOYMENT_LABELS},
            "template": {
                "metadata": {"labels": _DEPLOYMENT_LABELS},
                "spec": {"containers": [{"name": "nginx", "image": "nginx:1.25", "resources": {}}]},
            },
            "strategy": {},
        },
        "status": {},
    },
    "deployment-full": {
        "kind": "Deployment", "apiVersion": "apps/v1",
        "metadata": {"name": "web", "labels": _DEPLOYMENT_LABELS},
        "spec": {
            "replicas": 0,
            "selector": {"matchLabels": _DEPLOYMENT_LABELS},
            "template": {
                "metadata": {"labels": _DEPLOYMENT_LABELS},
                "spec": {"containers": [{
                    "name": "nginx",
                    "image": "nginx:1.25",
                    "command": ["nginx", "-g", "daemon off;"],
                    "ports": [{"containerPort": 8080}],
                    "resources": {},
                }]},
            },
            "strategy": {},
        },
        "status": {},
    },
    "secret": {
        "kind": "Secret", "apiVersion": "v1",
        "metadata": {"name": "sec"}, "data": {"a": "Yg==", "blob": "AP/+gA=="},
    },
    "serviceaccount": {"kind": "ServiceAccount", "apiVersion": "v1", "metadata": {"name": "robot"}},
    "service": {
        "kind": "Service", "apiVersion": "v1",
        "metadata": {"name": "web", "labels": {"app": "web"}},
        "spec": {
            "ports": [{"name": "80-8080", "protocol": "TCP", "port": 80, "targetPort": 8080}],
            "selector": {"app": "web"}, "type": "ClusterIP",
        },
        "status": {"loadBalancer": {}},
    },
    "service-full": {
        "kind": "Service", "apiVersion": "v1",
        "metadata": {"name": "web", "labels": {"app": "web"}},
        "spec": {
            "ports": [{"name": "80-http", "protocol": "TCP", "port": 80, "targetPort": "http",
                       "nodePort": 30080}],
            "selector": {"app": "web"}, "type": "NodePort",
        },
        "status": {"loadBalancer": {}},
    },
    "pdb": {
        "kind": "PodDisruptionBudget", "apiVersion": "policy/v1",
        "metadata": {"name": "web"},
        "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "web"}}},
        "status": _PDB_STATUS,
    },
    "pdb-full": {
        "kind": "PodDisruptionBudget", "apiVersion": "policy/v1",
        "metadata": {"name": "web"},
        "spec": {"selector": {"matchLabels": {"app": "web"}}, "maxUnavailable": "25%"},
        "status": _PDB_STATUS,
    },
    "deleteoptions": {"kind": "DeleteOptions", "apiVersion": "v1"},
    "deleteoptions-full": {"kind": "DeleteOptions", "apiVersion": "v1", "gracePeriodSeconds": 0},
}


def _fixture(name: str, version: str) -> bytes:
    return (FIXTURES / f"{name}-{version}.bin").read_bytes()


def _without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


# --- a minimal protobuf encoder for hand-built bodies ------------------------------------


def _varint(value: int) -> bytes:
    value &= (1 << 64) - 1
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _num(number: int, value: int) -> bytes:
    return _varint(number << 3) + _varint(value)


def _len(number: int, payload: bytes | str) -> bytes:
    data = payload.encode() if isinstance(payload, str) else payload
    return _varint(number << 3 | 2) + _varint(len(data)) + data


def _entry(number: int, key: str, value: bytes | str) -> bytes:
    return _len(number, _len(1, key) + _len(2, value))


def _envelope(api_version: str, kind: str, raw: bytes, encoding: str = "") -> bytes:
    type_meta = _len(1, api_version) + _len(2, kind)
    return MAGIC + _len(1, type_meta) + _len(2, raw) + _len(3, encoding) + _len(4, "")


def _decode_error(body: bytes) -> UnsupportedMediaType:
    with pytest.raises(UnsupportedMediaType) as caught:
        decode_request(body)
    return caught.value


# --- real kubectl bodies ------------------------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_real_kubectl_body_decodes_to_expected_json(name: str, version: str) -> None:
    assert decode_request(_fixture(name, version)) == EXPECTED[name]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_protobuf_body_equals_the_json_body_kubectl_131_sends(name: str) -> None:
    sent_as_json = json.loads((FIXTURES / f"{name}-1.31.json").read_bytes())
    assert decode_request(_fixture(name, "1.32")) == _without_nulls(sent_as_json)


def test_content_type_constant() -> None:
    assert PROTOBUF_CONTENT_TYPE == "application/vnd.kubernetes.protobuf"


# --- hand-built bodies --------------------------------------------------------------------


def test_delete_options_with_every_field() -> None:
    preconditions = _len(1, "uid-1") + _len(2, "42")
    raw = (
        _num(1, 30) + _len(2, preconditions) + _num(3, 0) + _len(4, "Foreground")
        + _len(5, "All") + _num(6, 1)
    )
    assert decode_request(_envelope("v1", "DeleteOptions", raw)) == {
        "kind": "DeleteOptions", "apiVersion": "v1",
        "gracePeriodSeconds": 30,
        "preconditions": {"uid": "uid-1", "resourceVersion": "42"},
        "orphanDependents": False,
        "propagationPolicy": "Foreground",
        "dryRun": ["All"],
        "ignoreStoreReadErrorWithClusterBreakingPotential": True,
    }


@pytest.mark.parametrize("api_version", ["meta.k8s.io/v1", "apps/v1", "policy/v1"])
def test_delete_options_is_accepted_in_any_group_version(api_version: str) -> None:
    raw = _num(1, (1 << 64) - 1)  # gracePeriodSeconds = -1, a 10-byte varint
    assert decode_request(_envelope(api_version, "DeleteOptions", raw)) == {
        "kind": "DeleteOptions", "apiVersion": api_version, "gracePeriodSeconds": -1,
    }


def _hand_built_deployment() -> bytes:
    owner = _len(5, "apps/v1") + _len(1, "Thing") + _len(3, "t") + _len(4, "u") + _num(6, 1)
    metadata = (
        _len(1, "web") + _len(3, "ns") + _len(8, _num(1, 1767225600)) + _num(7, 2)
        + _entry(12, "note", "x") + _len(13, owner) + _len(14, "f1")
        + _num(99, 7) + _len(100, "ignored")  # unknown fields are skipped
    )
    container = (
        _len(1, "app") + _len(2, "img") + _len(4, "--flag")
        + _len(6, _len(1, "http") + _num(3, 80) + _len(4, "TCP"))
        + _len(7, _len(1, "A") + _len(2, "1"))
        + _len(7, _len(1, "B") + _len(3, _len(3, _len(1, _len(1, "cm")) + _len(2, "k"))))
        + _len(8, _entry(1, "cpu", _len(1, "500m")) + _entry(2, "memory", _len(1, "64Mi")))
        + _len(14, "IfNotPresent")
        + bytes([0xFD, 0x07]) + b"\x01\x02\x03\x04"  # unknown fixed32 field 127
        + bytes([0xF9, 0x07]) + bytes(8)  # unknown fixed64 field 127
    )
    toleration = _len(1, "k") + _len(2, "Exists") + _num(5, 0)
    pod_spec = (
        _len(2, container) + _num(4, 0) + _entry(7, "disk", "ssd") + _len(22, toleration)
        + _len(1, _len(1, "data") + _len(2, _len(2, b"")))
    )
    template = _len(1, b"") + _len(2, pod_spec)
    rolling = _len(1, _num(1, 1) + _len(3, "25%")) + _len(2, _num(1, 0) + _num(2, 2))
    selector = _len(2, _len(1, "tier") + _len(2, "In") + _len(3, "a") + _len(3, "b"))
    spec = (
        _num(1, 2) + _len(2, selector) + _len(3, template)
        + _len(4, _len(1, "RollingUpdate") + _len(2, rolling)) + _num(7, 1) + _num(6, 0)
    )
    status = _len(6, _len(1, "Available") + _len(2, "True") + _len(7, b""))
    return _envelope("apps/v1", "Deployment", _len(1, metadata) + _len(2, spec) + _len(3, status))


def test_hand_built_deployment_covers_nested_types() -> None:
    assert decode_request(_hand_built_deployment()) == {
        "kind": "Deployment", "apiVersion": "apps/v1",
        "metadata": {
            "name": "web", "namespace": "ns", "generation": 2,
            "creationTimestamp": "2026-01-01T00:00:00Z",
            "annotations": {"note": "x"},
            "ownerReferences": [
                {"apiVersion": "apps/v1", "kind": "Thing", "name": "t", "uid": "u",
                 "controller": True},
            ],
            "finalizers": ["f1"],
        },
        "spec": {
            "replicas": 2,
            "selector": {"matchExpressions": [
                {"key": "tier", "operator": "In", "values": ["a", "b"]},
            ]},
            "template": {
                "metadata": {},
                "spec": {
                    "containers": [{
                        "name": "app", "image": "img", "args": ["--flag"],
                        "ports": [{"name": "http", "containerPort": 80, "protocol": "TCP"}],
                        "env": [
                            {"name": "A", "value": "1"},
                            {"name": "B", "valueFrom": {"configMapKeyRef": {"name": "cm",
                                                                            "key": "k"}}},
                        ],
                        "resources": {"limits": {"cpu": "500m"}, "requests": {"memory": "64Mi"}},
                        "imagePullPolicy": "IfNotPresent",
                    }],
                    "terminationGracePeriodSeconds": 0,
                    "nodeSelector": {"disk": "ssd"},
                    "tolerations": [{"key": "k", "operator": "Exists", "tolerationSeconds": 0}],
                    "volumes": [{"name": "data", "emptyDir": {}}],
                },
            },
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": 2},
            },
            "paused": True,
            "revisionHistoryLimit": 0,
        },
        "status": {"conditions": [{"type": "Available", "status": "True"}]},
    }


def test_namespace_with_finalizers_and_labels() -> None:
    raw = (
        _len(1, _len(1, "demo") + _entry(11, "team", "a") + _entry(11, "env", ""))
        + _len(2, _len(1, "kubernetes")) + _len(3, _len(1, "Active"))
    )
    assert decode_request(_envelope("v1", "Namespace", raw)) == {
        "kind": "Namespace", "apiVersion": "v1",
        "metadata": {"name": "demo", "labels": {"team": "a", "env": ""}},
        "spec": {"finalizers": ["kubernetes"]},
        "status": {"phase": "Active"},
    }


def test_configmap_immutable_false_is_kept() -> None:
    raw = _len(1, _len(1, "cfg")) + _num(4, 0)
    assert decode_request(_envelope("v1", "ConfigMap", raw)) == {
        "kind": "ConfigMap", "apiVersion": "v1", "metadata": {"name": "cfg"}, "immutable": False,
    }


# --- 415s ---------------------------------------------------------------------------------


@pytest.mark.parametrize("body", [b"", b"k8s", b'{"kind":"Namespace"}', b"\x0a\x02v1"])
def test_body_without_magic_is_415(body: bytes) -> None:
    error = _decode_error(body)
    assert error.code == 415
    assert error.reason == "UnsupportedMediaType"
    assert "k8s\\x00" in error.message


def test_every_truncation_of_a_real_body_is_415() -> None:
    body = _fixture("deployment", "1.33")
    # Cutting at an envelope field boundary leaves valid protobuf: right after typeMeta
    # (a Deployment with no raw) or inside the empty contentEncoding/contentType trailer.
    type_meta_end = len(MAGIC) + len(_len(1, _len(1, "apps/v1") + _len(2, "Deployment")))
    raw_end = len(body) - len(_len(3, "") + _len(4, ""))
    for cut in range(len(MAGIC), raw_end):
        if cut != type_meta_end:
            with pytest.raises(UnsupportedMediaType):
                decode_request(body[:cut])
    assert decode_request(body[:type_meta_end]) == {"kind": "Deployment", "apiVersion": "apps/v1"}
    assert decode_request(body[:raw_end]) == EXPECTED["deployment"]


def test_truncated_body_message_says_what_is_wrong() -> None:
    error = _decode_error(_fixture("configmap", "1.32")[:-10])
    assert error.to_status()["code"] == 415
    prefix = f"cannot decode the protobuf request body ({PROTOBUF_CONTENT_TYPE})"
    assert error.message.startswith(prefix)
    assert "runs past the end" in error.message


@pytest.mark.parametrize(
    ("raw", "detail"),
    [
        (b"\x0b", "unsupported wire type 3"),  # a proto2 group
        (b"\x02\x00", "field number 0"),
        (_num(1, 5), "wire type 0 where ObjectMeta expects 2"),
        (_len(1, _num(11, 5)), "wire type 0 where labels expects 2"),
        (_len(1, b"\x3d" + bytes(4)), "wire type 5 where int64 expects 0"),
        (_len(1, _len(1, b"\xff\xfe")), "not valid UTF-8"),
        (_len(1, b"\x38" + b"\xff" * 11), "varint longer than 10 bytes"),
        (_len(1, _len(8, _num(1, 1 << 62))), "timestamp is out of range"),
    ],
)
def test_corrupt_wire_data_is_415(raw: bytes, detail: str) -> None:
    error = _decode_error(_envelope("v1", "Namespace", raw))
    assert error.code == 415
    assert detail in error.message


def test_bad_int_or_string_type_is_415() -> None:
    rolling = _len(1, _num(1, 7))
    raw = _len(2, _len(4, _len(2, rolling)))
    assert "IntOrString has unknown type 7" in _decode_error(
        _envelope("apps/v1", "Deployment", raw)).message


def test_content_encoding_is_415() -> None:
    error = _decode_error(_envelope("v1", "Namespace", b"", encoding="gzip"))
    assert "content encoding 'gzip' is not supported" in error.message


@pytest.mark.parametrize(
    ("api_version", "kind"),
    [("apps/v1", "StatefulSet"), ("v1", "Pod"), ("apps/v1", "Namespace"), ("v1", "Deployment")],
)
def test_unsupported_kind_is_415_with_a_hint(api_version: str, kind: str) -> None:
    error = _decode_error(_envelope(api_version, kind, b""))
    assert error.code == 415
    assert error.message == (
        "protobuf request bodies are supported only for Namespace, ConfigMap, Secret, "
        "ServiceAccount, Service, Deployment, PodDisruptionBudget and DeleteOptions; got "
        f"{api_version} {kind}. Send JSON instead, e.g. "
        '"kubectl create ... -o yaml --dry-run=client | kubectl apply -f -"'
    )


def test_envelope_without_type_meta_is_415() -> None:
    error = _decode_error(MAGIC)
    assert "got an object without apiVersion and kind" in error.message
