"""Watch Swarm services converge after an apply, following docker/cli's progress rules.

``assess()`` is pure: it takes the inspected service, its up-to-date tasks and the nodes not Down,
and says whether the update converged, failed or is still going (docker/cli
``cli/command/service/progress/progress.go``: only up-to-date tasks count, tasks on Down nodes are
ignored, where a slot has several tasks the one with the lowest desired state wins). Unlike
docker/cli, a Swarm rollback is a failure, never a success, and every wait has a deadline.

Two states end a wait before its deadline, because Swarm itself will not change them: a *stall*
that lasts (``STALL_GRACE_S``). Swarm stopped restarting (every task of this change failed or was
rejected and the restart policy created no new one: swarmkit ``orchestrator/restart``), or a task
the scheduler cannot place (pending with the scheduler's error, e.g. "no suitable node").

Used by ``rollout`` and by every apply of ``deploy`` (automation/stack/convergence.py).

A task with a healthcheck only reaches ``running`` once its container is healthy (the Swarm
executor waits for health before it reports running), so "running" here means "running and
healthy".
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from automation.swarm import (
    TERMINAL_DESIRED,
    Nodes,
    active_nodes,
    created_since,
    desired_tasks,
    eligible_nodes,
    is_service,
    running_tasks,
    spec_image,
    strip_digest,
    task_errors,
)
from automation.waiting import Clock, WaitTimeout, wait_until

NANO = 1_000_000_000

# Docker's defaults when a service leaves a setting unset.
DEFAULT_HEALTH_INTERVAL_S = 30.0
DEFAULT_HEALTH_TIMEOUT_S = 30.0
DEFAULT_HEALTH_RETRIES = 3
DEFAULT_MONITOR_S = 5.0
# Scheduling, image pulls and the engine's own latency, on top of the computed worst case.
GRACE_S = 30.0

FAILED_UPDATE_STATES = {
    "paused": "the update paused",
    "rollback_started": "Swarm started rolling the service back",
    "rollback_paused": "Swarm's rollback paused",
    "rollback_completed": "Swarm rolled the service back",
}


class Phase(StrEnum):
    """Where a service's update stands."""

    CONVERGING = "converging"  # tasks still being replaced, or fewer running than desired
    CONVERGED = "converged"  # every slot runs an up-to-date task; the update has not said done
    COMPLETED = "completed"  # converged and Swarm marked the update completed
    FAILED = "failed"  # paused, rolled back, or (set by the loop) timed out


# How long a stall must last before it is the verdict, in seconds: the restart supervisor makes
# the next task in the same store transaction (a few seconds covers the API's latency); a task
# the scheduler cannot place may be waiting for an old task to free its node in a rolling update.
STALL_GRACE_S = {"gave_up": 5.0, "unschedulable": 30.0}
ROLLBACK_STATES = frozenset({"rollback_started", "rollback_paused", "rollback_completed"})


@dataclass(frozen=True)
class Convergence:
    phase: Phase
    running: int
    desired: int
    update_state: str | None = None
    message: str = ""
    task_errors: tuple[str, ...] = ()
    stall: str = ""  # a key of STALL_GRACE_S while Swarm has stopped making progress

    @property
    def done(self) -> bool:
        return self.phase in (Phase.COMPLETED, Phase.FAILED)

    @property
    def rolled_back_by_swarm(self) -> bool:
        """Swarm put the previous spec back by itself (the update's failure_action)."""
        return self.update_state in ROLLBACK_STATES

    def summary(self) -> str:
        text = f"{self.phase.value}: {self.running}/{self.desired} tasks running"
        if self.update_state:
            text += f", update {self.update_state}"
        return f"{text} ({self.message})" if self.message else text


def assess(
    service: Mapping[str, Any],
    tasks: Sequence[Mapping[str, Any]],
    active_nodes: Nodes,
    *,
    expected_image: str | None = None,
    since: datetime | None = None,
) -> Convergence:
    """Judge one service from its inspect data, its up-to-date tasks and the nodes not Down.

    ``since`` (the daemon's clock) leaves out tasks created before this change: their failures
    belong to an earlier one. Nodes given with their inspect data let a global service count only
    the nodes its placement constraints and their availability allow.
    """
    spec = service.get("Spec", {})
    status = service.get("UpdateStatus") or {}
    update_state = status.get("State") or None
    recent = created_since(tasks, since)
    errors = task_errors(recent)
    desired = desired_tasks(spec, active_nodes)
    running = running_tasks(tasks, active_nodes, spec)
    if update_state in FAILED_UPDATE_STATES:
        swarm_says = status.get("Message", "")
        message = FAILED_UPDATE_STATES[update_state] + (f": {swarm_says}" if swarm_says else "")
        return Convergence(Phase.FAILED, running, desired, update_state, message, errors)
    image = spec_image(spec)
    if expected_image and strip_digest(image) != strip_digest(expected_image):
        message = f"the service spec runs {image}, not {expected_image}"
        return Convergence(Phase.CONVERGING, running, desired, update_state, message, errors)
    if running < desired:
        stall, message = _stall(spec, tasks, recent)
        return Convergence(Phase.CONVERGING, running, desired, update_state, message, errors, stall)
    nowhere = _runs_nowhere(spec, active_nodes)
    if nowhere:
        return Convergence(
            Phase.CONVERGING, running, desired, update_state, nowhere, errors, "unschedulable"
        )
    if update_state == "completed":
        return Convergence(Phase.COMPLETED, running, desired, update_state, "", errors)
    return Convergence(Phase.CONVERGED, running, desired, update_state, "", errors)


MAY_RUN_NOWHERE_LABEL = "sprocket.may-run-nowhere"  # "true": no eligible node is fine


def _runs_nowhere(spec: Mapping[str, Any], active_nodes: Nodes) -> str:
    """Why a global service that no node may run is not converged ("0/0 running" runs it
    nowhere), unless the program labels it MAY_RUN_NOWHERE_LABEL=true; "" otherwise. Only with
    the nodes' inspect data: bare node IDs say nothing of placement."""
    if "Global" not in spec.get("Mode", {}) or not isinstance(active_nodes, Mapping):
        return ""
    if eligible_nodes(spec, active_nodes):
        return ""
    if str((spec.get("Labels") or {}).get(MAY_RUN_NOWHERE_LABEL, "")).lower() == "true":
        return ""
    constraints = spec.get("TaskTemplate", {}).get("Placement", {}).get("Constraints") or []
    where = f"its placement constraints ({', '.join(constraints)})" if constraints else "it"
    return (
        f"global service with no eligible node: no available node meets {where}, so it runs "
        f"nowhere (label it {MAY_RUN_NOWHERE_LABEL}=true if that is intended)"
    )


def _stall(
    spec: Mapping[str, Any],
    tasks: Sequence[Mapping[str, Any]],
    recent: Sequence[Mapping[str, Any]],
) -> tuple[str, str]:
    """(STALL_GRACE_S key, what Swarm says) when Swarm has stopped trying, else ("", "")."""
    live = [t for t in tasks if t.get("DesiredState") not in TERMINAL_DESIRED]
    pending = [t for t in live if t.get("Status", {}).get("State") == "pending"]
    unplaced = [t["Status"]["Err"] for t in pending if t["Status"].get("Err")]
    if unplaced:
        constraints = spec.get("TaskTemplate", {}).get("Placement", {}).get("Constraints") or []
        where = f"; placement constraints: {', '.join(constraints)}" if constraints else ""
        return "unschedulable", f"the scheduler cannot place a task: {unplaced[0]}{where}"
    # A service's task that completes (exit 0) is as dead as a failed one: under the house
    # `on-failure` policy Swarm does not restart it (a job's completion is its success).
    ended = {"failed", "rejected"} | ({"complete"} if is_service(spec) else set())
    failed = [t for t in recent if t.get("Status", {}).get("State") in ended]
    if failed and not live:
        policy = spec.get("TaskTemplate", {}).get("RestartPolicy") or {}
        limit = policy.get("MaxAttempts")
        attempts = f", at most {limit} attempts" if limit else ""
        return "gave_up", (
            f"Swarm stopped restarting the tasks after {len(failed)} failed "
            f"(restart policy: {policy.get('Condition', 'any')}{attempts})"
        )
    return "", ""


# --- how long to wait ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Timing:
    """The settings that bound how long an update can take, in seconds."""

    replicas: int = 1
    parallelism: int = 1
    delay_s: float = 0.0
    monitor_s: float = DEFAULT_MONITOR_S
    health_interval_s: float = DEFAULT_HEALTH_INTERVAL_S
    health_timeout_s: float = DEFAULT_HEALTH_TIMEOUT_S
    health_retries: int = DEFAULT_HEALTH_RETRIES
    start_period_s: float = 0.0

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any]) -> Timing:
        health = spec.get("TaskTemplate", {}).get("ContainerSpec", {}).get("Healthcheck") or {}
        update = spec.get("UpdateConfig") or {}
        replicas = spec.get("Mode", {}).get("Replicated", {}).get("Replicas", 1)
        return cls(
            replicas=int(replicas),
            parallelism=int(update.get("Parallelism", 1)),
            delay_s=update.get("Delay", 0) / NANO,
            monitor_s=(update.get("Monitor") or DEFAULT_MONITOR_S * NANO) / NANO,
            health_interval_s=(health.get("Interval") or DEFAULT_HEALTH_INTERVAL_S * NANO) / NANO,
            health_timeout_s=(health.get("Timeout") or DEFAULT_HEALTH_TIMEOUT_S * NANO) / NANO,
            health_retries=int(health.get("Retries") or DEFAULT_HEALTH_RETRIES),
            start_period_s=(health.get("StartPeriod") or 0) / NANO,
        )

    @property
    def time_to_unhealthy_s(self) -> float:
        """The longest a new task can take before Docker calls it healthy or unhealthy."""
        return self.start_period_s + (self.health_interval_s + self.health_timeout_s) * (
            self.health_retries
        )

    @property
    def deadline_s(self) -> float:
        """Every batch judged healthy and monitored, twice (a Swarm rollback takes as long), plus
        grace for scheduling."""
        batches = math.ceil(self.replicas / self.parallelism) if self.parallelism > 0 else 1
        per_batch = self.time_to_unhealthy_s + self.delay_s + self.monitor_s
        return 2 * max(batches, 1) * per_batch + GRACE_S


# --- the bounded wait ---------------------------------------------------------------------------


class WatchStopped(Exception):
    """The watch was asked to stop (Ctrl-C); the update goes on in Swarm. ``partial``: what the
    caller had seen by then (convergence.watch puts its per-service results there)."""

    partial: Any = None


# --- the loop over several services -------------------------------------------------------------


@dataclass(frozen=True)
class WatchTarget:
    name: str  # catalog name, e.g. "web"
    service_name: str  # the Swarm service, e.g. "prod-sprocket-web-service"
    expected_image: str | None = None
    # The UpdateStatus seen before the apply. An identical one afterwards means Swarm started no
    # update (the template did not change), so it says nothing about this rollout.
    baseline_status: Mapping[str, Any] | None = None
    # When the apply started (the daemon's clock): older tasks' failures are not this change's.
    since: datetime | None = None
    # How long converged tasks must stay up when Swarm reports no completed update; None: the
    # service's update monitor window. A create has no update to complete: 0 is enough there.
    stable_s: float | None = None
    # Judge by the tasks alone: for a service this apply did not change, a Swarm update or
    # rollback still going is an earlier change's (its rollback restores what the state says).
    ignore_update_status: bool = False


@dataclass
class _Progress:
    last: Convergence | None = None
    converged_at: float | None = None
    stalled_since: float | None = None
    deadline: float | None = None  # the clock's time when this service's own deadline passes
    outcome: Convergence | None = None


@dataclass
class ServiceWatch:
    """Polls every target each round; ends when each has an outcome or the deadline passes."""

    api: Any  # docker.APIClient (the low-level client: plain dicts in, plain dicts out)
    targets: Sequence[WatchTarget]
    on_change: Callable[[str, Convergence], None] = lambda _name, _conv: None
    clock: Clock = field(default_factory=Clock)
    interval_s: float = 0.5
    stop: Callable[[], bool] = lambda: False  # e.g. "the operator pressed Ctrl-C"
    # Stop at the first failed service: a release is rolled back whole, so waiting for the
    # others only delays it.
    fail_fast: bool = False
    states: dict[str, _Progress] = field(default_factory=dict)

    def run(self, timeout_s: float | None = None) -> dict[str, Convergence]:
        self.states = {target.name: _Progress() for target in self.targets}
        timeout_s = timeout_s or self.deadline_s()
        try:
            return wait_until(
                self._round, what="the services to converge", timeout_s=timeout_s,
                interval_s=self.interval_s, clock=self.clock,
            )  # fmt: skip
        except WaitTimeout:
            return self._timed_out(timeout_s)

    def deadline_s(self) -> float:
        specs = [self.api.inspect_service(target.service_name)["Spec"] for target in self.targets]
        return max((Timing.from_spec(spec).deadline_s for spec in specs), default=GRACE_S)

    def _round(self) -> tuple[dict[str, Convergence] | None, object]:
        if self.stop():
            raise WatchStopped(self._seen())
        nodes = active_nodes(self.api)
        for target in self.targets:
            progress = self.states[target.name]
            if progress.outcome is None:
                progress.outcome = self._step(target, progress, nodes)
        outcomes = {name: state.outcome for name, state in self.states.items()}
        failed = any(o is not None and o.phase is Phase.FAILED for o in outcomes.values())
        if failed and self.fail_fast:
            return self._abandon_the_rest(), self._seen()
        if all(outcome is not None for outcome in outcomes.values()):
            return {name: o for name, o in outcomes.items() if o is not None}, self._seen()
        return None, self._seen()

    def _abandon_the_rest(self) -> dict[str, Convergence]:
        results = {}
        for name, progress in self.states.items():
            last = progress.last or Convergence(Phase.CONVERGING, 0, 0)
            results[name] = progress.outcome or Convergence(
                last.phase, last.running, last.desired, last.update_state,
                "not watched to the end: another service of the release failed",
            )  # fmt: skip
        return results

    def _seen(self) -> dict[str, str]:
        return {
            name: (state.last.summary() if state.last else "-")
            for name, state in self.states.items()
        }

    def _step(self, target: WatchTarget, progress: _Progress, nodes: Nodes) -> Convergence | None:
        service = self.api.inspect_service(target.service_name)
        if progress.deadline is None:
            progress.deadline = self.clock.now() + Timing.from_spec(service["Spec"]).deadline_s
        unchanged = service.get("UpdateStatus") == target.baseline_status
        if target.ignore_update_status or (unchanged and target.baseline_status):
            service = {key: value for key, value in service.items() if key != "UpdateStatus"}
        tasks = self.api.tasks(filters={"service": service["ID"], "_up-to-date": True})
        conv = assess(
            service, tasks, nodes, expected_image=target.expected_image, since=target.since
        )
        if conv.phase is Phase.FAILED:  # a rollback's tasks are not up to date: ask for all
            all_tasks = created_since(self.api.tasks(filters={"service": service["ID"]}),
                                      target.since)  # fmt: skip
            conv = replace(conv, task_errors=task_errors(all_tasks) or conv.task_errors)
        self._report(target.name, progress, conv)
        if conv.done:
            return conv
        now = self.clock.now()
        if conv.stall:
            if progress.stalled_since is None:
                progress.stalled_since = now
            if now - progress.stalled_since >= STALL_GRACE_S[conv.stall]:
                return self._report(target.name, progress, replace(conv, phase=Phase.FAILED))
        else:
            progress.stalled_since = None
        if now >= progress.deadline:
            spent = Timing.from_spec(service["Spec"]).deadline_s
            return self._report(target.name, progress, _timed_out(conv, spent))
        if conv.phase is not Phase.CONVERGED:
            progress.converged_at = None  # docker/cli: "Detected task failure", start again
            return None
        # No update state to say "completed" (Swarm started none, or has not finished): the tasks
        # must stay up for one monitor window before this counts as success; unless no task was
        # made since the apply (the template did not change: nothing new to watch).
        if progress.converged_at is None:
            progress.converged_at = now
        window = target.stable_s
        if window is None:
            fresh = target.since is None or created_since(tasks, target.since)
            timing = Timing.from_spec(service["Spec"])  # Swarm waits the delay, then monitors
            window = timing.monitor_s + timing.delay_s if fresh else 0.0
        if now - progress.converged_at >= window:
            stable = Convergence(Phase.COMPLETED, conv.running, conv.desired, conv.update_state,
                                 f"stable for {window:.0f}s" if window else "")  # fmt: skip
            return self._report(target.name, progress, stable)
        return None

    def _report(self, name: str, progress: _Progress, conv: Convergence) -> Convergence:
        if progress.last != conv:
            progress.last = conv
            self.on_change(name, conv)
        return conv

    def _timed_out(self, timeout_s: float) -> dict[str, Convergence]:
        results = {}
        for name, progress in self.states.items():
            if progress.outcome is not None:
                results[name] = progress.outcome
                continue
            results[name] = _timed_out(progress.last or Convergence(Phase.CONVERGING, 0, 0),
                                       timeout_s)  # fmt: skip
            self.on_change(name, results[name])
        return results


def _timed_out(last: Convergence, timeout_s: float) -> Convergence:
    why = f"no convergence within {timeout_s:.0f}s" + (f" ({last.message})" if last.message else "")
    return replace(last, phase=Phase.FAILED, message=why)
