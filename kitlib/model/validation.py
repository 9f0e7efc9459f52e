"""Validation of what every object must get right: names, labels, annotations.

Messages use Kubernetes' field-error wording (``metadata.name: Invalid value:
"Web": a lowercase RFC 1123 subdomain must consist of …``) so that users who
know the real error recognise it, and each says what a valid value looks like.
"""

from __future__ import annotations

import functools
import re
from typing import Any

__all__ = [
    "dns1123_label_errors",
    "dns1123_subdomain_errors",
    "label_key_errors",
    "label_value_errors",
    "metadata_errors",
]

_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS_LABEL_RE = re.compile(rf"^{_LABEL}$")
_DNS_SUBDOMAIN_RE = re.compile(rf"^{_LABEL}(\.{_LABEL})*$")
_QUALIFIED_NAME_RE = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_LABEL_VALUE_RE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_ANNOTATIONS_MAX = 256 * 1024


def dns1123_subdomain_errors(value: str) -> list[str]:
    errors = []
    if len(value) > 253:
        errors.append("must be no more than 253 characters")
    if not _DNS_SUBDOMAIN_RE.match(value):
        errors.append("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
                      "characters, '-' or '.', and must start and end with an alphanumeric "
                      "character (e.g. 'example.com', regex used for validation is "
                      "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")
    return errors


def dns1123_label_errors(value: str) -> list[str]:
    errors = []
    if len(value) > 63:
        errors.append("must be no more than 63 characters")
    if not _DNS_LABEL_RE.match(value):
        errors.append("a lowercase RFC 1123 label must consist of lower case alphanumeric "
                      "characters or '-', and must start and end with an alphanumeric character "
                      "(e.g. 'my-name',  or '123-abc', regex used for validation is "
                      "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')")
    return errors


def label_key_errors(key: str) -> list[str]:
    prefix, slash, name = key.rpartition("/")
    errors = []
    if slash and (not prefix or dns1123_subdomain_errors(prefix)):
        errors.append("prefix part must be a lowercase RFC 1123 subdomain (e.g. 'example.com')")
    if not name or len(name) > 63 or not _QUALIFIED_NAME_RE.match(name):
        errors.append("name part must consist of alphanumeric characters, '-', '_' or '.', "
                      "and must start and end with an alphanumeric character, at most 63 "
                      "characters (e.g. 'MyName', 'my.name' or '123-abc')")
    return errors


def label_value_errors(value: Any) -> list[str]:
    if not isinstance(value, str):
        return ["must be a string"]
    if len(value) > 63:
        return ["must be no more than 63 characters"]
    if not _LABEL_VALUE_RE.match(value):
        return ["a valid label must be an empty string or consist of alphanumeric characters, "
                "'-', '_' or '.', and must start and end with an alphanumeric character "
                "(e.g. 'MyValue',  or 'my_value',  or '12345')"]
    return []


def metadata_errors(meta: dict[str, Any], *, name_rule: str = "subdomain") -> list[str]:
    """Field errors for ``metadata`` (name already resolved from generateName)."""
    errors: list[str] = []
    name = meta.get("name")
    if not isinstance(name, str) or not name:
        errors.append("metadata.name: Required value: name or generateName is required")
    else:
        check = dns1123_label_errors if name_rule == "label" else dns1123_subdomain_errors
        if name_rule == "path":
            check = _path_segment_errors
        problems = check(name)
        if problems:
            errors += [f'metadata.name: Invalid value: "{name}": {e}' for e in problems]
    labels = meta.get("labels")
    if labels is not None and not isinstance(labels, dict):
        errors.append("metadata.labels: Invalid value: must be a map of string keys to "
                      "string values")
    for key, value in (labels or {}).items() if isinstance(labels, dict) else ():
        key_problems = _label_key_problems(key)
        if key_problems:
            errors += [f'metadata.labels: Invalid value: "{key}": {e}' for e in key_problems]
        value_problems = (_label_value_problems(value) if isinstance(value, str)
                          else label_value_errors(value))
        if value_problems:
            errors += [f'metadata.labels: Invalid value: "{value}": {e}'
                       for e in value_problems]
    annotations = meta.get("annotations")
    if annotations is not None and not isinstance(annotations, dict):
        errors.append("metadata.annotations: Invalid value: must be a map of string keys to "
                      "string values")
    elif annotations:
        size = 0
        for key, value in annotations.items():
            key_problems = _label_key_problems(key)
            if key_problems:
                errors += [f'metadata.annotations: Invalid value: "{key}": {e}'
                           for e in key_problems]
            if not isinstance(value, str):
                errors.append(f'metadata.annotations[{key}]: Invalid value: must be a string')
                continue
            size += len(key) + len(value)
        if size > _ANNOTATIONS_MAX:
            errors.append(f"metadata.annotations: Too long: must have at most {_ANNOTATIONS_MAX} "
                          "bytes")
    return errors


# Label keys and values repeat across objects (``app``, ``tier``, ...): their verdicts are
# cached (``metadata_errors`` runs on every write the store commits).
@functools.lru_cache(maxsize=4096)
def _label_key_problems(key: str) -> tuple[str, ...]:
    return tuple(label_key_errors(key))


@functools.lru_cache(maxsize=4096)
def _label_value_problems(value: str) -> tuple[str, ...]:
    return tuple(label_value_errors(value))


def _path_segment_errors(value: str) -> list[str]:
    if value in (".", ".."):
        return [f"may not be '{value}'"]
    for bad in ("/", "%"):
        if bad in value:
            return [f"may not contain '{bad}'"]
    return []
