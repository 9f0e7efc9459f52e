"""Container images: references, the ``Image`` sim kind, and the catalog built from it.

**References** are normalized as containerd reports them: ``nginx:1.25`` is
``docker.io/library/nginx:1.25``, a missing tag is ``latest``. An image's ID is
``<repository>@sha256:<64 hex>``, the hex being a SHA-256 of the normalized name
(stable across runs and seeds), unless the reference carries its own digest.

**``Image``** (``images.sim.kitlib.io``, cluster-scoped) describes one image or every
tag of a repository (``spec.image: "example.com/shop:*"``)::

    apiVersion: sim.kitlib.io/v1alpha1
    kind: Image
    metadata: {name: shop-v2}
    spec:
      image: example.com/shop:v2
      sizeBytes: 250000000            # default: the sum of the layers, else KubeletSettings
      layers: [{digest: "sha256:…", sizeBytes: 200000000}, …]
      pullable: true                  # false: every pull fails (ErrImagePull)
      pullFailureRate: 0.2            # each pull fails with this probability (seeded)
      behavior: {crashAfterSeconds: 30}   # what containers of this image do (behaviour.py)

An image without layers gets a **derived split**: a base layer holding 70 % of the
size, shared by every tag of the same repository whose base has that size, and a
tag layer with the rest. So tags of one repository share most of their bytes, and an
in-place upgrade from ``app:v1`` to ``app:v2`` pulls only the tag layer.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kitlib.cluster.kubelet.behaviour import image_behaviour_problems
from kitlib.model.registry import PrinterColumn, ResourceType
from kitlib.model.schema import register_schema

__all__ = [
    "IMAGE",
    "ImageCatalog",
    "ImageInfo",
    "ImageRef",
    "Layer",
    "admit_image",
    "parse_reference",
]

SIM_GROUP, SIM_VERSION = "sim.kitlib.io", "v1alpha1"
#: Share of a derived image's size in its repository-wide base layer.
BASE_SHARE = 0.7

IMAGE = ResourceType(
    SIM_GROUP, SIM_VERSION, "Image", "images", False, "image", stored=True,
    strategic_merge=False, unconditional_update=False,
    printer_columns=(
        PrinterColumn("Image", ".spec.image"), PrinterColumn("Size", ".spec.sizeBytes", "integer"),
        PrinterColumn("Pullable", ".spec.pullable", "boolean"),
        PrinterColumn("Failure-Rate", ".spec.pullFailureRate", "number"),
    ))

register_schema(IMAGE.api_version, "Image", {
    "spec": {
        "image": "str", "sizeBytes": "int", "pullable": "bool", "pullFailureRate": "float",
        "layers": [{"digest": "str", "sizeBytes": "int"}],
        "behavior": {"startSeconds": "float", "readyAfterSeconds": "float",
                     "unreadyAfterSeconds": "float", "crashAfterSeconds": "float",
                     "completeAfterSeconds": "float", "crashOnStart": "bool",
                     "exitCode": "int", "livenessFailsAfterSeconds": "float",
                     "stopSeconds": "float", "prestopSeconds": "float"},
    },
})

_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")
_DOMAIN = re.compile(r"(?:[a-zA-Z0-9-]+\.)*[a-zA-Z0-9-]+(?::[0-9]+)?")
_TAG = re.compile(r"[\w][\w.-]{0,127}")
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


@dataclass(frozen=True, slots=True)
class ImageRef:
    domain: str
    path: str
    tag: str | None
    digest: str | None

    @property
    def repository(self) -> str:
        return f"{self.domain}/{self.path}"

    @property
    def name(self) -> str:
        """The normalized reference (``docker.io/library/nginx:1.25``)."""
        if self.digest:
            return f"{self.repository}@{self.digest}"
        return f"{self.repository}:{self.tag}"

    @property
    def image_id(self) -> str:
        digest = self.digest or "sha256:" + hashlib.sha256(self.name.encode()).hexdigest()
        return f"{self.repository}@{digest}"


def parse_reference(image: str) -> ImageRef | None:
    """The normalized reference, or None if ``image`` is not a valid reference."""
    if not isinstance(image, str) or not image or image.strip() != image:
        return None
    name, _, digest = image.partition("@")
    if digest and not _DIGEST.fullmatch(digest):
        return None
    tag = None
    slash, colon = name.rfind("/"), name.rfind(":")
    if colon > slash:
        name, tag = name[:colon], name[colon + 1:]
        if not _TAG.fullmatch(tag):
            return None
    first, _, rest = name.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        domain, path = first, rest
    else:
        domain, path = "docker.io", name
    if domain == "docker.io" and "/" not in path:
        path = "library/" + path
    if not _DOMAIN.fullmatch(domain) or not all(_COMPONENT.fullmatch(c) for c in path.split("/")):
        return None
    return ImageRef(domain, path, tag or (None if digest else "latest"), digest or None)


@dataclass(frozen=True, slots=True)
class Layer:
    digest: str
    size: int


@dataclass(frozen=True, slots=True)
class ImageInfo:
    ref: ImageRef
    size: int
    layers: tuple[Layer, ...]
    pullable: bool = True
    failure_rate: float = 0.0
    behaviour: Mapping[str, Any] = field(default_factory=dict)


def _sha(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def derived_layers(ref: ImageRef, size: int) -> tuple[Layer, ...]:
    base = int(size * BASE_SHARE)
    layers = [Layer(_sha(f"{ref.repository}|base|{base}"), base),
              Layer(_sha(f"{ref.name}|top|{size - base}"), size - base)]
    return tuple(layer for layer in layers if layer.size > 0)


class ImageCatalog:
    """What the cluster knows about images: ``Image`` objects, then defaults."""

    def __init__(self, default_size: int) -> None:
        self.default_size = default_size
        self._specs: dict[str, dict[str, Any]] = {}  # object name -> spec
        self._exact: dict[str, str] = {}  # normalized name -> object name
        self._repos: dict[str, str] = {}  # repository -> object name (``repo:*``)
        self._cache: dict[str, ImageInfo | None] = {}

    def put(self, obj: Mapping[str, Any]) -> None:
        self.remove(obj)
        name, spec = obj["metadata"]["name"], obj.get("spec") or {}
        pattern = str(spec.get("image") or "")
        if pattern.endswith(":*"):
            ref = parse_reference(pattern[:-2])
            if ref is not None:
                self._repos[ref.repository] = name
        else:
            ref = parse_reference(pattern)
            if ref is not None:
                self._exact[ref.name] = name
        self._specs[name] = dict(spec)

    def remove(self, obj: Mapping[str, Any]) -> None:
        name = obj["metadata"]["name"]
        if self._specs.pop(name, None) is not None:
            self._exact = {k: v for k, v in self._exact.items() if v != name}
            self._repos = {k: v for k, v in self._repos.items() if v != name}
        self._cache.clear()

    def resolve(self, image: str) -> ImageInfo | None:
        """What pulling ``image`` involves; None for an invalid reference."""
        if image not in self._cache:
            ref = parse_reference(image)
            self._cache[image] = None if ref is None else self._info(ref)
        return self._cache[image]

    def _info(self, ref: ImageRef) -> ImageInfo:
        owner = self._exact.get(ref.name) or self._repos.get(ref.repository)
        spec = self._specs.get(owner, {}) if owner else {}
        layers = tuple(Layer(str(layer["digest"]), int(layer.get("sizeBytes") or 0))
                       for layer in spec.get("layers") or ())
        size = spec.get("sizeBytes")
        if size is None:
            size = sum(layer.size for layer in layers) if layers else self.default_size
        return ImageInfo(ref, int(size), layers or derived_layers(ref, int(size)),
                         pullable=spec.get("pullable", True) is not False,
                         failure_rate=float(spec.get("pullFailureRate") or 0.0),
                         behaviour=dict(spec.get("behavior") or {}))


def admit_image(op: str, rt: ResourceType, obj: dict[str, Any],
                old: dict[str, Any] | None) -> dict[str, Any]:
    """Validation of ``Image`` objects (the store's ``Admission`` signature)."""
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        raise rt.invalid(obj["metadata"].get("name", ""), ["spec: Required value"])
    problems = _image_problems(spec)
    if problems:
        raise rt.invalid(obj["metadata"].get("name", ""), problems)
    return obj


def _image_problems(spec: dict[str, Any]) -> list[str]:
    problems = []
    image = spec.get("image")
    pattern = image[:-2] if isinstance(image, str) and image.endswith(":*") else image
    if not isinstance(pattern, str) or parse_reference(pattern) is None:
        problems.append(f"spec.image: Invalid value: {image!r}: must be an image reference "
                        '(e.g. "nginx:1.25") or a repository with ":*" for all its tags')
    size = spec.get("sizeBytes")
    if size is not None and (not isinstance(size, int) or isinstance(size, bool) or size < 0):
        problems.append(f"spec.sizeBytes: Invalid value: {size!r}: must be at least 0")
    for i, layer in enumerate(spec.get("layers") or ()):
        if not isinstance(layer, dict) or not layer.get("digest"):
            problems.append(f"spec.layers[{i}].digest: Required value")
        elif not isinstance(layer.get("sizeBytes", 0), int) or layer.get("sizeBytes", 0) < 0:
            problems.append(f"spec.layers[{i}].sizeBytes: Invalid value: must be at least 0")
    if not isinstance(spec.get("pullable", True), bool):
        problems.append(f"spec.pullable: Invalid value: {spec.get('pullable')!r}: must be a "
                        "boolean")
    rate = spec.get("pullFailureRate", 0)
    if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 <= rate <= 1:
        problems.append(f"spec.pullFailureRate: Invalid value: {rate!r}: must be between 0 "
                        "and 1")
    return problems + image_behaviour_problems(spec.get("behavior"))
