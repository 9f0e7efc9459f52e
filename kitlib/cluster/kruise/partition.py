"""``partition`` as OpenKruise resolves it, shared by CloneSet, SidecarSet and Advanced
StatefulSet (upstream ``pkg/util/tools.go`` ``CalculatePartitionReplicas``).

Round up; a percentage short of 100 % that would keep every pod old keeps one fewer
(so "99%" of 5 keeps 4, and at least one pod moves); clamp to ``[0, replicas]``. As
upstream's ``GetScaledValueFromIntOrPercent`` (which its webhooks also use), a
percentage may be a decimal: "0.01%" of 9 is 1, "99.99%" of 999 is 998.
"""

from __future__ import annotations

import math
import re
from typing import Any

from kitlib.model.intstr import is_percent, scaled_value

__all__ = ["partition_replicas"]

_DECIMAL = re.compile(r"^[0-9]+\.[0-9]+$")


def partition_replicas(partition: Any, replicas: int) -> int:
    """How many of ``replicas`` pods ``partition`` keeps at the old revision."""
    if partition is None:
        return 0
    if is_percent(partition) and _DECIMAL.match(partition[:-1]):
        value = math.ceil(float(partition[:-1]) * float(replicas) / 100.0)
    else:
        value = scaled_value(partition, replicas, round_up=True, field="partition")
    if is_percent(partition) and value == replicas and replicas > 1 and partition != "100%":
        value = replicas - 1
    return max(0, min(value, replicas))
