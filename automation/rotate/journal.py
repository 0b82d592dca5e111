"""The rotation journal: where a rotation stands, so a killed one is finished by the next run.

One JSON file per rotation kind and target under the driver's `rotation/` records folder, beside
the backend and the stack locks (guard/records.py): a rotation killed on one ops host is found
and finished from another that shares the backend. It holds names and
steps only, never a value: until the new value is in the stack's config (`stored`) it exists
nowhere else, so an interrupted rotation before that step is rolled back; from `stored` on the
stack holds it, and the next run completes the rotation from there. A damaged file is named
and treated as "roll back" (the safe direction: the old credential is still valid then).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from automation.guard.records import records_dir, write_atomic
from automation.settings import Settings

# In order. A journal at PREPARED is rolled back; at STORED or later it is completed.
PREPARED, STORED, ROLLED, RETIRED = "prepared", "stored", "rolled", "retired"
STEPS = (PREPARED, STORED, ROLLED, RETIRED)


@dataclass(frozen=True)
class Entry:
    kind: str  # "db-password", "vault-token", "oauth"
    target: str  # the user, "vault", the provider
    old_ref: str  # what the old value belongs to (a login role, a token accessor)
    new_ref: str
    step: str = PREPARED
    started_at: float = field(default_factory=time.time)
    pid: int = field(default_factory=os.getpid)
    damaged: str = ""  # set when the file could not be read back

    def at(self, step: str) -> Entry:
        return replace(self, step=step)

    @property
    def value_stored(self) -> bool:
        return self.step in (STORED, ROLLED, RETIRED)


def path(settings: Settings, kind: str, target: str) -> Path:
    return records_dir(settings, "rotation") / f"{kind}-{target}.json"


def _per_machine_path(settings: Settings, kind: str, target: str) -> Path:
    """Where a driver before the shared records folder kept the journal (still read)."""
    return settings.state_dir / "rotation" / f"{kind}-{target}.json"


def read(settings: Settings, kind: str, target: str) -> Entry | None:
    """The unfinished rotation of this kind and target, if any."""
    file = path(settings, kind, target)
    if not file.exists():
        file = _per_machine_path(settings, kind, target)
    if not file.exists():
        return None
    try:
        data = json.loads(file.read_text())
        entry = Entry(**data)
        if entry.step not in STEPS:
            raise ValueError(f"unknown step {entry.step!r}")
        return entry
    except (OSError, ValueError, TypeError) as exc:
        return Entry(kind, target, "", "", damaged=f"{file} is damaged ({exc})")


def write(settings: Settings, entry: Entry) -> None:
    """Atomically: a kill mid-write leaves the previous step, never half a file."""
    write_atomic(path(settings, entry.kind, entry.target), json.dumps(asdict(entry), indent=2))
    _per_machine_path(settings, entry.kind, entry.target).unlink(missing_ok=True)


def clear(settings: Settings, entry: Entry) -> None:
    path(settings, entry.kind, entry.target).unlink(missing_ok=True)
    _per_machine_path(settings, entry.kind, entry.target).unlink(missing_ok=True)
