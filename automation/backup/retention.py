"""Grandfather-father-son retention: which backups `backup prune` keeps, as a pure function.

Per stack, walking from newest to oldest (restic's `forget` semantics):
- every backup younger than `keep_within_days` is kept (pre/post-op snapshots and all);
- the newest verified backup of each of the last `daily` days that have one, of the last
  `weekly` ISO weeks and of the last `monthly` months is kept;
- the newest verified backup of the stack is always kept, whatever the policy says.
Only verified backups fill the daily/weekly/monthly slots: an unverified one cannot be trusted on
the day it is needed, so once it leaves the keep-within window it goes.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class RetentionPolicy:
    keep_within_days: int = 7
    daily: int = 14
    weekly: int = 8
    monthly: int = 12

    def __post_init__(self) -> None:
        for name in ("keep_within_days", "daily", "weekly", "monthly"):
            if getattr(self, name) < 0:
                raise ValueError(f"retention {name} must be 0 or more, got {getattr(self, name)}")


@dataclass(frozen=True)
class Candidate:
    """What retention needs to know about one backup."""

    backup_id: str
    stack: str
    created: datetime  # timezone-aware
    verified: bool
    created_us: int = 0  # `created` in full: orders backups of one second (0: unknown)


@dataclass(frozen=True)
class Decision:
    candidate: Candidate
    keep: bool
    reasons: tuple[str, ...]  # why it is kept; empty when it goes


_BUCKETS: tuple[tuple[str, Callable[[datetime], Hashable]], ...] = (
    ("daily", lambda t: t.date()),
    ("weekly", lambda t: t.isocalendar()[:2]),
    ("monthly", lambda t: (t.year, t.month)),
)


def plan_retention(
    candidates: Iterable[Candidate], policy: RetentionPolicy, now: datetime
) -> list[Decision]:
    """One decision per candidate, newest first within each stack, stacks in name order."""
    by_stack: dict[str, list[Candidate]] = {}
    for candidate in candidates:
        by_stack.setdefault(candidate.stack, []).append(candidate)
    decisions: list[Decision] = []
    for stack in sorted(by_stack):
        newest_first = sorted(
            by_stack[stack], key=lambda c: (c.created, c.created_us, c.backup_id), reverse=True
        )
        decisions.extend(_plan_stack(newest_first, policy, now))
    return decisions


def _plan_stack(
    newest_first: list[Candidate], policy: RetentionPolicy, now: datetime
) -> list[Decision]:
    reasons: dict[str, list[str]] = {c.backup_id: [] for c in newest_first}
    cutoff = now - timedelta(days=policy.keep_within_days)
    for candidate in newest_first:
        if candidate.created >= cutoff:
            reasons[candidate.backup_id].append(f"within {policy.keep_within_days} days")
    verified = [c for c in newest_first if c.verified]
    if verified:
        reasons[verified[0].backup_id].append("newest verified")
    for name, bucket_of in _BUCKETS:
        limit: int = getattr(policy, name)
        seen: set[Hashable] = set()
        for candidate in verified:
            if len(seen) >= limit:
                break
            bucket = bucket_of(candidate.created)
            if bucket not in seen:
                seen.add(bucket)
                reasons[candidate.backup_id].append(name)
    return [
        Decision(c, keep=bool(reasons[c.backup_id]), reasons=tuple(reasons[c.backup_id]))
        for c in newest_first
    ]
