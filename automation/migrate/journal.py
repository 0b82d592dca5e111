"""The record of a migration's completed steps: one JSON line per event, appended and synced.

`done` lines mark a step completed (with what rollback needs, e.g. a removed service's spec);
`undone` lines mark it rolled back. A line cut off or garbled (a crash mid-write, a hand edit)
is named in `damaged` and skipped: every step checks the engine before acting, so redoing one
whose line was lost is safe.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from automation.guard.records import append_record, read_records, records_dir
from automation.settings import Settings


def journal_path(settings: Settings, stack: str) -> Path:
    """Beside the backend with the stack locks (guard/records.py); created by the first record."""
    return records_dir(settings, "migrate") / f"{stack}.jsonl"


@dataclass
class Journal:
    path: Path
    completed: dict[str, dict[str, Any]] = field(default_factory=dict)  # step id -> record
    order: list[str] = field(default_factory=list)  # completion order of `completed`
    damaged: list[str] = field(default_factory=list)
    plan: list[dict[str, Any]] = field(default_factory=list)  # the steps of the latest apply
    started: set[str] = field(default_factory=set)  # steps begun and not completed
    # steps begun, not completed, and undone by a rollback since (`started` keeps them: a copy
    # begun is redone into an emptied volume)
    rolled_back: set[str] = field(default_factory=set)

    @classmethod
    def read(cls, path: Path) -> Journal:
        journal = cls(path)
        records, damaged = read_records(path, check=lambda r: (str(r["event"]), str(r["step"])))
        journal.damaged = [f"{path} line {number} is damaged: skipped" for number, _ in damaged]
        for record in records:
            journal._apply(record["event"], record["step"], record)
        return journal

    def _apply(self, event: str, step: str, record: dict[str, Any]) -> None:
        if event == "plan":
            self.plan = list(record.get("steps") or [])
        elif event == "started":
            self.started.add(step)
            self.rolled_back.discard(step)
        elif event == "done":
            self.started.discard(step)
            self.completed[step] = record
            if step in self.order:
                self.order.remove(step)
            self.order.append(step)
        elif event == "undone":
            self.rolled_back.add(step)
            self.completed.pop(step, None)
            if step in self.order:
                self.order.remove(step)

    def _append(self, record: dict[str, Any]) -> None:
        append_record(self.path, record)  # fsync'd; after a cut-off line, on a line of its own

    def start(self, steps: list[dict[str, Any]]) -> None:
        """Record the steps an apply is about to run (a resumed apply runs these)."""
        record = {"event": "plan", "step": "plan", "at": time.time(), "steps": steps}
        self._append(record)
        self._apply("plan", "plan", record)

    def begin(self, step: str) -> None:
        """Mark a step begun (a copy's target content is then known to be the migration's)."""
        record = {"event": "started", "step": step, "at": time.time()}
        self._append(record)
        self._apply("started", step, record)

    def done(self, step: str, **data: Any) -> None:
        record = {"event": "done", "step": step, "at": time.time(), **data}
        self._append(record)
        self._apply("done", step, record)

    def undone(self, step: str) -> None:
        record = {"event": "undone", "step": step, "at": time.time()}
        self._append(record)
        self._apply("undone", step, record)

    def ours(self, step: str) -> bool:
        """Whether what `step` wrote (a copy's target volume) is this migration's own: begun by
        a run that was cut off, or done and then rolled back (the old service got its data
        back, so the program's volume holds a stale copy of it, to be emptied and redone)."""
        return step in self.started or step in self.rolled_back

    def in_reverse(self) -> list[tuple[str, dict[str, Any]]]:
        return [(s, self.completed[s]) for s in reversed(self.order)]
