"""freeze, unfreeze: the deploy freeze of one environment (automation/guard/freeze.py).

`freeze --message TEXT [--until TIME]` makes every mutating verb of the environment refuse
(exit 15) with the message, who froze it and when, until `unfreeze` or the --until time; backups,
drills, drift and health keep running. Both are recorded in the audit log.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import click

from automation.context import Context
from automation.exit_codes import ExitCode
from automation.render import Result
from automation.verb import run_verb


def _freeze(ctx: Context, message: str, until_text: str | None) -> Result:
    from automation.guard import audit
    from automation.guard.freeze import freeze, parse_until, read_freeze

    now = datetime.now(UTC)
    until = parse_until(until_text, now) if until_text else None
    before = read_freeze(ctx.settings, ctx.env.value)
    replaced = before.describe() if before.frozen(now) else None
    with audit.audited(ctx.settings, "freeze", ctx.env.value) as run:
        record = freeze(ctx.settings, ctx.env.value, message, until)
        run.details.update(freeze=record.model_dump(mode="json"), replaced=replaced)
    data = {"env": ctx.env.value, "freeze": read_freeze(ctx.settings, ctx.env.value).as_dict(now)}
    data["replaced"] = replaced
    return Result("freeze", ExitCode.OK, data, human=_freeze_text)


def _freeze_text(data: dict[str, Any]) -> str:
    freeze = data["freeze"]
    until = f" until {freeze['until']}" if freeze.get("until") else " until `unfreeze`"
    lines = [f"{data['env']} is frozen{until}: {freeze['message']!r}"]
    if data.get("replaced"):
        lines.append(f"  (replaces {data['replaced']})")
    return "\n".join(lines)


def _unfreeze(ctx: Context) -> Result:
    from automation.guard import audit
    from automation.guard.freeze import read_freeze, unfreeze

    now = datetime.now(UTC)
    state = read_freeze(ctx.settings, ctx.env.value)
    was = state.describe() if (state.record or state.damaged) else None
    if was is not None:
        with audit.audited(ctx.settings, "unfreeze", ctx.env.value, was=was):
            unfreeze(ctx.settings, ctx.env.value)
    data = {"env": ctx.env.value, "was": was, "expired": bool(was) and not state.frozen(now)}
    return Result("unfreeze", ExitCode.OK, data, human=_unfreeze_text)


def _unfreeze_text(data: dict[str, Any]) -> str:
    if data["was"] is None:
        return f"{data['env']}: not frozen"
    expired = " (it had expired)" if data["expired"] else ""
    return f"{data['env']} unfrozen{expired}; was {data['was']}"


@click.command("freeze")
@click.option(
    "--message", "-m", required=True, metavar="TEXT", help="Why: shown by every refused verb."
)
@click.option(
    "--until",
    "until_text",
    metavar="TIME",
    help="When it ends by itself: an RFC 3339 time (2026-12-08T18:00Z) or a duration (6h, 2d).",
)
def freeze_command(message: str, until_text: str | None) -> ExitCode:
    """Freeze the environment: deploy, rollout, rollback, restore, destroy, migrate, rotate,
    scale, refresh and node drain/activate refuse (exit 15) with the message, who froze it and
    when, until `unfreeze` or --until. Backups, drills, drift and health still run. A verb run
    with --force-frozen REASON goes through once; the audit log keeps the reason. The freeze is
    kept beside the stack locks on the backend: every ops host sharing it sees the same one.
    """
    return run_verb("freeze", lambda ctx: _freeze(ctx, message, until_text))


@click.command("unfreeze")
def unfreeze_command() -> ExitCode:
    """End the environment's freeze (an expired or damaged freeze file is removed too)."""
    return run_verb("unfreeze", _unfreeze)


COMMANDS: list[click.Command] = [freeze_command, unfreeze_command]
