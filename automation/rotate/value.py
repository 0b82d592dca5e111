"""A rotation's new value: generated here, or given on stdin (never an argument: argv is
visible to every user of the machine in `ps`)."""

from __future__ import annotations

import secrets
import string
import sys

from automation.errors import BadInput

_ALPHABET = string.ascii_letters + string.digits  # as layer_2/credentials.py: no escaping needed
GENERATED_LENGTH = 64
MIN_LENGTH = 16


def new_value(from_stdin: bool) -> str:
    """A generated value (64 letters and digits), or the one line given on stdin (BadInput if
    it is short, holds spaces or quotes, or more lines follow: never cut to its first line)."""
    if not from_stdin:
        return "".join(secrets.choice(_ALPHABET) for _ in range(GENERATED_LENGTH))
    value = sys.stdin.readline().strip()
    # A terminal ends the value at Enter; a pipe must hold nothing after that line.
    more = "" if sys.stdin.isatty() else sys.stdin.read().strip()
    if more or len(value) < MIN_LENGTH or any(ch.isspace() or ch in "'\"\\" for ch in value):
        raise BadInput(
            f"--value-stdin: the value read is not usable (one line, at least {MIN_LENGTH} "
            "characters, no spaces or quotes)",
            "pipe one line, e.g. from your password manager",
        )
    return value
