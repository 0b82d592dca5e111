"""scale: replica counts of platform services, declared in the stack config and deployed."""

from __future__ import annotations

import json
from typing import Any

import click

from automation.context import Context
from automation.exit_codes import ExitCode
from automation.hints import driver_command
from automation.render import Result
from automation.verb import run_verb
from sprocket_common.stack_info import Env, Layer, StackInfo


def _scale(ctx: Context, args: tuple[str, ...]) -> Result:
    from pulumi.automation import ConfigValue

    from automation.cluster import scale
    from automation.guard.operation import guarded
    from automation.stack.gate import GatePolicy
    from automation.stack.run import RunOptions, StackOutcome, deploy_guarded

    requests = scale.parse_requests(args)
    defaults = scale.check_scalable(requests, ctx.env.value)
    info = ctx.stack(Layer.PLATFORM)
    # One guard, one audit record for the config edit and its deploy, whatever happens.
    with guarded(ctx, info, "scale") as op:
        stack = _existing_stack(ctx, info)
        raw = stack.get_all_config().get(scale.REPLICAS_KEY)
        current = scale.replicas_config(raw.value if raw else None)
        target = scale.target_config(current, defaults, requests)
        changes = scale.moves(current, defaults, requests)
        op.details["scale"] = changes
        _write(stack, target, ConfigValue)
        outcome: StackOutcome | None = None
        try:
            # One service update per named service at most: anything else in the plan (drift,
            # an unrelated edit) blocks it whole, and the count goes back.
            policy = GatePolicy(max_changes=len(requests))
            outcome = deploy_guarded(ctx, info, RunOptions(policy=policy), op)
        finally:
            if outcome is None or (outcome.exit_code != ExitCode.OK and not outcome.applied):
                _write(stack, current, ConfigValue)
    data: dict[str, Any] = {"stack": info.name, "scale": changes, "deploy": outcome.as_dict()}
    if outcome.exit_code == ExitCode.GATE_BLOCKED:
        data["hint"] = blocked_hint(ctx.env)  # the gate's own reason names --max-changes
    return Result("scale", outcome.exit_code, data, human=_text)


def _existing_stack(ctx: Context, info: StackInfo) -> Any:
    """The platform stack; a refused scale must not create an empty one (nor its config file)."""
    from automation.errors import NoSuchStack
    from automation.pulumi.workspace import existing_stack

    stack = existing_stack(ctx.settings, info)
    if stack is None:
        raise NoSuchStack(
            f"the {info.name} stack does not exist yet",
            f"deploy it first: {driver_command(info.env, 'deploy', 'all')}",
        )
    return stack


def _write(stack: Any, replicas: dict[str, int], config_value: Any) -> None:
    from automation.cluster.scale import REPLICAS_KEY

    if replicas:
        stack.set_config(REPLICAS_KEY, config_value(json.dumps(replicas)))
    else:
        stack.remove_config(REPLICAS_KEY)


def blocked_hint(env: Env) -> str:
    return (
        "the plan holds more than the named services' updates: deploy or undo the other change "
        f"first ({driver_command(env, 'preview', 'platform')} shows it), then scale again"
    )


def _text(data: dict[str, Any]) -> str:
    deploy = data["deploy"]
    lines = [f"{c['service']}: {c['from']} -> {c['to']} replicas" for c in data["scale"]]
    if deploy["exit_code"] == ExitCode.GATE_BLOCKED:
        reason = deploy["message"] or blocked_hint(StackInfo.parse(data["stack"]).env)
        lines.append(f"blocked, config put back: {reason}")
        steps = (deploy.get("gate") or {}).get("blocked") or deploy.get("steps") or []
        lines += [f"  {s['op']} {s['urn'].rsplit('::', 1)[-1]}" for s in steps]
    else:
        lines.append(f"{data['stack']}: {deploy['status']}")
        results = (deploy.get("services") or {}).get("results") or []
        lines += [f"  {r['service']}: {r.get('summary', r.get('phase', ''))}" for r in results]
    return "\n".join(lines)


@click.command(name="scale")
@click.argument("requests", nargs=-1, metavar="SERVICE=N...")
def scale_command(requests: tuple[str, ...]) -> ExitCode:
    """Set platform services' replica counts (catalog names), e.g. `scale web=3 core=2`.

    The counts go into the platform stack's config (`sprocket:replicas`), then a gated deploy
    (at most one change per named service; anything else blocks it, exit 3, and the config is
    put back) and the wait for convergence (exit 14 when a service does not converge).
    Stateful services (the catalog's `stateful:` entries: Redis, Postgres, dgraph ...) are
    refused with the catalog's reason (exit 3) unless their entry says how they scale.
    """
    return run_verb("scale", lambda ctx: _scale(ctx, requests))


COMMANDS: list[click.Command] = [scale_command]
