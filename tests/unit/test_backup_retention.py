"""GFS retention as a pure function: which backups `backup prune` keeps, under a fixed clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from automation.backup.retention import Candidate, RetentionPolicy, plan_retention
from automation.backup.service import BackupRecord, created_fields, newest_first, plan_prune

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def daily_backups(days: int, stack: str = "prod-layer_1", verified: bool = True) -> list[Candidate]:
    """One backup a day at 03:00 for `days` days before NOW."""
    return [
        Candidate(f"{stack}-d{n:03}", stack, NOW.replace(hour=3) - timedelta(days=n), verified)
        for n in range(days)
    ]


def kept(decisions: list) -> set[str]:
    return {d.candidate.backup_id for d in decisions if d.keep}


def test_defaults_keep_week_then_14_daily_8_weekly_12_monthly() -> None:
    decisions = plan_retention(daily_backups(400), RetentionPolicy(), NOW)
    keep = kept(decisions)
    # 14 daily slots cover days 0-13 (days 0-7 are also within the 7-day window).
    assert {f"prod-layer_1-d{n:03}" for n in range(14)} <= keep
    weekly = [d for d in decisions if "weekly" in d.reasons]
    monthly = [d for d in decisions if "monthly" in d.reasons]
    assert len(weekly) == 8
    assert len(monthly) == 12
    # Nothing older than the 12th month survives.
    oldest_kept = min(d.candidate.created for d in decisions if d.keep)
    assert oldest_kept > NOW - timedelta(days=370)
    assert len(keep) < 400 // 10


def test_keep_within_keeps_every_snapshot_of_the_last_days() -> None:
    snapshots = [
        Candidate(f"s{n}", "prod-platform", NOW - timedelta(hours=n * 6), True) for n in range(40)
    ]
    policy = RetentionPolicy(keep_within_days=3, daily=0, weekly=0, monthly=0)
    keep = kept(plan_retention(snapshots, policy, NOW))
    assert keep == {f"s{n}" for n in range(13)}  # 0 h .. 72 h inclusive


def test_newest_verified_is_kept_even_with_a_zero_policy() -> None:
    old = [
        Candidate("older", "prod-layer_2", NOW - timedelta(days=400), True),
        Candidate("newest", "prod-layer_2", NOW - timedelta(days=300), True),
        Candidate("unverified-newer", "prod-layer_2", NOW - timedelta(days=200), False),
    ]
    decisions = plan_retention(old, RetentionPolicy(0, 0, 0, 0), NOW)
    assert kept(decisions) == {"newest"}
    [newest] = [d for d in decisions if d.candidate.backup_id == "newest"]
    assert newest.reasons == ("newest verified",)


def test_unverified_backups_fill_no_slots_and_go_after_the_window() -> None:
    old = Candidate("verified-old", "prod-layer_1", NOW - timedelta(days=40), True)
    backups = [*daily_backups(30, verified=False), old]
    keep = kept(plan_retention(backups, RetentionPolicy(keep_within_days=7), NOW))
    # d007 is 7 days and 9 hours old: just outside the window.
    assert keep == {f"prod-layer_1-d{n:03}" for n in range(7)} | {"verified-old"}


def test_stacks_are_retained_independently() -> None:
    backups = daily_backups(20, "prod-layer_1") + daily_backups(20, "prod-platform")
    decisions = plan_retention(backups, RetentionPolicy(0, 2, 0, 0), NOW)
    assert kept(decisions) == {
        "prod-layer_1-d000",
        "prod-layer_1-d001",
        "prod-platform-d000",
        "prod-platform-d001",
    }


def test_several_backups_a_day_keep_the_newest_of_the_day() -> None:
    day = NOW - timedelta(days=20)
    backups = [Candidate(f"b{h}", "s", day.replace(hour=h), True) for h in (1, 9, 17)]
    backups.append(Candidate("today", "s", NOW, True))
    keep = kept(plan_retention(backups, RetentionPolicy(0, 2, 0, 0), NOW))
    assert keep == {"today", "b17"}


def test_negative_policy_values_are_refused_naming_the_field() -> None:
    with pytest.raises(ValueError, match="weekly"):
        RetentionPolicy(weekly=-1)


# --- backups of one second: an order that is total and says which came last ----------------

SECOND = NOW.replace(hour=3)


def _record(backup_id: str, at: datetime) -> BackupRecord:
    """A catalog record as `backup` writes it: `created` to the second, the instant in full."""
    return BackupRecord.from_dict(
        {
            "backup_id": backup_id,
            "stack": "prod-layer_1",
            "key": f"pulumi-state/sprocket-infra/prod-layer_1/{backup_id}.tar.gz",
            "verified_at": at.isoformat(timespec="seconds"),
            **created_fields(at),
        }
    )


def test_two_backups_of_one_second_list_the_later_first_whatever_their_ids() -> None:
    # The random part of the id sorts the later one first here ("a" < "f"); it must not decide.
    earlier = _record("20261128T030000Z-ffffff", SECOND.replace(microsecond=100))
    later = _record("20261128T030000Z-aaaaaa", SECOND.replace(microsecond=900))
    assert earlier.created == later.created  # the catalog's `created` is the same second
    for given in ([earlier, later], [later, earlier]):
        assert [r.backup_id for r in newest_first(given)] == [later.backup_id, earlier.backup_id]


def test_prune_of_one_second_keeps_the_later_backup_as_newest_verified() -> None:
    earlier = _record("20261128T030000Z-ffffff", SECOND.replace(microsecond=100))
    later = _record("20261128T030000Z-aaaaaa", SECOND.replace(microsecond=900))
    for given in ([earlier, later], [later, earlier]):
        plan = plan_prune(given, RetentionPolicy(0, 0, 0, 0), NOW)
        assert {r.backup_id for r, d in plan if d.keep} == {later.backup_id}
        assert [r.backup_id for r, _ in plan] == [later.backup_id, earlier.backup_id]


def test_records_written_before_the_instant_was_kept_still_order_totally() -> None:
    # Old records (and uploads with no record) have no instant: same second, then by id, stable.
    old = [
        BackupRecord.from_dict(
            {"backup_id": i, "stack": "prod-layer_1", "key": i, "created": SECOND.isoformat()}
        )
        for i in ("20261128T030000Z-000001", "20261128T030000Z-000002")
    ]
    assert newest_first(old) == newest_first(list(reversed(old)))
