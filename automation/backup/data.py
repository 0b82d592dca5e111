"""Catalog entries of data backups (database dumps, Vault storage) in the state-backup bucket.

A data backup is catalogued like a stack's: `<prefix>/<project>/<env>-<kind>/<id><suffix>` plus
its `<id>.json` record, written only after the object was read back and its SHA-256 matched,
so `backup list`-style listing, `verify` and GFS `prune` (automation/backup/service.py) treat it
as one more "stack". The record carries the kind's own facts (row counts per table; Vault file
count and unseal threshold) under `facts`; never a secret.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from automation.backup.service import BackupRecord, catalog, created_fields, new_backup_id
from automation.backup.store import BackupStore, StoredObject
from automation.errors import BadInput
from automation.hints import driver_command
from sprocket_common.stack_info import PROJECT_NAME, Env

KINDS = ("db", "vault")


def data_stack(env: Env, kind: str) -> str:
    """The catalog's "stack" name of a data kind: `local-db`, `prod-vault`."""
    return f"{env.value}-{kind}"


@dataclass(frozen=True)
class DataRecord:
    """A data backup's catalog record: BackupRecord's fields (so the state catalog reads it)
    plus `kind` and the kind's facts."""

    backup_id: str
    stack: str
    key: str
    created: str
    kind: str
    size: int = 0
    sha256: str = ""
    project: str = PROJECT_NAME
    reason: str = ""
    verified_at: str | None = None
    facts: dict[str, Any] = field(default_factory=dict)
    created_us: int = 0  # see BackupRecord.order

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def new_id() -> tuple[str, datetime]:
    now = datetime.now(UTC)
    return new_backup_id(now), now


def record_stored(
    store: BackupStore,
    env: Env,
    kind: str,
    backup_id: str,
    created: datetime,
    stored: StoredObject,
    facts: dict[str, Any],
    reason: str,
) -> DataRecord:
    """Write the catalog record of an object already uploaded and read back."""
    record = DataRecord(
        backup_id=backup_id,
        stack=data_stack(env, kind),
        key=stored.key,
        **created_fields(created),
        kind=kind,
        size=stored.size,
        sha256=stored.sha256,
        reason=reason,
        verified_at=datetime.now(UTC).isoformat(timespec="seconds"),
        facts=facts,
    )
    store.put_record(stored.key, record.to_dict())
    return record


def records(store: BackupStore, env: Env, kind: str) -> list[BackupRecord]:
    """The kind's catalog, newest first (unfinished uploads included, as for state)."""
    return catalog(store, data_stack(env, kind)).records


def choose(store: BackupStore, env: Env, kind: str, backup_id: str | None) -> DataRecord:
    """The backup `--from` names, or the newest verified one; its full record."""
    found = records(store, env, kind)
    if backup_id is not None:
        chosen = [r for r in found if backup_id in (r.backup_id, r.key)]
        what = f"no {kind} backup with id {backup_id!r}"
        hint = f"list them with {driver_command(env, 'backup', 'list', kind)}"
    else:
        chosen = [r for r in found if r.verified and not r.unfinished]
        what = f"no verified {kind} backup of {env.value}"
        hint = f"take one with {driver_command(env, 'backup', kind)}"
    if not chosen:
        raise BadInput(what, hint)
    if chosen[0].unfinished:
        raise BadInput(
            f"{kind} backup {chosen[0].backup_id} is unfinished (no catalog record): not usable",
            "pick a verified one",
        )
    return full_record(store, chosen[0])


def full_record(store: BackupStore, record: BackupRecord) -> DataRecord:
    raw = json.loads(store.get_bytes(store.record_key_for(record.key)))
    known = set(DataRecord.__dataclass_fields__)
    raw.setdefault("kind", record.stack.rsplit("-", 1)[-1])
    return DataRecord(**{k: v for k, v in raw.items() if k in known})


def verify(store: BackupStore, record: BackupRecord) -> tuple[BackupRecord, str | None]:
    """Re-download (streamed) and compare the SHA-256; the record's verified_at is renewed."""
    digest, size = store.stream_sha256(record.key)
    if digest != record.sha256 or size != record.size:
        return record, (
            f"{record.key} fails its SHA-256 check (recorded {record.sha256[:16]}..., "
            f"stored {digest[:16]}...)"
        )
    full = full_record(store, record)
    now = datetime.now(UTC).isoformat(timespec="seconds")
    store.put_record(record.key, {**full.to_dict(), "verified_at": now})
    return BackupRecord.from_dict({**record.to_dict(), "verified_at": now}), None


def newest_verified_age_h(store: BackupStore, stack: str, now: datetime) -> float | None:
    """Hours since the newest verified backup of `stack` (a state stack or a data kind)."""
    verified = [r for r in catalog(store, stack).records if r.verified]
    if not verified:
        return None
    return (now - verified[0].created_at).total_seconds() / 3600
