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


def live_bar(stream: TextIO, label: str, first: str, total: int | None) -> tuple[Any, Any]:
    """A started, transient rich bar: LABEL [bar] done/total description elapsed; returns the
    display (exit it when done) and its task."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
    from rich.progress import Progress as RichProgress

    display = RichProgress(
        TextColumn(label),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=Console(file=stream),
        transient=True,
    )
    display.__enter__()
    return display, display.add_task(first, total=total)


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
            self._display, self._task = live_bar(
                self.stream, f"{self.stack} {self.verb}", "starting", self.total
            )
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


class ConvergenceProgress:
    """Swarm services converging after an apply: an ``on_change(name, Convergence)`` handler.

    On a terminal: one live line (services converged of total, the slowest one's state).
    Anywhere else: a plain line on stderr each time a service reaches a verdict or a new state.
    """

    def __init__(
        self,
        stack: str,
        services: list[str],
        *,
        stream: TextIO | None = None,
        live: bool | None = None,
    ) -> None:
        self.stack, self.services = stack, services
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty() if live is None else live
        self.states: dict[str, Any] = {}
        self._started = time.monotonic()
        self._display: Any = None
        self._task: Any = None

    def __enter__(self) -> ConvergenceProgress:
        if self.live:
            self._display, self._task = live_bar(
                self.stream, f"{self.stack} services", "waiting", len(self.services)
            )
        else:
            self._line(f"waiting for {len(self.services)} services to converge")
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._display is not None:
            self._display.__exit__(exc_type, exc, tb)
        if exc_type is None:
            done = sum(1 for c in self.states.values() if c.phase.value == "completed")
            self._line(f"{done}/{len(self.services)} services converged")

    def __call__(self, name: str, conv: Any) -> None:
        previous = self.states.get(name)
        self.states[name] = conv
        if self._display is not None:
            done = sum(1 for c in self.states.values() if c.done)
            self._display.update(self._task, completed=done, description=self._slowest())
        elif self._worth_a_line(previous, conv):
            self._line(f"{name}: {conv.summary()}")

    @staticmethod
    def _worth_a_line(previous: Any, conv: Any) -> bool:
        """A service's verdict, and a new state before it; `converged` (tasks run, Swarm's
        update status not yet `completed`) is the step just before the verdict: a log line for
        it would repeat each service."""
        if conv.done:
            return previous is None or not previous.done
        if conv.phase.value == "converged":
            return False
        return previous is None or previous.phase != conv.phase

    def _slowest(self) -> str:
        """The service furthest from converging (fewest running of desired), and its state."""
        waiting = [(n, c) for n, c in self.states.items() if not c.done]
        if not waiting:
            return ""
        name, conv = min(waiting, key=lambda item: item[1].running / max(item[1].desired, 1))
        return f"slowest: {name} {conv.summary()}"

    def _line(self, text: str) -> None:
        elapsed = time.monotonic() - self._started
        self.stream.write(f"{self.stack}: [{elapsed:5.1f}s] {text}\n")
        self.stream.flush()
