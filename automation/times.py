"""The driver's one time parser, for every timestamp it reads: Docker's task and daemon times,
Gatus's results and events, Pulumi's update history, backup records, audit records, `--before`.

``parse_time(text)`` takes RFC 3339 / ISO 8601 with what those sources write: ``Z`` or an
offset, nanoseconds (datetime keeps microseconds), a space for the ``T``, a date alone; a time
without a zone is UTC. It returns an aware datetime in the text's own offset (a daemon's zone is
kept; `.astimezone(UTC)` where a UTC view is wanted), or raises ValueError naming the text.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

_FRACTION = re.compile(r"\.(\d+)")


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
