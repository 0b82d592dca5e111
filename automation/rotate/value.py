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
    """A generated value (64 letters and digits), or the first line of stdin."""
    if not from_stdin:
        return "".join(secrets.choice(_ALPHABET) for _ in range(GENERATED_LENGTH))
    value = sys.stdin.readline().strip()
    if len(value) < MIN_LENGTH or any(ch.isspace() or ch in "'\"\\" for ch in value):
        raise BadInput(
            f"--value-stdin: the value read is not usable (at least {MIN_LENGTH} characters, "
            "no spaces or quotes)",
            "pipe one line, e.g. from your password manager",
        )
    return value
