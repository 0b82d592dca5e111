"""Restore a stack's state from a backup, and roll a stack back to a backed-up release.

restore = repair the *state*: fetch, verify hashes, check the backup fits this stack and CLI,
back up the current state, `stack import`, then a refresh preview that shows any gap between the
restored state and reality. It never changes a server.

rollback = return the *servers* to a backed-up release: restore state and stack config (image
tags included), refresh so the state matches what runs now, then deploy through the normal gate.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from automation.backup.checks import (
    explain_difference,
    integrity_defects,
    pending_operations,
    secrets_provider_problem,
    summarise,
)
from automation.backup.manifest import (
    canonical_state,
    fit_problems,
    needs_newer_cli,
    unreadable_problems,
)
from automation.backup.pulumi_state import (
    check_passphrase,
    cli_version,
    config_path,
    export_ciphertext,
    import_state,
    init_stack,
    stack_exists,
)
from automation.backup.service import (
    BackupRecord,
    FetchedBackup,
    catalog,
    choose,
    fetch,
    read_file,
)
from automation.backup.store import BackupStore
from automation.context import Context
from automation.errors import (
    BadInput,
    CredentialsError,
    DriverError,
    RestoreRefused,
    RollbackFailed,
    SecretsIncomplete,
)
from automation.exit_codes import ExitCode
from automation.hints import driver_command
from sprocket_common.stack_info import PROJECT_NAME, StackInfo


@dataclass(frozen=True)
class Selector:
    backup_id: str | None = None
    before: datetime | None = None
    version: int | None = None
    last_good: bool = False
    file: Path | None = None  # a plain `pulumi stack export`, or a tar.gz holding one
    member: str | None = None  # which member of that tar.gz


def fetch_checked(
    ctx: Context, info: StackInfo, selector: Selector, *, force: bool
) -> tuple[FetchedBackup, list[str]]:
    """The chosen checkpoint (catalog backup or --file), through every check before an import.

    Refused unless it fits this stack (project, stack, URNs, checkpoint and CLI version: --force
    imports past those, and they are returned); never imported, --force or not, when its
    checkpoint fails the integrity check or its secrets cannot be read here.
    """
    if selector.file is not None:
        fetched = read_file(selector.file, selector.member, info)
    else:
        fetched = _from_catalog(ctx, info, selector)
    return fetched, check_checkpoint(ctx, info, fetched, force=force)


def _from_catalog(ctx: Context, info: StackInfo, selector: Selector) -> FetchedBackup:
    store = BackupStore.from_settings(ctx.settings.backup)
    found = catalog(store)
    if selector.last_good:
        record = last_good(ctx, info, found.records)
    else:
        record = choose(
            found,
            info,
            backup_id=selector.backup_id,
            before=selector.before,
            version=selector.version,
        )
    return fetch(store, record)


def check_checkpoint(
    ctx: Context, info: StackInfo, fetched: FetchedBackup, *, force: bool
) -> list[str]:
    """Every check a checkpoint passes before `stack import`; returns what --force overrode."""
    export = parse_export(fetched.state, fetched.label)
    cli = cli_version(ctx.settings)
    problems = fit_problems(
        export, fetched.manifest, stack=info.name, project=PROJECT_NAME, cli_version=cli
    )
    # A checkpoint this CLI cannot read is refused by the engine, --force or not.
    unreadable = unreadable_problems(export, cli)
    problems = [p for p in problems if p not in unreadable]
    never, passphrase = [*unreadable, *unimportable(export)], False
    if problems and not never and not force:
        # --force lifts the fit problems only: a passphrase that does not open the checkpoint
        # would still refuse it, so the one refusal names that too and offers no bare --force.
        try:
            check_passphrase(ctx.settings, info, fetched.state, export, fetched.label)
        except (CredentialsError, SecretsIncomplete) as exc:
            never, passphrase = [exc.message.removesuffix("; nothing was imported")], True
    refused = refusal(
        fetched.label,
        info,
        problems,
        never,
        force=force,
        passphrase=passphrase,
        newer_cli=cli if needs_newer_cli(export) else "",
    )
    if refused is not None:
        raise refused
    check_passphrase(ctx.settings, info, fetched.state, export, fetched.label)
    return problems


def unimportable(export: dict[str, Any]) -> list[str]:
    """Why no --force imports this checkpoint (the engine would refuse it, or every later
    preview would fail, or it would empty the stack); [] if none."""
    never = [p for p in [secrets_provider_problem(export)] if p]
    if not (export.get("deployment") or {}).get("resources"):
        never.append("it holds no resources: importing it would empty the stack (to remove "
                     "a stack's resources, `destroy` it)")  # fmt: skip
    return never + integrity_defects(export)


def refusal(
    label: str,
    info: StackInfo,
    problems: list[str],
    never: list[str],
    *,
    force: bool,
    passphrase: bool = False,
    newer_cli: str = "",
) -> RestoreRefused | None:
    """One refusal naming every reason (`problems`, which --force lifts, then `never`, which it
    does not), with a hint only of what works; None when --force lifts all there is.
    `passphrase`: `never` is the configured passphrase not opening the checkpoint;
    `newer_cli`: this CLI's version, when only a newer Pulumi reads the checkpoint."""
    if not never and (force or not problems):
        return None
    reasons = [*problems, *([summarise(never)] if never else [])]
    message = f"refusing to restore {label} into {info.name}: " + "; ".join(reasons)
    pick = f"pick a backup of this stack ({_list_command(info)})"
    if not never:
        return RestoreRefused(message, f"{pick}; --force imports it anyway")
    if passphrase:
        return RestoreRefused(
            message + "; nothing was imported",
            "set PULUMI_CONFIG_PASSPHRASE (or _FILE) to the passphrase the checkpoint was made "
            f"with, then --force imports it past the rest; or {pick}",
        )
    if newer_cli:
        return RestoreRefused(
            message,
            "nothing was imported, and --force does not import it: a newer Pulumi made it, "
            f"which this driver and its pinned CLI ({newer_cli}) cannot read. Restore it with a "
            "newer driver (a checkout of this repository that pins a Pulumi reading it; its "
            f"scripts/setup.sh installs that CLI); or {pick}",
        )
    return RestoreRefused(
        message,
        "nothing was imported, and --force does not import it (the engine would refuse it, "
        f"or every later preview would fail): {pick}",
    )


def _list_command(info: StackInfo) -> str:
    return driver_command(info.env, "backup", "list", info.layer.value)


def parse_export(state: bytes, label: str) -> dict[str, Any]:
    try:
        export = json.loads(state)
    except (ValueError, UnicodeDecodeError) as exc:
        raise RestoreRefused(
            f"{label} is not a `pulumi stack export` JSON document ({exc})",
            "pass the file `pulumi stack export > FILE` wrote, or a tar.gz holding one",
        ) from None
    if not isinstance(export, dict) or "deployment" not in export:
        raise RestoreRefused(
            f"{label} is JSON but not a `pulumi stack export` document (no `deployment`)",
            "pass the file `pulumi stack export > FILE` wrote, or a tar.gz holding one",
        )
    return export


def last_good(ctx: Context, info: StackInfo, records: list[BackupRecord]) -> BackupRecord:
    """The newest verified post-operation snapshot from before the stack's current update.

    A post-operation snapshot (taken right after a deploy, rollout or rollback succeeded) pairs
    the state with the config that produced it; a pre-operation one may hold config already
    edited for the next release. The newest backups hold the release the operator wants to
    leave, so only earlier update versions count. Without any post-operation snapshot, the
    newest verified backup of an earlier update is used.
    """
    from automation.backup.pulumi_state import snapshot_version
    from automation.errors import NoSuchStack

    try:
        current: int | None = snapshot_version(ctx.settings, info)
    except NoSuchStack:
        current = None
    earlier = [
        r
        for r in records
        if r.stack == info.name
        and r.verified
        and not r.unfinished
        and (current is None or r.update_version < current)
    ]
    post_op = [r for r in earlier if r.reason.startswith("post-")]
    if not (post_op or earlier):
        raise BadInput(
            f"no verified backup of {info.name} from before its current update (version {current})",
            f"pick one by id: {_list_command(info)}",
        )
    return (post_op or earlier)[0]


def restore(
    ctx: Context,
    info: StackInfo,
    selector: Selector,
    *,
    force: bool,
    confirm: Callable[[], None] = lambda: None,
) -> dict[str, Any]:
    """`confirm` asks the operator once the backup passed every check: a missing, damaged or
    foreign one is refused before any question."""
    from automation.guard.operation import guarded

    fetched, problems = fetch_checked(ctx, info, selector, force=force)
    confirm()
    # guarded() backs up the current state first (the safety backup) and the restored one after.
    with guarded(ctx, info, "restore", allow_pending=True) as op:
        safety = safety_copy(ctx, info, op.details.get("backup_pre"))
        result = _import(ctx, info, fetched, force=force, write_config=False)
        result["safety_backup"] = safety
        result["forced_past"] = problems
        result["refresh"] = refresh_preview(ctx, info)
        op.details["restored_from"] = fetched.record.backup_id
        op.details["pending_operations"] = result["pending_operations"]
        op.exit_code, errors = restore_outcome(result, info)
        if errors:
            op.details["not_identical"] = result["difference"]
    return result


def safety_copy(
    ctx: Context, info: StackInfo, backup: dict[str, Any] | None
) -> dict[str, Any] | None:
    """The state as it is before an import: the guard's verified backup when a bucket is set,
    else a local ciphertext export under the driver directory (0600); None when the stack has
    no state yet. Nothing is imported without one of them."""
    from automation.guard.driver_state import driver_dir

    if backup:
        return backup
    if not stack_exists(ctx.settings, info):
        return None
    folder = driver_dir(ctx.settings) / "safety"
    folder.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = folder / f"{info.name}-{stamp}.json"
    path.write_text(json.dumps(export_ciphertext(ctx.settings, info)))
    path.chmod(0o600)
    return {"file": str(path)}


def safety_text(safety: dict[str, Any] | None, info: StackInfo) -> str:
    """Where the state from before an import is, and how to get it back."""
    if not safety:
        return "nothing (the stack had no state)"
    if "file" in safety:
        return (
            f"in {safety['file']} (no backup bucket is configured; restore it with "
            f"{driver_command(info.env, 'restore', info.layer.value, '--file', safety['file'])})"
        )
    return f"backup {safety.get('id')}"


def restore_outcome(data: dict[str, Any], info: StackInfo) -> tuple[ExitCode, list[dict[str, str]]]:
    """The exit code and errors of a restore; "not identical" is never 0 and always named."""
    layer = info.layer.value
    if data["difference"] and data["only_pending_dropped"]:
        return ExitCode.PENDING_OPERATIONS, [
            {
                "message": f"state restored, but {data['difference']}",
                "hint": "the backup was taken during an interrupted update: check whether those "
                "resources exist (a `creating` one may); import one that does (`pulumi import`) "
                f"or remove it by hand, then {driver_command(info.env, 'refresh', layer)}",
            }
        ]
    if data["difference"]:
        return ExitCode.ERROR, [
            {
                "message": f"state restored, but {data['difference']}",
                "hint": "the safety backup holds the state from before the restore: "
                f"{driver_command(info.env, 'restore', layer, '--from', 'ID')}",
            }
        ]
    if not data["refresh"]["ok"]:
        return ExitCode.ERROR, [
            {
                "message": "state restored, but the refresh preview failed: "
                f"{data['refresh']['error']}",
                "hint": f"run {driver_command(info.env, 'refresh', layer)} to compare",
            }
        ]
    if data["refresh"]["differences"]:
        return ExitCode.DRIFT_DETECTED, []
    return ExitCode.OK, []


def import_fetched(ctx: Context, info: StackInfo, fetched: FetchedBackup) -> dict[str, Any]:
    """Import a checked backup into `info` of ctx's backend without the guard (the drill's
    scratch backend: no lock, audit or backups of its own); the stack config is written only
    where none exists. Returns what `restore` reports of the import (identical, difference)."""
    return _import(ctx, info, fetched, force=False, write_config=False)


def _import(
    ctx: Context, info: StackInfo, fetched: FetchedBackup, *, force: bool, write_config: bool
) -> dict[str, Any]:
    path = config_path(ctx.settings, info)
    config_written = False
    if fetched.config is not None and (write_config or not path.exists()):
        path.write_bytes(fetched.config)  # carries the passphrase salt of the backed-up state
        config_written = True
    if not stack_exists(ctx.settings, info):
        init_stack(ctx.settings, info)
    import_state(ctx.settings, info, fetched.state, force=force)
    restored, backup = export_ciphertext(ctx.settings, info), json.loads(fetched.state)
    identical = canonical_state(restored) == canonical_state(backup)
    difference, only_pending = ("", False) if identical else explain_difference(restored, backup)
    return {
        "stack": info.name,
        "backup_id": fetched.record.backup_id,
        "backup_created": fetched.record.created,
        "update_version": fetched.manifest.update_version,
        "config_restored": config_written,
        "identical": identical,
        "difference": difference,
        "only_pending_dropped": only_pending,
        "pending_operations": pending_operations(backup),
    }


def refresh_preview(ctx: Context, info: StackInfo) -> dict[str, Any]:
    """What a refresh would change: the gap between the restored state and reality."""
    from pulumi.automation import errors as auto_errors

    from automation.pulumi.errors import engine_error
    from automation.pulumi.workspace import select_stack

    stack = select_stack(ctx.settings, info, create=False)
    try:
        summary = stack.preview_refresh(color="never").change_summary
    except auto_errors.CommandError as exc:
        error = engine_error(exc, info, stack)
        return {"ok": False, "error": error.message, "differences": {}}
    differences = {op: n for op, n in summary.items() if op != "same" and n}
    return {"ok": True, "differences": differences}


# --- rollback -------------------------------------------------------------------------------


@contextlib.contextmanager
def _config_kept_aside(path: Any) -> Iterator[None]:
    """Put the current stack config back if the rollback does not finish."""
    saved = path.read_bytes() if path.exists() else None
    try:
        yield
    except BaseException:
        if saved is None:
            path.unlink(missing_ok=True)
        else:
            path.write_bytes(saved)
        raise


def rollback(
    ctx: Context,
    info: StackInfo,
    selector: Selector,
    *,
    force: bool,
    confirm: Callable[[], None] = lambda: None,
) -> dict[str, Any]:
    """Restore state + config of the backup, refresh, then deploy it through the gate.
    `confirm` asks once the backup passed every check, as for `restore`."""
    from automation.guard.operation import guarded
    from automation.stack.run import RunOptions, deploy_stack, refresh_stack

    fetched, problems = fetch_checked(ctx, info, selector, force=force)
    if fetched.config is None:
        raise RestoreRefused(
            f"backup {fetched.record.backup_id} holds no stack config: it cannot say which "
            "release to return to",
            "pick another backup, or `restore` it (state only)",
        )
    confirm()
    options = RunOptions()
    with guarded(ctx, info, "rollback", allow_pending=True) as op:  # + safety backup first
        safety = safety_copy(ctx, info, op.details.get("backup_pre"))
        try:
            with _config_kept_aside(config_path(ctx.settings, info)):
                result = _import(ctx, info, fetched, force=force, write_config=True)
                refreshed = refresh_stack(ctx, info, options)
                _require_ok(refreshed, "refresh", info, op.details)
                deployed = deploy_stack(ctx, info, options)
                _require_ok(deployed, "deploy", info, op.details)
        except DriverError as exc:
            raise RollbackFailed(
                f"rollback of {info.name} to {fetched.record.backup_id} failed: "
                f"{exc.message}; the stack config was put back",
                f"the state from before the rollback is {safety_text(safety, info)}; "
                + (exc.hint or "see the message above"),
            ) from exc
        op.changes = deployed.as_dict()["changes"]
        op.details["rolled_back_to"] = fetched.record.backup_id
    result["safety_backup"] = safety
    result["forced_past"] = problems
    result["refresh"] = refreshed.as_dict()["changes"]
    result["deploy"] = deployed.as_dict()
    return result


def _require_ok(outcome: Any, what: str, info: StackInfo, details: dict[str, Any]) -> None:
    if outcome.exit_code != ExitCode.OK:
        details[f"{what}_outcome"] = outcome.as_dict()
        blocked = "; ".join(
            f"{b['op']} {b['urn']}: {b['reason']}"
            for b in outcome.as_dict()["gate"].get("blocked", [])
        )
        detail = blocked or outcome.message  # e.g. which services did not converge, and why
        raise DriverError(
            f"the {what} of {info.name} ended {outcome.status}"
            + (f" ({detail})" if detail else ""),
            f"run {driver_command(info.env, 'preview', info.layer.value)} to see the plan",
        )
