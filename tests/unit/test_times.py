"""The driver's one reader of durations (automation/times.py), which --since and --until share."""

from __future__ import annotations

from datetime import timedelta

import pytest

from automation.times import parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30), ("15m", 900), ("1.5h", 5400), ("2d", 172800), (" 6 h ", 21600)],
)
def test_a_duration_is_a_number_and_one_unit(text: str, seconds: float) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "h", "1x", "-1h", "1w", "1H", "2026-12-07T10:00Z"])
def test_what_is_not_a_duration_is_none(text: str) -> None:
    assert parse_duration(text) is None


def test_only_the_units_a_verb_takes() -> None:
    assert parse_duration("30s", units="mhd") is None  # --until takes no seconds
    assert parse_duration("30m", units="mhd") == timedelta(minutes=30)


def test_a_duration_no_calendar_holds_is_an_overflow() -> None:
    with pytest.raises(OverflowError):
        parse_duration("99999999999999d")
