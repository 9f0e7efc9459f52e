"""Each lifecycle stage on its own: given a pod and its kubelet record in a state, the
stage is due at an exact time, and its next-status function produces exact objects."""

from __future__ import annotations

import pytest

from kitlib.cluster.kubelet.containers import State
from kitlib.cluster.kubelet.puller import PullOutcome
from kitlib.cluster.kubelet.stages import CONTAINER_STAGES, POD_STAGES
from kitlib.cluster.kubelet.transitions import kill_timing
from tests.cluster.kubelet_world import PSTAGES, World

CID = "containerd://" + "a" * 64
NGINX_ID = ("docker.io/library/nginx@sha256:"
            "b07c1fa29c8dc936d6db6891b04d7647d88ecb270969a682be1b6e033134f8b3")
POD_REF = "web_default(uid-1)"


def test_every_stage_has_a_unique_name() -> None:
    names = [s.name for s in (*POD_STAGES, *CONTAINER_STAGES)]
    assert len(names) == len(set(names)) == 22


# -- starting ---------------------------------------------------------------------------

def test_start_requested_with_the_image_present_goes_straight_to_creating() -> None:
    world = World(images=("docker.io/library/nginx:1.25",))
    c = world.fire("start-requested", 5.0)
    assert (c.state, c.since) == (State.CREATING, 5.0)
    assert world.events == [("Normal", "Pulled",
                             'Container image "nginx:1.25" already present on machine')]
    assert world.node.pulls == []


def test_start_requested_without_the_image_asks_the_node_to_pull_it() -> None:
    world = World()
    c = world.fire("start-requested", 5.0)
    assert c.state is State.PULLING
    assert world.node.pulls == [("docker.io/library/nginx:1.25", ("uid-1", "app"))]
    assert world.events == [("Normal", "Pulling", 'Pulling image "nginx:1.25"')]
    assert world.status()["state"] == {"waiting": {"reason": "ContainerCreating"}}


def test_start_requested_pulls_again_with_pull_policy_always() -> None:
    world = World(containers=[{"name": "app", "image": "nginx", "imagePullPolicy": "Always"}],
                  images=("docker.io/library/nginx:latest",))
    assert world.fire("start-requested", 5.0).state is State.PULLING


def test_start_requested_with_policy_never_and_no_image_is_blocked() -> None:
    world = World(containers=[{"name": "app", "image": "nginx:1.25",
                               "imagePullPolicy": "Never"}])
    c = world.fire("start-requested", 5.0)
    message = 'Container image "nginx:1.25" is not present with pull policy of Never'
    assert (c.state, world.status()["state"]) == (
        State.BLOCKED, {"waiting": {"reason": "ErrImageNeverPull", "message": message}})
    assert world.events[-1] == ("Warning", "Failed", "Error: ErrImageNeverPull")


def test_a_blocked_container_tries_again_at_the_next_periodic_sync() -> None:
    world = World(containers=[{"name": "app", "image": "nginx:1.25",
                               "imagePullPolicy": "Never"}])
    world.fire("start-requested", 5.0)
    world.node.present.add("docker.io/library/nginx:1.25")  # another pod pulled it
    world.fire("blocked-resync", 65.0)
    assert world.fire("start-requested", 65.0).state is State.CREATING


def test_start_requested_with_an_invalid_reference_is_invalid_image_name() -> None:
    world = World(containers=[{"name": "app", "image": "Nginx:1.25"}])
    world.fire("start-requested", 5.0)
    assert world.status()["state"]["waiting"]["reason"] == "InvalidImageName"


def test_start_requested_waits_for_its_turn_in_the_pods_sequential_sync() -> None:
    world = World(containers=[{"name": "a", "image": "nginx:1.25"},
                              {"name": "b", "image": "redis:7"}])
    assert world.due("start-requested", 0.0, "b") is None  # "a" comes first
    world.fire("start-requested", 0.0, "a")
    assert world.due("start-requested", 0.0, "b") is None  # "a" is pulling: the sync waits
    world.c("a").enter(State.RUNNING, 3.0)
    assert world.due("start-requested", 3.0, "b") == 0.0 + 0.0  # due since it entered WAITING


def test_init_containers_run_one_at_a_time_before_the_containers() -> None:
    world = World(init=[{"name": "i1", "image": "busybox:1"}, {"name": "i2", "image": "busybox:1"}])
    assert world.due("start-requested", 0.0, "i2") is None
    assert world.due("start-requested", 0.0, "app") is None
    assert world.due("start-requested", 0.0, "i1") == 0.0


def test_image_pulled_successfully_goes_to_creating_with_the_pull_times() -> None:
    world = World()
    c = world.fire("start-requested", 5.0)
    info = world.catalog.resolve("nginx:1.25")
    assert info is not None
    c.pull = (PullOutcome(info, True, 1.25), 5.0)
    world.fire("image-pulled", 8.0)
    assert c.state is State.CREATING
    assert world.events[-1] == ("Normal", "Pulled", 'Successfully pulled image "nginx:1.25" in '
                                "1.25s (3s including waiting). Image size: 100000000 bytes.")


def test_image_pull_failure_is_err_image_pull_and_starts_a_10s_back_off() -> None:
    world = World()
    c = world.fire("start-requested", 5.0)
    info = world.catalog.resolve("nginx:1.25")
    assert info is not None
    c.pull = (PullOutcome(info, False, 1.0, "boom"), 5.0)
    world.fire("image-pulled", 6.0)
    assert (c.state, world.status()["state"]) == (
        State.PULL_ERROR, {"waiting": {"reason": "ErrImagePull", "message": "boom"}})
    assert world.events[-2:] == [("Warning", "Failed", 'Failed to pull image "nginx:1.25": boom'),
                                 ("Warning", "Failed", "Error: ErrImagePull")]
    entry = world.rt.backoffs[("image", "nginx:1.25")]
    assert (entry.window, entry.last_update) == (10.0, 6.0)


def test_image_pull_backoff_shows_one_relist_after_the_error_and_ends_with_the_window() -> None:
    world = World()
    c = world.fire("start-requested", 5.0)
    info = world.catalog.resolve("nginx:1.25")
    assert info is not None
    c.pull = (PullOutcome(info, False, 1.0, "boom"), 5.0)
    world.fire("image-pulled", 6.0)
    world.fire("image-pull-backoff", 7.0)
    assert world.status()["state"] == {"waiting": {
        "reason": "ImagePullBackOff", "message": 'Back-off pulling image "nginx:1.25"'}}
    world.fire("image-pull-backoff-expired", 16.0)
    assert c.state is State.WAITING
    assert world.status()["state"]["waiting"]["reason"] == "ImagePullBackOff"  # until the result


def test_container_started_after_start_seconds_runs_a_new_instance() -> None:
    world = World(annotations={"sim.kitlib.io/start-seconds": "2.5"})
    world.c().enter(State.CREATING, 4.0)
    world.fire("container-started", 6.5)
    assert world.status() == {
        "name": "app", "state": {"running": {"startedAt": "2026-01-01T00:00:06Z"}},
        "lastState": {}, "ready": True, "restartCount": 0,
        "image": "docker.io/library/nginx:1.25", "imageID": NGINX_ID,
        "containerID": world.status()["containerID"], "started": True}
    assert world.status()["containerID"].startswith("containerd://")
    assert len(world.status()["containerID"]) == len(CID)
    assert world.events == [("Normal", "Created", "Created container: app"),
                            ("Normal", "Started", "Started container app")]


def test_a_container_with_probes_starts_neither_started_nor_ready() -> None:
    world = World(containers=[{"name": "app", "image": "nginx:1.25",
                               "startupProbe": {"httpGet": {"port": 80}},
                               "readinessProbe": {"httpGet": {"port": 80}}}])
    world.c().enter(State.CREATING, 0.0)
    c = world.fire("container-started", 1.0)
    assert (c.started, c.ready) == (False, False)


# -- running ----------------------------------------------------------------------------

def test_app_exits_after_crash_after_seconds_with_its_exit_code() -> None:
    world = World()
    world.running(at=10.0, exit_after_seconds=30.0, exit_code=3)
    c = world.fire("app-exited", 40.0)
    assert (c.state, c.notice_after) == (State.EXITED, 1.0)
    assert world.status()["state"] == {"terminated": {
        "exitCode": 3, "reason": "Error", "startedAt": "2026-01-01T00:00:10Z",
        "finishedAt": "2026-01-01T00:00:40Z", "containerID": CID}}


def test_a_knob_changed_later_never_acts_in_the_past() -> None:
    world = World()
    c = world.running(at=10.0, exit_after_seconds=5.0)
    assert c.current is not None
    c.current.behaviour_since = 100.0  # the annotation appeared at 100 s
    assert world.due("app-exited", 100.0) == 100.0


def test_startup_probe_passes_at_its_first_run_after_the_app_answers() -> None:
    world = World(containers=[{"name": "app", "image": "nginx:1.25",
                               "startupProbe": {"httpGet": {"port": 80}, "periodSeconds": 3,
                                                "failureThreshold": 5}}])
    world.running(at=10.0, started=False, ready=False, ready_after_seconds=7.0)
    c = world.fire("startup-probe-succeeded", 19.0)  # runs 10, 13, 16, 19
    assert (c.started, c.ready) == (True, True)  # no readiness probe: ready once started


def test_startup_probe_kills_after_failure_threshold_runs() -> None:
    world = World(containers=[{"name": "app", "image": "nginx:1.25",
                               "startupProbe": {"httpGet": {"port": 80}, "periodSeconds": 3,
                                                "failureThreshold": 2}}])
    world.running(at=10.0, started=False, ready=False, ready_after_seconds=7.0)
    assert world.due("startup-probe-succeeded", 10.0) is None
    c = world.fire("startup-probe-failed", 13.0)
    assert (c.state, c.stop) == (State.STOPPING, c.stop)
    assert c.stop is not None and (c.stop.exit_code, c.stop.then) == (137, State.EXITED)
    assert world.events[-1] == ("Normal", "Killing",
                                "Container app failed startup probe, will be restarted")
    assert world.events.count(("Warning", "Unhealthy", "Startup probe failed: HTTP probe "
                               "failed with statuscode: 503")) == 2


def test_readiness_probe_passes_at_the_first_period_after_ready_after() -> None:
    world = World(containers=[{"name": "app", "image": "nginx:1.25",
                               "readinessProbe": {"httpGet": {"port": 80},
                                                  "initialDelaySeconds": 2}}])
    world.running(at=10.0, ready=False, ready_after_seconds=15.0)
    assert world.fire("readiness-probe-succeeded", 32.0).ready  # runs 12, 22, 32


def test_readiness_probe_fails_after_three_failed_runs_once_the_app_is_unready() -> None:
    world = World(containers=[{"name": "app", "image": "nginx:1.25",
                               "readinessProbe": {"tcpSocket": {"port": 8080}}}])
    world.running(at=10.0, unready_after_seconds=25.0)
    c = world.fire("readiness-probe-failed", 60.0)  # runs 40, 50, 60 fail
    assert not c.ready and c.state is State.RUNNING
    assert world.events == [("Warning", "Unhealthy", "Readiness probe failed: dial tcp "
                             "10.244.0.2:8080: connect: connection refused")]


def test_liveness_probe_kills_a_hung_app_after_failure_threshold_periods() -> None:
    world = World(containers=[{"name": "app", "image": "nginx:1.25",
                               "livenessProbe": {"httpGet": {"port": 80}, "periodSeconds": 5}}])
    world.running(at=10.0, liveness_fails_after_seconds=21.0)
    c = world.fire("liveness-probe-failed", 45.0)  # fails at 35, 40, 45
    assert c.state is State.STOPPING and not c.ready
    assert world.events[-1] == ("Normal", "Killing",
                                "Container app failed liveness probe, will be restarted")


def test_definition_changed_kills_only_the_changed_container() -> None:
    world = World(containers=[{"name": "app", "image": "nginx:1.25"},
                              {"name": "log", "image": "fluentd:1"}])
    world.running("app", at=10.0)
    world.running("log", at=12.0)
    world.c("log").set_spec({"name": "log", "image": "fluentd:2"})
    assert world.due("definition-changed", 50.0, "app") is None
    c = world.fire("definition-changed", 50.0, "log")
    assert c.stop is not None and (c.stop.why, c.stop.then, c.stop.after) == (
        "definition", State.WAITING, 1.0)
    assert world.events == [("Normal", "Killing",
                              "Container log definition changed, will be restarted")]


def test_a_changed_image_ends_a_crash_back_off_at_once() -> None:
    world = World()
    c = world.exited(finished=20.0)
    c.attempt_hash = "old"
    c.enter(State.CRASH_BACKOFF, 21.0)
    c = world.fire("definition-changed-while-waiting", 30.0)
    assert (c.state, c.waiting) == (State.WAITING, None)


# -- stopping and restarting ------------------------------------------------------------

def test_container_stopped_moves_the_instance_to_last_state_on_restart() -> None:
    world = World()
    world.running(at=10.0).set_spec({"name": "app", "image": "nginx:1.26"})
    c = world.fire("definition-changed", 50.0)
    world.fire("container-stopped", 51.0)
    assert c.state is State.WAITING
    assert world.status()["state"] == {"terminated": {
        "exitCode": 0, "reason": "Completed", "startedAt": "2026-01-01T00:00:10Z",
        "finishedAt": "2026-01-01T00:00:51Z", "containerID": CID}}


@pytest.mark.parametrize(("grace", "prestop", "stop", "after", "clean"), [
    (30, 0, 1, 1, True),  # stops on SIGTERM
    (30, 5, 3, 8, True),  # preStop, then SIGTERM
    (30, 40, 3, 32, False),  # preStop cut at the grace period, 2 s minimum left, SIGKILL
    (10, 0, 20, 10, False),  # SIGKILL when the grace period ends
    (0, 0, 1, 1, True),  # grace 0 still leaves the 2 s minimum
])
def test_kill_timing_follows_the_grace_period(grace: float, prestop: float, stop: float,
                                              after: float, clean: bool) -> None:
    assert kill_timing(grace, prestop, stop) == (after, clean)


def test_first_exit_restarts_at_once_and_starts_the_crash_back_off() -> None:
    world = World()
    c = world.exited(finished=20.0)
    world.fire("exit-noticed", 21.0)
    assert c.state is State.WAITING
    assert next(iter(world.rt.backoffs.values())).window == 10.0


def test_second_exit_within_the_window_is_crash_loop_back_off() -> None:
    world = World()
    c = world.exited(finished=20.0)
    world.fire("exit-noticed", 21.0)
    c.restart_count = 1
    world.exited(started=22.0, finished=25.0)
    world.fire("exit-noticed", 26.0)
    message = f"back-off 10s restarting failed container=app pod={POD_REF}"
    assert (c.state, world.status()["state"]) == (
        State.CRASH_BACKOFF, {"waiting": {"reason": "CrashLoopBackOff", "message": message}})
    assert world.status()["lastState"]["terminated"]["finishedAt"] == "2026-01-01T00:00:25Z"
    assert world.events[-1] == ("Warning", "BackOff", "Back-off restarting failed container app "
                                f"in pod {POD_REF}")
    world.fire("crash-backoff-expired", 35.0)  # finishedAt + 10 s
    assert (c.state, next(iter(world.rt.backoffs.values())).window) == (State.WAITING, 20.0)


def test_a_container_that_completes_is_done_under_on_failure() -> None:
    world = World(restartPolicy="OnFailure")
    c = world.exited(code=0)
    world.fire("exit-noticed", 21.0)
    assert c.state is State.DONE


# -- the pod ----------------------------------------------------------------------------

def test_sandbox_created_takes_the_next_ip_of_the_node_range() -> None:
    world = World()
    world.rt.sandbox, world.rt.ip = False, None
    env = world.env(0.0)
    assert PSTAGES["sandbox-created"].selects(world.rt, env)
    PSTAGES["sandbox-created"].next(world.rt, env)
    assert (world.rt.sandbox, world.rt.ip) == (True, "10.244.0.2")


def test_host_network_pods_get_the_node_ip() -> None:
    world = World(hostNetwork=True)
    world.rt.sandbox, world.rt.ip = False, None
    PSTAGES["sandbox-created"].next(world.rt, world.env(0.0))
    assert world.rt.ip == "10.0.0.1"


def test_pod_terminating_stops_running_containers_and_drops_waiting_ones() -> None:
    world = World(containers=[{"name": "app", "image": "nginx:1.25"},
                              {"name": "log", "image": "fluentd:1"}])
    world.running("app", at=10.0)
    world.fire("start-requested", 12.0, "log")
    world.pod["metadata"].update(deletionTimestamp="2026-01-01T00:01:00Z",
                                 deletionGracePeriodSeconds=30)
    env = world.env(30.0)
    assert PSTAGES["pod-terminating"].selects(world.rt, env)
    PSTAGES["pod-terminating"].next(world.rt, env)
    assert (world.c("app").state, world.c("log").state) == (State.STOPPING, State.DONE)
    assert world.node.cancelled == [("uid-1", "log")]
    assert world.events[-1] == ("Normal", "Killing", "Stopping container app")
    assert not PSTAGES["pod-finished"].selects(world.rt, env)


def test_grace_shortened_cuts_the_stop_to_the_new_deadline() -> None:
    world = World(annotations={"sim.kitlib.io/stop-seconds": "20"})
    world.running(at=10.0, stop_seconds=20.0)
    world.pod["metadata"].update(deletionTimestamp="x", deletionGracePeriodSeconds=30)
    PSTAGES["pod-terminating"].next(world.rt, world.env(30.0))
    world.pod["metadata"]["deletionGracePeriodSeconds"] = 5
    env = world.env(32.0)
    assert PSTAGES["grace-shortened"].selects(world.rt, env)
    PSTAGES["grace-shortened"].next(world.rt, env)
    assert world.c().stop is not None
    assert (world.c().stop.after, world.c().stop.exit_code) == (7.0, 137)


def test_pod_finished_once_every_container_stopped() -> None:
    world = World()
    world.running(at=10.0)
    world.pod["metadata"].update(deletionTimestamp="x", deletionGracePeriodSeconds=30)
    PSTAGES["pod-terminating"].next(world.rt, world.env(30.0))
    world.fire("container-stopped", 31.0)
    env = world.env(31.0)
    assert PSTAGES["pod-finished"].selects(world.rt, env)
    PSTAGES["pod-finished"].next(world.rt, env)
    assert world.rt.finalized and not world.rt.sandbox


def test_sandbox_removed_when_the_pod_finished_by_itself() -> None:
    world = World(restartPolicy="Never")
    world.exited(code=0)
    world.fire("exit-noticed", 21.0)
    env = world.env(21.0)
    assert PSTAGES["sandbox-removed"].selects(world.rt, env)
    PSTAGES["sandbox-removed"].next(world.rt, env)
    assert not world.rt.sandbox and world.node.ips.in_use == 0
