"""The driver's exceptions. Each carries its exit code and a hint that says what to do."""

from __future__ import annotations

import re

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
    code = ExitCode.INTERRUPTED


class EngineFailedSilently(DriverError):
    """The engine exited non-zero and said nothing (empty stderr): there is no reason to show.
    What it did is read back from the stack's history and state (automation/guard/operation.py)."""


class MissingPlugin(DriverError):
    """A provider plugin the program needs is not installed (it cannot be fetched offline)."""


_MISSING_CONFIG = re.compile(r"Missing required configuration variable '([^']+)'")
_MISSING_PLUGIN = re.compile(r"no resource plugin 'pulumi-resource-([\w-]+)' found[^\n]*?(v[\d.]+)")


def unreadable(exc: Exception) -> str:
    """Why a file the driver wrote cannot be read back, in one line (pydantic's first error)."""
    from pydantic import ValidationError

    if isinstance(exc, ValidationError) and exc.errors():
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        return f"{where}: {first['msg']}" if where else str(first["msg"])
    return str(exc) or type(exc).__name__


def translate_engine_error(exc: BaseException, stack: str = "STACK") -> DriverError:
    """Map a pulumi.automation exception to a DriverError, keeping the engine's message."""
    from pulumi.automation import errors as auto_errors  # lazy: importing pulumi is slow

    text = str(exc)
    code, stderr = _command_result(exc, text)
    if code is not None and not stderr.strip() and "error:" not in text:
        # Nothing on stderr and no `error:` line on stdout either (a program's exception is
        # reported there): the engine really gave no reason.
        return EngineFailedSilently(
            f"the Pulumi engine exited {code} without giving a reason (its stderr was empty)",
            "set SPROCKET_ENGINE_OUTPUT=1 and run it again for the engine's full output",
        )
    if isinstance(exc, auto_errors.ConcurrentUpdateError):
        return StackLocked(
            "the stack is locked by another update",
            "wait for it, or `python -m automation unlock LAYER` if it is stale",
        )
    if "passphrase" in text.lower() and "incorrect" in text.lower():
        return CredentialsError(
            "the passphrase does not decrypt this stack's secrets",
            "set PULUMI_CONFIG_PASSPHRASE (or _FILE) to the stack's passphrase",
        )
    missing_config = _MISSING_CONFIG.search(text)
    if missing_config:  # a key the driver's own check (automation/config_check.py) cannot know
        key = missing_config.group(1)
        secret = "--secret " if "--secret" in text else ""
        return BadInput(
            f"missing required configuration: {key}",
            f"set it: `pulumi config set {secret}{key} --stack {stack}`, then run this again",
        )
    missing_plugin = _MISSING_PLUGIN.search(text)
    if missing_plugin:
        name, version = missing_plugin.groups()
        return MissingPlugin(
            f"the {name} provider plugin {version} is not installed",
            "run scripts/install-plugins.sh (it downloads or builds it); "
            "see docs/provider-plugins.md",
        )
    if "pending operation" in text.lower() or ("interrupted" in text.lower() and "pending" in text):
        return PendingOperations(
            "the stack has pending operations from an interrupted update",
            "run the driver command again: it lists them and names the repair "
            "(`python -m automation unlock LAYER`, then "
            "`python -m automation refresh LAYER --clear-pending-creates`)",
        )
    return DriverError(
        _last_error_line(text),
        "set SPROCKET_ENGINE_OUTPUT=1 and run it again for the engine's full output",
    )


_COMMAND_RESULT = re.compile(r"\A\n code: (-?\d+)\n stdout: .*\n stderr: (.*)\Z", re.DOTALL)


def _command_result(exc: BaseException, text: str) -> tuple[str | None, str]:
    """(exit code, stderr) of a failed CLI run: pulumi.automation's CommandError text is
    `\\n code: N\\n stdout: ...\\n stderr: ...`; (None, "") for anything else."""
    from pulumi.automation import errors as auto_errors

    match = _COMMAND_RESULT.match(text)
    if not isinstance(exc, auto_errors.CommandError) or match is None:
        return None, ""
    return match.group(1), match.group(2)


def _last_error_line(text: str) -> str:
    for line in reversed(text.splitlines()):
        if "error:" in line:
            return line.strip()
    return text.strip().splitlines()[-1] if text.strip() else "the Pulumi engine failed"
