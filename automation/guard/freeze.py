"""The deploy freeze: one environment's mutating verbs refused until `unfreeze` (Kamal's
`lock acquire -m`), for a tournament, an incident, a change window.

The freeze is one JSON file per environment, ``<records_dir>/freeze/<env>.json``
(guard/records.py), beside the stack locks on the backend: every ops host sharing the backend
sees the same freeze. It holds the message, who froze it (user, host) and when, and optionally
until when (``--until``); past that time it has expired and nothing is refused.

`refuse_if_frozen(ctx, command, details)` is called by every mutating verb inside its audit
record (guard/operation.py guarded() and data_guarded() for restores, rotate, node
drain/activate), so a refusal is recorded like a held lock. It raises `Frozen` (exit 15) naming
the message, who and when. With ``--force-frozen REASON`` (``ctx.force_frozen``) the run goes on
and ``details["force_frozen"]`` keeps the reason and the freeze it passed, for the audit log.
Not refused: what only reads or takes backups (preview, drift, health, backup, backup verify,
backup prune, drill): the scheduled jobs keep running during a freeze.

A freeze file that cannot be read (a torn write, a hand edit) counts as a freeze: the file is
named and the verb refused. Failing open would let a deploy through a tournament freeze whose
file was damaged; failing closed costs one `unfreeze` (which removes any file) or one
``--force-frozen REASON``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError, field_validator

from automation.context import Context
from automation.errors import BadInput, Frozen
from automation.guard.driver_state import current_host, current_user
from automation.guard.records import records_dir, write_atomic
from automation.settings import Settings

FREEZE_KIND = "freeze"
# The verbs a freeze refuses, each with --force-frozen (automation/cli.py adds it to these).
FROZEN_VERBS = frozenset(
    {
        "deploy", "refresh", "destroy", "rollout", "rollback", "scale",
        "restore layer", "restore db", "restore vault",
        "migrate apply", "migrate rollback", "migrate finish",
        "rotate db-password", "rotate vault-token", "rotate oauth",
        "node drain", "node activate",
    }
)  # fmt: skip


class FreezeRecord(BaseModel):
    """The freeze file's content: `until` None means until `unfreeze`."""

    env: str
    message: str
    user: str
    host: str
    since: datetime
    until: datetime | None = None

    @field_validator("since", "until")
    @classmethod
    def _utc_when_naive(cls, value: datetime | None) -> datetime | None:
        # A hand-edited time without a zone is UTC, as --until's is: compared with the aware
        # now it raised TypeError in every verb that reads the freeze.
        return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value

    def active(self, now: datetime) -> bool:
        return self.until is None or now < self.until

    def describe(self) -> str:
        until = f" until {_iso(self.until)}" if self.until else " until unfrozen"
        return f"{self.message!r} (frozen by {self.user}@{self.host} at {_iso(self.since)}{until})"


@dataclass(frozen=True)
class FreezeState:
    """What the freeze file says now: `record` (None when there is no file or it is damaged),
    `damaged` (why the file cannot be read, or ""), `path`."""

    path: Path
    record: FreezeRecord | None = None
    damaged: str = ""

    def frozen(self, now: datetime) -> bool:
        return bool(self.damaged) or (self.record is not None and self.record.active(now))

    def describe(self) -> str:
        if self.damaged:
            return f"freeze file {self.path} cannot be read ({self.damaged}); treated as frozen"
        assert self.record is not None
        return self.record.describe()

    def as_dict(self, now: datetime) -> dict[str, Any] | None:
        """For `stacks` and `freeze`'s JSON: None when not frozen (no file, or expired)."""
        if not self.frozen(now):
            return None
        if self.damaged:
            return {"damaged": self.damaged, "path": str(self.path)}
        assert self.record is not None
        return {**self.record.model_dump(mode="json"), "path": str(self.path)}


def freeze_path(settings: Settings, env: str) -> Path:
    return records_dir(settings, FREEZE_KIND) / f"{env}.json"


def read_freeze(settings: Settings, env: str) -> FreezeState:
    """The freeze of `env` as its file says (no file: not frozen; unreadable: damaged)."""
    path = freeze_path(settings, env)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return FreezeState(path)
    except OSError as exc:
        return FreezeState(path, damaged=exc.strerror or str(exc))
    try:
        return FreezeState(path, FreezeRecord.model_validate_json(raw))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "file"
        return FreezeState(path, damaged=f"{where}: {first.get('msg', 'invalid')}")


def parse_until(text: str, now: datetime) -> datetime:
    """`--until`: an RFC 3339 time (`2026-12-08T18:00Z`; no zone is UTC) or a duration from
    now (`90m`, `6h`, `2d`). BadInput names the text; a time not after `now` is refused."""
    from automation.times import parse_duration, parse_time

    try:
        duration = parse_duration(text, units="mhd")
        until = now + duration if duration is not None else parse_time(text).astimezone(UTC)
    except OverflowError:
        raise BadInput(
            f"--until {text!r} is further off than a calendar can say",
            "pass a shorter duration, or leave --until out to freeze until `unfreeze`",
        ) from None
    except ValueError:
        raise BadInput(
            f"--until {text!r} is neither a time nor a duration",
            "pass an RFC 3339 time such as 2026-12-08T18:00Z, or a duration such as 6h or 2d",
        ) from None
    if until <= now:
        raise BadInput(
            f"--until {text!r} ({_iso(until)}) is not in the future (now {_iso(now)})",
            "pass a later time, or leave --until out to freeze until `unfreeze`",
        )
    return until


def freeze(settings: Settings, env: str, message: str, until: datetime | None) -> FreezeRecord:
    """Write the freeze (replacing any earlier one: the newest message and author win)."""
    if not message.strip():
        raise BadInput("--message is empty", "say why, e.g. --message 'tournament until 18:00'")
    record = FreezeRecord(
        env=env,
        message=message.strip(),
        user=current_user(),
        host=current_host(),
        since=datetime.now(UTC).replace(microsecond=0),
        until=until,
    )
    write_atomic(freeze_path(settings, env), record.model_dump_json(indent=2), mode=0o644)
    return record


def unfreeze(settings: Settings, env: str) -> FreezeState:
    """Remove the freeze file (a damaged one too); returns what it said before."""
    state = read_freeze(settings, env)
    state.path.unlink(missing_ok=True)
    return state


def refuse_if_frozen(ctx: Context, command: str, details: dict[str, Any]) -> None:
    """Raise Frozen when `ctx.env` is frozen, unless `ctx.force_frozen` gives a reason: then
    `details["force_frozen"]` records it (the audit record's details) and the run goes on."""
    from automation.hints import driver_command

    now = datetime.now(UTC)
    state = read_freeze(ctx.settings, ctx.env.value)
    if not state.frozen(now):
        return
    if ctx.force_frozen:
        details["force_frozen"] = {"reason": ctx.force_frozen, "freeze": state.as_dict(now)}
        return
    raise Frozen(
        f"{command} refused: {ctx.env.value} is frozen: {state.describe()}",
        f"wait for the freeze to end, or {driver_command(ctx.env, 'unfreeze')}; to run this one "
        "command anyway add --force-frozen REASON (the audit log keeps the reason)",
    )


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
