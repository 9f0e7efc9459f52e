"""The ImagePullJob's decision for one reconcile, as a pure function (no I/O).

Given the job's target nodes and what each node's NodeImage says about the job's tag,
``plan_job`` picks the nodes to hand the tag to next (at most ``parallelism`` pulls in
flight; 0 pauses; nodes whose image already succeeded for another job cost no slot)
and computes the job's status as upstream's ``calculateStatus`` does: ``desired`` =
target nodes, ``active`` = handed out and not finished, ``succeeded``, ``failed`` and
``failedNodes``; an ``Always`` job completes when every target finished ("job has
completed") or its ``activeDeadlineSeconds`` passed; a ``Never`` job never completes
and picks up new matching nodes for as long as it exists.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kitlib.model.intstr import scaled_value

__all__ = ["JobPlan", "NodeTag", "plan_job"]

FINISHED = ("Succeeded", "Failed")


@dataclass(frozen=True, slots=True)
class NodeTag:
    node: str
    #: The job is an owner of its tag in the node's NodeImage spec.
    owned: bool
    #: The tag's phase in the NodeImage status (None: not reported yet).
    phase: str | None = None


@dataclass
class JobPlan:
    add: list[str] = field(default_factory=list)
    status: dict[str, Any] = field(default_factory=dict)
    completed: bool = False


def plan_job(spec: dict[str, Any], targets: list[NodeTag], *, now: str, start: str,
             elapsed: float) -> JobPlan:
    """``now``/``start``: RFC 3339 times; ``elapsed``: seconds since ``start``."""
    plan = JobPlan()
    by_node = sorted(targets, key=lambda t: t.node)
    active = [t for t in by_node if t.owned and t.phase not in FINISHED]
    free = [t.node for t in by_node if not t.owned and t.phase == "Succeeded"]
    pending = [t.node for t in by_node if not t.owned and t.phase != "Succeeded"]
    slots = max(scaled_value(spec.get("parallelism", 1), len(by_node), round_up=False)
                - len(active), 0)
    plan.add = free + pending[:slots]
    added = set(plan.add)
    succeeded = [t.node for t in by_node if t.phase == "Succeeded" and (t.owned or
                                                                       t.node in added)]
    failed = [t.node for t in by_node if t.owned and t.phase == "Failed"]
    running = len(active) + len(pending[:slots])
    status = {"startTime": start, "desired": len(by_node), "active": running,
              "succeeded": len(succeeded), "failed": len(failed), "failedNodes": failed}
    completion = spec.get("completionPolicy") or {}
    done = len(succeeded) + len(failed)
    deadline = completion.get("activeDeadlineSeconds")
    if completion.get("type", "Always") == "Always" and running == 0 and \
            done == len(by_node):
        status.update(completionTime=now, message="job has completed")
        plan.completed = True
    elif completion.get("type", "Always") == "Always" and deadline is not None and \
            elapsed >= deadline:
        status.update(completionTime=now, message="job exceeds activeDeadlineSeconds",
                      active=0)
        plan.add, plan.completed = [], True
    else:
        progress = 100.0 * done / len(by_node) if by_node else 0.0
        status["message"] = f"job is running, progress {progress:.1f}%"
    plan.status = status
    return plan
