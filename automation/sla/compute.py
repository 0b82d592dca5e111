"""Uptime, error budget and incidents of one Gatus endpoint over a period, from its events.

Gatus records an event when an endpoint's state changes: START when it begins watching,
then HEALTHY or UNHEALTHY at each change (its `/api/v1/endpoints/{key}/statuses` answer,
newest last). Between two events the state is the earlier event's. Gatus keeps a bounded
number of events per endpoint, so the oldest kept one may be after the period began: time
before the first known state is not counted (`measured_minutes` says how much was), and the
service is marked `complete: false`.

Units: minutes (float), percentages 0-100.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from automation.sla.period import Period
from automation.times import parse_time

HEALTHY, UNHEALTHY, START = "HEALTHY", "UNHEALTHY", "START"


@dataclass(frozen=True)
class Incident:
    start: datetime
    end: datetime | None  # None: still down at the end of what Gatus has recorded
    minutes: float  # the part inside the period

    def as_json(self) -> dict[str, Any]:
        return {
            "start": _iso(self.start),
            "end": _iso(self.end) if self.end else None,
            "ongoing": self.end is None,
            "minutes": round(self.minutes, 2),
        }


@dataclass(frozen=True)
class ServiceSla:
    name: str
    group: str
    key: str
    target_pct: float
    period_minutes: float
    measured_minutes: float
    down_minutes: float
    incidents: list[Incident] = field(default_factory=list)
    history_from: datetime | None = None  # first known state inside the period, if late

    @property
    def uptime_pct(self) -> float | None:
        if self.measured_minutes <= 0:
            return None
        return 100.0 * (self.measured_minutes - self.down_minutes) / self.measured_minutes

    @property
    def budget_minutes(self) -> float:
        """Downtime the target allows over the whole period."""
        return self.period_minutes * (100.0 - self.target_pct) / 100.0

    @property
    def budget_left_minutes(self) -> float:
        return self.budget_minutes - self.down_minutes

    @property
    def met(self) -> bool:
        return self.budget_left_minutes >= 0

    @property
    def complete(self) -> bool:
        """Known for the whole period: history from its start (and any at all)."""
        return self.history_from is None and self.measured_minutes > 0

    def as_json(self) -> dict[str, Any]:
        uptime = self.uptime_pct
        return {
            "name": self.name,
            "group": self.group,
            "key": self.key,
            "target_pct": self.target_pct,
            "uptime_pct": round(uptime, 4) if uptime is not None else None,
            "period_minutes": round(self.period_minutes, 2),
            "measured_minutes": round(self.measured_minutes, 2),
            "down_minutes": round(self.down_minutes, 2),
            "budget_minutes": round(self.budget_minutes, 2),
            "budget_used_minutes": round(self.down_minutes, 2),
            "budget_left_minutes": round(self.budget_left_minutes, 2),
            "met": self.met,
            "complete": self.complete,
            "history_from": _iso(self.history_from) if self.history_from else None,
            "incidents": [i.as_json() for i in self.incidents],
        }


def endpoint_sla(
    status: dict[str, Any], period: Period, target_pct: float, now: datetime
) -> ServiceSla:
    """The SLA figures of one endpoint from its statuses answer (name, group, key, events)."""
    events = sorted(
        (
            (parse_time(e["timestamp"]).astimezone(UTC), str(e["type"]).upper())
            for e in status.get("events") or []
        ),
        key=lambda item: item[0],
    )
    horizon = min(period.end, now)
    spans = _state_spans(events, horizon)
    measured = down = 0.0
    known_from: datetime | None = None
    incidents = []
    for begin, finish, state in spans:
        lo, hi = max(begin, period.start), min(finish, horizon)
        inside = max(0.0, (hi - lo).total_seconds() / 60)
        if state in (HEALTHY, UNHEALTHY) and inside > 0:
            measured += inside
            known_from = lo if known_from is None else known_from
        if state == UNHEALTHY and inside > 0:
            down += inside
            incidents.append(Incident(begin, _closed_end(events, begin), inside))
    late = known_from is not None and known_from > period.start
    return ServiceSla(
        name=str(status.get("name", "")),
        group=str(status.get("group", "")),
        key=str(status.get("key", "")),
        target_pct=target_pct,
        period_minutes=period.minutes,
        measured_minutes=measured,
        down_minutes=down,
        incidents=incidents,
        history_from=known_from if late or known_from is None else None,
    )


def _state_spans(
    events: list[tuple[datetime, str]], horizon: datetime
) -> list[tuple[datetime, datetime, str]]:
    """(from, to, state) for each event up to the next one (the last one up to `horizon`).

    A START leaves the state unknown until the first HEALTHY/UNHEALTHY after it."""
    spans = []
    for index, (when, kind) in enumerate(events):
        until = events[index + 1][0] if index + 1 < len(events) else max(horizon, when)
        spans.append((when, until, kind))
    return spans


def _closed_end(events: list[tuple[datetime, str]], began: datetime) -> datetime | None:
    """When the incident that began at `began` ended: the next event that is not UNHEALTHY."""
    for when, kind in events:
        if when > began and kind != UNHEALTHY:
            return when
    return None


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
