"""Results and the one place that prints them: a human view, or a versioned JSON envelope.

Commands build a Result and never print it themselves. The envelope's shape is pinned by
automation/schema/result.schema.json.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from automation.exit_codes import ExitCode

SCHEMA_VERSION = 1


@dataclass(frozen=True)
class Result:
    command: str
    exit_code: ExitCode
    data: dict[str, Any] = field(default_factory=dict)
    errors: list[dict[str, str]] = field(default_factory=list)
    # Human view of `data`; the JSON view never goes through it.
    human: Callable[[dict[str, Any]], str] | None = None

    @property
    def status(self) -> str:
        if self.exit_code in (ExitCode.OK, ExitCode.CHANGES_PRESENT):
            return "success"
        return "error"

    def envelope(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "command": self.command,
            "status": self.status,
            "exit_code": int(self.exit_code),
            "data": self.data,
            "errors": self.errors,
        }


def emit(result: Result, *, json_output: bool) -> None:
    if json_output:
        sys.stdout.write(
            json.dumps(result.envelope(), indent=2, sort_keys=True, default=str) + "\n"
        )
        return
    if result.human is not None:
        text = result.human(result.data)
        if text:
            sys.stdout.write(text.rstrip("\n") + "\n")
    for error in result.errors:
        hint = f" ({error['hint']})" if error.get("hint") else ""
        sys.stderr.write(f"error: {error['message']}{hint}\n")
