"""assess() follows docker/cli's convergence rules, and treats every Swarm rollback as failure.

Task timelines are scripted the way docker/cli's progress_test.go does it: each step is the task
list Swarm would return (up-to-date tasks only), and the test checks the verdict at that step.
"""

from __future__ import annotations

from typing import Any

import pytest
from waiting import FakeClock

from automation.swarm import first_failure_time, parse_docker_time, task_errors
from automation.swarm_watch import NANO, Phase, Timing, assess
from automation.waiting import WaitTimeout, wait_until

NODES = {"node-a", "node-b"}


def service(
    replicas: int = 2, state: str | None = None, message: str = "", image: str = "app:2"
) -> dict[str, Any]:
    svc: dict[str, Any] = {
        "ID": "svc1",
        "Spec": {
            "Mode": {"Replicated": {"Replicas": replicas}},
            "TaskTemplate": {"ContainerSpec": {"Image": image + "@sha256:abc"}},
        },
    }
    if state:
        svc["UpdateStatus"] = {"State": state, "Message": message}
    return svc


def task(
    slot: int,
    observed: str,
    desired: str = "running",
    node: str = "node-a",
    err: str = "",
    timestamp: str = "2026-11-28T10:00:00.123456789Z",
) -> dict[str, Any]:
    return {
        "Slot": slot,
        "NodeID": node,
        "DesiredState": desired,
        "Status": {"State": observed, "Err": err, "Timestamp": timestamp},
    }


def test_a_rolling_update_converges_step_by_step() -> None:
    timeline = [
        ([], "updating", Phase.CONVERGING, 0),
        ([task(1, "starting")], "updating", Phase.CONVERGING, 0),
        ([task(1, "running")], "updating", Phase.CONVERGING, 1),
        ([task(1, "running"), task(2, "preparing")], "updating", Phase.CONVERGING, 1),
        ([task(1, "running"), task(2, "running")], "updating", Phase.CONVERGED, 2),
        ([task(1, "running"), task(2, "running")], "completed", Phase.COMPLETED, 2),
    ]
    for tasks, state, phase, running in timeline:
        verdict = assess(service(state=state), tasks, NODES)
        assert (verdict.phase, verdict.running, verdict.desired) == (phase, running, 2), tasks


def test_a_failed_task_drops_convergence_and_its_replacement_restores_it() -> None:
    failed = task(1, "failed", desired="shutdown", err="task: non-zero exit (1)")
    dropped = assess(service(state="updating"), [failed, task(2, "running")], NODES)
    assert dropped.phase is Phase.CONVERGING
    assert dropped.task_errors == ("task: non-zero exit (1)",)
    # The slot's replacement has the lower desired state (running < shutdown), so it counts.
    replaced = assess(
        service(state="updating"), [failed, task(1, "running"), task(2, "running")], NODES
    )
    assert replaced.phase is Phase.CONVERGED


def test_a_start_first_overlap_is_not_converged_until_the_new_task_runs() -> None:
    old_and_new = [task(1, "running"), task(1, "starting")]  # same slot, both desired running
    assert assess(service(replicas=1), old_and_new, NODES).phase is Phase.CONVERGING


def test_tasks_on_a_down_node_do_not_count() -> None:
    tasks = [task(1, "running"), task(2, "running", node="node-gone")]
    verdict = assess(service(state="updating"), tasks, NODES)
    assert (verdict.phase, verdict.running) == (Phase.CONVERGING, 1)


def test_a_global_service_wants_one_task_per_active_node() -> None:
    svc = service()
    svc["Spec"]["Mode"] = {"Global": {}}
    one = assess(svc, [task(0, "running", node="node-a")], NODES)
    assert (one.phase, one.desired) == (Phase.CONVERGING, 2)
    both = [task(0, "running", node="node-a"), task(0, "running", node="node-b")]
    assert assess(svc, both, NODES).phase is Phase.CONVERGED


@pytest.mark.parametrize(
    "state", ["paused", "rollback_started", "rollback_paused", "rollback_completed"]
)
def test_pauses_and_every_rollback_state_are_failures_even_with_all_tasks_running(
    state: str,
) -> None:
    running = [task(1, "running"), task(2, "running")]
    verdict = assess(
        service(state=state, message="update rolled back due to failure"), running, NODES
    )
    assert verdict.phase is Phase.FAILED
    assert "update rolled back due to failure" in verdict.message


def test_a_spec_on_another_image_is_not_converged() -> None:
    running = [task(1, "running"), task(2, "running")]
    verdict = assess(service(image="app:1"), running, NODES, expected_image="app:2")
    assert verdict.phase is Phase.CONVERGING
    assert "app:1" in verdict.message
    ok = assess(service(image="app:2"), running, NODES, expected_image="app:2")
    assert ok.phase is Phase.CONVERGED


def test_task_errors_are_distinct_and_newest_first() -> None:
    tasks = [
        task(1, "failed", err="old error", timestamp="2026-11-28T10:00:00Z"),
        task(1, "failed", err="new error", timestamp="2026-11-28T10:00:05Z"),
        task(2, "failed", err="new error", timestamp="2026-11-28T10:00:04Z"),
        task(2, "running"),
    ]
    assert task_errors(tasks) == ("new error", "old error")
    first = first_failure_time(tasks)
    assert first is not None and first.isoformat() == "2026-11-28T10:00:00+00:00"


def test_docker_nanosecond_times_parse() -> None:
    parsed = parse_docker_time("2026-11-28T10:00:00.123456789Z")
    assert parsed.isoformat() == "2026-11-28T10:00:00.123456+00:00"


def test_the_deadline_covers_every_batch_twice_plus_grace() -> None:
    spec = {
        "Mode": {"Replicated": {"Replicas": 2}},
        "UpdateConfig": {"Parallelism": 1, "Monitor": 8 * NANO, "Delay": 0},
        "TaskTemplate": {
            "ContainerSpec": {
                "Healthcheck": {
                    "Test": ["CMD", "true"],
                    "Interval": 2 * NANO,
                    "Timeout": 2 * NANO,
                    "Retries": 2,
                    "StartPeriod": 2 * NANO,
                }
            }
        },
    }
    timing = Timing.from_spec(spec)
    assert timing.time_to_unhealthy_s == 2 + (2 + 2) * 2
    # 2 batches x (10 s to judge + 8 s monitor), twice for a rollback, + 30 s grace.
    assert timing.deadline_s == 2 * 2 * 18 + 30


def test_docker_defaults_apply_when_the_spec_sets_nothing() -> None:
    timing = Timing.from_spec({})
    assert (timing.monitor_s, timing.health_interval_s, timing.health_retries) == (5, 30, 3)


def test_wait_until_returns_the_first_value() -> None:
    answers = iter([None, None, "ready"])
    clock = FakeClock()
    value = wait_until(
        lambda: (next(answers), "x"), what="it", timeout_s=10, interval_s=1, clock=clock
    )
    assert (value, clock.t) == ("ready", 2.0)


def test_wait_until_gives_up_at_the_deadline_naming_what_it_saw() -> None:
    clock = FakeClock()
    with pytest.raises(WaitTimeout, match=r"gave up after 3s waiting for web; last seen: 1/2"):
        wait_until(lambda: (None, "1/2"), what="web", timeout_s=3, interval_s=1, clock=clock)
    assert clock.t == 3.0


class ScriptedSwarmApi:
    """A Docker API that replays a timeline: one (service, tasks) pair per round.

    A fake, on purpose: a task that drops out during the monitor window, or an UpdateStatus left
    over from an earlier update, cannot be provoked on demand on the real Swarm.
    """

    def __init__(self, rounds: list[tuple[dict[str, Any], list[dict[str, Any]]]]) -> None:
        self.rounds, self.index = rounds, -1

    def nodes(self) -> list[dict[str, Any]]:
        self.index = min(self.index + 1, len(self.rounds) - 1)  # one nodes() call per round
        return [{"ID": node, "Status": {"State": "ready"}} for node in NODES]

    def inspect_service(self, _name: str) -> dict[str, Any]:
        return self.rounds[max(self.index, 0)][0]

    def tasks(self, filters: dict[str, Any]) -> list[dict[str, Any]]:
        return self.rounds[max(self.index, 0)][1]


def monitored(svc: dict[str, Any], monitor_s: int = 3) -> dict[str, Any]:
    svc["Spec"]["UpdateConfig"] = {"Monitor": monitor_s * NANO}
    return svc


def test_a_task_dropping_in_the_monitor_window_restarts_the_wait_scripted_api() -> None:
    from automation.swarm_watch import ServiceWatch, WatchTarget

    up = [task(1, "running"), task(2, "running")]
    dropped = [task(1, "running"), task(2, "failed", desired="shutdown", err="oom")]
    rounds = [(monitored(service()), tasks) for tasks in (up, up, dropped, up, up, up, up)]
    clock = FakeClock()
    seen: list[str] = []
    watch = ServiceWatch(
        ScriptedSwarmApi(rounds), [WatchTarget("web", "svc")], clock=clock, interval_s=1,
        on_change=lambda name, conv: seen.append(conv.phase.value),
    )  # fmt: skip
    outcome = watch.run(timeout_s=60)["web"]
    assert outcome.phase is Phase.COMPLETED
    # Converged at t=0, dropped at t=2, converged again at t=3, stable for 3 s at t=6.
    assert clock.t == 6
    assert seen == ["converged", "converging", "converged", "completed"]


def test_an_update_status_left_from_before_the_apply_is_ignored_scripted_api() -> None:
    from automation.swarm_watch import ServiceWatch, WatchTarget

    old = {"State": "rollback_completed", "Message": "rollback completed", "StartedAt": "t0"}
    svc = monitored(service(), monitor_s=1)
    svc["UpdateStatus"] = old
    up = [task(1, "running"), task(2, "running")]
    watch = ServiceWatch(
        ScriptedSwarmApi([(svc, up)]), [WatchTarget("web", "svc", baseline_status=dict(old))],
        clock=FakeClock(), interval_s=1,
    )  # fmt: skip
    assert watch.run(timeout_s=10)["web"].phase is Phase.COMPLETED
    # Without the baseline the same status is a failure: Swarm rolled this update back.
    fresh = ServiceWatch(
        ScriptedSwarmApi([(svc, up)]), [WatchTarget("web", "svc")], clock=FakeClock()
    )
    assert fresh.run(timeout_s=10)["web"].phase is Phase.FAILED


def test_no_convergence_by_the_deadline_is_a_failure_scripted_api() -> None:
    from automation.swarm_watch import ServiceWatch, WatchTarget

    stuck = (monitored(service(state="updating")), [task(1, "running"), task(2, "pending")])
    watch = ServiceWatch(
        ScriptedSwarmApi([stuck]), [WatchTarget("web", "svc")], clock=FakeClock(), interval_s=1
    )
    outcome = watch.run(timeout_s=5)["web"]
    assert (outcome.phase, outcome.running, outcome.message) == (
        Phase.FAILED,
        1,
        "no convergence within 5s",
    )


# --- stalls, this change's tasks, eligible nodes (deploy's wait, issue 14) ----------------------


def created(t: dict[str, Any], at: str) -> dict[str, Any]:
    return {**t, "CreatedAt": at}


def test_rejected_tasks_with_no_replacement_are_a_stall_swarm_gave_up() -> None:
    svc = service(replicas=1)
    svc["Spec"]["TaskTemplate"]["RestartPolicy"] = {"Condition": "on-failure", "MaxAttempts": 2}
    rejected = task(1, "rejected", desired="shutdown", err="No such image: app:9")
    restarting = [rejected, task(1, "pending", desired="ready")]
    assert assess(svc, restarting, NODES).stall == ""  # the restart supervisor made the next one
    given_up = assess(svc, [rejected, rejected], NODES)
    assert (given_up.phase, given_up.stall) == (Phase.CONVERGING, "gave_up")
    assert "at most 2 attempts" in given_up.message
    assert given_up.task_errors == ("No such image: app:9",)


def test_a_task_the_scheduler_cannot_place_is_a_stall_naming_the_constraints() -> None:
    svc = service(replicas=1)
    svc["Spec"]["TaskTemplate"]["Placement"] = {"Constraints": ["node.labels.zone==nowhere"]}
    err = "no suitable node (scheduling constraints not satisfied on 1 node)"
    verdict = assess(svc, [task(1, "pending", err=err)], NODES)
    assert verdict.stall == "unschedulable"
    assert err in verdict.message and "node.labels.zone==nowhere" in verdict.message


def test_failures_of_tasks_made_before_the_change_do_not_count() -> None:
    from datetime import datetime

    since = datetime.fromisoformat("2026-11-28T10:00:10+00:00")
    old = created(
        task(1, "failed", desired="shutdown", err="old crash", timestamp="2026-11-28T10:00:02Z"),
        "2026-11-28T10:00:01Z",
    )
    new = created(
        task(1, "failed", desired="shutdown", err="new crash", timestamp="2026-11-28T10:00:20Z"),
        "2026-11-28T10:00:12Z",
    )
    verdict = assess(service(replicas=1), [old, new], NODES, since=since)
    assert verdict.task_errors == ("new crash",)
    first = first_failure_time([old, new], since)
    assert first is not None and first.isoformat() == "2026-11-28T10:00:20+00:00"
    assert assess(service(replicas=1), [old], NODES, since=since).stall == ""


def test_a_global_service_counts_only_available_nodes_meeting_its_constraints() -> None:
    from automation.swarm import constraint_holds

    nodes = {
        "m": {"ID": "m", "Spec": {"Role": "manager", "Labels": {"zone": "a"}}},
        "w1": {"ID": "w1", "Spec": {"Role": "worker", "Labels": {"zone": "a"}}},
        "w2": {"ID": "w2", "Spec": {"Role": "worker", "Availability": "drain"}},
    }
    svc = service()
    svc["Spec"]["Mode"] = {"Global": {}}
    assert assess(svc, [], nodes).desired == 2  # the drained node gets no task
    svc["Spec"]["TaskTemplate"]["Placement"] = {"Constraints": ["node.role!=manager"]}
    assert assess(svc, [], nodes).desired == 1
    assert constraint_holds("node.labels.zone == a", nodes["w1"])
    assert not constraint_holds("node.labels.zone==a", nodes["w2"])  # no such label
    assert constraint_holds("node.labels.zone!=a", nodes["w2"])


def test_daemon_times_keep_their_offset() -> None:
    parsed = parse_docker_time("2026-11-28T11:00:00.5+01:00")
    assert parsed.isoformat() == "2026-11-28T11:00:00.500000+01:00"
    with pytest.raises(ValueError, match="not an RFC 3339 time"):
        parse_docker_time("yesterday")


def test_a_stall_that_lasts_its_grace_is_the_verdict_scripted_api() -> None:
    from automation.swarm_watch import STALL_GRACE_S, ServiceWatch, WatchTarget

    svc = service(replicas=1)
    err = "no suitable node (scheduling constraints not satisfied on 1 node)"
    clock = FakeClock()
    watch = ServiceWatch(
        ScriptedSwarmApi([(svc, [task(1, "pending", err=err)])]), [WatchTarget("web", "svc")],
        clock=clock, interval_s=1,
    )  # fmt: skip
    outcome = watch.run(timeout_s=600)["web"]
    assert outcome.phase is Phase.FAILED and err in outcome.message
    assert clock.t == STALL_GRACE_S["unschedulable"]


def test_an_unchanged_template_completes_without_a_monitor_window_scripted_api() -> None:
    from datetime import datetime

    from automation.swarm_watch import ServiceWatch, WatchTarget

    up = [created(task(1, "running"), "2026-11-28T09:00:00Z")]
    since = datetime.fromisoformat("2026-11-28T10:00:00+00:00")
    clock = FakeClock()
    watch = ServiceWatch(
        ScriptedSwarmApi([(monitored(service(replicas=1), monitor_s=30), up)]),
        [WatchTarget("web", "svc", since=since)], clock=clock, interval_s=1,
    )  # fmt: skip
    assert watch.run(timeout_s=100)["web"].phase is Phase.COMPLETED
    assert clock.t == 0  # no task of this apply: nothing new to watch for 30 s


def test_a_service_task_that_completes_and_is_not_replaced_is_a_stall() -> None:
    svc = service(replicas=1)
    done = task(1, "complete", desired="shutdown")
    assert assess(svc, [done], NODES).stall == "gave_up"  # on-failure: Swarm will not restart it
    job = service(replicas=1)
    job["Spec"]["Mode"] = {"ReplicatedJob": {"TotalCompletions": 1}}
    assert assess(job, [done], NODES).stall == ""  # a job's completion is not a failure


def test_a_global_service_no_node_may_run_is_not_converged_unless_labelled() -> None:
    """Issue 29 case 13: "0/0 tasks running" is a service that runs nowhere."""
    from automation.swarm_watch import MAY_RUN_NOWHERE_LABEL

    nodes = {"m": {"ID": "m", "Spec": {"Role": "manager", "Labels": {}}}}
    svc = service()
    svc["Spec"]["Mode"] = {"Global": {}}
    svc["Spec"]["TaskTemplate"]["Placement"] = {"Constraints": ["node.labels.gpu==yes"]}
    verdict = assess(svc, [], nodes)
    assert (verdict.phase, verdict.desired, verdict.stall) == (Phase.CONVERGING, 0, "unschedulable")
    assert "no eligible node" in verdict.message and "node.labels.gpu==yes" in verdict.message
    assert f"{MAY_RUN_NOWHERE_LABEL}=true" in verdict.message
    svc["Spec"]["Labels"] = {MAY_RUN_NOWHERE_LABEL: "true"}  # the program says nowhere is fine
    assert assess(svc, [], nodes).phase is Phase.CONVERGED
    # A node that meets the constraint makes it an ordinary global service again.
    svc["Spec"]["Labels"] = {}
    nodes["w"] = {"ID": "w", "Spec": {"Role": "worker", "Labels": {"gpu": "yes"}}}
    assert assess(svc, [], nodes).phase is Phase.CONVERGING  # wants 1, runs 0
