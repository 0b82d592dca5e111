"""Which verb results are sent: failures of what runs unattended, never routine outcomes.

One table. Not sent anywhere: bad input and Ctrl-C (a person is at the keyboard), a held
lock (the scheduled job runs again next time; crontab says so), and a freeze's refusal (exit 15:
refused before anything ran, to whoever ran it; no scheduled job is refused by a freeze).
"""

from __future__ import annotations

from collections.abc import Callable

from automation.exit_codes import ExitCode

_QUIET = {ExitCode.OK, ExitCode.CHANGES_PRESENT, ExitCode.BAD_INPUT, ExitCode.INTERRUPTED,
          ExitCode.LOCKED, ExitCode.FROZEN}  # fmt: skip


def _failed(code: ExitCode) -> bool:
    return code not in _QUIET


# verb name (as given to run_verb, or a cron job's name) -> does this exit code notify?
POLICY: dict[str, Callable[[ExitCode], bool]] = {
    "health": _failed,  # 11 warnings, 12 critical, 1 could not check
    "drift": _failed,  # 10 drift
    "backup": _failed,  # 6 backup failed
    "backup verify": _failed,
    "backup-verify": _failed,  # cron job names
    "backup prune": _failed,
    "backup-prune": _failed,
    "backup db": _failed,  # issue 19's scheduled database and Vault backups, and the drill
    "backup-db": _failed,
    "backup vault": _failed,
    "backup-vault": _failed,
    "drill": _failed,  # 1 a restore step failed
    "rollout": _failed,  # 7 rolled back, 8 rollback failed, 14 not converged
    # A deploy's other failures are seen by whoever ran it; services left unconverged are not.
    "deploy": lambda code: code is ExitCode.NOT_CONVERGED,
    "docker-cleanup": _failed,
}


def should_notify(verb: str, code: ExitCode) -> bool:
    rule = POLICY.get(verb)
    return rule is not None and rule(code)
