"""The ImagePullJob plan as a table: which nodes get the tag next, and the job status
(upstream ``pkg/controller/imagepulljob/imagepulljob_controller.go``, ``calculateStatus``
and the parallelism rule; ``test/e2e/apps/pullimages.go``)."""

from __future__ import annotations

from typing import Any

import pytest

from kitlib.cluster.kruise.imagepull.plan import NodeTag, plan_job

NOW, START = "2026-01-01T00:01:00Z", "2026-01-01T00:00:00Z"


def spec(**over: Any) -> dict[str, Any]:
    return {"image": "nginx:1.25", "parallelism": 1,
            "completionPolicy": {"type": "Always"}, **over}


def tags(*entries: tuple[str, bool, str | None]) -> list[NodeTag]:
    return [NodeTag(n, owned, phase) for n, owned, phase in entries]


@pytest.mark.parametrize(("parallelism", "targets", "add", "active"), [
    # nothing handed out yet: the first `parallelism` nodes by name
    (1, tags(("n3", False, None), ("n1", False, None), ("n2", False, None)), ["n1"], 1),
    (2, tags(("n1", False, None), ("n2", False, None), ("n3", False, None)), ["n1", "n2"], 2),
    # one still pulling fills the only slot
    (1, tags(("n1", True, "Pulling"), ("n2", False, None)), [], 1),
    # one finished frees its slot
    (1, tags(("n1", True, "Succeeded"), ("n2", False, None)), ["n2"], 1),
    # 0 pauses the job
    (0, tags(("n1", False, None), ("n2", False, None)), [], 0),
    # a percent of the target nodes, rounded down: 50% of 3 = 1
    ("50%", tags(("n1", False, None), ("n2", False, None), ("n3", False, None)), ["n1"], 1),
    # a node already holding the image for another job costs no slot
    (1, tags(("n1", False, "Succeeded"), ("n2", False, None)), ["n1", "n2"], 1),
])
def test_at_most_parallelism_nodes_pull_at_a_time(parallelism: Any, targets: list[NodeTag],
                                                   add: list[str], active: int) -> None:
    plan = plan_job(spec(parallelism=parallelism), targets, now=NOW, start=START, elapsed=60)
    assert (plan.add, plan.status["active"]) == (add, active)


def test_an_always_job_completes_when_every_node_finished() -> None:
    plan = plan_job(spec(), tags(("n1", True, "Succeeded"), ("n2", True, "Failed")),
                    now=NOW, start=START, elapsed=60)
    assert plan.completed
    assert plan.status == {"startTime": START, "completionTime": NOW, "desired": 2,
                           "active": 0, "succeeded": 1, "failed": 1, "failedNodes": ["n2"],
                           "message": "job has completed"}


def test_a_running_job_reports_its_progress() -> None:
    plan = plan_job(spec(parallelism=1), tags(("n1", True, "Succeeded"), ("n2", True, "Pulling"),
                                              ("n3", False, None)),
                    now=NOW, start=START, elapsed=60)
    assert not plan.completed
    assert plan.status["message"] == "job is running, progress 33.3%"


def test_a_never_job_does_not_complete_and_takes_new_nodes() -> None:
    never = spec(completionPolicy={"type": "Never"})
    plan = plan_job(never, tags(("n1", True, "Succeeded"), ("n2", True, "Succeeded")),
                    now=NOW, start=START, elapsed=60)
    assert not plan.completed and "completionTime" not in plan.status
    plan = plan_job(never, tags(("n1", True, "Succeeded"), ("n9", False, None)),
                    now=NOW, start=START, elapsed=60)
    assert plan.add == ["n9"]


def test_the_active_deadline_ends_an_always_job() -> None:
    plan = plan_job(spec(completionPolicy={"type": "Always", "activeDeadlineSeconds": 60}),
                    tags(("n1", True, "Pulling"), ("n2", False, None)),
                    now=NOW, start=START, elapsed=60)
    assert plan.completed and plan.add == []
    assert plan.status["message"] == "job exceeds activeDeadlineSeconds"
