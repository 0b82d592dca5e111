"""Rollout progress: service by service, tasks running of desired.

On a terminal: a live rich table, one row per service. Anywhere else (CI, cron, --json): one
plain line on stderr each time a service's state changes, so stdout keeps the result alone.
"""

from __future__ import annotations

import sys
import time
from types import TracebackType
from typing import Any, TextIO

from automation.swarm_watch import Convergence, Phase

_STYLE = {
    Phase.CONVERGING: "yellow",
    Phase.CONVERGED: "cyan",
    Phase.COMPLETED: "green",
    Phase.FAILED: "bold red",
}


class RolloutDisplay:
    def __init__(self, *, stream: TextIO | None = None, live: bool | None = None) -> None:
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty() if live is None else live
        self._started = time.monotonic()
        self._rows: dict[str, Convergence] = {}
        self._title = ""
        self._live: Any = None

    def __enter__(self) -> RolloutDisplay:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop_live()

    def step(self, text: str) -> None:
        """A phase of the rollout: "recorded release ...", "applying ...", "rolling back ..."."""
        self._stop_live()
        self._line(text)

    def watching(self, title: str, services: list[str]) -> None:
        self._title, self._rows = title, {}
        if self.live:
            from rich.console import Console
            from rich.live import Live

            self._live = Live(console=Console(file=self.stream), transient=False)
            self._live.__enter__()
        else:
            self._line(f"{title}: {', '.join(services)}")

    def service(self, name: str, conv: Convergence) -> None:
        self._rows[name] = conv
        if self._live is not None:
            self._live.update(self._table())
            return
        errors = f"; task errors: {' | '.join(conv.task_errors)}" if conv.task_errors else ""
        self._line(f"{name}: {conv.summary()}{errors}")

    def _table(self) -> Any:
        from rich.table import Table

        table = Table(title=self._title, title_justify="left")
        for column in ("service", "state", "tasks", "update", "detail"):
            table.add_column(column)
        for name, conv in self._rows.items():
            detail = conv.message or (conv.task_errors[0] if conv.task_errors else "")
            table.add_row(
                name,
                f"[{_STYLE[conv.phase]}]{conv.phase.value}[/]",
                f"{conv.running}/{conv.desired}",
                conv.update_state or "-",
                detail,
            )
        return table

    def _stop_live(self) -> None:
        if self._live is not None:
            self._live.__exit__(None, None, None)
            self._live = None

    def _line(self, text: str) -> None:
        self.stream.write(f"[{time.monotonic() - self._started:6.1f}s] {text}\n")
        self.stream.flush()
