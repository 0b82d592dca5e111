"""Preview, deploy, refresh and destroy of one stack: the engine calls behind the verbs.

The verbs (automation/commands/deploy.py) loop over layers and render; this module runs one
stack: upstream output contract, gated preview from per-resource events, confirmation, and an
apply bound to the approved plan (`preview --save-plan` then `up --plan`: the engine refuses
any step the plan did not contain, so what was shown is what is applied).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

from automation.context import Context
from automation.errors import (
    BadInput,
    DriverError,
    Interrupted,
    PlanChanged,
)
from automation.exit_codes import ExitCode
from automation.guard.operation import (
    CREATING,
    REFRESH_CLEARS,
    Operation,
    guarded,
    pending_operations,
)
from automation.hints import driver_command
from automation.pulumi.errors import engine_error
from automation.stack.convergence import Before, ServiceResult, ServiceSteps
from automation.stack.gate import (
    ChangeCollector,
    GateDecision,
    GatePolicy,
    PlannedChange,
    allow_all_text,
    change_counts,
    evaluate,
    plan_fingerprint,
    policy_for,
    refuse_unmatched,
)
from automation.stack.progress import Progress, short_name
from automation.stack.report import retained_text, stack_text
from automation.stack.upstream import preflight, require_docker_engine
from automation.swarm_watch import WatchStopped
from sprocket_common.stack_info import StackInfo


def _engine_output() -> dict[str, Any]:
    """The engine's own console output goes nowhere, unless SPROCKET_ENGINE_OUTPUT=1 (debugging):
    then to stderr, never stdout (that is the result's). It masks secret values itself."""
    options: dict[str, Any] = {"color": "never"}
    if os.environ.get("SPROCKET_ENGINE_OUTPUT") == "1":

        def echo(line: str) -> None:
            sys.stderr.write(line + "\n")

        options.update(on_output=echo, on_error=echo)
    return options


# Every status a stack's outcome can have: the JSON envelope's `stacks[].status`
# (automation/schema/result.schema.json lists the same; mypy holds every assignment to it).
StackStatus = Literal[
    "previewed", "blocked", "unchanged", "applied", "refreshed", "destroyed", "failed", "not run",
    "not converged", "interrupted",
]  # fmt: skip
STACK_STATUSES: tuple[str, ...] = get_args(StackStatus)


@dataclass
class StackOutcome:
    """One stack's part of a preview/deploy/refresh/destroy result (the JSON `stacks` items)."""

    stack: str
    changes: list[PlannedChange] = field(default_factory=list)
    decision: GateDecision = field(default_factory=lambda: GateDecision(True))
    applied: bool = False
    status: StackStatus = "previewed"
    message: str = ""
    exit_code: ExitCode = ExitCode.OK
    engine_protected: list[str] = field(default_factory=list)
    services: list[ServiceResult] | None = None  # None: not watched (not applied, --no-wait)

    def as_dict(self) -> dict[str, Any]:
        return {
            "stack": self.stack,
            "status": self.status,
            "changes": change_counts(self.changes),
            "steps": [c.step() for c in self.changes if c.is_change],
            "gate": self.decision.as_dict(),
            "fingerprint": plan_fingerprint(self.changes),
            "applied": self.applied,
            "exit_code": int(self.exit_code),
            "message": self.message,
            **({} if self.services is None else {"services": _services_dict(self.services)}),
        }


def _services_dict(results: list[ServiceResult]) -> dict[str, Any]:
    return {
        "converged": sum(1 for r in results if r.converged),
        "total": len(results),
        "results": [r.as_dict() for r in results],
    }


@dataclass(frozen=True)
class RunOptions:
    policy: GatePolicy = field(default_factory=GatePolicy)
    targets: tuple[str, ...] = ()
    target_dependents: bool = False  # destroy: also what depends on the targets
    lock_wait_s: float = 0
    refresh: bool = True  # preview and deploy against the live resources
    wait: bool = True  # after an apply, wait for the Swarm services to converge


# --- engine calls -------------------------------------------------------------------------


def _fan_out(*handlers: Callable[[Any], None]) -> Callable[[Any], None]:
    def on_event(event: Any) -> None:
        for handler in handlers:
            handler(event)

    return on_event


class _Diagnostics:
    """Error diagnostics per URN, to tell the engine's own protect refusals from real errors."""

    def __init__(self) -> None:
        self.errors: list[tuple[str, str]] = []

    def __call__(self, event: Any) -> None:
        diag = getattr(event, "diagnostic_event", None)
        if diag is not None and diag.severity == "error":
            self.errors.append((diag.urn or "", diag.message))

    def protect_refusals(self) -> list[str]:
        return sorted({urn for urn, msg in self.errors if urn and "protect" in msg})

    def only_protect_refusals(self) -> bool:
        """True when every error is the engine refusing to touch a protected resource."""
        real = [
            msg
            for urn, msg in self.errors
            if "protect" not in msg and msg.strip() not in _SUMMARY_ERRORS
        ]
        return bool(self.protect_refusals()) and not real


# The engine's closing error lines, which only repeat that an error happened.
_SUMMARY_ERRORS = frozenset({"preview failed", "update failed", "destroy failed"})


@contextlib.contextmanager
def plan_dir() -> Iterator[Path]:
    """A private directory for plan files (they hold encrypted inputs), removed afterwards."""
    path = Path(tempfile.mkdtemp(prefix="sprocket-plan-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _select(ctx: Context, info: StackInfo) -> Any:
    from automation.pulumi.workspace import select_stack

    return select_stack(ctx.settings, info)


def _existing(ctx: Context, info: StackInfo) -> Any | None:
    """The stack if it was ever deployed here; refresh and destroy never create one."""
    from automation.pulumi.workspace import existing_stack

    return existing_stack(ctx.settings, info)


def gated_preview(
    ctx: Context,
    info: StackInfo,
    options: RunOptions,
    *,
    plan_file: Path | None = None,
    stack: Any = None,
    services: ServiceSteps | None = None,
) -> StackOutcome:
    """Preview one stack; the gate decides from its per-resource steps. `services` collects the
    Swarm services the plan touches."""
    from pulumi.automation import errors as auto_errors

    stack = stack or _select(ctx, info)
    collector, diagnostics = ChangeCollector(options.policy.stateful_types), _Diagnostics()
    handlers: list[Callable[[Any], None]] = [
        collector,
        diagnostics,
        *([services] if services else []),
    ]
    outcome = StackOutcome(info.name)
    with Progress(info.name, "preview", live=_live(ctx), plain=False) as progress:
        try:
            stack.preview(
                **_engine_output(),
                # Against the live system, as `terraform plan` does: a change made by hand
                # (what `drift` reports) is in the plan, and deploy puts the declared state back.
                refresh=options.refresh,
                on_event=_fan_out(*handlers, progress),
                plan=str(plan_file) if plan_file else None,
                target=list(options.targets) or None,
            )
        except auto_errors.CommandError as exc:
            if not diagnostics.only_protect_refusals():
                raise engine_error(exc, info, stack) from exc
            outcome.engine_protected = diagnostics.protect_refusals()
    blocked = _judge(outcome, collector.changes, options, info)
    if not blocked and any(c.is_change for c in outcome.changes):
        outcome.exit_code = ExitCode.CHANGES_PRESENT
        if outcome.engine_protected:
            outcome.message = (
                "allowed by URN: the apply lifts `protect` from "
                f"{', '.join(short_name(u) for u in outcome.engine_protected)} for itself only"
            )
    return outcome


def _judge(
    outcome: StackOutcome, changes: list[PlannedChange], options: RunOptions, info: StackInfo
) -> bool:
    """Put the gate's decision on `outcome`; True (exit 3, "blocked") when it blocks.

    An --allow-* URN that matches none of the steps is bad input, raised here.
    """
    policy = policy_for(options.policy, info)
    refuse_unmatched(changes, policy, info)
    outcome.changes = changes
    outcome.decision = evaluate(changes, policy)
    if outcome.decision.allowed:
        return False
    outcome.exit_code, outcome.status = ExitCode.GATE_BLOCKED, "blocked"
    outcome.message = allow_all_text(outcome.decision, info.name)
    return True


def _update_message(verb: str) -> str:
    """Pulumi's update message names who ran it, so `history` shows it on the engine's entries."""
    from automation.guard.driver_state import current_host, current_user

    return f"sprocket {verb} by {current_user()}@{current_host()}"


def _live(ctx: Context) -> bool:
    return sys.stderr.isatty() and not ctx.json_output


# --- mutating verbs -----------------------------------------------------------------------


def deploy_stack(ctx: Context, info: StackInfo, options: RunOptions) -> StackOutcome:
    """Gated preview, confirmation, then `up` bound to the previewed plan, then (unless
    options.wait is off) the wait for every Swarm service to converge; all under guarded()."""
    with guarded(ctx, info, "deploy", wait_s=options.lock_wait_s) as op:
        return deploy_guarded(ctx, info, options, op)


def deploy_guarded(
    ctx: Context, info: StackInfo, options: RunOptions, op: Operation
) -> StackOutcome:
    """deploy_stack's steps inside a guard the caller holds: a verb whose own change and the
    deploy are one operation (scale: its config edit, then the deploy) writes one record."""
    with plan_dir() as tmp:
        preflight(ctx, info.layer)
        stack = _select(ctx, info)
        plan_file = tmp / "plan.json"
        services = ServiceSteps()
        with op.engine_call():
            outcome = gated_preview(
                ctx, info, options, plan_file=plan_file, stack=stack, services=services
            )
        _record(op, outcome)
        if outcome.exit_code == ExitCode.GATE_BLOCKED:
            op.exit_code = ExitCode.GATE_BLOCKED
            return outcome
        refuse_taken_names(ctx, info, outcome.changes)
        if outcome.exit_code == ExitCode.OK:
            outcome.status = "unchanged"
            before = _before_apply(ctx, services) if options.wait else Before()
        else:
            before = _apply(ctx, info, op, outcome, options, stack, plan_file, services)
        if options.wait:
            _wait_for_services(ctx, info, op, outcome, services, before)
        return outcome


def refuse_taken_names(ctx: Context, info: StackInfo, changes: list[PlannedChange]) -> None:
    """Before the engine runs: NamesTaken (exit 16) when a named Docker object the plan creates
    already exists on the engine and the stack's state does not hold it (automation/stack/
    taken.py). Reads the engine and, only when a name is taken, the state; changes neither."""
    from automation.stack.taken import names_taken_error, planned_creates, taken_names

    creates = planned_creates(changes)
    if not creates:
        return
    from automation.docker_client import docker_api

    api = docker_api(ctx.settings.docker_host)
    taken = taken_names(api, creates, set(), info)
    if taken:  # a create's name may still be an object the state holds under another URN
        ids, identity = _state_ids(ctx, info)
        taken = taken_names(api, creates, ids, info, identity)
    if taken:
        raise names_taken_error(info, taken)


def _state_ids(ctx: Context, info: StackInfo) -> tuple[set[str], str | None]:
    """Every resource ID in the stack's state (`pulumi stack export`, secrets kept encrypted),
    and the state's identity (sprocket_common/ownership.py; None before its first deploy)."""
    from automation.pulumi.cli import run_pulumi_json
    from sprocket_common.ownership import STATE_RESOURCE_NAME, STATE_RESOURCE_TYPE

    exported = run_pulumi_json(ctx.settings, info, ["stack", "export"]) or {}
    resources = (exported.get("deployment") or {}).get("resources") or []
    identity = next(
        (
            str((r.get("outputs") or {}).get("result") or "") or None
            for r in resources
            if r.get("type") == STATE_RESOURCE_TYPE
            and str(r.get("urn", "")).endswith(f"::{STATE_RESOURCE_NAME}")
        ),
        None,
    )
    return {str(r["id"]) for r in resources if r.get("id")}, identity


def _apply(
    ctx: Context,
    info: StackInfo,
    op: Operation,
    outcome: StackOutcome,
    options: RunOptions,
    stack: Any,
    plan_file: Path,
    services: ServiceSteps,
) -> Before:
    """Confirm, then `up` bound to the plan; returns the Swarm as it was just before."""
    _confirm(ctx, outcome, "deploy")
    before = _before_apply(ctx, services) if options.wait else Before()
    with _unprotected_for_replace(ctx, info, outcome, op) as reprotect:
        if outcome.engine_protected:
            # The state no longer protects them: preview again so the plan holds the steps.
            with op.engine_call():
                again = gated_preview(ctx, info, options, plan_file=plan_file, stack=stack)
            if plan_fingerprint(again.changes) != plan_fingerprint(outcome.changes):
                raise PlanChanged(
                    f"{info.name}: the plan changed between preview and apply",
                    "preview again and re-approve",
                )
        _up(stack, info, op, plan_file, options, total=len(outcome.changes), services=services)
        reprotect.clear()  # applied: the replacement carries the program's protect again
    outcome.applied, outcome.status, outcome.exit_code = True, "applied", ExitCode.OK
    return before


def _before_apply(ctx: Context, services: ServiceSteps) -> Before:
    from automation.docker_client import docker_api
    from automation.stack.convergence import before_apply

    if not services.services():
        return Before()
    return before_apply(docker_api(ctx.settings.docker_host), services)


def _wait_for_services(
    ctx: Context,
    info: StackInfo,
    op: Operation,
    outcome: StackOutcome,
    services: ServiceSteps,
    before: Before,
) -> None:
    """Watch the stack's services; not converged: ExitCode.NOT_CONVERGED, named per service."""
    import docker.errors

    from automation.docker_client import docker_api
    from automation.stack.convergence import failure_text, watch

    if not services.services():
        return  # a stack without Swarm services: the apply's result is the whole story
    try:
        api = docker_api(ctx.settings.docker_host)
        results = watch(
            api, info.name, services, before, stop=lambda: op.interrupted, live=_live(ctx)
        )
    except (WatchStopped, KeyboardInterrupt) as exc:
        interrupted = Interrupted(
            f"interrupted while waiting for {info.name}'s services"
            + (": the apply itself finished" if outcome.applied else ""),
            f"Swarm goes on by itself: {driver_command(info.env, 'health')} shows where it stands",
        )
        # The result still reports the apply and the services' states seen before Ctrl-C.
        outcome.services = getattr(exc, "partial", None)
        outcome.status, outcome.exit_code = "interrupted", ExitCode.INTERRUPTED
        outcome.message = interrupted.message
        interrupted.partial = outcome
        raise interrupted from None
    except docker.errors.DockerException as exc:
        raise DriverError(
            f"lost track of {info.name}'s services on the Docker engine: {exc}",
            f"check the Swarm (`docker service ls`), then {driver_command(info.env, 'health')}",
        ) from exc
    outcome.services = results
    summary = _services_dict(results)  # the audit log keeps the counts and the failures
    summary["results"] = [r for r in summary["results"] if not r["converged"]]
    op.details["services"] = summary
    if any(not r.converged for r in results):
        outcome.status, outcome.exit_code = "not converged", ExitCode.NOT_CONVERGED
        outcome.message = failure_text(results, info.layer.value, env=info.env)
        op.exit_code = ExitCode.NOT_CONVERGED


def _record(op: Operation, outcome: StackOutcome) -> None:
    op.changes = change_counts(outcome.changes)
    op.details["fingerprint"] = plan_fingerprint(outcome.changes)
    if not outcome.decision.allowed:
        op.details["blocked"] = [c.urn for c, _ in outcome.decision.blocked]


def _up(
    stack: Any,
    info: StackInfo,
    op: Operation,
    plan_file: Path,
    options: RunOptions,
    total: int,
    services: ServiceSteps,
) -> None:
    from pulumi.automation import errors as auto_errors

    with Progress(info.name, "deploy", total=total) as progress, op.engine_call():
        try:
            result = stack.up(
                **_engine_output(),
                refresh=options.refresh,  # as the preview did, so the plan holds
                message=_update_message("deploy"),
                on_event=_fan_out(progress, services),
                plan=str(plan_file),
                target=list(options.targets) or None,
                show_secrets=False,
            )
        except auto_errors.CommandError as exc:
            raise engine_error(exc, info, stack) from exc
    summary = result.summary.resource_changes or {}
    op.changes = {k: v for k, v in summary.items() if k != "same" and v}


@contextlib.contextmanager
def _unprotected_for_replace(
    ctx: Context, info: StackInfo, outcome: StackOutcome, op: Operation
) -> Iterator[list[str]]:
    """Lift `protect` in the state from the URNs the operator allowed, for this apply only.

    The engine refuses to replace or delete a protected resource at all; the operator's
    --allow-replace/--allow-delete is the approval, so the driver unprotects exactly those URNs
    and protects them again if the apply does not happen.
    """
    from automation.pulumi.cli import run_pulumi

    urns = list(outcome.engine_protected)
    for urn in urns:
        run_pulumi(ctx.settings, info, ["state", "unprotect", "--yes", urn])
    if urns:
        op.details["unprotected"] = urns
    reprotect = list(urns)
    try:
        yield reprotect
    finally:
        for urn in reprotect:
            with contextlib.suppress(DriverError):
                run_pulumi(ctx.settings, info, ["state", "protect", "--yes", urn])


def _confirm(ctx: Context, outcome: StackOutcome, verb: str) -> None:
    """Show the gated plan and ask; --yes never asks; without a terminal, --yes is required."""
    ctx.confirm(
        f"{verb} these changes to {outcome.stack}?",
        action=f"{verb} {outcome.stack}",
        hint="pass --yes to approve the previewed plan non-interactively",
        show="" if ctx.assume_yes else stack_text(outcome.as_dict()),
    )


def cleared_message(creates: list[str]) -> str:
    """What `refresh --clear-pending-creates` cleared: the pending creates the state held."""
    if not creates:
        return "the state held no pending creates, so none were cleared"
    return f"the {len(creates)} pending create(s) were cleared ({', '.join(creates)})"


def pending_message(
    creates: list[str] | None, others: list[dict[str, str]], *, applied: bool
) -> str:
    """What a refresh did with the state's pending operations: `creates` (None without
    --clear-pending-creates) and the deletes, updates and reads it drops on its own."""
    parts = [] if creates is None else [cleared_message(creates)]
    if others:
        listed = ", ".join(f"{p['type']} {p['urn']}" for p in others)
        parts.append(
            f"the refresh cleared the {len(others)} pending operation(s) of the interrupted "
            f"update ({listed})"
            if applied
            else f"the {len(others)} pending operation(s) ({listed}) stay until it runs"
        )
    return "; ".join(parts)


def refresh_stack(
    ctx: Context, info: StackInfo, options: RunOptions, *, clear_pending: bool = False
) -> StackOutcome:
    """Refresh after a gated refresh preview: dropping stateful resources needs approval.

    With clear_pending, the interrupted update's pending creates are dropped from the state
    (the operator checked they do not exist; the engine drops them before its preview), and the
    refresh is gated like any other: every refresh path drops a protected or stateful resource
    from the state only with --allow-delete URN.
    """
    require_docker_engine(ctx)
    from pulumi.automation import errors as auto_errors

    guard = guarded(
        ctx,
        info,
        "refresh",
        wait_s=options.lock_wait_s,
        allow_pending=clear_pending,
        tolerate_pending=REFRESH_CLEARS,  # what the engine's refresh drops itself
    )
    with guard as op:
        stack = _existing(ctx, info)
        if stack is None:
            raise BadInput(
                f"stack {info.name} was never deployed on this backend: nothing to refresh",
                f"check --env and the backend ({driver_command(info.env, 'stacks')})",
            )
        collector = ChangeCollector(options.policy.stateful_types)
        outcome = StackOutcome(info.name)
        pending = pending_operations(ctx.settings, info)
        creates = [p["urn"] for p in pending if p["type"] == CREATING] if clear_pending else None
        others = [p for p in pending if p["type"] in REFRESH_CLEARS]
        try:
            with op.engine_call():
                stack.preview_refresh(
                    **_engine_output(),
                    on_event=_RefreshSteps(collector),
                    clear_pending_creates=clear_pending or None,
                )
            blocked = _judge(outcome, collector.changes, options, info)
            _record(op, outcome)
            op.details["cleared_pending"] = clear_pending
            if blocked:
                if clear_pending or others:
                    told = pending_message(creates, others, applied=False)
                    outcome.message = told + "; the refresh was not run"
                op.exit_code = outcome.exit_code
                return outcome
            if any(c.is_change for c in outcome.changes):
                _confirm(ctx, outcome, "refresh")
            with Progress(info.name, "refresh", live=_live(ctx)) as progress, op.engine_call():
                stack.refresh(
                    **_engine_output(),
                    message=_update_message("refresh"),
                    on_event=progress,
                    clear_pending_creates=clear_pending or None,
                )
        except auto_errors.CommandError as exc:
            raise engine_error(exc, info, stack) from exc
        outcome.applied, outcome.status = True, "refreshed"
        if clear_pending or others:  # said on success too: "none were cleared" is news
            outcome.message = pending_message(creates, others, applied=True)
        return outcome


class _RefreshSteps:
    """A refresh's outcome per resource is in res_outputs_event (its pre-events all say
    `refresh`): `update` means the live resource differs, `delete` that it is gone and will be
    dropped from the state. Fed to the gate as those ops, so dropping a stateful or protected
    resource from the state needs --allow-delete like deleting it would.
    """

    def __init__(self, collector: ChangeCollector) -> None:
        self.collector = collector

    def __call__(self, event: Any) -> None:
        outputs = getattr(event, "res_outputs_event", None)
        if outputs is None or outputs.metadata is None:
            return
        meta = outputs.metadata
        op = str(getattr(meta.op, "value", meta.op))
        if op not in ("update", "delete"):
            return
        from automation.stack.drift import changed_keys

        old, new = meta.old, meta.new
        self.collector.add_step(
            {
                "urn": meta.urn,
                "type": meta.type,
                "op": op,
                "diffs": list(
                    changed_keys(getattr(old, "outputs", None), getattr(new, "outputs", None))
                ),
                "old_protect": bool(old.protect) if old else None,
                "new_protect": None,  # a refresh never changes `protect`
            }
        )


def destroy_stack(ctx: Context, info: StackInfo, options: RunOptions) -> StackOutcome:
    """Destroy after a gated destroy preview: every stateful or protected delete needs its URN."""
    require_docker_engine(ctx)
    from pulumi.automation import errors as auto_errors

    with guarded(ctx, info, "destroy", wait_s=options.lock_wait_s) as op:
        stack = _existing(ctx, info)
        if stack is None:
            return StackOutcome(info.name, status="unchanged", message="not deployed")
        collector, diagnostics = ChangeCollector(options.policy.stateful_types), _Diagnostics()
        outcome = StackOutcome(info.name)
        try:
            with op.engine_call():
                stack.preview_destroy(
                    **_engine_output(),
                    on_event=_fan_out(collector, diagnostics),
                    **_destroy_targets(options),
                )
        except auto_errors.CommandError as exc:
            if not diagnostics.only_protect_refusals():
                raise engine_error(exc, info, stack) from exc
            outcome.engine_protected = diagnostics.protect_refusals()
        blocked = _judge(outcome, collector.changes, options, info)
        _record(op, outcome)
        if blocked:
            op.exit_code = outcome.exit_code
            return outcome
        if not any(c.is_change for c in outcome.changes):
            outcome.status = "unchanged"
            return outcome
        _confirm(ctx, outcome, "destroy")
        with _unprotected_for_replace(ctx, info, outcome, op) as reprotect:
            try:
                total = len(outcome.changes)
                with Progress(info.name, "destroy", total=total) as progress, op.engine_call():
                    stack.destroy(
                        **_engine_output(),
                        on_event=progress,
                        message=_update_message("destroy"),
                        **_destroy_targets(options),
                    )
            except auto_errors.CommandError as exc:
                raise engine_error(exc, info, stack) from exc
            reprotect.clear()
        outcome.applied, outcome.status = True, "destroyed"
        outcome.message = retained_text(outcome.changes, info)
        return outcome


def _destroy_targets(options: RunOptions) -> dict[str, Any]:
    """The preview and the destroy name the same targets, so the destroy is the judged plan."""
    if not options.targets:
        return {}
    return {"target": list(options.targets), "target_dependents": options.target_dependents or None}


def import_resources(
    ctx: Context, info: StackInfo, resources: dict[str, dict[str, Any]], options: RunOptions
) -> StackOutcome:
    """`pulumi import` through the gate, as every other state change: a preview-only import
    first (the engine reads the live objects; a wrong id fails here, before anything changes),
    its steps judged and confirmed like any plan, then the import (which changes no live object).

    `resources` maps each URN the import creates to its `pulumi import --file` entry.
    """
    import json

    from automation.pulumi.cli import run_pulumi

    with guarded(ctx, info, "import", wait_s=options.lock_wait_s) as op, plan_dir() as tmp:
        _select(ctx, info)  # a first migration: the stack does not exist yet
        spec = tmp / "import.json"
        spec.write_text(json.dumps({"resources": list(resources.values())}))
        args = ["import", "--file", str(spec), "--generate-code=false", "--protect=false"]
        with op.engine_call():  # the CLI refuses --yes with --preview-only
            run_pulumi(ctx.settings, info, [*args, "--preview-only"])
        outcome = StackOutcome(info.name)
        changes = [
            PlannedChange(urn=urn, type=str(r["type"]), op="import", name=str(r.get("name", "")))
            for urn, r in resources.items()
        ]
        blocked = _judge(outcome, changes, options, info)
        _record(op, outcome)
        if blocked:
            op.exit_code = outcome.exit_code
            return outcome
        _confirm(ctx, outcome, "import")
        with op.engine_call():
            run_pulumi(ctx.settings, info, [*args, "--yes", "--message", _update_message("import")])
        outcome.applied, outcome.status = True, "applied"
        return outcome
