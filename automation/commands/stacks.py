"""stacks, history, unlock: what is deployed, what happened to it, and clearing a stale lock."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import click

from automation.context import Context, resolve_layers
from automation.errors import BadInput, StackLocked
from automation.exit_codes import ExitCode
from automation.render import Result
from automation.verb import run_verb
from sprocket_common.stack_info import LAYER_ORDER, StackInfo, UnknownNameError

# --- stacks -------------------------------------------------------------------------------


def _list_stacks(ctx: Context) -> Result:
    from automation.guard.lock import driver_lock
    from automation.pulumi.cli import run_pulumi_json

    listed = run_pulumi_json(
        ctx.settings, ctx.stack(LAYER_ORDER[0]), ["stack", "ls", "--json"], with_stack=False
    )
    by_name = {entry["name"].rsplit("/", 1)[-1]: entry for entry in listed or []}
    names = sorted(by_name.keys() | {ctx.stack(layer).name for layer in LAYER_ORDER})
    rows = []
    for name in names:
        try:
            StackInfo.parse(name)
        except UnknownNameError:
            continue  # not one of the project's <env>-<layer> stacks
        entry = by_name.get(name, {})
        held = driver_lock(ctx.settings, name)
        rows.append(
            {
                "stack": name,
                "deployed": bool(entry),
                "last_update": entry.get("lastUpdate"),
                "resource_count": entry.get("resourceCount"),
                "update_in_progress": bool(entry.get("updateInProgress")),
                "lock": held.holder if held else None,
            }
        )
    from automation.guard.freeze import read_freeze

    frozen = read_freeze(ctx.settings, ctx.env.value).as_dict(datetime.now(UTC))
    return Result("stacks", ExitCode.OK, {"stacks": rows, "freeze": frozen}, human=_stacks_text)


def _stacks_text(data: dict[str, Any]) -> str:
    lines = [f"{'STACK':<20} {'LAST UPDATE':<26} {'RESOURCES':>9}  LOCK"]
    for row in data["stacks"]:
        last = row["last_update"] or ("-" if row["deployed"] else "not deployed")
        count = "-" if row["resource_count"] is None else str(row["resource_count"])
        lock = row["lock"] or ("pulumi update running" if row["update_in_progress"] else "-")
        lines.append(f"{row['stack']:<20} {last:<26} {count:>9}  {lock}")
    return "\n".join(lines + _freeze_lines(data.get("freeze")))


def _freeze_lines(freeze: dict[str, Any] | None) -> list[str]:
    if freeze is None:
        return []
    if "damaged" in freeze:
        return [f"FROZEN: freeze file {freeze['path']} cannot be read ({freeze['damaged']})"]
    until = f" until {freeze['until']}" if freeze.get("until") else " until `unfreeze`"
    return [
        f"FROZEN{until}: {freeze['message']!r} (by {freeze['user']}@{freeze['host']} at "
        f"{freeze['since']})"
    ]


@click.command()
def stacks() -> ExitCode:
    """List the stacks: last update, resource count, who holds the lock; and the freeze."""
    return run_verb("stacks", _list_stacks)


# --- history ------------------------------------------------------------------------------


def _parse_time(text: str | None) -> datetime:
    from automation.times import parse_time

    return parse_time(text) if text else datetime.min.replace(tzinfo=UTC)


def merged_history(
    pulumi_updates: list[dict[str, Any]], records: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Pulumi's updates and the driver's audit records as one timeline, newest first."""
    rows = [
        {
            "time": update.get("startTime"),
            "source": "pulumi",
            "what": update.get("kind"),
            "result": update.get("result"),
            "version": update.get("version"),
            "changes": {
                op: n for op, n in (update.get("resourceChanges") or {}).items() if op != "same"
            },
            "user": _by_whom(update.get("message") or ""),
        }
        for update in pulumi_updates
    ]
    rows += [
        {
            "time": record.get("time"),
            "source": "driver",
            "what": record.get("command"),
            "result": record.get("outcome", str(record.get("exit_code"))),
            "exit_code": record.get("exit_code"),
            "changes": record.get("changes") or {},
            "user": f"{record.get('user')}@{record.get('host')}",
            "duration_s": record.get("duration_s"),
        }
        for record in records
    ]
    return sorted(rows, key=lambda row: _parse_time(row["time"]), reverse=True)


def _by_whom(message: str) -> str | None:
    """The driver's update messages end in `by user@host`."""
    return (
        message.rsplit(" by ", 1)[1]
        if message.startswith("sprocket ") and " by " in message
        else None
    )


def _history(ctx: Context, layer_name: str) -> Result:
    from automation.errors import NoSuchStack
    from automation.guard import audit
    from automation.pulumi.cli import run_pulumi_json

    [layer] = _one_layer(layer_name)
    info = ctx.stack(layer)
    try:
        updates = run_pulumi_json(ctx.settings, info, ["stack", "history", "--json"]) or []
    except NoSuchStack:
        updates = []
    records, damaged = audit.read_log(ctx.settings, info.name)
    data = {"stack": info.name, "entries": merged_history(updates, records), "damaged": damaged}
    return Result("history", ExitCode.OK, data, human=_history_text)


def _history_text(data: dict[str, Any]) -> str:
    lines = [f"{data['stack']} (newest first; pulumi = engine updates, driver = audit log)"]
    for row in data["entries"]:
        changes = ", ".join(f"{op} {n}" for op, n in sorted(row["changes"].items())) or "-"
        version = f" v{row['version']}" if row.get("version") else ""
        lines.append(
            f"  {row['time']}  {row['source']:<6} {row['what']:<8}{version}  {row['result']:<18} "
            f"{changes}  {row.get('user') or ''}"
        )
    return "\n".join(lines + [f"DAMAGED {line}" for line in data.get("damaged", [])])


def _one_layer(name: str) -> list[Any]:
    if name == "all":
        raise BadInput(
            "this command takes one layer, not `all`", "pass layer_1, layer_2 or platform"
        )
    return resolve_layers(name)


@click.command()
@click.argument("layer")
def history(layer: str) -> ExitCode:
    """LAYER's history: Pulumi's updates merged with the driver's audit log."""
    return run_verb("history", lambda ctx: _history(ctx, layer))


# --- unlock -------------------------------------------------------------------------------


def _unlock(ctx: Context, layer_name: str, force: bool) -> Result:
    from automation.guard import audit
    from automation.guard.lock import Liveness

    [layer] = _one_layer(layer_name)
    info = ctx.stack(layer)
    held = _held_locks(ctx, info)
    running = [lock for lock in held if lock.liveness is Liveness.ALIVE_HERE]
    if running:  # never, not even with --force: the update is running right here
        raise StackLocked(
            f"stack {info.name} is locked by a process running on this host: "
            + "; ".join(lock.describe() for lock in running),
            "wait for it, or stop that process first; unlock never removes the lock of a "
            "running process",
        )
    elsewhere = [lock for lock in held if lock.liveness is Liveness.ELSEWHERE]
    if elsewhere and not force:
        raise StackLocked(
            f"stack {info.name} is locked by a holder on another host, which may still be "
            "running: " + "; ".join(lock.describe() for lock in elsewhere),
            "if you know that process is gone (its host crashed), add --force",
        )
    removed: list[str] = []
    if held:  # one audit record, whatever happens from here (a declined prompt included)
        with audit.audited(ctx.settings, "unlock", info.name, forced=bool(elsewhere)) as run:
            run.details["removed"] = removed
            _confirm_unlock(ctx, info, held, elsewhere)
            for lock in held:
                lock.path.unlink(missing_ok=True)
                removed.append(lock.describe())
    return Result(
        "unlock", ExitCode.OK, {"stack": info.name, "removed": removed}, human=_unlock_text
    )


def _held_locks(ctx: Context, info: StackInfo) -> list[Any]:
    from automation.guard.lock import driver_lock, engine_lock, engine_lock_files

    mine = driver_lock(ctx.settings, info.name)
    files = engine_lock_files(ctx.settings, info.name)
    return [*([mine] if mine else []), *(engine_lock(p) for p in files)]


def _confirm_unlock(ctx: Context, info: StackInfo, held: list[Any], elsewhere: list[Any]) -> None:
    """Ask; a holder on another host gets its own question, naming the risk."""
    question = f"remove the lock(s) on {info.name}: {'; '.join(h.describe() for h in held)}?"
    if elsewhere:
        question = (
            f"{'; '.join(h.describe() for h in elsewhere)} cannot be checked from this host. "
            "If it is still running, removing its lock lets two updates write the state at "
            f"once. Remove the lock(s) on {info.name} anyway?"
        )
    ctx.confirm(question, action=f"unlock {info.name}")


def _unlock_text(data: dict[str, Any]) -> str:
    if not data["removed"]:
        return f"{data['stack']}: not locked"
    return "\n".join(f"{data['stack']}: removed {item}" for item in data["removed"])


@click.command()
@click.argument("layer")
@click.option(
    "--force",
    is_flag=True,
    help="Also remove a lock held from another host (it cannot be checked from here). "
    "Never removes the lock of a process running on this host.",
)
def unlock(layer: str, force: bool) -> ExitCode:
    """Remove LAYER's stale lock (driver and Pulumi file-backend locks); asks first.

    A lock whose holder is dead on this host (or whose heartbeat expired) is stale. A lock held
    by a process running on this host is never removed; one held from another host needs
    --force, its own confirmation, and is recorded in the audit log as forced.
    """
    return run_verb("unlock", lambda ctx: _unlock(ctx, layer, force))


COMMANDS = [stacks, history, unlock]
