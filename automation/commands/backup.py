"""backup [LAYER|all], backup list, backup verify, backup prune.

`backup` takes a verified backup of each stack: ciphertext state export + stack config +
manifest, uploaded, read back and hash-checked before it says success. For cron:
`python -m automation --yes backup all && python -m automation --yes backup prune all` exits
non-zero with a one-line reason on any failure (see scripts/cron/).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import click

from automation.context import Context, resolve_layers
from automation.errors import BadInput, DriverError
from automation.exit_codes import ExitCode
from automation.render import Result
from automation.verb import run_verb
from sprocket_common.stack_info import StackInfo

SUBCOMMANDS = ("list", "verify", "prune", "take")


def _stacks(ctx: Context, name: str) -> list[StackInfo]:
    return [ctx.stack(layer) for layer in resolve_layers(name)]


def _store(ctx: Context) -> Any:
    from automation.backup.store import BackupStore

    return BackupStore.from_settings(ctx.settings.backup)


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return str(n)


class _BackupGroup(click.Group):
    """`backup LAYER` takes a backup; `backup list|verify|prune ...` are subcommands."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if not args or (args[0] not in self.commands and not args[0].startswith("-")):
            args = ["take", *(args or ["all"])]
        return super().parse_args(ctx, args)


@click.group(cls=_BackupGroup)
def backup() -> None:
    """Back up LAYER (or `all`, the default): verified, catalogued, secret-checked.

    \b
    backup [LAYER|all]          take a backup of each stack now
    backup db | vault           the application database / Vault's storage (+ escrow check)
    backup list [LAYER|all|db|vault]  the catalog: time, stack, update version, size, verified
    backup verify [LAYER|all]   re-download and check every hash
    backup prune [LAYER|all]    apply the GFS retention policy (--dry-run first)
    """


# --- take ---------------------------------------------------------------------------------


def _take_all(ctx: Context, layer_name: str, reason: str) -> Result:
    import secrets

    from automation.backup.service import take
    from automation.errors import NoSuchStack
    from automation.guard import audit
    from automation.guard.lock import stack_lock

    run_id = secrets.token_hex(4)
    taken: list[dict[str, Any]] = []
    skipped: list[str] = []
    errors: list[dict[str, str]] = []
    code = ExitCode.OK
    for info in _stacks(ctx, layer_name):
        try:  # one audit record per stack, whatever happens (Ctrl-C included)
            with audit.audited(ctx.settings, "backup", info.name) as run:
                try:
                    with stack_lock(ctx.settings, info.name, "backup"):
                        record = take(ctx.settings, info, reason, run_id=run_id)
                except NoSuchStack as exc:
                    if layer_name != "all":
                        errors.append({"message": exc.message, "hint": exc.hint})
                        code = code or exc.code
                    skipped.append(info.name)
                    run.details["skipped"] = "not deployed"
                    continue
                taken.append(record.to_dict())
                run.details.update(backup_id=record.backup_id, sha256=record.sha256)
        except DriverError as exc:
            errors.append({"message": f"{info.name}: {exc.message}", "hint": exc.hint})
            code = code or exc.code
    data = {"run_id": run_id, "backups": taken, "skipped": skipped}
    return Result("backup", code, data, errors=errors, human=_taken_text)


def _taken_text(data: dict[str, Any]) -> str:
    lines = [
        f"{b['stack']}: backup {b['backup_id']} verified ({_size(b['size'])}, "
        f"{b['resource_count']} resources, {_secrets_text(b)}, sha256 {b['sha256'][:12]})"
        for b in data["backups"]
    ]
    lines += [f"{stack}: not deployed, nothing to back up" for stack in data["skipped"]]
    return "\n".join(lines)


def _secrets_text(record: dict[str, Any]) -> str:
    null = record.get("null_secret_count") or 0
    return f"{record['secret_count']} secrets" + (f" ({null} null)" if null else "")


@backup.command("take", hidden=True)
@click.argument("layer", default="all")
@click.option("--reason", default="manual", show_default=True, help="Recorded in the catalog.")
def take_cmd(layer: str, reason: str) -> ExitCode:
    """Take a backup of LAYER (or all) now."""
    return run_verb("backup", lambda ctx: _take_all(ctx, layer, reason))


# --- list ---------------------------------------------------------------------------------


def _catalog(ctx: Context, layer_name: str) -> tuple[Any, list[Any], list[dict[str, str]]]:
    """(store, readable records, damaged records) of the stacks LAYER names."""
    from automation.backup.service import catalog

    store = _store(ctx)
    names = _names(ctx, layer_name)
    found = catalog(store)
    damaged = [d.to_dict() for d in found.damaged if d.stack in names]
    return store, [r for r in found.records if r.stack in names], damaged


def _names(ctx: Context, layer_name: str) -> set[str]:
    """The catalog stacks LAYER names: layers' stacks, or a data kind (`db`, `vault`)."""
    from automation.backup.data import KINDS, data_stack

    if layer_name in KINDS:
        return {data_stack(ctx.env, layer_name)}
    names = {info.name for info in _stacks(ctx, layer_name)}
    if layer_name == "all":  # list, verify and prune see the data backups too
        names |= {data_stack(ctx.env, kind) for kind in KINDS}
    return names


def _list(ctx: Context, layer_name: str) -> Result:
    _, records, damaged = _catalog(ctx, layer_name)
    rows = [
        {
            "backup_id": r.backup_id,
            "stack": r.stack,
            "created": r.created,
            "update_version": r.update_version,
            "size": r.size,
            "verified": r.verified,
            "verified_at": r.verified_at,
            "reason": r.reason,
            "key": r.key,
        }
        for r in records
    ]
    data = {"backups": rows, "damaged": damaged}
    return Result("backup list", ExitCode.OK, data, human=_list_text)


def _list_text(data: dict[str, Any]) -> str:
    lines = [] if data["backups"] else ["no backups"]
    if data["backups"]:
        lines.append(
            f"{'created':<25} {'stack':<18} {'id':<24} {'ver':>4} {'size':>10}  verified  reason"
        )
    for b in data["backups"]:
        lines.append(
            f"{b['created']:<25} {b['stack']:<18} {b['backup_id']:<24} {b['update_version']:>4} "
            f"{_size(b['size']):>10}  {'yes' if b['verified'] else 'NO':<8}  {b['reason']}"
        )
    return "\n".join(lines + _damaged_lines(data["damaged"]))


def _damaged_lines(damaged: list[dict[str, str]]) -> list[str]:
    return [
        f"DAMAGED {d['stack']:<18} {d['backup_id']}: catalog record {d['key']} cannot be read "
        f"({d['problem']}); skipped, its archive kept"
        for d in damaged
    ]


def _damaged_errors(damaged: list[dict[str, str]]) -> list[dict[str, str]]:
    return [
        {
            "message": f"catalog record {d['key']} cannot be read ({d['problem']})",
            "hint": f"its archive {d['archive_key']} is kept and was not checked: restore from "
            "another backup, or rewrite the record from the archive's manifest",
        }
        for d in damaged
    ]


@backup.command("list")
@click.argument("layer", default="all")
def list_cmd(layer: str) -> ExitCode:
    """List the backups of LAYER (or all), newest first."""
    return run_verb("backup list", lambda ctx: _list(ctx, layer))


# --- verify -------------------------------------------------------------------------------


def _verify(ctx: Context, layer_name: str, since_hours: float | None) -> Result:
    from datetime import timedelta

    from automation.backup.service import verify_backup

    store, records, damaged = _catalog(ctx, layer_name)
    cutoff = datetime.now(UTC) - timedelta(hours=since_hours) if since_hours else None
    checked, errors = [], _damaged_errors(damaged)
    for record in records:
        if cutoff and record.created_at < cutoff:
            continue
        _updated, problem = verify_backup(store, record)
        checked.append({"backup_id": record.backup_id, "stack": record.stack, "ok": not problem})
        if problem:
            errors.append({"message": problem, "hint": "restore from another backup"})
    code = ExitCode.BACKUP_FAILED if errors else ExitCode.OK
    data = {"checked": checked, "damaged": damaged}
    return Result("backup verify", code, data, errors=errors, human=_verify_text)


def _verify_text(data: dict[str, Any]) -> str:
    ok = sum(1 for c in data["checked"] if c["ok"])
    lines = [f"{ok} of {len(data['checked'])} backups verified"]
    return "\n".join(lines + _damaged_lines(data["damaged"]))


@backup.command("verify")
@click.argument("layer", default="all")
@click.option(
    "--since-hours",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Only backups taken in the last HOURS (the daily job checks the last 24).",
)
def verify_cmd(layer: str, since_hours: float | None) -> ExitCode:
    """Re-download backups of LAYER (or all) and check every SHA-256; exit 6 on a mismatch."""
    return run_verb("backup verify", lambda ctx: _verify(ctx, layer, since_hours))


# --- prune --------------------------------------------------------------------------------


def _prune(ctx: Context, layer_name: str, policy: Any, dry_run: bool, now: datetime) -> Result:
    from automation.backup.service import plan_prune

    # A damaged record is not in `records`: its archive is neither a candidate nor a reason.
    store, records, damaged = _catalog(ctx, layer_name)
    plan = plan_prune(records, policy, now)
    doomed = [record for record, decision in plan if not decision.keep]
    if doomed and not dry_run:
        _confirm_prune(ctx, len(doomed))
        newest_verified = {
            r.stack: r.backup_id for r, _ in reversed(plan) if r.verified
        }  # reversed: the last write per stack is its newest
        for record in doomed:
            assert newest_verified.get(record.stack) != record.backup_id, "retention bug"
            store.delete_backup(record.key)
    rows = [
        {
            "backup_id": r.backup_id,
            "stack": r.stack,
            "created": r.created,
            "verified": r.verified,
            "keep": d.keep,
            "reasons": list(d.reasons),
        }
        for r, d in plan
    ]
    data = {
        "dry_run": dry_run,
        "backups": rows,
        "deleted": 0 if dry_run else len(doomed),
        "damaged": damaged,
    }
    return Result("backup prune", ExitCode.OK, data, human=_prune_text)


def _confirm_prune(ctx: Context, count: int) -> None:
    ctx.confirm(
        f"delete {count} backup(s)?",
        action=f"delete {count} backup(s)",
        hint="see what would go with --dry-run, then pass --yes",
        unchanged="nothing was deleted",
    )


def _prune_text(data: dict[str, Any]) -> str:
    verb = "would delete" if data["dry_run"] else "deleted"
    lines = []
    for b in data["backups"]:
        why = ", ".join(b["reasons"]) if b["keep"] else verb
        lines.append(
            f"{'keep' if b['keep'] else 'drop':<5} {b['stack']:<18} {b['backup_id']}  {why}"
        )
    gone = sum(1 for b in data["backups"] if not b["keep"])
    lines.append(f"{verb} {gone} of {len(data['backups'])} backups")
    return "\n".join(lines + _damaged_lines(data["damaged"]))


@backup.command("prune")
@click.argument("layer", default="all")
@click.option("--dry-run", is_flag=True, help="Show what would be deleted; delete nothing.")
@click.option(
    "--keep-within-days",
    type=click.IntRange(min=0),
    default=7,
    show_default=True,
    envvar="SPROCKET_BACKUP_KEEP_WITHIN_DAYS",
    help="Keep every backup younger than this (env SPROCKET_BACKUP_KEEP_WITHIN_DAYS).",
)
@click.option(
    "--keep-daily",
    type=click.IntRange(min=0),
    default=14,
    show_default=True,
    envvar="SPROCKET_BACKUP_KEEP_DAILY",
    help="Days with a kept backup.",
)
@click.option(
    "--keep-weekly",
    type=click.IntRange(min=0),
    default=8,
    show_default=True,
    envvar="SPROCKET_BACKUP_KEEP_WEEKLY",
    help="ISO weeks with a kept backup.",
)
@click.option(
    "--keep-monthly",
    type=click.IntRange(min=0),
    default=12,
    show_default=True,
    envvar="SPROCKET_BACKUP_KEEP_MONTHLY",
    help="Months with a kept backup.",
)
@click.option(
    "--now",
    "now_text",
    default=None,
    hidden=True,
    help="Pretend it is this time (ISO 8601): retention drills and tests.",
)
def prune_cmd(
    layer: str,
    dry_run: bool,
    keep_within_days: int,
    keep_daily: int,
    keep_weekly: int,
    keep_monthly: int,
    now_text: str | None,
) -> ExitCode:
    """Delete backups of LAYER (or all) outside the GFS policy; never a stack's newest verified.

    Deleting needs --yes (or a yes at the prompt); --dry-run shows the plan.
    """
    from automation.backup.retention import RetentionPolicy

    def run(ctx: Context) -> Result:
        policy = RetentionPolicy(keep_within_days, keep_daily, keep_weekly, keep_monthly)
        return _prune(ctx, layer, policy, dry_run, _parse_now(now_text))

    return run_verb("backup prune", run)


def _parse_now(text: str | None) -> datetime:
    from automation.times import parse_time

    if text is None:
        return datetime.now(UTC)
    try:
        return parse_time(text)
    except ValueError:
        raise BadInput(
            f"--now {text!r} is not an ISO 8601 time", "e.g. 2026-11-28T12:00Z"
        ) from None


def _register_data_kinds() -> None:
    from automation.commands.data import backup_db, backup_vault

    backup.add_command(backup_db)
    backup.add_command(backup_vault)


_register_data_kinds()
COMMANDS = [backup]
