"""Progress during long engine calls, fed from engine events.

On a terminal: one live rich line per stack (resources done of total, current step). Anywhere
else (CI, cron, --json): one plain line per finished resource step on stderr, so stdout stays
the result alone. Only URNs' short names and op names are shown: never inputs or outputs.
"""

from __future__ import annotations

import sys
import threading
import time
from types import TracebackType
from typing import Any, TextIO


def short_name(urn: str) -> str:
    return urn.rsplit("::", 1)[-1]


class Progress:
    """Callable as an `on_event` handler; use as a context manager around the engine call."""

    def __init__(
        self,
        stack: str,
        verb: str,
        *,
        total: int | None = None,
        stream: TextIO | None = None,
        live: bool | None = None,
        plain: bool = True,
    ) -> None:
        self.stack, self.verb, self.total = stack, verb, total
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty() if live is None else live
        self.plain = plain  # plain lines off the terminal; a preview's steps are its result
        self.done = 0
        self._finished: set[str] = set()  # a component reports outputs twice; count it once
        self.current = ""
        self._started = time.monotonic()
        self._lock = threading.Lock()
        self._display: Any = None
        self._task: Any = None

    def __enter__(self) -> Progress:
        if self.live:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
            from rich.progress import Progress as RichProgress

            self._display = RichProgress(
                TextColumn(f"{self.stack} {self.verb}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.description}"),
                TimeElapsedColumn(),
                console=Console(file=self.stream),
                transient=True,
            )
            self._display.__enter__()
            self._task = self._display.add_task("starting", total=self.total)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._display is not None:
            self._display.__exit__(exc_type, exc, tb)
        elif exc_type is None and self.done and self.plain:
            elapsed = time.monotonic() - self._started
            self.stream.write(
                f"{self.stack}: {self.verb} done, {self.done} steps in {elapsed:.1f}s\n"
            )

    def __call__(self, event: Any) -> None:
        pre = getattr(event, "resource_pre_event", None)
        out = getattr(event, "res_outputs_event", None)
        failed = getattr(event, "res_op_failed_event", None)
        with self._lock:
            if pre is not None and pre.metadata is not None:
                self._step_started(pre.metadata)
            elif out is not None and out.metadata is not None:
                self._step_finished(out.metadata, "")
            elif failed is not None and failed.metadata is not None:
                self._step_finished(failed.metadata, " FAILED")

    def _step_started(self, metadata: Any) -> None:
        op = getattr(metadata.op, "value", metadata.op)
        self.current = f"{op} {short_name(metadata.urn)}"
        if self._display is not None:
            self._display.update(self._task, description=self.current)

    def _step_finished(self, metadata: Any, suffix: str) -> None:
        if metadata.urn in self._finished:
            return
        self._finished.add(metadata.urn)
        self.done += 1
        op = getattr(metadata.op, "value", metadata.op)
        if self._display is not None:
            self._display.update(self._task, completed=self.done)
            return
        if op in ("same", "read") or not self.plain:
            return  # CI logs: changed resources only
        of_total = f"/{self.total}" if self.total else ""
        self.stream.write(
            f"{self.stack}: [{self.done}{of_total}] {op} {short_name(metadata.urn)}{suffix}\n"
        )
        self.stream.flush()
