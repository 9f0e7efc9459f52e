"""Decoding of the Kubernetes protobuf request bodies that kubectl >= 1.32 sends.

This module owns the ``application/vnd.kubernetes.protobuf`` request format: the
``k8s\\x00`` envelope, a small generic protobuf wire-format reader (no dependency on
``google.protobuf``), and the schema tables that turn the wire data of the kinds
kubectl's typed ``create`` commands and ``drain``'s DELETE fallback send for the kinds
served here (Namespace, ConfigMap, Secret, ServiceAccount, Service, Deployment,
PodDisruptionBudget, DeleteOptions) into the same JSON-shaped dict the JSON body would
have produced. Anything else is answered with 415 and a hint to send JSON.

Kubernetes marshals with gogo-protobuf proto2 semantics: non-pointer Go fields are
always on the wire, even when zero, while pointer fields are on the wire only when set.
The decoder therefore mirrors Go's ``omitempty``: a zero scalar is dropped unless its
field is a pointer (``replicas: 0`` and ``gracePeriodSeconds: 0`` are meaningful), a
sub-message that was present becomes a dict (``{}`` when empty), and a zero ``Time``
(an empty message) is omitted rather than rendered as ``null``.

Field numbers come from the upstream ``generated.proto`` files of ``k8s.io/api``
(``core/v1``, ``apps/v1``) and ``k8s.io/apimachinery`` (``pkg/apis/meta/v1``,
``pkg/runtime``, ``pkg/util/intstr``, ``pkg/api/resource``).
"""

from __future__ import annotations

import base64
import datetime
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from kitlib.model.errors import UnsupportedMediaType

__all__ = ["MAGIC", "PROTOBUF_CONTENT_TYPE", "decode_request"]

PROTOBUF_CONTENT_TYPE = "application/vnd.kubernetes.protobuf"
MAGIC = b"k8s\x00"

_JSON_HINT = (
    'Send JSON instead, e.g. "kubectl create ... -o yaml --dry-run=client | kubectl apply -f -"'
)

# Wire types (https://protobuf.dev/programming-guides/encoding/).
_VARINT, _I64, _LEN, _I32 = 0, 1, 2, 5
# "raw" is bytes kept as bytes (the envelope's payload); "bytes" is base64 text, as in JSON.
_SCALARS = frozenset({"string", "bool", "int32", "int64", "bytes", "raw"})
_VARINT_TYPES = frozenset({"bool", "int32", "int64"})


@dataclass(frozen=True)
class Field:
    """One proto field: its JSON name and how to decode it.

    ``type`` is a scalar (string, bool, int32, int64, bytes) or a message name (a key of
    ``_MESSAGES`` or ``_CONVERTERS``). ``label`` is "" (singular), "repeated", "map"
    (``map<string, type>``) or "inline" (a Go embedded struct whose fields are merged
    into the parent). ``pointer`` marks Go pointer fields, whose zero values are kept (also
    used for the few non-pointer fields whose JSON tag has no ``omitempty``).
    """

    name: str
    type: str = "string"
    label: str = ""
    pointer: bool = False


def _f(name: str, type_: str = "string") -> Field:
    return Field(name, type_)


def _ptr(name: str, type_: str = "string") -> Field:
    return Field(name, type_, pointer=True)


def _rep(name: str, type_: str = "string") -> Field:
    return Field(name, type_, label="repeated")


def _map(name: str, type_: str = "string") -> Field:
    return Field(name, type_, label="map")


def _inline(type_: str) -> Field:
    return Field("", type_, label="inline")


Schema = dict[int, Field]

# --- k8s.io/apimachinery ----------------------------------------------------------------

_META: dict[str, Schema] = {
    "TypeMeta": {1: _f("apiVersion"), 2: _f("kind")},
    "Unknown": {
        1: _f("typeMeta", "TypeMeta"),
        2: _f("raw", "raw"),
        3: _f("contentEncoding"),
        4: _f("contentType"),
    },
    "ObjectMeta": {
        1: _f("name"),
        2: _f("generateName"),
        3: _f("namespace"),
        4: _f("selfLink"),
        5: _f("uid"),
        6: _f("resourceVersion"),
        7: _f("generation", "int64"),
        8: _f("creationTimestamp", "Time"),
        9: _ptr("deletionTimestamp", "Time"),
        10: _ptr("deletionGracePeriodSeconds", "int64"),
        11: _map("labels"),
        12: _map("annotations"),
        13: _rep("ownerReferences", "OwnerReference"),
        14: _rep("finalizers"),
    },
    "OwnerReference": {
        5: _f("apiVersion"),
        1: _f("kind"),
        3: _f("name"),
        4: _f("uid"),
        6: _ptr("controller", "bool"),
        7: _ptr("blockOwnerDeletion", "bool"),
    },
    "LabelSelector": {
        1: _map("matchLabels"),
        2: _rep("matchExpressions", "LabelSelectorRequirement"),
    },
    "LabelSelectorRequirement": {1: _f("key"), 2: _f("operator"), 3: _rep("values")},
    "DeleteOptions": {
        1: _ptr("gracePeriodSeconds", "int64"),
        2: _ptr("preconditions", "Preconditions"),
        3: _ptr("orphanDependents", "bool"),
        4: _ptr("propagationPolicy"),
        5: _rep("dryRun"),
        6: _ptr("ignoreStoreReadErrorWithClusterBreakingPotential", "bool"),
    },
    "Preconditions": {1: _ptr("uid"), 2: _ptr("resourceVersion")},
    "Time": {1: _f("seconds", "int64"), 2: _f("nanos", "int32")},
    "Condition": {
        1: _f("type"),
        2: _f("status"),
        3: _f("observedGeneration", "int64"),
        4: _f("lastTransitionTime", "Time"),
        5: _f("reason"),
        6: _f("message"),
    },
    "IntOrString": {1: _f("type", "int64"), 2: _f("intVal", "int32"), 3: _f("strVal")},
    "Quantity": {1: _f("string")},
}

# --- k8s.io/api core/v1 -----------------------------------------------------------------

_CORE_OBJECTS: dict[str, Schema] = {
    "Namespace": {
        1: _f("metadata", "ObjectMeta"),
        2: _f("spec", "NamespaceSpec"),
        3: _f("status", "NamespaceStatus"),
    },
    "NamespaceSpec": {1: _rep("finalizers")},
    "NamespaceStatus": {1: _f("phase"), 2: _rep("conditions", "NamespaceCondition")},
    "NamespaceCondition": {
        1: _f("type"),
        2: _f("status"),
        4: _f("lastTransitionTime", "Time"),
        5: _f("reason"),
        6: _f("message"),
    },
    "ConfigMap": {
        1: _f("metadata", "ObjectMeta"),
        2: _map("data"),
        3: _map("binaryData", "bytes"),
        4: _ptr("immutable", "bool"),
    },
    "PodTemplateSpec": {1: _f("metadata", "ObjectMeta"), 2: _f("spec", "PodSpec")},
    "Secret": {
        1: _f("metadata", "ObjectMeta"),
        5: _ptr("immutable", "bool"),
        2: _map("data", "bytes"),
        4: _map("stringData"),
        3: _f("type"),
    },
    "ServiceAccount": {
        1: _f("metadata", "ObjectMeta"),
        2: _rep("secrets", "ObjectReference"),
        3: _rep("imagePullSecrets", "LocalObjectReference"),
        4: _ptr("automountServiceAccountToken", "bool"),
    },
    "ObjectReference": {
        1: _f("kind"),
        2: _f("namespace"),
        3: _f("name"),
        4: _f("uid"),
        5: _f("apiVersion"),
        6: _f("resourceVersion"),
        7: _f("fieldPath"),
    },
}

_SERVICE: dict[str, Schema] = {
    "Service": {
        1: _f("metadata", "ObjectMeta"),
        2: _f("spec", "ServiceSpec"),
        3: _f("status", "ServiceStatus"),
    },
    "ServiceSpec": {
        1: _rep("ports", "ServicePort"),
        2: _map("selector"),
        3: _f("clusterIP"),
        18: _rep("clusterIPs"),
        4: _f("type"),
        5: _rep("externalIPs"),
        7: _f("sessionAffinity"),
        8: _f("loadBalancerIP"),
        9: _rep("loadBalancerSourceRanges"),
        10: _f("externalName"),
        11: _f("externalTrafficPolicy"),
        12: _f("healthCheckNodePort", "int32"),
        13: _f("publishNotReadyAddresses", "bool"),
        14: _ptr("sessionAffinityConfig", "SessionAffinityConfig"),
        19: _rep("ipFamilies"),
        17: _ptr("ipFamilyPolicy"),
        20: _ptr("allocateLoadBalancerNodePorts", "bool"),
        21: _ptr("loadBalancerClass"),
        22: _ptr("internalTrafficPolicy"),
        23: _ptr("trafficDistribution"),
    },
    # ``port`` has no omitempty and ``targetPort`` is a struct, which Go's JSON never omits.
    "ServicePort": {
        1: _f("name"),
        2: _f("protocol"),
        6: _ptr("appProtocol"),
        3: _ptr("port", "int32"),
        4: _ptr("targetPort", "IntOrString"),
        5: _f("nodePort", "int32"),
    },
    "SessionAffinityConfig": {1: _ptr("clientIP", "ClientIPConfig")},
    "ClientIPConfig": {1: _ptr("timeoutSeconds", "int32")},
    "ServiceStatus": {
        1: _f("loadBalancer", "LoadBalancerStatus"),
        2: _rep("conditions", "Condition"),
    },
    "LoadBalancerStatus": {1: _rep("ingress", "LoadBalancerIngress")},
    "LoadBalancerIngress": {
        1: _f("ip"),
        2: _f("hostname"),
        3: _ptr("ipMode"),
        4: _rep("ports", "PortStatus"),
    },
    "PortStatus": {1: _ptr("port", "int32"), 2: _ptr("protocol"), 3: _ptr("error")},
}

_POD: dict[str, Schema] = {
    "PodSpec": {
        1: _rep("volumes", "Volume"),
        20: _rep("initContainers", "Container"),
        2: _rep("containers", "Container"),
        3: _f("restartPolicy"),
        4: _ptr("terminationGracePeriodSeconds", "int64"),
        5: _ptr("activeDeadlineSeconds", "int64"),
        6: _f("dnsPolicy"),
        7: _map("nodeSelector"),
        8: _f("serviceAccountName"),
        9: _f("serviceAccount"),
        21: _ptr("automountServiceAccountToken", "bool"),
        10: _f("nodeName"),
        11: _f("hostNetwork", "bool"),
        12: _f("hostPID", "bool"),
        13: _f("hostIPC", "bool"),
        27: _ptr("shareProcessNamespace", "bool"),
        15: _rep("imagePullSecrets", "LocalObjectReference"),
        16: _f("hostname"),
        17: _f("subdomain"),
        19: _f("schedulerName"),
        22: _rep("tolerations", "Toleration"),
        24: _f("priorityClassName"),
        25: _ptr("priority", "int32"),
        29: _ptr("runtimeClassName"),
        30: _ptr("enableServiceLinks", "bool"),
        31: _ptr("preemptionPolicy"),
        35: _ptr("setHostnameAsFQDN", "bool"),
        37: _ptr("hostUsers", "bool"),
    },
    "Toleration": {
        1: _f("key"),
        2: _f("operator"),
        3: _f("value"),
        4: _f("effect"),
        5: _ptr("tolerationSeconds", "int64"),
    },
    "LocalObjectReference": {1: _f("name")},
    "Volume": {1: _f("name"), 2: _inline("VolumeSource")},
    "VolumeSource": {
        1: _ptr("hostPath", "HostPathVolumeSource"),
        2: _ptr("emptyDir", "EmptyDirVolumeSource"),
        6: _ptr("secret", "SecretVolumeSource"),
        10: _ptr("persistentVolumeClaim", "PersistentVolumeClaimVolumeSource"),
        19: _ptr("configMap", "ConfigMapVolumeSource"),
    },
    "HostPathVolumeSource": {1: _f("path"), 2: _ptr("type")},
    "EmptyDirVolumeSource": {
        1: _f("medium"),
        2: _ptr("sizeLimit", "Quantity"),
        3: _ptr("mode", "int32"),
    },
    "SecretVolumeSource": {
        1: _f("secretName"),
        2: _rep("items", "KeyToPath"),
        3: _ptr("defaultMode", "int32"),
        4: _ptr("optional", "bool"),
        5: _ptr("defaultUser", "int64"),
    },
    "ConfigMapVolumeSource": {
        1: _inline("LocalObjectReference"),
        2: _rep("items", "KeyToPath"),
        3: _ptr("defaultMode", "int32"),
        4: _ptr("optional", "bool"),
        5: _ptr("defaultUser", "int64"),
    },
    "KeyToPath": {
        1: _f("key"),
        2: _f("path"),
        3: _ptr("mode", "int32"),
        4: _ptr("user", "int64"),
    },
    "PersistentVolumeClaimVolumeSource": {1: _f("claimName"), 2: _f("readOnly", "bool")},
}

_CONTAINER: dict[str, Schema] = {
    "Container": {
        1: _f("name"),
        2: _f("image"),
        3: _rep("command"),
        4: _rep("args"),
        5: _f("workingDir"),
        6: _rep("ports", "ContainerPort"),
        19: _rep("envFrom", "EnvFromSource"),
        7: _rep("env", "EnvVar"),
        8: _f("resources", "ResourceRequirements"),
        24: _ptr("restartPolicy"),
        9: _rep("volumeMounts", "VolumeMount"),
        13: _f("terminationMessagePath"),
        20: _f("terminationMessagePolicy"),
        14: _f("imagePullPolicy"),
        16: _f("stdin", "bool"),
        17: _f("stdinOnce", "bool"),
        18: _f("tty", "bool"),
    },
    "ContainerPort": {
        1: _f("name"),
        2: _f("hostPort", "int32"),
        3: _f("containerPort", "int32"),
        4: _f("protocol"),
        5: _f("hostIP"),
    },
    "EnvVar": {1: _f("name"), 2: _f("value"), 3: _ptr("valueFrom", "EnvVarSource")},
    "EnvVarSource": {
        1: _ptr("fieldRef", "ObjectFieldSelector"),
        2: _ptr("resourceFieldRef", "ResourceFieldSelector"),
        3: _ptr("configMapKeyRef", "ConfigMapKeySelector"),
        4: _ptr("secretKeyRef", "SecretKeySelector"),
    },
    "ObjectFieldSelector": {1: _f("apiVersion"), 2: _f("fieldPath")},
    "ResourceFieldSelector": {
        1: _f("containerName"),
        2: _f("resource"),
        3: _f("divisor", "Quantity"),
    },
    "ConfigMapKeySelector": {
        1: _inline("LocalObjectReference"),
        2: _f("key"),
        3: _ptr("optional", "bool"),
    },
    "SecretKeySelector": {
        1: _inline("LocalObjectReference"),
        2: _f("key"),
        3: _ptr("optional", "bool"),
    },
    "EnvFromSource": {
        1: _f("prefix"),
        2: _ptr("configMapRef", "ConfigMapEnvSource"),
        3: _ptr("secretRef", "SecretEnvSource"),
    },
    "ConfigMapEnvSource": {1: _inline("LocalObjectReference"), 2: _ptr("optional", "bool")},
    "SecretEnvSource": {1: _inline("LocalObjectReference"), 2: _ptr("optional", "bool")},
    "ResourceRequirements": {
        1: _map("limits", "Quantity"),
        2: _map("requests", "Quantity"),
        3: _rep("claims", "ResourceClaim"),
    },
    "ResourceClaim": {1: _f("name"), 2: _f("request")},
    "VolumeMount": {
        1: _f("name"),
        2: _f("readOnly", "bool"),
        7: _ptr("recursiveReadOnly"),
        3: _f("mountPath"),
        4: _f("subPath"),
        5: _ptr("mountPropagation"),
        6: _f("subPathExpr"),
    },
}

# --- k8s.io/api apps/v1 -----------------------------------------------------------------

_APPS: dict[str, Schema] = {
    "Deployment": {
        1: _f("metadata", "ObjectMeta"),
        2: _f("spec", "DeploymentSpec"),
        3: _f("status", "DeploymentStatus"),
    },
    "DeploymentSpec": {
        1: _ptr("replicas", "int32"),
        2: _ptr("selector", "LabelSelector"),
        3: _f("template", "PodTemplateSpec"),
        4: _f("strategy", "DeploymentStrategy"),
        5: _f("minReadySeconds", "int32"),
        6: _ptr("revisionHistoryLimit", "int32"),
        7: _f("paused", "bool"),
        9: _ptr("progressDeadlineSeconds", "int32"),
    },
    "DeploymentStrategy": {1: _f("type"), 2: _ptr("rollingUpdate", "RollingUpdateDeployment")},
    "RollingUpdateDeployment": {
        1: _ptr("maxUnavailable", "IntOrString"),
        2: _ptr("maxSurge", "IntOrString"),
    },
    "DeploymentStatus": {
        1: _f("observedGeneration", "int64"),
        2: _f("replicas", "int32"),
        3: _f("updatedReplicas", "int32"),
        7: _f("readyReplicas", "int32"),
        4: _f("availableReplicas", "int32"),
        5: _f("unavailableReplicas", "int32"),
        9: _ptr("terminatingReplicas", "int32"),
        6: _rep("conditions", "DeploymentCondition"),
        8: _ptr("collisionCount", "int32"),
    },
    "DeploymentCondition": {
        1: _f("type"),
        2: _f("status"),
        6: _f("lastUpdateTime", "Time"),
        7: _f("lastTransitionTime", "Time"),
        4: _f("reason"),
        5: _f("message"),
    },
}

# --- k8s.io/api policy/v1 ---------------------------------------------------------------

_POLICY: dict[str, Schema] = {
    "PodDisruptionBudget": {
        1: _f("metadata", "ObjectMeta"),
        2: _f("spec", "PodDisruptionBudgetSpec"),
        3: _f("status", "PodDisruptionBudgetStatus"),
    },
    "PodDisruptionBudgetSpec": {
        1: _ptr("minAvailable", "IntOrString"),
        2: _ptr("selector", "LabelSelector"),
        3: _ptr("maxUnavailable", "IntOrString"),
        4: _ptr("unhealthyPodEvictionPolicy"),
    },
    # The four counters have no omitempty: a zero is still written out.
    "PodDisruptionBudgetStatus": {
        1: _f("observedGeneration", "int64"),
        2: _map("disruptedPods", "Time"),
        3: _ptr("disruptionsAllowed", "int32"),
        4: _ptr("currentHealthy", "int32"),
        5: _ptr("desiredHealthy", "int32"),
        6: _ptr("expectedPods", "int32"),
        7: _rep("conditions", "Condition"),
    },
}

_MESSAGES: dict[str, Schema] = {
    **_META, **_CORE_OBJECTS, **_SERVICE, **_POD, **_CONTAINER, **_APPS, **_POLICY,
}

# Top-level kinds: (apiVersion, kind) -> message. DeleteOptions is registered in every
# group version, so any apiVersion is accepted for it.
_KINDS: dict[tuple[str, str], str] = {
    ("v1", "Namespace"): "Namespace",
    ("v1", "ConfigMap"): "ConfigMap",
    ("v1", "Secret"): "Secret",
    ("v1", "ServiceAccount"): "ServiceAccount",
    ("v1", "Service"): "Service",
    ("apps/v1", "Deployment"): "Deployment",
    ("policy/v1", "PodDisruptionBudget"): "PodDisruptionBudget",
}
_ANY_VERSION_KINDS = frozenset({"DeleteOptions"})


# --- wire format --------------------------------------------------------------------------


def _corrupt(detail: str) -> UnsupportedMediaType:
    return UnsupportedMediaType(
        f"cannot decode the protobuf request body ({PROTOBUF_CONTENT_TYPE}): {detail}. "
        f"{_JSON_HINT}"
    )


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    """The varint at ``pos`` and the position after it."""
    result = 0
    for shift in range(0, 70, 7):
        if pos >= len(data):
            raise _corrupt("truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result & 0xFFFF_FFFF_FFFF_FFFF, pos
    raise _corrupt("varint longer than 10 bytes")


def _take(data: bytes, pos: int, size: int) -> tuple[bytes, int]:
    end = pos + size
    if end > len(data):
        raise _corrupt(f"field of {size} bytes runs past the end of the data")
    return data[pos:end], end


def _read_value(data: bytes, pos: int, wire: int) -> tuple[int | bytes, int]:
    if wire == _VARINT:
        return _read_varint(data, pos)
    if wire == _LEN:
        size, pos = _read_varint(data, pos)
        return _take(data, pos, size)
    if wire == _I64:
        return _take(data, pos, 8)
    if wire == _I32:
        return _take(data, pos, 4)
    raise _corrupt(f"unsupported wire type {wire}")


def _iter_fields(data: bytes) -> Iterator[tuple[int, int, int | bytes]]:
    """Yield ``(field_number, wire_type, value)``: an int for varints, else raw bytes."""
    pos = 0
    while pos < len(data):
        key, pos = _read_varint(data, pos)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise _corrupt("field number 0")
        value, pos = _read_value(data, pos, wire)
        yield number, wire, value


# --- values -------------------------------------------------------------------------------


def _signed(value: int, bits: int) -> int:
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value


def _scalar(type_: str, value: int | bytes) -> Any:
    if isinstance(value, int):
        if type_ == "bool":
            return value != 0
        return _signed(value, 32 if type_ == "int32" else 64)
    if type_ == "raw":
        return value
    if type_ == "bytes":
        return base64.b64encode(value).decode("ascii")
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        raise _corrupt("a string field is not valid UTF-8") from None


def _is_zero(value: Any) -> bool:
    return value in ("", 0, b"")  # False == 0


def _time(data: bytes) -> str | None:
    """``metav1.Time``: seconds precision (like upstream), an empty message is the zero time."""
    if not data:
        return None
    fields = _decode_message(data, "Time")
    try:
        moment = datetime.datetime.fromtimestamp(fields.get("seconds", 0), tz=datetime.UTC)
    except (OverflowError, OSError, ValueError):
        raise _corrupt("a timestamp is out of range") from None
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _int_or_string(data: bytes) -> int | str:
    fields = _decode_message(data, "IntOrString")
    kind = fields.get("type", 0)
    if kind == 0:
        return int(fields.get("intVal", 0))
    if kind == 1:
        return str(fields.get("strVal", ""))
    raise _corrupt(f"IntOrString has unknown type {kind}")


def _quantity(data: bytes) -> str:
    return str(_decode_message(data, "Quantity").get("string") or "0")


_CONVERTERS: dict[str, Callable[[bytes], Any]] = {
    "Time": _time,
    "IntOrString": _int_or_string,
    "Quantity": _quantity,
}


def _convert(type_: str, wire: int, value: int | bytes) -> Any:
    """Decode one value of ``type_``; ``None`` means "leave it out".

    Numbers are always single varints: no schema here has a repeated numeric field, so
    packed encoding never applies.
    """
    if type_ in _VARINT_TYPES:
        if not isinstance(value, int) or wire != _VARINT:
            raise _corrupt(f"wire type {wire} where {type_} expects {_VARINT}")
        return _scalar(type_, value)
    payload = _payload(type_, wire, value)
    if type_ in _SCALARS:
        return _scalar(type_, payload)
    if type_ in _CONVERTERS:
        return _CONVERTERS[type_](payload)
    return _decode_message(payload, type_)


def _payload(what: str, wire: int, value: int | bytes) -> bytes:
    """The bytes of a length-delimited value, or 415 if the wire says otherwise."""
    if not isinstance(value, bytes) or wire != _LEN:
        raise _corrupt(f"wire type {wire} where {what} expects {_LEN}")
    return value


def _map_entry(field: Field, wire: int, value: int | bytes) -> tuple[str, Any]:
    key, item = "", None
    for number, entry_wire, entry_value in _iter_fields(_payload(field.name, wire, value)):
        if number == 1:
            key = _convert("string", entry_wire, entry_value)
        elif number == 2:
            item = _convert(field.type, entry_wire, entry_value)
    if item is None:
        item = _convert(field.type, _LEN, b"")
    return key, item


def _apply(out: dict[str, Any], field: Field, wire: int, value: int | bytes) -> None:
    """Put one wire field into ``out`` following Go's JSON rules (see module docstring)."""
    if field.label == "map":
        key, item = _map_entry(field, wire, value)
        out.setdefault(field.name, {})[key] = item
        return
    decoded = _convert(field.type, wire, value)
    if field.label == "repeated":
        out.setdefault(field.name, []).append(decoded)
    elif field.label == "inline":
        out.update(decoded)
    elif decoded is None or (_is_zero(decoded) and not field.pointer):
        out.pop(field.name, None)
    else:
        out[field.name] = decoded


def _decode_message(data: bytes, message: str) -> dict[str, Any]:
    schema = _MESSAGES[message]
    out: dict[str, Any] = {}
    for number, wire, value in _iter_fields(data):
        field = schema.get(number)
        if field is not None:
            _apply(out, field, wire, value)
    return out


# --- envelope -----------------------------------------------------------------------------


def _supported_names() -> str:
    names = [kind for _, kind in _KINDS] + sorted(_ANY_VERSION_KINDS)
    return ", ".join(names[:-1]) + " and " + names[-1]


def _message_for(api_version: str, kind: str) -> str:
    if kind in _ANY_VERSION_KINDS:
        return kind
    message = _KINDS.get((api_version, kind))
    if message is None:
        got = f"{api_version} {kind}".strip() or "an object without apiVersion and kind"
        raise UnsupportedMediaType(
            f"protobuf request bodies are supported only for {_supported_names()}; "
            f"got {got}. {_JSON_HINT}"
        )
    return message


def decode_request(body: bytes) -> dict[str, Any]:
    """Decode a kubectl protobuf request body into the equivalent JSON-shaped dict.

    ``apiVersion`` and ``kind`` are set from the envelope's ``typeMeta``. Raises
    ``UnsupportedMediaType`` (415) for a body without the ``k8s\\x00`` prefix, for
    truncated or corrupt wire data, and for kinds this module has no schema for.
    """
    if not body.startswith(MAGIC):
        raise UnsupportedMediaType(
            f"a {PROTOBUF_CONTENT_TYPE} body must start with the 4-byte prefix 'k8s\\x00'. "
            f"{_JSON_HINT}"
        )
    envelope = _decode_message(body[len(MAGIC):], "Unknown")
    if envelope.get("contentEncoding"):
        raise UnsupportedMediaType(
            f"protobuf content encoding {envelope['contentEncoding']!r} is not supported. "
            f"{_JSON_HINT}"
        )
    type_meta = envelope.get("typeMeta", {})
    api_version, kind = type_meta.get("apiVersion", ""), type_meta.get("kind", "")
    message = _message_for(api_version, kind)
    return {"kind": kind, "apiVersion": api_version,
            **_decode_message(envelope.get("raw", b""), message)}
