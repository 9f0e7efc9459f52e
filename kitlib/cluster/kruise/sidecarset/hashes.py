"""SidecarSet hashes and the annotations that carry them (upstream
``pkg/control/sidecarcontrol/hash.go`` and ``pkg/webhook/pod/mutating/sidecarset.go``).

* ``kruise.io/sidecarset-hash`` on a SidecarSet: ``SafeEncodeString`` of the hex
  SHA-256 of the JSON ``{"containers": spec.containers}``;
  ``kruise.io/sidecarset-hash-without-image``: the same with every image blanked. So two
  SidecarSets differing only in images share the second hash: that is what makes a
  change upgradable in place.
* On a pod, the same two annotation names hold JSON maps ``{ssName: {"updateTimestamp",
  "hash", "sidecarSetName", "sidecarList", "controllerRevision"}}``; a pod is *updated*
  for a SidecarSet iff its recorded ``hash`` equals the SidecarSet's.

The JSON is canonical (sorted keys): the same spec always gives the same hash.
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

from kitlib.cluster.workloads.hashing import safe_encode
from kitlib.model.objects import annotations_of

__all__ = [
    "HASH", "HASH_WITHOUT_IMAGE", "INJECTED_LIST", "INPLACE_STATE", "UPGRADABLE",
    "hash_of", "hash_without_image_of", "pod_hash_map", "pod_recorded_hash",
    "sidecarset_hashes", "upgrade_spec",
]

HASH = "kruise.io/sidecarset-hash"
HASH_WITHOUT_IMAGE = "kruise.io/sidecarset-hash-without-image"
INJECTED_LIST = "kruise.io/sidecarset-injected-list"
INPLACE_STATE = "kruise.io/sidecarset-inplace-update-state"
#: Pod condition type written by the upgrade controller.
UPGRADABLE = "SidecarSetUpgradable"

Obj = dict[str, Any]


def _encode(containers: list[Obj]) -> str:
    data = orjson.dumps({"containers": containers}, option=orjson.OPT_SORT_KEYS)
    return safe_encode(hashlib.sha256(data).hexdigest())


def sidecarset_hashes(spec: Obj) -> tuple[str, str]:
    """``(hash, hash-without-image)`` of a SidecarSet spec."""
    containers = list(spec.get("containers") or [])
    blank = [{**c, "image": ""} for c in containers]
    return _encode(containers), _encode(blank)


def hash_of(sidecarset: Obj) -> str:
    return annotations_of(sidecarset).get(HASH, "")


def hash_without_image_of(sidecarset: Obj) -> str:
    return annotations_of(sidecarset).get(HASH_WITHOUT_IMAGE, "")


def pod_hash_map(pod: Obj, annotation: str = HASH) -> dict[str, Obj]:
    """The pod's ``{ssName: upgrade spec}`` map (older ``{ssName: hash}`` maps accepted)."""
    text = annotations_of(pod).get(annotation)
    if not text:
        return {}
    try:
        raw = orjson.loads(text)
    except orjson.JSONDecodeError:
        return {}
    if not isinstance(raw, dict):
        return {}
    return {k: v if isinstance(v, dict) else {"hash": str(v), "sidecarSetName": k}
            for k, v in raw.items()}


def pod_recorded_hash(pod: Obj, name: str, annotation: str = HASH) -> str:
    return str(pod_hash_map(pod, annotation).get(name, {}).get("hash", ""))


def upgrade_spec(name: str, hash_: str, sidecars: list[str], timestamp: str,
                 revision: str) -> Obj:
    """One entry of the pod hash maps (upstream ``SidecarSetUpgradeSpec``)."""
    spec: Obj = {"updateTimestamp": timestamp, "hash": hash_, "sidecarSetName": name,
                 "sidecarList": sorted(sidecars)}
    if revision:
        spec["controllerRevision"] = revision
    return spec


def dumps(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
