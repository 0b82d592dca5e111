"""A rollout's result: the JSON data, the errors and the human text, from its attempts.

Kept apart from the steps (automation/rollout/run.py), as docker/cli keeps its progress writer
apart from the loop.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from automation.exit_codes import ExitCode
from automation.hints import driver_command
from automation.render import Result
from automation.rollout.lint import Violation
from automation.rollout.manifest import Release
from automation.rollout.policy import RolloutGate
from automation.swarm_watch import Convergence, Phase
from automation.times import parse_time
from sprocket_common.stack_info import Env, StackInfo


@dataclass
class Attempt:
    """What one apply (forward or back) did, for the result and the release record."""

    gate: RolloutGate
    outcomes: dict[str, Convergence] = field(default_factory=dict)
    leftover: dict[str, int] = field(default_factory=dict)  # what a preview after it still shows
    since: datetime | None = None  # when its apply started, on the daemon's clock

    @property
    def converged(self) -> bool:
        return all(c.phase is Phase.COMPLETED for c in self.outcomes.values())

    def failures(self) -> list[str]:
        return [
            f"{name}: {conv.message or conv.phase.value}"
            + (f" (tasks: {'; '.join(conv.task_errors)})" if conv.task_errors else "")
            for name, conv in self.outcomes.items()
            if conv.phase is Phase.FAILED or not self.failed_any
        ]

    @property
    def failed_any(self) -> bool:
        return any(c.phase is Phase.FAILED for c in self.outcomes.values())


def rollout_result(
    info: StackInfo,
    release: Release,
    code: ExitCode,
    forward: Attempt | None,
    back: Attempt | None = None,
    lint: Sequence[Violation] = (),
) -> Result:
    """The verb's Result: `data` per docs/rollouts.md, one error naming what happened."""
    data: dict[str, Any] = {
        "stack": info.name,
        "release": release.id,
        "result": release.result,
        "tag": release.tag,
        "from_release": release.from_release,
        "services": release.services,
        "lint": [{"service": v.service, "setting": v.setting, "problem": v.problem} for v in lint],
        "gate": forward.gate.as_dict() if forward else None,
        "images": _images(release, forward),
        "convergence": _outcomes(forward),
        "clean_preview": (not forward.leftover) if forward and forward.outcomes else None,
        "rollback": (
            {
                "gate": back.gate.as_dict(),
                "convergence": _outcomes(back),
                "clean_preview": not back.leftover,
            }
            if back
            else None
        ),
        "timings": release.timings,
    }
    errors = [] if code is ExitCode.OK else [_error(code, release, forward, lint)]
    return Result("rollout", code, data, errors=errors, human=_human)


def recovery_timings(first_failure: datetime | None, detected: str, back: str) -> dict[str, Any]:
    timings: dict[str, Any] = {"failure_detected": detected, "rolled_back": back}
    if first_failure is not None:
        timings["first_task_failure"] = first_failure.isoformat(timespec="milliseconds")
        back_at = parse_time(back)
        timings["recovery_s"] = round((back_at - first_failure).total_seconds(), 1)
    return timings


def _images(release: Release, forward: Attempt | None) -> list[dict[str, Any]]:
    if forward is None:
        return []
    order = {name: index for index, name in enumerate(release.services)}
    changes = sorted(
        forward.gate.images, key=lambda c: (order.get(c.service, len(order)), c.service)
    )
    return [{"service": c.service, "from": c.old_image, "to": c.new_image} for c in changes]


def _outcomes(phase: Attempt | None) -> dict[str, Any]:
    if phase is None:
        return {}
    return {
        name: {
            "phase": conv.phase.value,
            "running": conv.running,
            "desired": conv.desired,
            "update_state": conv.update_state,
            "message": conv.message,
            "task_errors": list(conv.task_errors),
        }
        for name, conv in phase.outcomes.items()
    }


_ERRORS = {
    ExitCode.GATE_BLOCKED: (
        "rollout blocked before any change",
        "fix the named settings, or pass --allow-other-changes for non-image changes",
    ),
    ExitCode.ROLLED_BACK: (
        "rollout failed; the whole release was rolled back",
        "the services run the rollback point's images again; see the task errors",
    ),
    ExitCode.ROLLBACK_FAILED: (
        "rollout failed and the rollback failed: a person is needed now",
        "check `docker service ps` for each service; {releases} has the rollback point",
    ),
    ExitCode.INTERRUPTED: ("interrupted", "the Swarm update continues in the background"),
}


def _error(
    code: ExitCode, release: Release, forward: Attempt | None, lint: Sequence[Violation]
) -> dict[str, str]:
    message, hint = _ERRORS.get(code, ("rollout failed", ""))
    env = StackInfo.parse(release.stack).env
    if code is ExitCode.GATE_BLOCKED:
        hint = _blocked_hint(forward.gate if forward else None, lint, env)
    hint = hint.format(releases=driver_command(env, "releases"))
    details = "; ".join(release.messages)
    return {"message": f"{message}: {details}" if details else message, "hint": hint}


def _blocked_hint(gate: RolloutGate | None, lint: Sequence[Violation], env: Env) -> str:
    """Only what lifts this block: --allow-other-changes lets non-image changes through, and
    nothing else (not the lint, not the stateful-resource gate)."""
    blocked = gate.blocked if gate else ()
    deploy = driver_command(env, "deploy", "platform")
    hints = []
    if lint:
        hints.append(
            f"fix the named settings in the services' spec and deploy them with {deploy}; "
            "no flag lifts the lint"
        )
    if any(not b.other_change for b in blocked):
        hints.append(
            "the stateful-resource gate holds even with --allow-other-changes: apply that "
            f"change with {deploy} --allow-replace/--allow-delete URN"
        )
    if any(b.other_change for b in blocked):
        hints.append(
            "deploy the non-image changes first, or pass --allow-other-changes to roll them "
            "out with the images"
        )
    return "; ".join(hints)


def _human(data: dict[str, Any]) -> str:
    lines = [f"release {data['release']} on {data['stack']}: {data['result']}"]
    for image in data["images"]:
        lines.append(f"  {image['service']}: {image['from']} -> {image['to']}")
    for blocked in (data["gate"] or {}).get("blocked", []):
        lines.append(f"  blocked: {blocked['urn']}: {blocked['reason']}")
    for violation in data["lint"]:
        lines.append(f"  lint: {violation['service']}: {violation['setting']}: "
                     f"{violation['problem']}")  # fmt: skip
    for name, conv in data["convergence"].items():
        lines.append(f"  {name}: {conv['phase']} {conv['running']}/{conv['desired']}")
    if data["rollback"]:
        for name, conv in data["rollback"]["convergence"].items():
            lines.append(f"  rollback {name}: {conv['phase']} {conv['running']}/{conv['desired']}")
    if "recovery_s" in data["timings"]:
        lines.append(f"  back on the rollback point {data['timings']['recovery_s']}s after the "
                     "first task failed")  # fmt: skip
    return "\n".join(lines)
