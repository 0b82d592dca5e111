"""drift: a refresh preview of a layer (or all) that lists what was changed outside Pulumi.

Nothing is written: no state, no servers. Exit 10 (DRIFT_DETECTED) when any resource's live state
differs from the state file, naming each resource and which of its properties differ (names
only, never values). Meant for cron (scripts/cron/) as well as for people.
"""

from __future__ import annotations

from typing import Any

import click

from automation.context import Context, resolve_layers
from automation.exit_codes import ExitCode
from automation.pulumi.errors import engine_error
from automation.render import Result
from automation.stack.drift import DriftCollector, drift_text
from automation.verb import run_verb
from sprocket_common.stack_info import Layer


def _stack_drift(ctx: Context, layer: Layer, lock_wait_s: float) -> dict[str, Any]:
    from pulumi.automation import errors as auto_errors

    from automation.guard.lock import stack_lock
    from automation.pulumi.workspace import existing_stack

    info = ctx.stack(layer)
    stack = existing_stack(ctx.settings, info)
    if stack is None:
        return {"stack": info.name, "deployed": False, "drifted": []}
    collector = DriftCollector()
    # Under the stack's lock: mid-deploy, live and recorded state differ without any drift.
    with stack_lock(ctx.settings, info.name, "drift", wait_s=lock_wait_s):
        try:
            stack.preview_refresh(color="never", on_event=collector, suppress_progress=True)
        except auto_errors.CommandError as exc:
            raise engine_error(exc, info, stack) from exc
    return {
        "stack": info.name,
        "deployed": True,
        "drifted": [d.as_json() for d in collector.drifted],
    }


def run_drift(ctx: Context, layer_name: str, lock_wait_s: float = 0) -> Result:
    from automation.guard import audit
    from automation.stack.upstream import require_docker_engine

    require_docker_engine(ctx)  # one line naming the engine, not the provider's trace
    stacks = []
    for layer in resolve_layers(layer_name):
        with audit.audited(ctx.settings, "drift", ctx.stack(layer).name) as run:
            report = _stack_drift(ctx, layer, lock_wait_s)
            stacks.append(report)
            run.exit_code = ExitCode.DRIFT_DETECTED if report["drifted"] else ExitCode.OK
            run.changes = {"drifted": len(report["drifted"])}
    drifted = any(s["drifted"] for s in stacks)
    code = ExitCode.DRIFT_DETECTED if drifted else ExitCode.OK
    return Result("drift", code, {"stacks": stacks}, human=drift_text)


@click.command()
@click.argument("layer", default="all")
@click.option(
    "--lock-wait",
    type=click.FloatRange(min=0),
    default=0,
    metavar="SECONDS",
    help="Wait this long for a deploy's lock instead of exiting 4 at once.",
)
def drift(layer: str, lock_wait: float) -> ExitCode:
    """Show resources of LAYER (default `all`) changed outside Pulumi; exit 10 if any."""
    return run_verb("drift", lambda ctx: run_drift(ctx, layer, lock_wait))


COMMANDS = [drift]
