"""The driver's exceptions. Each carries its exit code and a hint that says what to do."""

from __future__ import annotations

from typing import Any

from automation.exit_codes import ExitCode


class DriverError(Exception):
    code: ExitCode = ExitCode.ERROR

    def __init__(self, message: str, hint: str = "", *, code: ExitCode | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        if code is not None:
            self.code = code

    def one_line(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class BadInput(DriverError):
    code = ExitCode.BAD_INPUT


class ConfigMissing(BadInput):
    """A stack lacks required config: bad input of that stack alone, so `preview all` still
    reports the other layers (a typo in the command line stops them all)."""


class CredentialsError(DriverError):
    code = ExitCode.CREDENTIALS


class GateBlocked(DriverError):
    code = ExitCode.GATE_BLOCKED


class StackLocked(DriverError):
    code = ExitCode.LOCKED


class PendingOperations(DriverError):
    code = ExitCode.PENDING_OPERATIONS


class BackupFailed(DriverError):
    code = ExitCode.BACKUP_FAILED


class SecretsIncomplete(DriverError):
    code = ExitCode.SECRETS_INCOMPLETE


class Interrupted(DriverError):
    """Ctrl-C. ``partial`` is what the verb had seen so far (e.g. a stack's outcome whose apply
    finished before the wait was interrupted), so the result still reports it."""

    code = ExitCode.INTERRUPTED
    partial: Any = None


class EngineFailedSilently(DriverError):
    """The engine exited non-zero and said nothing (empty stderr): there is no reason to show.
    What it did is read back from the stack's history and state (automation/guard/operation.py)."""


class MissingPlugin(DriverError):
    """A provider plugin the program needs is not installed (it cannot be fetched offline)."""


def unreadable(exc: Exception) -> str:
    """Why a file the driver wrote cannot be read back, in one line (pydantic's first error)."""
    from pydantic import ValidationError

    if isinstance(exc, ValidationError) and exc.errors():
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        return f"{where}: {first['msg']}" if where else str(first["msg"])
    return str(exc) or type(exc).__name__
