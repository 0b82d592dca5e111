"""The driver's exit codes: one table, documented in every command's --help and in README.md.

"Changes present" is never the same code as "failed": CI can tell them apart.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    ERROR = 1
    CHANGES_PRESENT = 2
    GATE_BLOCKED = 3
    LOCKED = 4
    PENDING_OPERATIONS = 5
    BACKUP_FAILED = 6
    ROLLED_BACK = 7
    ROLLBACK_FAILED = 8
    CREDENTIALS = 9
    DRIFT_DETECTED = 10
    HEALTH_WARNING = 11
    HEALTH_CRITICAL = 12
    SECRETS_INCOMPLETE = 13
    NOT_CONVERGED = 14
    FROZEN = 15
    NAME_TAKEN = 16
    BAD_INPUT = 64
    INTERRUPTED = 130


MEANINGS: dict[ExitCode, str] = {
    ExitCode.OK: "success; for preview: no changes",
    ExitCode.ERROR: "engine or program error (the message says which)",
    ExitCode.CHANGES_PRESENT: "preview found changes (not a failure)",
    ExitCode.GATE_BLOCKED: "the preview gate blocked a change (allow it by URN to proceed)",
    ExitCode.LOCKED: "another driver command or pulumi update holds the stack's lock",
    ExitCode.PENDING_OPERATIONS: "the stack has pending operations from an interrupted update",
    ExitCode.BACKUP_FAILED: "backup, upload or verification failed; nothing was stored",
    ExitCode.ROLLED_BACK: "rollout failed and the release was rolled back",
    ExitCode.ROLLBACK_FAILED: "rollout failed and the rollback failed too: a person is needed now",
    ExitCode.CREDENTIALS: "missing or wrong credentials or passphrase",
    ExitCode.DRIFT_DETECTED: "resources were changed outside Pulumi",
    ExitCode.HEALTH_WARNING: "health check found warnings",
    ExitCode.HEALTH_CRITICAL: "health check found critical problems",
    ExitCode.SECRETS_INCOMPLETE: "the passphrase opens some of the state's secrets but not all "
    "(a wrong passphrase is 9)",
    ExitCode.NOT_CONVERGED: "applied, but services did not converge (each is named with Swarm's "
    "reason; fix it and deploy again)",
    ExitCode.FROZEN: "the environment is frozen (`freeze`): the message says who froze it, when "
    "and why; `unfreeze`, or --force-frozen REASON for one audited run",
    ExitCode.NAME_TAKEN: "objects the plan would create already exist on the Docker engine, "
    "outside this stack's state (each named with its owner); nothing was changed",
    ExitCode.BAD_INPUT: "bad input: unknown name, malformed file or option",
    ExitCode.INTERRUPTED: "interrupted (Ctrl-C or SIGTERM); an engine run is cancelled cleanly",
}


def exit_status_help() -> str:
    """The EXIT STATUS block appended to every command's --help."""
    rows = "\n".join(f"  {int(code):>3}  {MEANINGS[code]}" for code in ExitCode)
    return f"\b\nEXIT STATUS\n{rows}"
