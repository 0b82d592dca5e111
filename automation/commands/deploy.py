"""preview, deploy, refresh, destroy: one layer or `all`, in dependency order.

`all` is layer_1, layer_2, platform (reversed for destroy). preview goes on past a failing layer
(its report is still useful); the mutating verbs stop at the first layer that does not succeed,
so a downstream layer never deploys on a broken upstream.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from automation.context import Context, resolve_layers
from automation.errors import BadInput, ConfigMissing, DriverError, Interrupted
from automation.exit_codes import ExitCode
from automation.render import Result
from automation.verb import run_verb
from sprocket_common.stack_info import Layer, StackInfo

# Which code wins when layers end differently: any failure, then a block, then changes.
_SEVERITY = {ExitCode.OK: 0, ExitCode.CHANGES_PRESENT: 1, ExitCode.GATE_BLOCKED: 2}


def _worse(current: ExitCode, new: ExitCode) -> ExitCode:
    if _SEVERITY.get(current, 3) == 3:
        return current  # the first failure is the one to report
    return new if _SEVERITY.get(new, 3) > _SEVERITY[current] else current


def gate_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """--allow-replace/--allow-delete/--allow-unprotect URN, --target URN, --max-changes N,
    --lock-wait."""
    options = [
        click.option(
            "--allow-replace",
            multiple=True,
            metavar="URN",
            help="Allow replacing this stateful or protected resource (repeatable; * matches).",
        ),
        click.option(
            "--allow-delete",
            multiple=True,
            metavar="URN",
            help="Allow deleting this stateful or protected resource (repeatable).",
        ),
        click.option(
            "--allow-unprotect",
            multiple=True,
            metavar="URN",
            help="Allow a plan that removes `protect` from this resource (repeatable).",
        ),
        click.option(
            "--target",
            multiple=True,
            metavar="URN",
            help="Only these resources (and what they need); repeatable.",
        ),
        click.option(
            "--max-changes",
            type=click.IntRange(min=0),
            default=None,
            metavar="N",
            help="Block the plan whole when it has more than N changes (a bigger plan than "
            "expected: e.g. a typo that replaces a layer).",
        ),
        click.option(
            "--lock-wait",
            type=click.FloatRange(min=0),
            default=0,
            metavar="SECONDS",
            help="Wait this long for another command's lock instead of failing at once.",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _run_options(kwargs: dict[str, Any]) -> Any:
    from automation.stack.gate import GatePolicy
    from automation.stack.run import RunOptions

    policy = GatePolicy(
        allow_replace=frozenset(kwargs["allow_replace"]),
        allow_delete=frozenset(kwargs["allow_delete"]),
        allow_unprotect=frozenset(kwargs["allow_unprotect"]),
        max_changes=kwargs["max_changes"],
    )
    return RunOptions(
        policy=policy,
        targets=tuple(kwargs["target"]),
        lock_wait_s=kwargs["lock_wait"],
        refresh=kwargs.get("refresh", True),
        wait=kwargs.get("wait", True),
    )


refresh_option = click.option(
    "--refresh/--no-refresh",
    default=True,
    show_default=True,
    help="Read the live resources first, so changes made by hand are in the plan (and a deploy "
    "puts the declared state back). --no-refresh plans against the state alone (faster, no "
    "provider API calls).",
)


def _stacks_text(data: dict[str, Any]) -> str:
    from automation.stack.report import stack_text

    return "\n".join(stack_text(stack) for stack in data["stacks"])


def run_layers(
    ctx: Context,
    verb: str,
    layer_name: str,
    options: Any,
    per_stack: Callable[[Context, StackInfo, Any], Any],
    *,
    reverse: bool = False,
    keep_going: bool = False,
) -> Result:
    from automation.stack.gate import check_allowances
    from automation.stack.run import StackOutcome

    infos = [ctx.stack(layer) for layer in resolve_layers(layer_name, reverse=reverse)]
    check_allowances(options.policy, infos)
    outcomes: list[dict[str, Any]] = []
    errors: list[dict[str, str]] = []
    code = ExitCode.OK
    for index, info in enumerate(infos):
        try:
            outcome = per_stack(ctx, info, options)
        except DriverError as exc:
            if isinstance(exc, BadInput) and not isinstance(exc, ConfigMissing):
                raise  # a typo stops everything, whatever layer it was found in
            outcome = StackOutcome(
                info.name, status="failed", message=exc.message, exit_code=exc.code
            )
            if isinstance(exc, Interrupted) and isinstance(exc.partial, StackOutcome):
                outcome = exc.partial  # applied, and the services seen before Ctrl-C
            errors.append({"message": f"{info.name}: {exc.message}", "hint": exc.hint})
        outcomes.append(outcome.as_dict())
        code = _worse(code, outcome.exit_code)
        if not keep_going and outcome.exit_code != ExitCode.OK:
            outcomes += [
                StackOutcome(i.name, status="not run").as_dict() for i in infos[index + 1 :]
            ]
            break
    return Result(verb, code, {"stacks": outcomes}, errors=errors, human=_stacks_text)


def _preview_stack(ctx: Context, info: StackInfo, options: Any) -> Any:
    from automation.guard import audit
    from automation.stack.gate import change_counts
    from automation.stack.run import gated_preview
    from automation.stack.upstream import preflight

    with audit.audited(ctx.settings, "preview", info.name) as run:  # recorded whatever happens
        preflight(ctx, info.layer)
        outcome = gated_preview(ctx, info, options)
        run.exit_code, run.changes = outcome.exit_code, change_counts(outcome.changes)
    return outcome


@click.command()
@click.argument("layer")
@gate_options
@refresh_option
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["text", "markdown"]),
    default="text",
    show_default=True,
    help="markdown: one PR comment per stack (automation/stack/report_markdown.py); --json wins.",
)
def preview(layer: str, output_format: str, **kwargs: Any) -> ExitCode:
    """Show what deploying LAYER (or `all`) would change, and what the gate blocks.

    Exit 0: no changes; 2: changes the gate allows; 3: the gate blocks a change.
    """

    def verb(ctx: Context) -> Result:
        result = run_layers(
            ctx, "preview", layer, _run_options(kwargs), _preview_stack, keep_going=True
        )
        if output_format == "markdown":
            from automation.stack.report_markdown import as_markdown

            result = as_markdown(ctx, result)
        return result

    return run_verb("preview", verb)


@click.command()
@click.argument("layer")
@gate_options
@refresh_option
@click.option(
    "--wait/--no-wait",
    default=True,
    show_default=True,
    help="After the apply, wait until every Swarm service of the stack runs N/N (exit 14 naming "
    "each one that does not). --no-wait reports the apply alone.",
)
def deploy(layer: str, **kwargs: Any) -> ExitCode:
    """Deploy LAYER (or `all`: layer_1, layer_2, platform in that order).

    Previews, gates and asks (never with --yes), applies exactly the previewed plan, then waits
    for the stack's Swarm services to converge (docs/driver.md, "Deploy waits for the services").
    """
    from automation.stack.run import deploy_stack

    return run_verb(
        "deploy", lambda ctx: run_layers(ctx, "deploy", layer, _run_options(kwargs), deploy_stack)
    )


@click.command()
@click.argument("layer")
@gate_options
@click.option(
    "--clear-pending-creates",
    is_flag=True,
    help="Drop pending creates left by an interrupted update (check they do not exist first).",
)
def refresh(layer: str, clear_pending_creates: bool, **kwargs: Any) -> ExitCode:
    """Update LAYER's state from reality, after a gated refresh preview."""
    from automation.stack.run import refresh_stack

    def per_stack(ctx: Context, info: StackInfo, options: Any) -> Any:
        return refresh_stack(ctx, info, options, clear_pending=clear_pending_creates)

    return run_verb(
        "refresh", lambda ctx: run_layers(ctx, "refresh", layer, _run_options(kwargs), per_stack)
    )


@click.command()
@click.argument("layer")
@gate_options
@click.option(
    "--allow-delete-all",
    is_flag=True,
    help="--env local only: allow every delete, stateful and protected ones included (tear the "
    "local environment down). In staging and prod name each stack instead: "
    "--allow-delete 'urn:pulumi:<stack>::*'.",
)
def destroy(layer: str, allow_delete_all: bool, **kwargs: Any) -> ExitCode:
    """Destroy LAYER (or `all`: platform, layer_2, layer_1 in that order).

    Stateful and protected resources are kept unless each is named with --allow-delete (a
    pattern such as 'urn:pulumi:local-platform::*' names all of a stack's), or, in local,
    --allow-delete-all.
    """
    from automation.stack.run import destroy_stack

    def verb(ctx: Context) -> Result:
        options = _run_options(kwargs)
        if allow_delete_all:
            options = _allowing_all_deletes(ctx, options)
        return run_layers(ctx, "destroy", layer, options, destroy_stack, reverse=True)

    return run_verb("destroy", verb)


def _allowing_all_deletes(ctx: Context, options: Any) -> Any:
    """--allow-delete-all: local only; staging and prod need each stack named."""
    from dataclasses import replace

    from sprocket_common.stack_info import Env

    if ctx.env is not Env.LOCAL:
        example = ctx.stack(Layer.PLATFORM).name
        raise BadInput(
            f"--allow-delete-all is for --env local only, not {ctx.env.value}",
            f"name each stack whose deletes you allow: --allow-delete 'urn:pulumi:{example}::*'",
        )
    return replace(options, policy=replace(options.policy, allow_all_deletes=True))


COMMANDS = [preview, deploy, refresh, destroy]
