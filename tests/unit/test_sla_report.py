"""The SLA report's arithmetic on recorded Gatus answers with known downtime
(tests/fixtures/gatus_recorded/README.md says what is in them and how they were made)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from automation.errors import BadInput
from automation.sla import period, report

RECORDED = Path(__file__).resolve().parents[1] / "fixtures" / "gatus_recorded"
AFTER = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
OCTOBER_MINUTES = 31 * 24 * 60


def recorded() -> list[dict[str, Any]]:
    listing = json.loads((RECORDED / "endpoints_statuses.json").read_text())
    return [json.loads((RECORDED / f"{e['key']}.json").read_text()) for e in listing]


def by_name(data: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(s["group"], s["name"]): s for s in data["services"]}


@pytest.fixture(scope="module")
def october() -> dict[str, Any]:
    return report.build(recorded(), period.month("2026-10"), AFTER)


def test_recorded_gatus_month_uptime_and_budget_of_the_website(october: dict[str, Any]) -> None:
    web = by_name(october)[("critical", "sprocket.gg")]
    assert web["target_pct"] == 99.9
    assert web["down_minutes"] == 40  # 30 on the 5th, 10 before the month ended
    assert web["uptime_pct"] == round(100 * (OCTOBER_MINUTES - 40) / OCTOBER_MINUTES, 4)
    assert web["budget_minutes"] == 44.64
    assert web["budget_left_minutes"] == 4.64
    assert web["met"] and web["complete"]
    assert [(i["start"], i["end"], i["minutes"]) for i in web["incidents"]] == [
        ("2026-10-05T10:00:00Z", "2026-10-05T10:30:00Z", 30),
        ("2026-10-31T23:50:00Z", "2026-11-01T00:20:00Z", 10),  # clipped to the month
    ]


def test_recorded_gatus_month_counts_an_outage_begun_the_month_before(
    october: dict[str, Any],
) -> None:
    api = by_name(october)[("critical", "api.sprocket.gg")]
    assert api["down_minutes"] == 60
    assert api["budget_left_minutes"] == -15.36
    assert not api["met"]
    assert api["incidents"][0]["start"] == "2026-09-30T23:00:00Z"
    assert api["incidents"][0]["minutes"] == 45
    assert october["summary"]["missed"] == ["api.sprocket.gg"]


def test_recorded_gatus_history_that_starts_late_is_marked_incomplete(
    october: dict[str, Any],
) -> None:
    pg = by_name(october)[("internal", "postgres")]
    assert pg["target_pct"] == 99.99
    assert pg["budget_minutes"] == round(OCTOBER_MINUTES * 0.0001, 2)
    assert not pg["complete"] and pg["history_from"] == "2026-10-10T00:00:30Z"
    assert pg["measured_minutes"] == round(OCTOBER_MINUTES - (9 * 24 * 60 + 0.5), 2)
    assert pg["uptime_pct"] == 100 and pg["met"]
    assert october["summary"]["incomplete"] == ["postgres"]


def test_recorded_gatus_slowness_endpoints_are_not_downtime(october: dict[str, Any]) -> None:
    assert ("warning", "api.sprocket.gg") not in by_name(october)
    assert october["summary"]["services"] == 3


def test_recorded_gatus_week_and_markdown(october: dict[str, Any]) -> None:
    week = report.build(recorded(), period.week("2026-W41"), AFTER)  # Oct 5 to 12
    web = by_name(week)[("critical", "sprocket.gg")]
    assert week["period"]["minutes"] == 7 * 24 * 60
    assert web["down_minutes"] == 30 and web["budget_minutes"] == 10.08
    text = report.markdown(october)
    assert "| api.sprocket.gg | critical | 99.9% | 99.866% | 44.6 | 60.0 | -15.4 | **NO** |" in text
    assert "- sprocket.gg: 2026-10-05T10:00:00Z to 2026-10-05T10:30:00Z (30.0 min)" in text
    assert "2/3 services met their target." in text


def test_an_ongoing_incident_runs_to_now_and_says_so() -> None:
    status = {
        "name": "sprocket.gg",
        "group": "critical",
        "key": "critical_sprocket-gg",
        "events": [
            {"type": "HEALTHY", "timestamp": "2026-10-01T00:00:00Z"},
            {"type": "UNHEALTHY", "timestamp": "2026-11-30T11:00:00Z"},
        ],
    }
    data = report.build([status], period.month("2026-11"), AFTER)
    [service] = data["services"]
    assert service["down_minutes"] == 60
    assert service["incidents"][0]["ongoing"] is True
    assert data["period"]["partial"] is True


@pytest.mark.parametrize(
    ("make", "text"),
    [
        (period.month, "2026-13"),
        (period.month, "Nov"),
        (period.week, "2026-W54"),
        (period.month, "0000-01"),  # out of datetime's range: bad input, not a driver bug
        (period.month, "9999-12"),
        (period.week, "9999-W52"),
    ],
)
def test_a_bad_period_names_the_option(make: Any, text: str) -> None:
    with pytest.raises(BadInput, match=text):
        make(text)


def test_recorded_gatus_no_history_in_the_period_is_incomplete_not_complete() -> None:
    """postgres's history starts 2026-10-10: week 40 (Sep 28 to Oct 5) has nothing known of it,
    which must not read as a complete, met week."""
    week = report.build(recorded(), period.week("2026-W40"), AFTER)
    pg = by_name(week)[("internal", "postgres")]
    assert pg["measured_minutes"] == 0 and pg["uptime_pct"] is None
    assert not pg["complete"]
    assert week["summary"]["incomplete"] == ["postgres"]
    assert "| postgres (no history in the period) | internal |" in report.markdown(week)
