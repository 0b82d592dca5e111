"""The health row "newest verified backup (state, db, vault) under 24 h".

State counts as fresh when every layer that has backups has a verified one under 24 h (a layer
never backed up is not deployed here); db and vault each need their own. No bucket configured:
the row is skipped and says why.
"""

from __future__ import annotations

from datetime import datetime

from automation.health.model import Finding, Level
from automation.settings import Settings
from sprocket_common.stack_info import LAYER_ORDER, Env, StackInfo

SUBJECT = "newest verified backup (state, db, vault)"
MAX_AGE_H = 24.0
EXPECTED = f"< {MAX_AGE_H:g} h each"


def check_backups(ages_h: dict[str, float | None], error: str = "") -> Finding:
    """ages_h: kind -> hours since its newest verified backup (None: there is none)."""
    if error:
        return Finding("backups", SUBJECT, Level.WARNING, "unknown", EXPECTED, error)
    observed = ", ".join(
        f"{kind} {'none' if age is None else f'{age:.1f} h'}" for kind, age in ages_h.items()
    )
    stale = [kind for kind, age in ages_h.items() if age is None or age >= MAX_AGE_H]
    if stale:
        return Finding(
            "backups", SUBJECT, Level.WARNING, observed, EXPECTED, f"stale: {', '.join(stale)}"
        )
    return Finding("backups", SUBJECT, Level.OK, observed, EXPECTED)


def backup_ages(settings: Settings, env: Env, now: datetime) -> dict[str, float | None]:
    from automation.backup.data import data_stack
    from automation.backup.service import catalog
    from automation.backup.store import BackupStore

    found = catalog(BackupStore.from_settings(settings.backup))
    newest: dict[str, datetime] = {}
    for record in found.records:  # newest first
        if record.verified and record.stack not in newest:
            newest[record.stack] = record.created_at

    def age(stack: str) -> float | None:
        return (now - newest[stack]).total_seconds() / 3600 if stack in newest else None

    layers = [age(StackInfo(env, layer).name) for layer in LAYER_ORDER]
    known = [a for a in layers if a is not None]
    return {
        "state": max(known) if known else None,
        "db": age(data_stack(env, "db")),
        "vault": age(data_stack(env, "vault")),
    }


def backup_finding(settings: Settings, env: Env, now: datetime) -> Finding:
    if not settings.backup.bucket:
        return Finding(
            "backups", SUBJECT, Level.SKIPPED, "unknown", EXPECTED, "no backup bucket configured"
        )
    from automation.errors import DriverError

    try:
        return check_backups(backup_ages(settings, env, now))
    except DriverError as exc:
        return check_backups({}, f"the backup catalog cannot be read: {exc.message}")
