"""The driver's durable records, written and read back one way.

Every record the driver keeps for a later run (the audit log, the rotation and migration
journals, release records, the lock's heartbeat, the stack config it writes) uses these:

- ``records_dir(settings, kind)``: the folder of one kind of record, beside the backend
  (guard/driver_state.py), so every machine sharing the backend sees the same records as the
  stack locks they pair with. A journal on one ops host is the journal on every other.
- ``write_atomic(path, text)``: a whole-file record replaced at once (scratch file in the same
  folder, fsync, rename): a reader or a crash sees the old content or the new, never half.
- ``append_record(path, record)``: one JSON line appended and fsync'd; after a line cut off
  mid-write (a crash), the new record starts on a line of its own instead of joining the damage.
- ``read_records(path)``: ``(records, damaged)``, the readable lines and the line numbers (with
  the reason) of those that are not a record, for the caller to name and skip.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from automation.guard.driver_state import driver_dir
from automation.settings import Settings


def records_dir(settings: Settings, kind: str) -> Path:
    """`<driver_dir>/<kind>/`: where this kind of record lives for this backend (created by the
    first write, not by asking for the path)."""
    return driver_dir(settings) / kind


def write_atomic(path: Path, text: str | bytes, *, mode: int = 0o600) -> None:
    """Replace `path` with `text` at once (its folder created if need be)."""
    data = text.encode() if isinstance(text, str) else text
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    scratch = Path(name)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        scratch.chmod(mode)
        scratch.replace(path)
    except BaseException:
        scratch.unlink(missing_ok=True)
        raise
    _sync_dir(path.parent)


def append_record(path: Path, record: dict[str, Any], *, mode: int = 0o644) -> None:
    """Append one JSON line and fsync it; a cut-off last line is ended first."""
    line = (json.dumps(record, sort_keys=True, default=str) + "\n").encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, mode)
    try:
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            line = b"\n" + line
        os.write(fd, line)
        os.fsync(fd)
    finally:
        os.close(fd)


def read_records(
    path: Path, *, check: Callable[[dict[str, Any]], object] | None = None
) -> tuple[list[dict[str, Any]], list[tuple[int, str]]]:
    """The JSON-object lines of `path` (oldest first) and `(line number, reason)` for each other
    non-empty line. `check` (a schema) may refuse a record by raising KeyError, TypeError or
    ValueError: it is then damaged too. A missing file has neither."""
    if not path.exists():
        return [], []
    records: list[dict[str, Any]] = []
    damaged: list[tuple[int, str]] = []
    for number, line in enumerate(path.read_bytes().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
            if not isinstance(entry, dict):
                raise ValueError(f"a JSON {type(entry).__name__}, not a record")
            if check is not None:
                check(entry)
        except (KeyError, TypeError, ValueError) as exc:  # JSONDecodeError, UnicodeDecodeError
            damaged.append((number, str(exc)))
            continue
        records.append(entry)
    return records, damaged


def _sync_dir(folder: Path) -> None:
    """The rename itself survives a power cut only once the folder is synced (POSIX)."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
