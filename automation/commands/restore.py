"""restore LAYER (state repair) and rollback LAYER (return the servers to a backed-up release)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from automation.context import Context
from automation.errors import BadInput
from automation.exit_codes import ExitCode
from automation.render import Result
from automation.verb import run_verb
from sprocket_common.stack_info import StackInfo, UnknownNameError, parse_layer


def _selector(**chosen: Any) -> Any:
    """Exactly one way of naming the backup; keyword names are the options' (`from_id`: --from)."""
    from automation.backup.restoring import Selector
    from automation.times import parse_time

    member = chosen.pop("member", None)
    flags = {"from_id": "--from", "last_good": "--last-good"}
    given = [name for name, value in chosen.items() if value not in (None, False)]
    if len(given) != 1:
        options = ", ".join(flags.get(name, f"--{name}") for name in chosen)
        raise BadInput(
            f"name exactly one backup to use: one of {options}",
            "the backup list of the layer names them",
        )
    before = chosen.get("before")
    when = None
    if before is not None:
        try:
            when = parse_time(before)
        except ValueError:
            raise BadInput(
                f"--before {before!r} is not an ISO 8601 time", "e.g. 2026-11-28T12:00Z"
            ) from None
    if member is not None and chosen.get("file") is None:
        raise BadInput("--member names a member of the tar.gz given with --file", "add --file")
    return Selector(
        backup_id=chosen.get("from_id") or chosen.get("to"),
        before=when,
        version=chosen.get("version"),
        last_good=bool(chosen.get("last_good")),
        file=chosen.get("file"),
        member=member,
    )


def _confirm(ctx: Context, what: str) -> None:
    ctx.confirm(f"{what}?", action=what)


def _restore(ctx: Context, layer: str, selector: Any, force: bool) -> Result:
    from automation.backup.restoring import restore, restore_outcome

    info = ctx.stack(_layer(layer))
    question = f"replace the state of {info.name} with a backup"
    data = restore(ctx, info, selector, force=force, confirm=lambda: _confirm(ctx, question))
    code, errors = restore_outcome(data, info)
    return Result("restore", code, data, errors=errors, human=_restore_text)


def _restore_text(data: dict[str, Any]) -> str:
    lines = [
        f"{data['stack']}: state restored from backup {data['backup_id']} "
        f"(update version {data['update_version']}, taken {data['backup_created']})",
        f"  canonical state identical to the backup: {'yes' if data['identical'] else 'NO'}"
        + (f": {data['difference']}" if data.get("difference") else ""),
        f"  previous state: {_safety(data)}",
    ]
    pending = data.get("pending_operations") or []
    if pending:
        lines.append(
            f"  the backup carries {len(pending)} pending operation(s) of an interrupted update; "
            "`pulumi stack import` drops them:"
        )
        lines += [f"    {op['type']} {op['urn']}" for op in pending]
    if data.get("forced_past"):
        lines.append("  --force imported it despite: " + "; ".join(data["forced_past"]))
    refresh = data["refresh"]
    if refresh["ok"]:
        diffs = refresh["differences"]
        lines.append(
            "  refresh preview: state matches reality"
            if not diffs
            else "  refresh preview: reality differs: "
            + ", ".join(f"{op} {n}" for op, n in sorted(diffs.items()))
        )
    return "\n".join(lines)


def _layer(name: str) -> Any:
    try:
        return parse_layer(name)
    except UnknownNameError as exc:
        raise BadInput(str(exc), "restore and rollback take one layer") from None


class _RestoreGroup(click.Group):
    """`restore LAYER ...` restores a stack's state; `restore db|vault ...` are subcommands."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if not args or (args[0] not in self.commands and args[0] not in ("--help", "-h")):
            args = ["layer", *args]
        return super().parse_args(ctx, args)


@click.group(cls=_RestoreGroup)
def restore() -> None:
    """Restore LAYER's state from a backup, or data into scratch.

    \b
    restore LAYER --from ID|--before T|--version N|--file F   state repair (`restore LAYER --help`)
    restore db --from ID --into NAME       a database dump into a new scratch database
    restore vault --from ID --into scratch Vault's storage into a scratch Vault, unsealed
    """


class _LayerCommand(click.Command):
    """`restore LAYER` in its usage line: the hidden subcommand's name is not typed."""

    def format_usage(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        parent = ctx.parent.command_path if ctx.parent else "restore"
        formatter.write_usage(parent, " ".join(self.collect_usage_pieces(ctx)))


@restore.command("layer", cls=_LayerCommand, hidden=True)
@click.argument("layer")
@click.option(
    "--from", "from_id", metavar="BACKUP_ID", help="The backup to restore (`backup list`)."
)
@click.option("--before", metavar="TIME", help="The newest backup taken before TIME (ISO 8601).")
@click.option("--version", type=click.IntRange(min=1), help="The backup at update version N.")
@click.option(
    "--file",
    "file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="A `pulumi stack export` JSON file, or a tar.gz holding one (the runbook's backups).",
)
@click.option("--member", metavar="NAME", help="With --file: which member of the tar.gz.")
@click.option(
    "--force",
    is_flag=True,
    help="Import even if project/stack/CLI checks fail. Never past integrity or secrets checks.",
)
def restore_layer(
    layer: str,
    from_id: str | None,
    before: str | None,
    version: int | None,
    file: Path | None,
    member: str | None,
    force: bool,
) -> ExitCode:
    """Restore LAYER's state from a backup (state repair; servers are not touched).

    Verifies hashes, that the checkpoint fits this stack and CLI, its integrity (parents,
    dependencies, providers, duplicate URNs, pending operations) and that the passphrase opens
    its secrets; backs up the current state, imports, then shows a refresh preview. Exit 10 when
    reality differs from the restored state; exit 5 when the import dropped the backup's
    pending operations (named).
    """

    def run(ctx: Context) -> Result:
        selector = _selector(
            from_id=from_id, before=before, version=version, file=file, member=member
        )
        return _restore(ctx, layer, selector, force)

    return run_verb("restore", run)


def _rollback(ctx: Context, layer: str, selector: Any, force: bool) -> Result:
    from automation.backup.restoring import rollback

    info = ctx.stack(_layer(layer))
    question = f"roll {info.name} back to a backed-up release"
    data = rollback(ctx, info, selector, force=force, confirm=lambda: _confirm(ctx, question))
    return Result("rollback", ExitCode.OK, data, human=_rollback_text)


def _rollback_text(data: dict[str, Any]) -> str:
    deploy = data["deploy"]
    changes = ", ".join(f"{op} {n}" for op, n in sorted(deploy["changes"].items())) or "nothing"
    lines = [
        f"{data['stack']}: rolled back to backup {data['backup_id']} "
        f"(update version {data['update_version']}, taken {data['backup_created']})",
        f"  deployed through the gate: {changes}",
    ]
    lines += [f"  {step['op']} {step['urn']}" for step in deploy.get("steps", [])]
    lines.append(f"  state before the rollback: {_safety(data)}")
    return "\n".join(lines)


@click.command()
@click.argument("layer")
@click.option("--to", metavar="BACKUP_ID", help="The backup whose release to return to.")
@click.option("--last-good", is_flag=True, help="The newest verified backup before this update.")
@click.option("--force", is_flag=True, help="Use the backup even if project/stack/CLI checks fail.")
def rollback(layer: str, to: str | None, last_good: bool, force: bool) -> ExitCode:
    """Return LAYER's servers to a backed-up release: state + config, then a gated deploy.

    Exit 8 when the rollback does not finish (the stack config is put back).
    """

    def run(ctx: Context) -> Result:
        return _rollback(ctx, layer, _selector(to=to, last_good=last_good), force)

    return run_verb("rollback", run)


def _register_data_kinds() -> None:
    from automation.commands.data import restore_db, restore_vault

    restore.add_command(restore_db)
    restore.add_command(restore_vault)


_register_data_kinds()
COMMANDS = [restore, rollback]


def _safety(data: dict[str, Any]) -> str:
    from automation.backup.restoring import safety_text

    return safety_text(data.get("safety_backup"), StackInfo.parse(data["stack"]))
