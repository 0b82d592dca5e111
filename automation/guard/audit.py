"""The append-only audit log: one JSON line per driver operation, next to the stacks.

Each record says who ran what on which stack, what it changed, how it ended and how long it took.
Writes are single ``write()`` calls on an O_APPEND file, so records from concurrent processes do
not interleave. Records never hold secret values: callers pass counts, URNs and codes only.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from automation.guard.driver_state import current_host, current_user, driver_dir
from automation.guard.records import append_record, read_records
from automation.settings import Settings

AUDIT_FILE = "audit.jsonl"


def audit_path(settings: Settings) -> Path:
    return driver_dir(settings) / AUDIT_FILE


def record_operation(
    settings: Settings,
    command: str,
    stack: str,
    exit_code: int,
    *,
    changes: dict[str, Any] | None = None,
    started: float | None = None,
    error: str = "",
    **details: Any,
) -> dict[str, Any]:
    """The one shape of an operation's record: command, stack, exit code and its name, changes,
    duration (from ``started``, a time.monotonic() value), the error if any, then ``details``."""
    from automation.exit_codes import ExitCode

    outcome = ExitCode(exit_code).name.lower() if exit_code in set(ExitCode) else "unknown"
    entry: dict[str, Any] = {
        "command": command,
        "stack": stack,
        "exit_code": int(exit_code),
        "outcome": outcome,
        "changes": changes or {},
    }
    if started is not None:
        entry["duration_s"] = round(time.monotonic() - started, 3)
    if error:
        entry["error"] = error
    return record(settings, {**entry, **details})


@dataclass
class AuditedRun:
    """What a block under ``audited`` reports for its record; ``exit_code`` is its result when
    it ends without an exception (0 unless the block says otherwise)."""

    exit_code: int = 0
    changes: dict[str, int] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)
    error: str = ""  # what failed, for a block that ends with a failing exit_code of its own


@contextlib.contextmanager
def audited(settings: Settings, command: str, stack: str, **details: Any) -> Iterator[AuditedRun]:
    """One record for the block, whatever happens in it: the block's ``exit_code`` when it
    ends; a DriverError's code and message; 130 on Ctrl-C; 1 and the exception's type for
    anything else. The exception itself goes on."""
    from automation.errors import DriverError
    from automation.exit_codes import ExitCode

    run, started = AuditedRun(details=dict(details)), time.monotonic()
    code, error = int(ExitCode.ERROR), ""
    try:
        yield run
        code = run.exit_code
    except DriverError as exc:
        code, error = int(exc.code), exc.message
        raise
    except KeyboardInterrupt:
        code, error = int(ExitCode.INTERRUPTED), "interrupted"
        raise
    except BaseException as exc:
        error = type(exc).__name__
        raise
    finally:
        record_operation(
            settings, command, stack, code, changes=run.changes, started=started,
            error=error or run.error, **run.details,
        )  # fmt: skip


def record(settings: Settings, entry: dict[str, Any]) -> dict[str, Any]:
    """Append one record; time, user, host, pid and CI run URL are filled in when missing."""
    full: dict[str, Any] = {
        "time": datetime.now(UTC).isoformat(timespec="seconds"),
        "user": current_user(),
        "host": current_host(),
        "pid": os.getpid(),
        **_ci_fields(),
        **entry,
    }
    append_record(audit_path(settings), full)  # fsync'd; a cut-off last line is ended first
    return full


def read(settings: Settings, stack: str | None = None) -> list[dict[str, Any]]:
    """All readable records (oldest first), optionally of one stack."""
    return read_log(settings, stack)[0]


def read_log(
    settings: Settings, stack: str | None = None
) -> tuple[list[dict[str, Any]], list[str]]:
    """(records, damaged): the readable records, oldest first, and one line per line of the
    log that is not a record (a torn write, a hand edit), named by number and skipped."""
    path = audit_path(settings)
    records, damaged = read_records(path)
    return (
        [entry for entry in records if stack is None or entry.get("stack") == stack],
        [
            f"audit log {path} line {number} cannot be read ({why}); skipped"
            for number, why in damaged
        ],
    )


def _ci_fields() -> dict[str, str]:
    """The CI run URL and git SHA when running under GitHub Actions."""
    env = os.environ
    fields = {}
    if env.get("GITHUB_RUN_ID") and env.get("GITHUB_REPOSITORY"):
        server = env.get("GITHUB_SERVER_URL", "https://github.com")
        fields["ci_run"] = (
            f"{server}/{env['GITHUB_REPOSITORY']}/actions/runs/{env['GITHUB_RUN_ID']}"
        )
    if env.get("GITHUB_SHA"):
        fields["git_sha"] = env["GITHUB_SHA"]
    return fields
