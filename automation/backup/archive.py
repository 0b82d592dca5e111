"""One backup = one gzipped tar: the ciphertext state export, the stack config, the manifest.

Every member's SHA-256 is in the manifest and the archive's own SHA-256 is in the catalog and the
object metadata, so a flipped byte anywhere is caught and named before anything is restored.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import tarfile
from dataclasses import replace

from automation.backup.manifest import MANIFEST_NAME, Manifest
from automation.errors import BackupCorrupt

COMPRESS_LEVEL = 6  # gzip's default; level 9 costs ~3x the time for ~2% on JSON state


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def pack(files: dict[str, bytes], manifest: Manifest) -> tuple[bytes, Manifest]:
    """The archive bytes and the manifest (with every member's hash) it carries."""
    manifest = replace(manifest, files={name: sha256(data) for name, data in sorted(files.items())})
    members = {MANIFEST_NAME: manifest.to_json(), **files}
    buffer = io.BytesIO()
    # mtime=0 and fixed member metadata: the same inputs make the same bytes.
    with (
        gzip.GzipFile(fileobj=buffer, mode="wb", compresslevel=COMPRESS_LEVEL, mtime=0) as gz,
        tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar,
    ):
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o600
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue(), manifest


def unpack(
    archive: bytes, *, source: str, expected_sha256: str | None
) -> tuple[Manifest, dict[str, bytes]]:
    """Check the archive's hash, then every member's against the manifest; name what is wrong."""
    actual = sha256(archive)
    if expected_sha256 is not None and actual != expected_sha256:
        raise BackupCorrupt(
            f"backup archive {source} fails its SHA-256 check "
            f"(expected {expected_sha256[:16]}..., got {actual[:16]}...)",
            "it was altered or damaged in storage: restore from another backup of this stack",
        )
    try:
        members = _read_members(archive)
        manifest = Manifest.from_json(members.pop(MANIFEST_NAME))
    except (tarfile.TarError, OSError, EOFError, KeyError, ValueError, TypeError) as exc:
        raise BackupCorrupt(
            f"backup archive {source} cannot be read: {exc}",
            "restore from another backup of this stack",
        ) from None
    for name, expected in manifest.files.items():
        if name not in members:
            raise BackupCorrupt(f"backup archive {source} lacks {name} listed in its manifest")
        if sha256(members[name]) != expected:
            raise BackupCorrupt(
                f"file {name} in backup archive {source} fails its SHA-256 check",
                "the archive was altered: restore from another backup of this stack",
            )
    extra = sorted(set(members) - set(manifest.files))
    if extra:
        raise BackupCorrupt(f"backup archive {source} holds files not in its manifest: {extra}")
    return manifest, members


def _read_members(archive: bytes) -> dict[str, bytes]:
    members: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        for info in tar.getmembers():
            if not info.isfile() or "/" in info.name or info.name.startswith("."):
                raise ValueError(f"unexpected member {info.name!r}")
            handle = tar.extractfile(info)
            assert handle is not None
            members[info.name] = handle.read()
    return members
