"""backup db, backup vault, restore db, restore vault: the data beyond Pulumi state.

Registered as subcommands of the `backup` group (automation/commands/backup.py) and the
`restore` group (restore.py); `backup list|verify|prune db|vault` use the same catalog. Each run
holds its data's locks and is one audit record (guard/operation.py data_guarded). Domain code:
automation/backup/postgres.py and vault_storage.py.
"""

from __future__ import annotations

import sys
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
from sprocket_common.stack_info import Env


def data_verb(ctx: Context, command: str, kind: str, work: Callable[[], dict[str, Any]]) -> Any:
    """Run `work` under the guard's data mode (the data's locks), and record the outcome in the
    audit log whatever happens (ids, counts, times; never a secret)."""
    from automation.guard.operation import data_guarded

    with data_guarded(ctx, kind, command) as run:
        report = work()
        run.details = {k: v for k, v in report.items() if k in _AUDITED}
        return report


_AUDITED = ("backup_id", "sha256", "size", "into", "mismatched", "sealed", "seconds", "facts")


# --- backup db / backup vault ---------------------------------------------------------------


def _take(ctx: Context, kind: str, reason: str) -> Result:
    from automation.backup import postgres, vault_storage

    module = postgres if kind == "db" else vault_storage
    record = data_verb(
        ctx,
        f"backup {kind}",
        kind,
        lambda: module.take(ctx.settings, ctx.env, reason).to_dict(),
    )
    return Result(f"backup {kind}", ExitCode.OK, record, human=_taken_text)


def _taken_text(data: dict[str, Any]) -> str:
    facts = data["facts"]
    if data["kind"] == "db":
        what = (
            f"{len(facts['tables'])} tables, {facts['total_rows']} rows, "
            f"server {facts['server_version']}"
        )
    else:
        what = (
            f"{facts['files']} files, escrow {facts['escrow_shares']} shares for threshold "
            f"{facts['threshold']} of {facts['shares']}"
        )
    return (
        f"{data['stack']}: backup {data['backup_id']} verified ({data['size']} bytes, {what}, "
        f"sha256 {data['sha256'][:12]})"
    )


@click.command("db")
@click.option("--reason", default="manual", show_default=True, help="Recorded in the catalog.")
def backup_db(reason: str) -> ExitCode:
    """Dump the application database (pg_dump -F c) into the backup bucket, verified.

    The connection comes from layer_2's outputs (or SPROCKET_DB_*); a server newer than pg_dump
    is refused first. Row counts per table, taken in the dump's own snapshot, go in the catalog.
    """
    return run_verb("backup db", lambda ctx: _take(ctx, "db", reason))


@click.command("vault")
@click.option("--reason", default="manual", show_default=True, help="Recorded in the catalog.")
@click.option("--escrow-only", is_flag=True, help="Only check the unseal-key escrow (counts).")
def backup_vault(reason: str, escrow_only: bool) -> ExitCode:
    """Copy Vault's storage consistently into the backup bucket, verified.

    First checks the unseal-key escrow (SPROCKET_VAULT_ESCROW) holds at least Vault's threshold
    of shares: counts only, never a key; too few, nothing is stored (exit 6).
    """
    if escrow_only:
        return run_verb("backup vault", _escrow)
    return run_verb("backup vault", lambda ctx: _take(ctx, "vault", reason))


def _escrow(ctx: Context) -> Result:
    from automation.backup.vault_storage import escrow_report

    report = escrow_report(ctx.settings)
    code = ExitCode.OK if report["ok"] else ExitCode.BACKUP_FAILED
    errors = (
        []
        if report["ok"]
        else [
            {
                "message": f"escrow holds {report['escrow_shares']} shares, threshold "
                f"{report['threshold']}",
                "hint": "put enough shares in the escrow (SPROCKET_VAULT_ESCROW)",
            }
        ]
    )
    return Result(
        "backup vault",
        code,
        report,
        errors=errors,
        human=lambda d: f"escrow: {d['escrow_shares']} shares present, threshold {d['threshold']}",
    )


# --- restore db -----------------------------------------------------------------------------


def confirm_live(ctx: Context) -> Callable[[str], None]:
    def confirm(what: str) -> None:
        ctx.confirm(f"{what}?", action=what, hint="pass --yes to replace the live database")

    return confirm


def _restore_db(ctx: Context, backup_id: str | None, into: str, drop_after: bool) -> Result:
    from automation.backup import postgres

    report = data_verb(
        ctx,
        "restore db",
        "db",
        lambda: postgres.restore(
            ctx.settings, ctx.env, backup_id, into, confirm_live=confirm_live(ctx),
            drop_after=drop_after,
        ),
    )  # fmt: skip
    errors = []
    if report["mismatched"]:
        rows = ", ".join(
            f"{t} {report['tables'][t]['expected']} -> {report['tables'][t]['restored']}"
            for t in report["mismatched"]
        )
        errors.append(
            {
                "message": f"row counts differ from the dump's in {into}: {rows}",
                "hint": "the restored database is kept for inspection; restore another backup",
            }
        )
    code = ExitCode.BACKUP_FAILED if errors else ExitCode.OK
    human = lambda data: _restore_db_text(data, ctx.env)  # noqa: E731
    return Result("restore db", code, report, errors=errors, human=human)


def _restore_db_command(env: Env, backup_id: str) -> str:
    return driver_command(env, "restore", "db", "--from", backup_id, "--into", "NAME")


def _restore_db_text(data: dict[str, Any], env: Env) -> str:
    from automation.backup.postgres import DROP_NOTE

    same = len(data["tables"]) - len(data["mismatched"])
    where = "the LIVE database" if data["live"] else "scratch database"
    lines = [
        f"backup {data['backup_id']} restored into {where} {data['into']} in "
        f"{data['seconds']['total']:.1f} s: {same} of {len(data['tables'])} tables have the "
        f"dump's row counts ({data['total_rows']} rows)"
    ]
    if data.get("safety_backup_id"):
        lines.append(
            f"  the live data from before it is backup {data['safety_backup_id']} "
            f"({_restore_db_command(env, data['safety_backup_id'])} gets it back)"
        )
    if data["dropped"]:
        lines.append(f"  scratch database {data['into']} dropped after the check")
    if data.get("not_dropped"):
        lines.append(
            f"  scratch database {data['into']} was NOT dropped ({data['not_dropped']['reason']}):"
            f" drop it with `{data['not_dropped']['command']}` ({DROP_NOTE})"
        )
    return "\n".join(lines)


@click.command("db")
@click.option("--from", "from_id", metavar="BACKUP_ID", help="Default: the newest verified.")
@click.option("--into", required=True, metavar="NAME", help="A new scratch database's name.")
@click.option(
    "--drop-after",
    is_flag=True,
    help="Drop the scratch database after a good check (kept when counts differ).",
)
def restore_db(from_id: str | None, into: str, drop_after: bool) -> ExitCode:
    """Restore a database backup into the new database NAME, then compare row counts.

    Only when NAME is the live database's own name does it replace the live data, after a
    confirmation (--yes), in one transaction. Exit 6 when counts differ or the dump is damaged.
    """
    return run_verb("restore db", lambda ctx: _restore_db(ctx, from_id, into, drop_after))


# --- restore vault --------------------------------------------------------------------------


def read_shares(keys_file: Path | None) -> list[str]:
    from automation.backup.vault_storage import parse_shares

    if keys_file is None or str(keys_file) == "-":
        if sys.stdin.isatty():
            click.echo("unseal key shares, one per line, then Ctrl-D:", err=True)
        source, read = "stdin", sys.stdin.read
    else:
        source, read = f"--keys-file {keys_file}", keys_file.read_text
    try:
        return parse_shares(read())
    except OSError as exc:
        raise BadInput(f"{source} cannot be read: {exc.strerror or exc}") from None
    except UnicodeDecodeError:  # e.g. the gpg-encrypted escrow itself
        raise BadInput(
            f"{source} is not text: no unseal-key shares can be read from it",
            "give the shares in clear, one per line or `operator init` JSON (a gpg-encrypted "
            "escrow: `gpg -d FILE | ... --keys-file -`)",
        ) from None


def _restore_vault(ctx: Context, backup_id: str | None, keys_file: Path | None) -> Result:
    from automation.backup import vault_storage

    shares = read_shares(keys_file)
    report = data_verb(
        ctx,
        "restore vault",
        "vault",
        lambda: vault_storage.restore(ctx.settings, ctx.env, backup_id, shares),
    )
    errors = []
    if not report["kv"]["found"]:
        errors.append(
            {
                "message": f"the restored Vault unsealed, but {report['kv']['path']} is not there",
                "hint": "set SPROCKET_VAULT_CHECK_PATH to a KV path the Vault holds",
            }
        )
    code = ExitCode.BACKUP_FAILED if errors else ExitCode.OK
    return Result("restore vault", code, report, errors=errors, human=_restore_vault_text)


def _restore_vault_text(data: dict[str, Any]) -> str:
    kv = data["kv"]
    read = f"{kv['path']} read ({kv['keys']} keys)" if kv["found"] else f"{kv['path']} MISSING"
    return (
        f"Vault backup {data['backup_id']} restored into scratch: "
        f"{'sealed' if data['sealed'] else 'unsealed'}, {read}, "
        f"{data['seconds']['total']:.1f} s (unseal {data['seconds']['unseal']:.1f} s)"
    )


@click.command("vault")
@click.option("--from", "from_id", metavar="BACKUP_ID", help="Default: the newest verified.")
@click.option(
    "--into",
    type=click.Choice(["scratch"]),
    default="scratch",
    show_default=True,
    help="Only a scratch Vault of the driver's own on loopback.",
)
@click.option(
    "--keys-file",
    type=click.Path(path_type=Path, dir_okay=False, allow_dash=True),
    help="Unseal key shares (one per line, or `operator init` JSON); default: stdin.",
)
def restore_vault(from_id: str | None, into: str, keys_file: Path | None) -> ExitCode:
    """Start a scratch Vault on a backup's storage, unseal it, read the check KV path.

    The shares come from stdin or --keys-file, never from the command line. Exit 9 when they do
    not open the Vault; the scratch Vault is stopped and removed in every case.
    """
    del into  # one choice today; the option names where it goes, as the runbook says
    return run_verb("restore vault", lambda ctx: _restore_vault(ctx, from_id, keys_file))
