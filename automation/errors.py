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


class Frozen(DriverError):
    """A mutating verb refused because its environment is frozen (automation/guard/freeze.py)."""

    code = ExitCode.FROZEN


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


# Raised by one room each, kept here so every exception declares its code in one tree.


class NoSuchStack(DriverError):
    """The stack has never been deployed on this backend (it has no checkpoint)."""


class PlanChanged(GateBlocked):
    """The program now plans steps the approved preview did not show."""


class RotationRefused(DriverError):
    """A rotation refused before any change (the stored value no longer works, no stack)."""

    code = ExitCode.CREDENTIALS


class RotationRolledBack(DriverError):
    """A rotation failed and was rolled back: the old value works everywhere again."""

    code = ExitCode.ROLLED_BACK


class DatabaseError(DriverError):
    """The admin connection failed or refused a statement (the message never holds a value)."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message, hint, code=ExitCode.ERROR)


class UpstreamOutputsMissing(DriverError):
    """A layer's upstream stack lacks outputs its program reads (deploy that first)."""

    code = ExitCode.ERROR


class ImportRefused(DriverError):
    """The engine refused a `stack import` (its whole reason is in the message)."""

    code = ExitCode.BAD_INPUT


class RestoreRefused(DriverError):
    """A checkpoint failed a check before `stack import`; nothing was imported."""

    code = ExitCode.BAD_INPUT


class RollbackFailed(DriverError):
    """A rollback could not complete: a person is needed."""

    code = ExitCode.ROLLBACK_FAILED


class BackupCorrupt(DriverError):
    """A backup fails its hash or cannot be read: restore another one."""

    code = ExitCode.BACKUP_FAILED


class NamesTaken(DriverError):
    """Objects a deploy's plan would create already exist on the Docker engine, outside the
    stack's state (automation/stack/taken.py); nothing was changed."""

    code = ExitCode.NAME_TAKEN
