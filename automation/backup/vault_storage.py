"""`backup vault` and `restore vault`: Vault's storage, copied consistently, restored into scratch.

Backup: check the unseal-key escrow first (shares present vs the threshold Vault's own storage
records in `core/_seal-config`; counts only, never a key), then copy the file storage until two
reads in a row are identical (Vault writes in place: a copy taken during a write shows as a
difference and is taken again), pack it with a SHA-256 per file, upload, read back, catalog.
Local keeps the storage in the `vault-data` volume: `SPROCKET_VAULT_STORAGE_DIR` is its
mountpoint (`docker volume inspect vault-data`). Prod keeps it in a Spaces bucket
(`SPROCKET_VAULT_S3_BUCKET`, prefix = the storage stanza's `path`), read with the backup
bucket's endpoint and keys; its objects are stored in the file storage's layout (`dir/_leaf`
holding `{"Value": base64}`), so every backup restores into a file-storage scratch Vault.

Restore: download, check every hash, unpack into a scratch folder, start a Vault server of its
own on loopback on that storage, unseal it with the shares given, obtain a short-lived root token
through `generate-root` with the same shares (revoked at once), read one known KV path, stop it.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import gzip
import hashlib
import io
import json
import re
import shutil
import socket
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from automation.backup import data
from automation.backup.store import BackupStore
from automation.errors import BackupCorrupt, BackupFailed, BadInput, CredentialsError, DriverError
from automation.guard.operation import sigterm_interrupts
from automation.hints import driver_command
from automation.settings import Settings
from automation.waiting import WaitTimeout, wait_until
from sprocket_common.stack_info import PROJECT_NAME, Env

KIND = "vault"
SEAL_CONFIG = "core/_seal-config"
MANIFEST = "vault-manifest.json"
STORAGE = "storage/"
COPY_ATTEMPTS = 5
START_TIMEOUT_S = 30.0
_SHARE = re.compile(r"^(?:[0-9a-fA-F]{60,}|[A-Za-z0-9+/]{40,}={0,2})$")


# --- key shares -----------------------------------------------------------------------------


def share_bytes(share: str) -> bytes:
    """A share as Vault decodes it (vault/http/sys_seal.go): hex when that gives a share's length
    (17 to 33 bytes: a 16 to 32 byte key plus Shamir's one), else base64. `operator init` shows
    each share both ways: the two spellings are one share."""
    with contextlib.suppress(ValueError):
        raw = bytes.fromhex(share)
        if 17 <= len(raw) <= 33:
            return raw
    try:
        return base64.b64decode(share, validate=True)
    except binascii.Error:
        return share.encode()  # Vault refuses it later, naming it as not a share


def distinct_shares(shares: list[str]) -> list[str]:
    """One spelling of each share (by decoded bytes), in order."""
    seen: dict[bytes, str] = {}
    for share in shares:
        seen.setdefault(share_bytes(share), share)
    return list(seen.values())


def parse_shares(text: str) -> list[str]:
    """Key shares in text: `vault operator init -format=json` output (unseal_keys_b64), or one
    share per line (`Unseal Key 1: ...` lines too). Distinct by decoded bytes (a share in hex
    and in base64 is one), in order; never logged."""
    return distinct_shares(_share_entries(text))


def _share_entries(text: str) -> list[str]:
    """Every share as written, repeats included."""
    with contextlib.suppress(ValueError):
        document = json.loads(text)
        if isinstance(document, dict):
            keys = document.get("unseal_keys_b64") or document.get("keys_base64") or []
            return [str(k) for k in keys]
    found = []
    for line in text.splitlines():
        candidate = line.rsplit(":", 1)[-1].strip()
        if _SHARE.match(candidate):
            found.append(candidate)
    return found


@dataclass(frozen=True)
class Escrow:
    """What the escrow holds: `shares` distinct (never logged), `entries` as written (a share
    written twice, e.g. in hex and in base64, is two entries and one share)."""

    shares: list[str]
    entries: int

    def describe(self) -> str:
        extra = self.entries - len(self.shares)
        return f"{len(self.shares)} distinct share(s)" + (
            f" ({self.entries} entries: {extra} repeat a share, e.g. the same key in hex and in "
            "base64, and count once)"
            if extra
            else ""
        )


def read_escrow(path: Path | None, outcome: str = "nothing was stored") -> Escrow:
    """The escrow the docs allow (docs/backups.md): one file, or a folder of such files (every
    file under it; unreadable or binary ones hold no share). The one reader for every verb.
    None or a missing path: BackupFailed naming it and `outcome`."""
    if path is None:
        raise BackupFailed(
            "no unseal-key escrow is configured: a Vault backup without its keys restores "
            f"nothing; {outcome}",
            "set SPROCKET_VAULT_ESCROW to the file or folder holding the unseal-key shares",
        )
    if not path.exists():
        raise BackupFailed(
            f"the unseal-key escrow {path} does not exist; {outcome}",
            "put the shares back there (or fix SPROCKET_VAULT_ESCROW), then back up again",
        )
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    entries: list[str] = []
    for file in files:
        with contextlib.suppress(OSError, UnicodeDecodeError):
            entries.extend(_share_entries(file.read_text()))
    return Escrow(distinct_shares(entries), len(entries))


def escrow_shares(path: Path | None) -> int:
    """How many distinct shares the escrow (a file, or a folder of files) holds."""
    return len(read_escrow(path).shares)


# --- storage --------------------------------------------------------------------------------


class StorageChanged(Exception):
    """A file listed in Vault's storage was gone (or became a folder) by the time it was read:
    Vault wrote during the read (its file storage is not atomic). `path` is the relative one."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.path = path


def read_storage(root: Path) -> dict[str, bytes]:
    """Every file under Vault's storage folder, by relative POSIX path. Raises StorageChanged
    when a file vanishes between the listing and its read (consistent_copy reads again)."""
    if not root.is_dir():
        raise BadInput(
            f"Vault storage folder {root} does not exist",
            "set SPROCKET_VAULT_STORAGE_DIR to the vault-data volume's mountpoint",
        )
    files = {}
    try:  # the walk itself: a folder Vault removes while it is listed is a change too
        listing = sorted(root.rglob("*"))
    except FileNotFoundError as exc:
        raise StorageChanged(Path(exc.filename or root).as_posix()) from None
    for path in listing:
        name = path.relative_to(root).as_posix()
        try:
            if not path.is_file():
                continue
            files[name] = path.read_bytes()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            raise StorageChanged(name) from None
    return files


def read_s3_storage(client: Any, bucket: str, prefix: str) -> dict[str, bytes]:
    """Vault's S3 storage objects, as the file storage would hold them (`a/b/_c`, JSON with
    the value in base64): one layout in every backup, one scratch restore for both."""
    from automation.backup.store import _StorageErrors

    files: dict[str, bytes] = {}
    start = prefix.strip("/") + "/" if prefix.strip("/") else ""
    what = f"reading Vault's storage under {start or '/'}"
    with _StorageErrors(what, bucket, setting="SPROCKET_VAULT_S3_BUCKET"):
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=start):
            for item in page.get("Contents") or []:
                try:
                    body = client.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
                except client.exceptions.NoSuchKey:  # deleted since the listing: Vault wrote
                    raise StorageChanged(item["Key"].removeprefix(start)) from None
                *dirs, leaf = item["Key"].removeprefix(start).split("/")
                value = base64.b64encode(body).decode()
                files["/".join([*dirs, f"_{leaf}"])] = json.dumps({"Value": value}).encode()
    return files


@dataclass(frozen=True)
class StorageSource:
    """Where Vault's storage is read from: `name` for messages, `read` for one full read."""

    kind: str  # file | s3
    name: str
    read: Callable[[], dict[str, bytes]]
    setting: str = "SPROCKET_VAULT_STORAGE_DIR"  # what to fix when it is the wrong place


def storage_source(settings: Settings) -> StorageSource:
    cfg = settings.data
    if cfg.vault_storage_dir is not None:
        root = cfg.vault_storage_dir
        return StorageSource("file", str(root), lambda: read_storage(root))
    if cfg.vault_s3_bucket:
        from automation.backup.store import make_client

        client, bucket, prefix = (
            make_client(settings.backup),
            cfg.vault_s3_bucket,
            cfg.vault_s3_prefix,
        )
        name = f"s3://{bucket}/{prefix.strip('/')}"
        return StorageSource(
            "s3",
            name,
            lambda: read_s3_storage(client, bucket, prefix),
            "SPROCKET_VAULT_S3_BUCKET and SPROCKET_VAULT_S3_PREFIX",
        )
    raise BadInput(
        "no Vault storage is configured",
        "set SPROCKET_VAULT_STORAGE_DIR (the vault-data volume's mountpoint) or "
        "SPROCKET_VAULT_S3_BUCKET (prod's Spaces bucket)",
    )


def consistent_copy(
    source: StorageSource, attempts: int = COPY_ATTEMPTS
) -> tuple[dict[str, bytes], int]:
    """Read until two reads in a row agree; (files, reads taken). A read during which a file
    vanished (StorageChanged) agrees with nothing: it is read again. BackupFailed (exit 6),
    naming the last file that vanished, when no two reads in `attempts` + 1 agree."""
    vanished: list[str] = []

    def read() -> dict[str, bytes] | None:
        try:
            return source.read()
        except StorageChanged as exc:
            vanished.append(exc.path)
            return None

    previous = read()
    for reads in range(2, attempts + 2):
        current = read()
        if current is not None and current == previous:
            return current, reads
        previous = current
    gone = f" ({vanished[-1]} vanished while it was read)" if vanished else ""
    raise BackupFailed(
        f"Vault's storage in {source.name} changed during each of {attempts + 1} reads{gone}: "
        "no consistent copy; nothing was stored",
        "back up in a quieter minute, or stop writes to Vault for the copy",
    )


def seal_config(files: dict[str, bytes], source: StorageSource | None = None) -> dict[str, Any]:
    """Vault's seal configuration (shares, threshold), stored unencrypted by design."""
    raw = files.get(SEAL_CONFIG)
    if raw is None:
        where, setting = (
            (f" at {source.name}", source.setting) if source else ("", StorageSource.setting)
        )
        raise BadInput(
            f"Vault's storage{where} has no {SEAL_CONFIG}: it was never initialised",
            f"run `vault operator init` first, or point {setting} elsewhere",
        )
    try:
        value = json.loads(raw)["Value"]
        config: dict[str, Any] = json.loads(base64.b64decode(value))
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise BadInput(f"Vault's {SEAL_CONFIG} cannot be read ({exc})") from None
    return config


def pack_storage(files: dict[str, bytes], facts: dict[str, Any]) -> bytes:
    manifest = {**facts, "files": {n: hashlib.sha256(b).hexdigest() for n, b in files.items()}}
    members = {MANIFEST: json.dumps(manifest, sort_keys=True).encode()}
    members.update({STORAGE + name: body for name, body in files.items()})
    buffer = io.BytesIO()
    with (
        gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as gz,
        tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar,
    ):
        for name, body in members.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(body), 0o600
            tar.addfile(info, io.BytesIO(body))
    return buffer.getvalue()


def unpack_storage(archive: bytes, dest: Path, source: str) -> int:
    """Check every file's hash against the manifest, write them under `dest`; file count."""
    try:
        with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
            members = {
                m.name: tar.extractfile(m).read()  # type: ignore[union-attr]
                for m in tar.getmembers()
                if m.isfile()
            }
        manifest = json.loads(members.pop(MANIFEST))
    except (tarfile.TarError, OSError, EOFError, KeyError, ValueError) as exc:
        raise BackupCorrupt(f"Vault backup {source} cannot be read: {exc}") from None
    expected: dict[str, str] = manifest.get("files") or {}
    stored = {name.removeprefix(STORAGE): body for name, body in members.items()}
    if set(stored) != set(expected):
        raise BackupCorrupt(f"Vault backup {source}: its files differ from its manifest's list")
    for name, body in stored.items():
        rel = PurePosixPath(name)
        if rel.is_absolute() or ".." in rel.parts:
            raise BackupCorrupt(f"Vault backup {source} holds an unsafe path {name!r}")
        if hashlib.sha256(body).hexdigest() != expected[name]:
            raise BackupCorrupt(f"file {name} in Vault backup {source} fails its SHA-256 check")
        path = dest / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body)
    return len(stored)


# --- backup ---------------------------------------------------------------------------------


def take(settings: Settings, env: Env, reason: str, *, store: BackupStore | None = None) -> Any:
    """Escrow check, consistent copy, upload with read-back, catalog; raises with nothing
    stored. Returns the DataRecord."""
    source = storage_source(settings)
    started = time.monotonic()
    files, reads = consistent_copy(source)
    config = seal_config(files, source)
    threshold = int(config.get("secret_threshold") or 0)
    total = int(config.get("secret_shares") or 0)
    escrow = read_escrow(settings.data.vault_escrow)
    present = len(escrow.shares)
    if present < threshold:
        raise BackupFailed(
            f"the unseal-key escrow holds {escrow.describe()}, fewer than Vault's threshold "
            f"{threshold} (of {total}): such a backup could never be unsealed; nothing was stored",
            "put enough shares in the escrow (SPROCKET_VAULT_ESCROW), then back up again",
        )
    store = store or BackupStore.from_settings(settings.backup)
    backup_id, created = data.new_id()
    facts = {
        "storage": source.kind,
        "files": len(files),
        "reads": reads,
        "threshold": threshold,
        "shares": total,
        "escrow_shares": present,
    }
    archive = pack_storage(files, {**facts, "backup_id": backup_id})
    key = store.archive_key(PROJECT_NAME, data.data_stack(env, KIND), backup_id)
    stored = store.upload_verified(key, archive, {"backup-id": backup_id, "kind": KIND})
    facts["seconds"] = round(time.monotonic() - started, 2)
    return data.record_stored(store, env, KIND, backup_id, created, stored, facts, reason)


def escrow_report(settings: Settings) -> dict[str, Any]:
    """Counts only: the threshold from the storage, the shares in the escrow."""
    source = storage_source(settings)
    config = seal_config(source.read(), source)
    threshold = int(config.get("secret_threshold") or 0)
    present = escrow_shares(settings.data.vault_escrow)
    return {"escrow_shares": present, "threshold": threshold, "ok": present >= threshold > 0}


# --- restore into scratch -------------------------------------------------------------------


@dataclass
class ScratchVault:
    addr: str
    folder: Path
    process: subprocess.Popen[bytes]

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        import requests

        return requests.request(method, f"{self.addr}/v1/{path}", timeout=10, **kwargs)


@sigterm_interrupts()  # from the download on: the /tmp copy and the server go
def restore(
    settings: Settings,
    env: Env,
    backup_id: str | None,
    shares: list[str],
    *,
    keep: bool = False,
    store: BackupStore | None = None,
) -> dict[str, Any]:
    """Restore into a scratch Vault, unseal, read the check path. Report:
    {backup_id, sealed, kv: {path, found, keys}, seconds: {download, start, unseal, read, total},
    folder (when kept)}. Wrong shares: CredentialsError, the scratch Vault stopped and removed."""
    if not shares:
        raise BadInput(
            "no unseal-key shares given",
            "pass them on stdin or with --keys-file (one per line, or `operator init` JSON)",
        )
    store = store or BackupStore.from_settings(settings.backup)
    record = data.choose(store, env, KIND, backup_id)
    seconds: dict[str, float] = {}
    started = time.monotonic()
    archive = store.get_bytes(record.key)
    if hashlib.sha256(archive).hexdigest() != record.sha256:
        raise BackupCorrupt(
            f"Vault backup {record.backup_id} fails its SHA-256 check: nothing was restored",
            f"restore another one ({driver_command(env, 'backup', 'list', 'vault')})",
        )
    folder = Path(tempfile.mkdtemp(prefix="sprocket-vault-scratch-"))
    try:
        unpack_storage(archive, folder / "storage", record.backup_id)
        seconds["download"] = _lap(started, seconds)
        with _scratch_server(settings, folder) as vault:
            seconds["start"] = _lap(started, seconds)
            _unseal(vault, shares, record.backup_id)
            seconds["unseal"] = _lap(started, seconds)
            kv = _read_check_path(vault, shares, settings.data.vault_check_path)
            seconds["read"] = _lap(started, seconds)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    if not keep:
        shutil.rmtree(folder, ignore_errors=True)
    seconds["total"] = round(time.monotonic() - started, 2)
    return {
        "backup_id": record.backup_id,
        "backup_created": record.created,
        "sealed": False,
        "kv": kv,
        "seconds": seconds,
        "folder": str(folder) if keep else None,
    }


def _lap(started: float, seconds: dict[str, float]) -> float:
    return round(time.monotonic() - started - sum(seconds.values()), 2)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def _scratch_server(settings: Settings, folder: Path) -> Iterator[ScratchVault]:
    import requests

    addr = f"127.0.0.1:{_free_port()}"
    config = folder / "vault.hcl"
    config.write_text(
        f'storage "file" {{\n  path = "{folder / "storage"}"\n}}\n'
        f'listener "tcp" {{\n  address = "{addr}"\n  tls_disable = true\n}}\n'
        f'disable_mlock = true\napi_addr = "http://{addr}"\n'
    )
    binary = str(settings.data.vault_bin or "vault")
    log = (folder / "server.log").open("wb")
    try:
        process = subprocess.Popen(
            [binary, "server", f"-config={config}"], stdout=log, stderr=subprocess.STDOUT
        )
    except OSError as exc:
        log.close()
        raise BadInput(
            f"the Vault binary {binary} cannot be run ({exc.strerror or exc})",
            "install Vault or set SPROCKET_VAULT_BIN",
        ) from None
    vault = ScratchVault(f"http://{addr}", folder, process)

    def answers() -> tuple[bool | None, str]:
        if process.poll() is not None:
            raise DriverError(
                f"the scratch Vault exited {process.returncode} at start: "
                f"{(folder / 'server.log').read_text(errors='replace').strip()[-300:]}"
            )
        with contextlib.suppress(requests.ConnectionError):
            status = vault.request("GET", "sys/seal-status").status_code
            return (True if status == 200 else None), f"HTTP {status}"
        return None, "no connection"

    try:
        try:
            wait_until(answers, what="the scratch Vault", timeout_s=START_TIMEOUT_S, interval_s=0.2)
        except WaitTimeout as exc:
            raise DriverError(
                f"the scratch Vault did not answer within {START_TIMEOUT_S}s ({exc.last})"
            ) from None
        yield vault
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def _unseal(vault: ScratchVault, shares: list[str], backup_id: str) -> None:
    status = vault.request("GET", "sys/seal-status").json()
    if not status.get("initialized"):
        raise BackupCorrupt(f"Vault backup {backup_id} holds no initialised Vault")
    for number, share in enumerate(shares, start=1):
        answer = vault.request("PUT", "sys/unseal", json={"key": share})
        body = answer.json()
        if answer.status_code != 200:
            error = " ".join(body.get("errors") or [])
            if "valid hex or base64" in error:
                raise BadInput(
                    f"unseal share {number} is not a key share: the scratch Vault stays sealed",
                    "give the shares from `vault operator init`, one per line",
                )
            raise CredentialsError(
                f"the unseal shares given do not open Vault backup {backup_id}: it stays sealed",
                "use the shares of the Vault this backup was taken from (the escrow)",
            )
        if not body.get("sealed"):
            return
    raise CredentialsError(
        f"{len(shares)} unseal share(s) given, Vault needs {status.get('t')}: it stays sealed",
        "give as many shares as the threshold",
    )


def _read_check_path(vault: ScratchVault, shares: list[str], path: str) -> dict[str, Any]:
    """Read `path` (KV v2, else v1) with a root token made from the shares and revoked after."""
    token = _generate_root(vault, shares)
    headers = {"X-Vault-Token": token}
    try:
        mount, _, rest = path.strip("/").partition("/")
        answer = vault.request("GET", f"{mount}/data/{rest}", headers=headers)
        if answer.status_code == 404:
            answer = vault.request("GET", path.strip("/"), headers=headers)
        found = answer.status_code == 200
        payload = answer.json().get("data") or {} if found else {}
        values = payload.get("data") if isinstance(payload.get("data"), dict) else payload
        return {"path": path, "found": found, "keys": len(values or {})}
    finally:
        vault.request("POST", "auth/token/revoke-self", headers=headers)


def _generate_root(vault: ScratchVault, shares: list[str]) -> str:
    vault.request("DELETE", "sys/generate-root/attempt")
    attempt = vault.request("PUT", "sys/generate-root/attempt", json={}).json()
    otp, nonce = attempt["otp"], attempt["nonce"]
    answer: dict[str, Any] = {}
    for share in shares:
        answer = vault.request(
            "PUT", "sys/generate-root/update", json={"key": share, "nonce": nonce}
        ).json()
        if answer.get("complete"):
            break
    encoded = str(answer.get("encoded_token") or "")
    if not encoded:
        raise CredentialsError("the unseal shares given could not make a token to read with")
    raw = base64.b64decode(encoded + "=" * (-len(encoded) % 4))
    return bytes(a ^ b for a, b in zip(raw, otp.encode(), strict=False)).decode()
