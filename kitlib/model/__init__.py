"""Wire-format helpers: objects as dicts in Kubernetes JSON shape, selectors,
int-or-percent, validation and the resource registry. No I/O, no time."""

from . import errors
from .errors import ApiError
from .intstr import scaled_value
from .objects import format_time, parse_time
from .registry import Registry, ResourceType, builtin_registry
from .selectors import FieldSelector, LabelSelector

__all__ = [
    "ApiError",
    "FieldSelector",
    "LabelSelector",
    "Registry",
    "ResourceType",
    "builtin_registry",
    "errors",
    "format_time",
    "parse_time",
    "scaled_value",
]
