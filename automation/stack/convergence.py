"""Deploy means running: after an apply, wait until every Swarm service of the stack converged.

A Pulumi success on a `docker:index/service:Service` only says Swarm accepted the spec. The
services come from the engine's own events (``ServiceSteps``, an ``on_event`` handler on the
preview and the apply); each is then watched on the Swarm with the update watcher the rollout uses
(automation/swarm_watch.py), with a deadline from its own spec:

- created or updated by this apply: until every task of the new spec runs (and is healthy where
  a healthcheck exists) and Swarm's update, if it started one, completed; failures of tasks
  from before the apply do not count;
- unchanged: checked once more at the same rules, so a deploy never reports success for a
  service that sits at 0/N.

A service that does not converge is reported in Swarm's own words (its tasks' errors), with
whether Swarm rolled it back by itself, and the verb ends with ExitCode.NOT_CONVERGED.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from automation.hints import driver_command
from automation.stack.progress import ConvergenceProgress
from automation.swarm import daemon_now
from automation.swarm_watch import Convergence, Phase, ServiceWatch, WatchStopped, WatchTarget
from sprocket_common.stack_info import Env

SERVICE_TYPE = "docker:index/service:Service"
# Engine step ops that give a service a new spec (a replace shows as several steps).
CHANGING_OPS = frozenset({"create", "update", "replace", "create-replacement"})
GONE_OPS = frozenset({"delete", "discard"})


@dataclass
class ServiceStep:
    urn: str
    name: str  # the Swarm service name
    op: str  # "same", or the op of CHANGING_OPS the engine reported


class ServiceSteps:
    """An ``on_event`` handler: the Swarm services an engine run touched, by URN, with their
    Swarm name (outputs, else inputs: a create's name is an input) and the op that counts."""

    def __init__(self) -> None:
        self.by_urn: dict[str, ServiceStep] = {}

    def __call__(self, event: Any) -> None:
        for kind in ("resource_pre_event", "res_outputs_event"):
            meta = getattr(getattr(event, kind, None), "metadata", None)
            if meta is not None and meta.type == SERVICE_TYPE:
                self._add(meta)

    def _add(self, meta: Any) -> None:
        op = str(getattr(meta.op, "value", meta.op))
        if op in GONE_OPS:
            self.by_urn.pop(meta.urn, None)
            return
        name = _swarm_name(meta)
        known = self.by_urn.get(meta.urn)
        if known is None:
            self.by_urn[meta.urn] = ServiceStep(
                meta.urn, name, op if op in CHANGING_OPS else "same"
            )
            return
        known.name = name or known.name
        if op in CHANGING_OPS and known.op == "same":
            known.op = op

    def services(self) -> list[ServiceStep]:
        return [step for step in self.by_urn.values() if step.name]


def _swarm_name(meta: Any) -> str:
    for state, key in ((meta.new, "outputs"), (meta.new, "inputs"), (meta.old, "outputs")):
        values = getattr(state, key, None) or {}
        name = values.get("name") if isinstance(values, Mapping) else None
        if isinstance(name, str) and name:
            return name
    return ""


@dataclass
class ServiceResult:
    """One service's verdict, for JSON, the audit record and the text."""

    service: str
    urn: str
    change: str  # "created", "updated" or "unchanged"
    convergence: Convergence

    @property
    def converged(self) -> bool:
        return self.convergence.phase is Phase.COMPLETED

    def as_dict(self) -> dict[str, Any]:
        conv = self.convergence
        return {
            "service": self.service,
            "change": self.change,
            "converged": self.converged,
            "phase": conv.phase.value,
            "running": conv.running,
            "desired": conv.desired,
            "update_state": conv.update_state,
            "rolled_back_by_swarm": conv.rolled_back_by_swarm,
            "message": conv.message,
            "task_errors": list(conv.task_errors),
        }


_CHANGE = {"same": "unchanged", "create": "created"}


@dataclass
class Before:
    """What the Swarm looked like just before an apply."""

    since: datetime | None = None
    update_status: dict[str, Any] = field(default_factory=dict)  # Swarm name -> UpdateStatus


def before_apply(api: Any, steps: ServiceSteps) -> Before:
    """The daemon's time and each existing service's UpdateStatus: an identical status after
    the apply means Swarm started no update for it."""
    import docker.errors

    before = Before(since=daemon_now(api))
    for step in steps.services():
        with contextlib.suppress(docker.errors.NotFound):
            before.update_status[step.name] = api.inspect_service(step.name).get("UpdateStatus")
    return before


def targets(steps: ServiceSteps, before: Before) -> list[WatchTarget]:
    """What to watch per service. An UpdateStatus unchanged since `before` says nothing about
    this deploy (e.g. a rollback Swarm finished days ago); a service this deploy did not change
    is judged by its tasks as they are now, whatever Swarm's update status says."""
    watched = []
    for step in steps.services():
        changed = step.op != "same"
        watched.append(
            WatchTarget(
                step.name,
                step.name,
                baseline_status=before.update_status.get(step.name),
                since=before.since if changed else None,
                # A create has no update to complete; an unchanged service is judged as it is.
                stable_s=None if step.op == "update" else 0.0,
                ignore_update_status=not changed,
            )
        )
    return watched


def watch(
    api: Any,
    stack: str,
    steps: ServiceSteps,
    before: Before,
    *,
    stop: Callable[[], bool] = lambda: False,
    live: bool | None = None,
) -> list[ServiceResult]:
    """Watch every service of `steps` to its verdict; raises WatchStopped when `stop()` says so
    (Ctrl-C) and the Docker SDK's DockerException when the engine stops answering."""
    watched = targets(steps, before)
    if not watched:
        return []
    with ConvergenceProgress(stack, [t.name for t in watched], live=live) as progress:
        try:
            # One round is 2 API calls per service: once a second is plenty (ssh:// in prod).
            outcomes = ServiceWatch(
                api, watched, on_change=progress, stop=stop, interval_s=1.0
            ).run()
        except WatchStopped as stopped:
            stopped.partial = _results(steps, watched, progress.states)  # what was seen so far
            raise
    return _results(steps, watched, outcomes)


def _results(
    steps: ServiceSteps, watched: list[WatchTarget], seen: Mapping[str, Convergence]
) -> list[ServiceResult]:
    """One ServiceResult per watched service that has a state in `seen`, in watch order."""
    by_name = {step.name: step for step in steps.services()}
    return [
        ServiceResult(name, by_name[name].urn, _CHANGE.get(by_name[name].op, "updated"), seen[name])
        for name in (t.name for t in watched)
        if name in seen
    ]


def failure_text(results: list[ServiceResult], layer: str, *, env: Env) -> str:
    """Per service that did not converge: desired vs running, Swarm's words, and what to do."""
    failed = [r for r in results if not r.converged]
    lines = [f"{len(failed)} of {len(results)} services did not converge:"]
    for result in failed:
        conv = result.convergence
        lines.append(
            f"    {result.service}: {conv.running}/{conv.desired} running"
            + (f"; {conv.message}" if conv.message else "")
        )
        lines += [f"      task: {error}" for error in conv.task_errors[:3]]
        if conv.stall == "gave_up":
            lines.append(
                "      Swarm will not start it again by itself: once the cause is fixed, "
                f"`docker service update --force {result.service}` restarts it"
            )
        if conv.stall == "unschedulable":
            lines.append(
                "      no node can take its task (placement constraints, node labels or "
                "resources): check `docker node ls` and the constraints `docker service inspect "
                f"{result.service}` shows, fix them, then {driver_command(env, 'deploy', layer)}"
            )
        if conv.rolled_back_by_swarm:
            lines.append(
                "      rolled back by Swarm: the service runs its previous spec, not the one in"
                f" the state ({driver_command(env, 'drift', layer)} shows it); fix the cause,"
                f" then {driver_command(env, 'deploy', layer)}, or return to the last good"
                f" release: {driver_command(env, 'rollback', layer, '--last-good')}"
            )
    return "\n".join(lines)
