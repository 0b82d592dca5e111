"""Report periods: a calendar month (`2026-11`) or an ISO week (`2026-W48`), in UTC."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from automation.errors import BadInput


@dataclass(frozen=True)
class Period:
    label: str  # "2026-11" or "2026-W48"
    start: datetime  # inclusive, UTC
    end: datetime  # exclusive, UTC

    @property
    def minutes(self) -> float:
        return (self.end - self.start).total_seconds() / 60


def month(text: str) -> Period:
    """`YYYY-MM`; BadInput names the option otherwise."""
    match = re.fullmatch(r"(\d{4})-(\d{2})", text)
    try:
        if not match:
            raise ValueError(text)
        year, number = int(match.group(1)), int(match.group(2))
        start = datetime(year, number, 1, tzinfo=UTC)  # ValueError: month 13, year 0 or 10000
        end = datetime(year + number // 12, number % 12 + 1, 1, tzinfo=UTC)
    except ValueError:
        raise BadInput(
            f"--month {text!r} is not a month like 2026-11", "pass --month YYYY-MM"
        ) from None
    return Period(text, start, end)


def week(text: str) -> Period:
    """ISO week `YYYY-Www` (Monday 00:00 UTC to the next Monday)."""
    match = re.fullmatch(r"(\d{4})-W(\d{2})", text)
    try:
        if not match:
            raise ValueError(text)
        monday = date.fromisocalendar(int(match.group(1)), int(match.group(2)), 1)
        start = datetime(monday.year, monday.month, monday.day, tzinfo=UTC)
        end = start + timedelta(days=7)  # OverflowError: the last week of year 9999
    except (ValueError, OverflowError):
        raise BadInput(
            f"--week {text!r} is not an ISO week like 2026-W48", "pass --week YYYY-Www"
        ) from None
    return Period(text, start, end)
