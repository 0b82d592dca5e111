"""migrate plan/apply/rollback/finish: take over the running system from the original stacks
(docs/migrate.md is the runbook)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from automation.context import Context
from automation.errors import BadInput
from automation.exit_codes import ExitCode
from automation.hints import driver_command
from automation.render import Result
from automation.verb import run_verb
from sprocket_common.stack_info import StackInfo, UnknownNameError, parse_layer

_LAYER = click.argument("layer")
_EXPORT = click.option(
    "--from-export",
    "export",
    type=click.Path(path_type=Path),
    help="`pulumi stack export` of the original stack: its logical names, and only its objects.",
)
_MAPPING = click.option(
    "--mapping",
    type=click.Path(path_type=Path),
    help="A YAML mapping whose entry for LAYER replaces automation/migrate/mapping.yaml's.",
)
_HELPER = click.option(
    "--helper-image",
    default="busybox:1.36",
    show_default=True,
    help="Image (with sh, find, sha256sum, cp) of the container that copies volumes.",
)


def _info(ctx: Context, layer: str) -> StackInfo:
    try:
        return ctx.stack(parse_layer(layer))
    except UnknownNameError as exc:
        raise BadInput(str(exc), "pass layer_1, layer_2 or platform") from None


def _confirm(ctx: Context, verb: str, stack: str) -> Callable[[list[Any]], None]:
    """The gate of a migration verb: it stops, removes or deletes, so it asks (or needs --yes)."""

    info = StackInfo.parse(stack)

    def ask(steps: list[Any]) -> None:
        listed = "\n".join(f"  {getattr(s, 'id', s)}" for s in steps)
        ctx.confirm(
            f"{verb} these {len(steps)} step(s)?",
            action=f"{verb} {stack}",
            hint=f"run {driver_command(ctx.env, 'migrate', 'plan', info.layer.value)} to review, "
            "then pass --yes",
            show=f"{verb} {stack}:\n{listed}",
        )

    return ask


# --- plan -----------------------------------------------------------------------------------


@click.group()
def migrate() -> None:
    """Take over the running system from the original stacks: plan, apply, rollback, finish."""


@migrate.command("plan")
@_LAYER
@_EXPORT
@_MAPPING
def plan_command(layer: str, export: Path | None, mapping: Path | None) -> ExitCode:
    """Match the live objects to this program's and print the action per object (read-only)."""
    from automation.migrate.apply import Sources, build_plan, stored_steps
    from automation.migrate.journal import Journal, journal_path
    from automation.migrate.plan import plan_text

    def verb(ctx: Context) -> Result:
        info = _info(ctx, layer)
        data = build_plan(ctx, info, Sources(export=export, mapping=mapping)).as_dict()
        journal = Journal.read(journal_path(ctx.settings, info.name))
        running = stored_steps(journal)
        if running is not None:
            done = sum(1 for s in running if s.id in journal.completed)
            data["notes"].append(
                f"an apply is in progress ({done} of {len(running)} steps done): "
                f"{driver_command(ctx.env, 'migrate', 'apply', layer)} resumes it with its "
                "recorded steps, not this plan's"
            )
        data["notes"] += journal.damaged
        return Result("migrate plan", ExitCode.OK, data, human=plan_text)

    return run_verb("migrate plan", verb)


# --- apply ----------------------------------------------------------------------------------


@migrate.command("apply")
@_LAYER
@_EXPORT
@_MAPPING
@_HELPER
def apply_command(
    layer: str, export: Path | None, mapping: Path | None, helper_image: str
) -> ExitCode:
    """Run the plan step by step under the lock; an interrupted apply resumes where it stopped."""
    from automation.guard.operation import guarded
    from automation.migrate import apply as runner
    from automation.migrate.journal import Journal, journal_path
    from automation.migrate.plan import steps

    def verb(ctx: Context) -> Result:
        info = _info(ctx, layer)
        sources = runner.Sources(export=export, mapping=mapping, helper_image=helper_image)
        with guarded(ctx, info, "migrate apply") as op:
            journal = Journal.read(journal_path(ctx.settings, info.name))
            planned = runner.stored_steps(journal)
            resumed = planned is not None
            if planned is None:
                planned = steps(runner.build_plan(ctx, info, sources))
            run = runner.apply(
                ctx, info, planned, journal, sources, _confirm(ctx, "migrate apply", info.name)
            )
            op.details["migrate"] = {"done": run.done, "resumed": resumed}
        data = {
            "stack": info.name,
            "resumed": resumed,
            "done": run.done,
            "skipped": run.skipped,
            "downtime_s": run.details.get("downtime_s", {}),
            "journal": str(journal.path),
            "notes": run.notes,
        }
        return Result("migrate apply", ExitCode.OK, data, human=_run_text("applied"))

    return run_verb("migrate apply", verb)


def _run_text(verb: str) -> Callable[[dict[str, Any]], str]:
    def text(data: dict[str, Any]) -> str:
        lines = [f"{verb} on {data['stack']}: {len(data['done'])} step(s)"]
        lines += [f"  done    {s}" for s in data["done"]]
        lines += [f"  skipped {s} (done before)" for s in data.get("skipped", [])]
        for service, seconds in sorted((data.get("downtime_s") or {}).items()):
            lines.append(f"  downtime {service}: {seconds:.1f} s")
        lines += [f"note: {n}" for n in data.get("notes", [])]
        return "\n".join(lines)

    return text


# --- rollback -------------------------------------------------------------------------------


@migrate.command("rollback")
@_LAYER
def rollback_command(layer: str) -> ExitCode:
    """Undo the completed steps newest first: old services back, the program's removed (its
    volumes kept), imports released from the state without deleting them."""
    from automation.guard.operation import guarded
    from automation.migrate import apply as runner
    from automation.migrate.journal import Journal, journal_path

    def verb(ctx: Context) -> Result:
        info = _info(ctx, layer)
        with guarded(ctx, info, "migrate rollback") as op:
            journal = Journal.read(journal_path(ctx.settings, info.name))
            run = runner.rollback(ctx, info, journal, _confirm(ctx, "migrate rollback", info.name))
            op.details["migrate"] = {"undone": run.done}
        data = {"stack": info.name, "done": run.done, "notes": run.notes}
        return Result("migrate rollback", ExitCode.OK, data, human=_run_text("rolled back"))

    return run_verb("migrate rollback", verb)


# --- finish ---------------------------------------------------------------------------------


@migrate.command("finish")
@_LAYER
@click.option(
    "--remove-volume",
    "volumes",
    multiple=True,
    help="An old volume to delete (repeat); only one whose copy the migration verified.",
)
def finish_command(layer: str, volumes: tuple[str, ...]) -> ExitCode:
    """Remove the stopped old services and the old volumes named (after checking the new)."""
    from automation.guard.operation import guarded
    from automation.migrate import apply as runner
    from automation.migrate.journal import Journal, journal_path

    def verb(ctx: Context) -> Result:
        info = _info(ctx, layer)
        with guarded(ctx, info, "migrate finish"):
            journal = Journal.read(journal_path(ctx.settings, info.name))
            run = runner.finish(
                ctx, journal, list(volumes), _confirm(ctx, "migrate finish", info.name)
            )
        data = {"stack": info.name, "done": run.done, "skipped": [], "notes": run.skipped}
        return Result("migrate finish", ExitCode.OK, data, human=_run_text("finished"))

    return run_verb("migrate finish", verb)


COMMANDS: list[click.Command] = [migrate]
