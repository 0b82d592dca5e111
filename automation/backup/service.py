"""Backups of one stack: take, list, verify, prune, and fetch one back for a restore."""

from __future__ import annotations

import secrets
import subprocess
from collections.abc import Iterable
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter

from automation.backup.archive import pack, unpack
from automation.backup.manifest import (
    MANIFEST_NAME,
    STATE_NAME,
    Manifest,
    config_file_name,
)
from automation.backup.pulumi_state import StackSnapshot, pending_snapshot
from automation.backup.retention import Candidate, Decision, RetentionPolicy, plan_retention
from automation.backup.store import RECORD_SUFFIX, BackupStore, bare_entry
from automation.errors import BackupCorrupt, BadInput, SecretsIncomplete, unreadable
from automation.hints import driver_command
from automation.settings import Settings
from automation.times import parse_time
from sprocket_common.stack_info import PROJECT_NAME, PROJECT_ROOT, StackInfo


@dataclass(frozen=True)
class BackupRecord:
    """A catalog entry: the manifest's facts plus where the archive is and its hash."""

    backup_id: str
    stack: str
    key: str
    created: str
    size: int = 0
    sha256: str = ""
    project: str = PROJECT_NAME
    reason: str = ""
    update_version: int = 0
    resource_count: int = 0
    secret_count: int = 0
    null_secret_count: int = 0
    pulumi_version: str = ""
    checkpoint_version: int = 0
    git_commit: str | None = None
    run_id: str = ""
    verified_at: str | None = None
    unfinished: bool = False
    created_us: int = 0  # the instant of `created` in full (created_fields); 0 in older records

    @property
    def verified(self) -> bool:
        return self.verified_at is not None

    @property
    def order(self) -> tuple[datetime, int, str]:
        """Sorts backups by when they were taken: `created` is to the second and the id's tail
        is random, so two backups of one second are told apart by `created_us`; the id then
        makes the order total (records written before `created_us` existed)."""
        return (self.created_at, self.created_us, self.backup_id)

    @property
    def created_at(self) -> datetime:
        return parse_time(self.created)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> BackupRecord:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in raw.items() if k in known})


def new_backup_id(now: datetime) -> str:
    return f"{now.astimezone(UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def created_fields(now: datetime) -> dict[str, Any]:
    """A record's `created` (to the second, as `backup list` shows it) and `created_us`, the
    same instant in microseconds since the epoch, which orders backups taken in one second."""
    return {
        "created": now.astimezone(UTC).isoformat(timespec="seconds"),
        "created_us": (now - _EPOCH) // timedelta(microseconds=1),
    }


def newest_first(records: Iterable[BackupRecord]) -> list[BackupRecord]:
    return sorted(records, key=lambda r: r.order, reverse=True)


def _git_commit(*dirs: Path) -> str | None:
    for directory in dirs:
        proc = subprocess.run(
            ["git", "-C", str(directory), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode == 0:
            return proc.stdout.strip()
    return None


# --- taking a backup ------------------------------------------------------------------------


def take(
    settings: Settings,
    info: StackInfo,
    reason: str,
    *,
    store: BackupStore | None = None,
    run_id: str = "",
    now: datetime | None = None,
) -> BackupRecord:
    """Export (ciphertext), check every secret decrypts, pack, upload, read back, catalog."""
    store = store or BackupStore.from_settings(settings.backup)
    now = now or datetime.now(UTC)
    backup_id = new_backup_id(now)
    with pending_snapshot(settings, info) as pending:
        snap = pending.state()
        # Packed while the decryption check still runs; nothing is stored before it passes.
        archive, manifest = _pack(settings, info, snap, backup_id, now, reason, run_id)
        secrets = pending.secret_count()
    if secrets.complete and secrets.state_null:  # rare: say in the manifest how many are null
        archive, manifest = _pack(
            settings, info, snap, backup_id, now, reason, run_id, null=secrets.state_null
        )
    if not secrets.complete:
        raise SecretsIncomplete(
            f"secret check failed for {info.name}: {secrets.describe()}; nothing was stored",
            "the configured passphrase is wrong for this stack: set PULUMI_CONFIG_PASSPHRASE "
            "(or _FILE) to the stack's passphrase",
        )
    key = store.archive_key(PROJECT_NAME, info.name, backup_id)
    stored = store.upload_verified(
        key,
        archive,
        {
            "backup-id": backup_id,
            "stack": info.name,
            "project": PROJECT_NAME,
            "update-version": str(manifest.update_version),
        },
    )
    record = _record(manifest, key, stored.size, stored.sha256, verified_at=_now_iso())
    store.put_record(key, record.to_dict())
    return record


def _pack(
    settings: Settings,
    info: StackInfo,
    snap: StackSnapshot,
    backup_id: str,
    now: datetime,
    reason: str,
    run_id: str,
    *,
    null: int = 0,
) -> tuple[bytes, Manifest]:
    files = {STATE_NAME: snap.export_bytes}
    if snap.config_bytes is not None:
        files[config_file_name(info.name)] = snap.config_bytes
    deployment = snap.export.get("deployment") or {}
    return pack(
        files,
        Manifest(
            backup_id=backup_id,
            project=PROJECT_NAME,
            stack=info.name,
            **created_fields(now),
            reason=reason,
            pulumi_version=snap.cli_version,
            checkpoint_version=int(snap.export.get("version") or 0),
            resource_count=len(deployment.get("resources") or []),
            secret_count=snap.secret_count,
            null_secret_count=null,
            update_version=snap.update_version,
            git_commit=_git_commit(settings.project_dir, PROJECT_ROOT),
            run_id=run_id,
        ),
    )


def _record(
    manifest: Manifest, key: str, size: int, digest: str, *, verified_at: str | None
) -> BackupRecord:
    facts = {k: v for k, v in asdict(manifest).items() if k not in ("files", "schema")}
    return BackupRecord.from_dict(
        {**facts, "key": key, "size": size, "sha256": digest, "verified_at": verified_at}
    )


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


# --- catalog, verify, prune -----------------------------------------------------------------


@dataclass(frozen=True)
class DamagedRecord:
    """A catalog record that cannot be read: named, skipped, and never a reason to delete."""

    key: str
    archive_key: str
    problem: str

    @property
    def backup_id(self) -> str:
        return self.key.rsplit("/", 1)[-1].removesuffix(RECORD_SUFFIX)

    @property
    def stack(self) -> str:
        return self.key.rsplit("/", 2)[-2]

    def describe(self) -> str:
        return f"catalog record {self.key} cannot be read ({self.problem}); skipped"

    def to_dict(self) -> dict[str, str]:
        return {"backup_id": self.backup_id, "stack": self.stack, **asdict(self)}


@dataclass(frozen=True)
class Catalog:
    records: list[BackupRecord]  # newest first
    damaged: list[DamagedRecord]


_RECORD = TypeAdapter(BackupRecord)


def catalog(store: BackupStore, stack: str | None = None) -> Catalog:
    """The readable records, newest first, and the damaged ones by name.

    The archive of a damaged record is neither listed as an unfinished backup nor pruned: what
    it holds is unknown until its record is fixed or `backup verify` reads it.
    """
    listing = store.catalog(PROJECT_NAME, stack)
    archives = dict(listing.archives)
    records: list[BackupRecord] = []
    damaged: list[DamagedRecord] = []
    for key, body in listing.records.items():
        archive_key = listing.archive_of(key)
        try:
            record = _RECORD.validate_json(body)
            record.created_at  # noqa: B018 - a time that does not parse is damage too
        except ValueError as exc:  # pydantic's ValidationError included
            damaged.append(DamagedRecord(key, archive_key, unreadable(exc)))
            archives.pop(archive_key, None)
            continue
        if archives.pop(record.key, None) is not None:
            records.append(record)
    records += [BackupRecord.from_dict(bare_entry(key, size)) for key, size in archives.items()]
    return Catalog(newest_first(records), damaged)


def verify_backup(store: BackupStore, record: BackupRecord) -> tuple[BackupRecord, str | None]:
    """`backup verify` of any catalog record, by its kind: a state archive is re-downloaded and
    every hash checked (verify, below); a database or Vault copy's SHA-256 is streamed
    (backup/data.py verify). (record, problem)."""
    from automation.backup import data

    if record.stack.rpartition("-")[2] in data.KINDS:
        return data.verify(store, record)
    return verify(store, record)


def verify(store: BackupStore, record: BackupRecord) -> tuple[BackupRecord, str | None]:
    """Re-download and check every hash; the record is updated on success. (record, problem)."""
    try:
        archive = store.get_bytes(record.key)
        expected = record.sha256 or store.metadata(record.key).get("sha256")
        if not expected:
            return record, f"{record.key} has no SHA-256 in its record or metadata"
        manifest, _members = unpack(archive, source=record.key, expected_sha256=expected)
    except BackupCorrupt as exc:
        return record, exc.message
    verified = _record(manifest, record.key, len(archive), expected, verified_at=_now_iso())
    store.put_record(record.key, verified.to_dict())
    return verified, None


def plan_prune(
    records: Iterable[BackupRecord], policy: RetentionPolicy, now: datetime
) -> list[tuple[BackupRecord, Decision]]:
    by_id = {r.backup_id: r for r in records}
    candidates = [
        Candidate(r.backup_id, r.stack, r.created_at, r.verified, r.created_us)
        for r in by_id.values()
    ]
    return [(by_id[d.candidate.backup_id], d) for d in plan_retention(candidates, policy, now)]


# --- choosing and fetching a backup for a restore ------------------------------------------


def choose(
    found: Catalog,
    info: StackInfo,
    *,
    backup_id: str | None = None,
    before: datetime | None = None,
    version: int | None = None,
) -> BackupRecord:
    """The backup a restore asked for. `--from` may name another stack's backup: the fit check
    refuses it later with the reason, rather than a vague "not found" here."""
    records = found.records
    if backup_id is not None:
        for record in records:
            if backup_id in (record.backup_id, record.key):
                _refuse_data_kind(record, info)
                return record
        for damaged in found.damaged:
            if backup_id in (damaged.backup_id, damaged.archive_key):
                raise BackupCorrupt(
                    f"backup {backup_id}: {damaged.describe()}",
                    f"restore from another backup ({_list_command(info)})",
                )
        raise BadInput(
            f"no backup with id {backup_id!r}",
            f"list them with {_list_command(info)}",
        )
    usable = [r for r in records if r.stack == info.name and not r.unfinished]
    if before is not None:
        usable = [r for r in usable if r.created_at < before]
        what = f"taken before {before.isoformat()}"
    elif version is not None:
        usable = [r for r in usable if r.update_version == version]
        known = sorted({r.update_version for r in records if r.stack == info.name})
        what = f"at update version {version} (versions with backups: {known})"
    else:
        what = "at all"
    if not usable:
        raise BadInput(
            f"no backup of {info.name} {what}",
            f"list them with {_list_command(info)}",
        )
    return usable[0]  # records are newest first


def _list_command(info: StackInfo) -> str:
    return driver_command(info.env, "backup", "list", info.layer.value)


def _refuse_data_kind(record: BackupRecord, info: StackInfo) -> None:
    """A database or Vault backup is no stack's state: say so before anything is downloaded
    (else it fails later as an unreadable archive, exit 6, as if the backup were damaged)."""
    from automation.backup.data import KINDS

    kind = record.stack.rpartition("-")[2]
    if kind in KINDS:
        backup_id = record.backup_id
        restore = (  # written out per kind, so the hint-command test parses each one
            driver_command(info.env, "restore", "vault", "--from", backup_id, "--into", "scratch")
            if kind == "vault"
            else driver_command(info.env, "restore", "db", "--from", backup_id, "--into", "NAME")
        )
        raise BadInput(
            f"backup {backup_id} is a {kind} backup ({record.stack}), not a state backup "
            f"of {info.name}",
            f"restore it with {restore}, or pick a state backup ({_list_command(info)})",
        )


@dataclass(frozen=True)
class FetchedBackup:
    record: BackupRecord
    manifest: Manifest
    state: bytes
    config: bytes | None
    source: str = ""  # what to call it in messages; a catalog backup is named by its id

    @property
    def label(self) -> str:
        return self.source or f"backup {self.record.backup_id}"


def fetch(store: BackupStore, record: BackupRecord) -> FetchedBackup:
    """Download and check the archive's hash against the record and the object metadata."""
    archive = store.get_bytes(record.key)
    expected = record.sha256 or store.metadata(record.key).get("sha256")
    if not expected:
        raise BackupCorrupt(f"backup {record.key} has no recorded SHA-256: it cannot be trusted")
    manifest, members = unpack(archive, source=record.key, expected_sha256=expected)
    if STATE_NAME not in members:
        raise BackupCorrupt(f"backup archive {record.key} holds no {STATE_NAME}")
    return FetchedBackup(
        record, manifest, members[STATE_NAME], members.get(config_file_name(manifest.stack))
    )


# --- a checkpoint from a file (the runbook's own `pulumi stack export > FILE`) --------------

_FILE_HINT = "pass a `pulumi stack export` JSON file, or a tar.gz holding one (--member NAME)"


def read_file(path: Path, member: str | None, info: StackInfo) -> FetchedBackup:
    """A plain export, one member of a tar.gz of exports, or one of the driver's own archives
    (its hashes checked), as a backup to restore; checked like any other before the import."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise BadInput(f"--file {path} cannot be read: {exc.strerror or exc}", _FILE_HINT) from None
    if data[:2] != b"\x1f\x8b":  # not gzip: the export itself
        if member:
            raise BadInput(f"--member {member!r}: {path} is not a tar.gz", _FILE_HINT)
        return _from_export(path, data, info, f"file {path}")
    members = _tar_members(path, data)
    if MANIFEST_NAME in members and member is None:  # the driver's own archive
        try:
            manifest, files = unpack(data, source=str(path), expected_sha256=None)
        except BackupCorrupt as exc:  # a file the operator gave: bad input, not a failed backup
            raise BadInput(
                f"--file {path}: {exc.message}; nothing was imported",
                exc.hint or "pass an archive `backup` wrote, unchanged, or a plain export",
            ) from None
        record = _record(manifest, str(path), len(data), "", verified_at=None)
        state = files.get(STATE_NAME, b"")
        config = files.get(config_file_name(manifest.stack))
        return FetchedBackup(record, manifest, state, config, source=f"archive {path}")
    exports = sorted(name for name in members if name.endswith(".json"))
    if member is None and len(exports) != 1:
        raise BadInput(
            f"{path} holds {len(exports)} JSON exports: name one with --member "
            f"({', '.join(exports) or 'none found'})",
            _FILE_HINT,
        )
    chosen = member or exports[0]
    if chosen not in members:
        raise BadInput(
            f"{path} has no member {chosen!r} (members: {', '.join(sorted(members))})", _FILE_HINT
        )
    return _from_export(path, members[chosen], info, f"member {chosen} of {path}")


def _tar_members(path: Path, data: bytes) -> dict[str, bytes]:
    import io
    import tarfile

    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            return {
                info.name.removeprefix("./"): tar.extractfile(info).read()  # type: ignore[union-attr]
                for info in tar.getmembers()
                if info.isfile()
            }
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise BadInput(f"--file {path} is not a readable tar.gz ({exc})", _FILE_HINT) from None


def _from_export(path: Path, state: bytes, info: StackInfo, label: str) -> FetchedBackup:
    """A manifest for a bare export, from what it says of itself (its URNs, its version)."""
    import json

    from automation.backup.manifest import urn_stack_project
    from automation.backup.secrets_check import count_ciphertext_secrets

    try:
        export = json.loads(state)
        resources = export["deployment"].get("resources") or []
        first = str(resources[0].get("urn", "")) if resources else ""
        stack, project = urn_stack_project(first)
        version = int(export.get("version") or 0)
    except (ValueError, TypeError, KeyError, AttributeError, IndexError, UnicodeDecodeError):
        resources, stack, project, version = [], "", "", 0  # the checks name what is wrong
    created = datetime.fromtimestamp(path.stat().st_mtime, UTC).isoformat(timespec="seconds")
    manifest = Manifest(
        backup_id=path.name,
        project=project or PROJECT_NAME,
        stack=stack or info.name,
        created=created,
        reason="file",
        pulumi_version="",  # unknown: the checkpoint version is checked instead
        checkpoint_version=version,
        resource_count=len(resources),
        secret_count=count_ciphertext_secrets(state),
        update_version=0,
        git_commit=None,
    )
    record = _record(manifest, str(path), len(state), "", verified_at=None)
    return FetchedBackup(record, manifest, state, None, source=label)
