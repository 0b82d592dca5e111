"""The driver's one time parser, for every timestamp it reads: Docker's task and daemon times,
Gatus's results and events, Pulumi's update history, backup records, audit records, `--before`.

``parse_time(text)`` takes RFC 3339 / ISO 8601 with what those sources write: ``Z`` or an
offset, nanoseconds (datetime keeps microseconds), a space for the ``T``, a date alone; a time
without a zone is UTC. It returns an aware datetime in the text's own offset (a daemon's zone is
kept; `.astimezone(UTC)` where a UTC view is wanted), or raises ValueError naming the text.

``parse_duration(text, units)`` is the one reader of the verbs' durations (`--since 15m`,
`--until 6h`): a number and one unit letter of ``units``.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

_FRACTION = re.compile(r"\.(\d+)")
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhd])$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str, units: str = "smhd") -> timedelta | None:
    """``30s``, ``15m``, ``1.5h``, ``2d`` (only the unit letters in ``units``) as a timedelta;
    None when the text is not such a duration (it may be a time: try parse_time). Raises
    OverflowError for one no timedelta holds (over 999,999,999 days)."""
    match = _DURATION.match(str(text).strip())
    if not match or match[2] not in units:
        return None
    return timedelta(seconds=float(match[1]) * _UNIT_S[match[2]])


def parse_time(text: str) -> datetime:
    raw = str(text).strip()
    value = raw.replace(" ", "T", 1)
    if value[-1:] in ("Z", "z"):
        value = value[:-1] + "+00:00"
    value = _FRACTION.sub(lambda m: "." + m.group(1)[:6].ljust(6, "0"), value, count=1)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"not an RFC 3339 time: {raw!r}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
