"""Driver commands as a hint prints them: exact, for the stack at hand, ready to copy.

A hint that names a command names it with `--env` (a hint for prod run as printed must not act
on local) and with `--yes` when the operator passed it (the command runs where they ran theirs,
in CI or cron as on a terminal). `tests/unit/test_hint_commands.py` parses every command a hint
names against the real CLI, so an option that does not exist cannot be suggested.
"""

from __future__ import annotations

from sprocket_common.stack_info import Env

PROG = "python -m automation"


def driver_command(env: Env | str, *words: str, yes: bool = False) -> str:
    """`python -m automation --env ENV [--yes] WORDS...`, in backticks."""
    flags = ["--env", Env(env).value, *(["--yes"] if yes else [])]
    return "`" + " ".join([PROG, *flags, *words]) + "`"
