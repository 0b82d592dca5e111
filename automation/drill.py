"""`drill`: the runbook's disaster-recovery test as one command, against a scratch environment.

Steps, each timed against the runbook's recovery targets:
- `state <layer>` (target: layer redeploy < 30 min): the layer's newest verified state backup,
  through every check a restore runs, imported into a scratch file backend (its own folder and
  state dir, the live pulumi home for plugins, no backup bucket, so nothing of the drill lands
  in the live catalog), then a preview on the given Docker host that must show no changes;
- `db` (target < 2 h): the newest verified dump restored into a new scratch database, row counts
  compared with the dump's, the scratch database dropped;
- `vault` (target < 30 min): the newest Vault backup started as a scratch Vault, unsealed with
  the escrow's shares (or --keys-file), the check KV path read, the scratch Vault removed.
Stack names stay the live ones inside the scratch backend: the layers' stack references name
them, so renamed stacks could not preview. The live stacks, database and Vault are only read.
"""

from __future__ import annotations

import functools
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from automation.context import Context, resolve_layers
from automation.errors import BadInput, DriverError
from automation.hints import driver_command
from automation.settings import BackupSettings

TARGETS_S = {"state": 30 * 60, "db": 2 * 3600, "vault": 30 * 60}
STEPS = ("state", "db", "vault")


@dataclass
class StepResult:
    step: str
    ok: bool
    seconds: float
    target_s: int
    detail: str = ""
    error: str = ""

    @property
    def within_target(self) -> bool:
        return self.seconds < self.target_s

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "within_target": self.within_target}


def run_drill(
    ctx: Context,
    *,
    steps: tuple[str, ...] = STEPS,
    layers: str = "all",
    shares: list[str] | None = None,
    keep: bool = False,
) -> dict[str, Any]:
    """Every step, each timed; a failed step is reported and the drill goes on.

    Returns {scratch, steps: [StepResult as dict], ok, seconds}."""
    unknown = sorted(set(steps) - set(STEPS))
    if unknown:
        raise BadInput(f"unknown drill step(s) {unknown}", f"choose from {', '.join(STEPS)}")
    started = time.monotonic()
    scratch = Path(tempfile.mkdtemp(prefix="sprocket-drill-"))
    results: list[StepResult] = []
    try:
        if "state" in steps:
            scratch_ctx = scratch_context(ctx, scratch)
            for layer in resolve_layers(layers):
                work = functools.partial(_state, ctx, scratch_ctx, layer)
                results.append(_timed(f"state {layer.value}", "state", work))
        if "db" in steps:
            results.append(_timed("db", "db", lambda: _db(ctx, scratch)))
        if "vault" in steps:
            results.append(_timed("vault", "vault", lambda: _vault(ctx, shares)))
    finally:
        if not keep:
            shutil.rmtree(scratch, ignore_errors=True)
    return {
        "scratch": str(scratch) if keep else None,
        "steps": [r.as_dict() for r in results],
        "ok": all(r.ok and r.within_target for r in results),
        "seconds": round(time.monotonic() - started, 2),
    }


def _timed(name: str, kind: str, work: Callable[[], str]) -> StepResult:
    started = time.monotonic()
    try:
        detail, error, ok = work(), "", True
    except DriverError as exc:
        detail, error, ok = "", exc.one_line(), False
    seconds = round(time.monotonic() - started, 2)
    return StepResult(name, ok, seconds, TARGETS_S[kind], detail, error)


def scratch_context(ctx: Context, scratch: Path) -> Context:
    """The live settings with a backend, state dir and (empty) backup bucket of the drill's own;
    the local passphrase file comes along so the backups' secrets open."""
    state_dir = scratch / "state"
    state_dir.mkdir(parents=True)
    (scratch / "backend").mkdir()
    live_passphrase = ctx.settings.state_dir / "local-passphrase"
    if live_passphrase.exists():
        shutil.copy2(live_passphrase, state_dir / "local-passphrase")
    settings = ctx.settings.model_copy(
        update={
            "state_dir": state_dir,
            "backend_url": f"file://{scratch / 'backend'}",
            "pulumi_home": ctx.settings.resolved_pulumi_home,
            "backup": BackupSettings(),
        }
    )
    return Context(settings, ctx.env, json_output=True, assume_yes=True, interactive=False)


def _state(ctx: Context, scratch_ctx: Context, layer: Any) -> str:
    from automation.backup.restoring import Selector, fetch_checked, import_fetched
    from automation.backup.service import catalog
    from automation.backup.store import BackupStore
    from automation.exit_codes import ExitCode
    from automation.stack.run import RunOptions, gated_preview

    info = ctx.stack(layer)
    store = BackupStore.from_settings(ctx.settings.backup)
    verified = [r for r in catalog(store, info.name).records if r.verified and not r.unfinished]
    if not verified:
        raise BadInput(
            f"no verified state backup of {info.name}",
            f"run {driver_command(ctx.env, 'backup', 'all')} first",
        )
    record = verified[0]
    fetched, _ = fetch_checked(ctx, info, Selector(backup_id=record.backup_id), force=False)
    imported = import_fetched(scratch_ctx, info, fetched)
    if not imported["identical"]:
        raise DriverError(f"{info.name}: imported state differs: {imported['difference']}")
    outcome = gated_preview(scratch_ctx, info, RunOptions(wait=False))
    changes = [c for c in outcome.changes if c.is_change]
    if outcome.exit_code != ExitCode.OK or changes:
        listed = ", ".join(f"{c.op} {c.urn.rsplit('::', 1)[-1]}" for c in changes[:5])
        raise DriverError(
            f"{info.name}: preview of backup {record.backup_id} shows changes: {listed}",
            "the backup and the code or the live system disagree: see `preview` and `drift`",
        )
    return f"backup {record.backup_id} restored into scratch, preview: no changes"


def _db(ctx: Context, scratch: Path) -> str:
    from automation.backup import postgres

    def refuse(what: str) -> None:
        raise AssertionError(f"the drill never touches the live database ({what})")

    name = f"sprocket_drill_{scratch.name.rsplit('-', 1)[-1].lower()}"
    report = postgres.restore(
        ctx.settings, ctx.env, None, name, confirm_live=refuse, drop_after=True
    )
    if report["mismatched"]:
        raise DriverError(
            f"row counts differ from the dump's in {report['mismatched']}; the scratch "
            f"database {name} is kept for inspection (drop it when done)"
        )
    restored = (
        f"backup {report['backup_id']} restored into {name}: {len(report['tables'])} tables, "
        f"{report['total_rows']} rows as dumped"
    )
    if report["not_dropped"]:  # a full copy of the database left on the server: a failed step
        raise DriverError(
            f"{restored}, but the copy was NOT dropped ({report['not_dropped']['reason']})",
            f"drop it with `{report['not_dropped']['command']}` ({postgres.DROP_NOTE})",
        )
    return f"{restored}; dropped"


def _vault(ctx: Context, shares: list[str] | None) -> str:
    from automation.backup import vault_storage

    if shares is None:
        # The escrow as `backup vault` reads it: a file or a folder of files (docs/backups.md).
        escrow = vault_storage.read_escrow(
            ctx.settings.data.vault_escrow, "the Vault step was not run"
        )
        if not escrow.shares:
            raise BadInput(
                f"no unseal shares for the Vault step: the escrow "
                f"{ctx.settings.data.vault_escrow} holds none",
                "put the `vault operator init` shares in SPROCKET_VAULT_ESCROW (a file or a "
                "folder of files), or pass --keys-file",
            )
        shares = escrow.shares
    report = vault_storage.restore(ctx.settings, ctx.env, None, shares)
    if not report["kv"]["found"]:
        raise DriverError(f"Vault unsealed but {report['kv']['path']} is not there")
    return (
        f"backup {report['backup_id']} unsealed in scratch in {report['seconds']['unseal']:.1f} s, "
        f"{report['kv']['path']} read"
    )


def markdown(report: dict[str, Any]) -> str:
    """The drill's report as a markdown table (what goes in the runbook's DR log)."""
    lines = [
        "| step | result | time | target | detail |",
        "| --- | --- | ---: | ---: | --- |",
    ]
    for step in report["steps"]:
        result = "ok" if step["ok"] else "FAILED"
        if step["ok"] and not step["within_target"]:
            result = "over target"
        lines.append(
            f"| {step['step']} | {result} | {step['seconds']:.1f} s | "
            f"{_duration(step['target_s'])} | {step['detail'] or step['error']} |"
        )
    verdict = "passed" if report["ok"] else "FAILED"
    lines.append(f"\nDrill {verdict} in {report['seconds']:.1f} s.")
    return "\n".join(lines)


def _duration(seconds: int) -> str:
    return f"< {seconds // 3600} h" if seconds >= 3600 else f"< {seconds // 60} min"
