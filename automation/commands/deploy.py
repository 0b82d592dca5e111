"""preview and deploy: run a layer (or all, in order) through the engine."""

from __future__ import annotations

from typing import Any

import click

from automation.cli import run_verb
from automation.context import Context
from automation.errors import BadInput, translate_engine_error
from automation.exit_codes import ExitCode
from automation.render import Result
from sprocket_common.stack_info import LAYER_ORDER, Layer, UnknownNameError, parse_layer


def resolve_layers(name: str, *, reverse: bool = False) -> list[Layer]:
    """`all` means every layer in dependency order (reversed for destroy)."""
    if name == "all":
        layers = list(LAYER_ORDER)
    else:
        try:
            layers = [parse_layer(name)]
        except UnknownNameError as exc:
            raise BadInput(str(exc), "or pass `all`") from None
    return layers[::-1] if reverse else layers


def _summary_text(data: dict[str, Any]) -> str:
    lines = []
    for stack in data["stacks"]:
        changes = (
            ", ".join(f"{op} {n}" for op, n in sorted(stack["changes"].items())) or "no changes"
        )
        lines.append(f"{stack['stack']}: {changes}")
    return "\n".join(lines)


def _run(ctx: Context, layer_name: str, *, apply: bool) -> Result:
    from pulumi.automation import errors as auto_errors

    from automation.engine import select_stack

    stacks: list[dict[str, Any]] = []
    code = ExitCode.OK
    for layer in resolve_layers(layer_name):
        info = ctx.stack(layer)
        stack = select_stack(ctx.settings, info)
        try:
            if apply:
                summary = stack.up(color="never").summary.resource_changes or {}
            else:
                summary = stack.preview(color="never").change_summary
        except auto_errors.CommandError as exc:
            raise translate_engine_error(exc) from exc
        changes = {op: n for op, n in summary.items() if op != "same" and n}
        if changes and not apply:
            code = ExitCode.CHANGES_PRESENT
        stacks.append({"stack": info.name, "changes": changes})
    return Result("deploy" if apply else "preview", code, {"stacks": stacks}, human=_summary_text)


@click.command()
@click.argument("layer")
def preview(layer: str) -> ExitCode:
    """Show what deploying LAYER (or `all`) would change; exit 2 when there are changes."""
    return run_verb("preview", lambda ctx: _run(ctx, layer, apply=False))


@click.command()
@click.argument("layer")
def deploy(layer: str) -> ExitCode:
    """Deploy LAYER (or `all`: layer_1, layer_2, platform in that order)."""
    return run_verb("deploy", lambda ctx: _run(ctx, layer, apply=True))


COMMANDS = [preview, deploy]
