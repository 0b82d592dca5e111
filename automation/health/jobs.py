"""The health row "scheduled jobs": a job whose timer stopped is an alarm, not a surprise.

Each run of a scheduled job (scripts/cron/run-job) leaves its record through
`python -m automation notify job NAME --exit-code N --started T`: ``<records_dir>/jobs/NAME.json``
(guard/records.py, beside the backend), replaced at each run, holding when it started and
finished, its exit code, the host. A job's exit code is not judged here (its failure is
notified when it happens, automation/commands/notify.py); only whether it ran.

The rule (`check_jobs`), per job of `SCHEDULES` (the periods of scripts/cron/sprocket.crontab;
tests/unit/test_cron.py checks they agree):

- last run within period + grace: normal;
- older than period + grace: warning; older than twice that: critical; naming the job and its
  last run;
- no record at all: "not yet run", normal. A fresh checkout, a developer's machine and CI have
  none, and must not be critical forever. Once any job has recorded a run, though (the first
  such run is kept in ``jobs/first-run``), a job with none after its own period + grace since
  then is a warning ("never ran"): it is missing from the installed crontab;
- a record that cannot be read: a warning naming the file.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from automation.health.model import Finding, Level
from automation.settings import Settings

JOBS_KIND = "jobs"
SINCE_FILE = "first-run"  # when the first run of any job was recorded here
SUBJECT = "scheduled jobs"
EXPECTED = "each ran within its period + grace"


@dataclass(frozen=True)
class Schedule:
    period: timedelta  # how often the crontab starts it
    grace: timedelta  # how late a run may be (it may run long, or the host may be busy)

    @property
    def late_after(self) -> timedelta:
        return self.period + self.grace


_H = timedelta(hours=1)
# job name (scripts/cron/job, the crontab's run-job NAME) -> its schedule
SCHEDULES: dict[str, Schedule] = {
    "backup": Schedule(6 * _H, 1 * _H),
    "backup-verify": Schedule(24 * _H, 2 * _H),
    "backup-prune": Schedule(24 * _H, 2 * _H),
    "backup-db": Schedule(24 * _H, 2 * _H),
    "backup-vault": Schedule(24 * _H, 2 * _H),
    "drill": Schedule(7 * 24 * _H, 6 * _H),  # a drill itself may take hours
    "drift": Schedule(1 * _H, timedelta(minutes=30)),
    "health": Schedule(24 * _H, 2 * _H),
    "docker-cleanup": Schedule(7 * 24 * _H, 6 * _H),
}


@dataclass(frozen=True)
class JobRun:
    """A job's last recorded run; `damaged` says why its record cannot be read instead."""

    job: str
    started: datetime | None = None
    exit_code: int | None = None
    damaged: str = ""


def jobs_dir(settings: Settings) -> Path:
    from automation.guard.records import records_dir

    return records_dir(settings, JOBS_KIND)


def record_run(
    settings: Settings, job: str, exit_code: int, started: datetime, *, log: str | None = None
) -> dict[str, Any]:
    """Write `job`'s last run (replacing the one before); returns the record."""
    from automation.guard.driver_state import current_host
    from automation.guard.records import write_atomic

    entry: dict[str, Any] = {
        "job": job,
        "started": started.astimezone(UTC).isoformat(timespec="seconds"),
        "finished": datetime.now(UTC).isoformat(timespec="seconds"),
        "exit_code": int(exit_code),
        "host": current_host(),
        "log": log,
    }
    write_atomic(jobs_dir(settings) / f"{job}.json", json.dumps(entry, indent=2), mode=0o644)
    since = jobs_dir(settings) / SINCE_FILE
    with contextlib.suppress(FileExistsError):  # the first run ever recorded here, kept
        fd = os.open(since, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        with os.fdopen(fd, "w") as out:
            out.write(entry["started"] + "\n")
    return entry


def recording_since(settings: Settings) -> datetime | None:
    """When the first scheduled run was recorded here (None: never, or unreadable)."""
    from automation.times import parse_time

    try:
        return parse_time((jobs_dir(settings) / SINCE_FILE).read_text().strip())
    except (OSError, ValueError):
        return None


def read_runs(settings: Settings) -> dict[str, JobRun]:
    """Every job's last recorded run (also of jobs SCHEDULES does not know), by job name."""
    from automation.times import parse_time

    runs: dict[str, JobRun] = {}
    folder = jobs_dir(settings)
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        job = path.stem
        try:
            entry = json.loads(path.read_bytes())
            runs[job] = JobRun(job, parse_time(entry["started"]), int(entry["exit_code"]))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            runs[job] = JobRun(job, damaged=f"record {path} cannot be read ({exc})")
    return runs


def check_jobs(
    runs: dict[str, JobRun],
    now: datetime,
    schedules: dict[str, Schedule] = SCHEDULES,
    *,
    since: datetime | None = None,
) -> Finding:
    """The "scheduled jobs" row (the rule in the module docstring); `now` is aware; `since`:
    when the first run of any job was recorded here (`recording_since`; None: no run ever)."""
    first_record = since
    level, problems = Level.OK, []
    on_time, late, not_yet = 0, 0, []
    for job, schedule in schedules.items():
        run = runs.get(job)
        if run is not None and run.damaged:
            level, late = max(level, Level.WARNING), late + 1
            problems.append(f"{job}: {run.damaged}")
            continue
        if run is None or run.started is None:
            if first_record is not None and now - first_record > schedule.late_after:
                level, late = max(level, Level.WARNING), late + 1
                problems.append(
                    f"{job} never ran, though scheduled jobs have recorded runs since "
                    f"{_iso(first_record)} (every {_span(schedule.period)}: is it in the crontab?)"
                )
            else:
                not_yet.append(job)
            continue
        age = now - run.started
        if age > 2 * schedule.late_after:
            level = Level.CRITICAL
        elif age > schedule.late_after:
            level = max(level, Level.WARNING)
        else:
            on_time += 1
            continue
        late += 1
        problems.append(
            f"{job} last ran {_iso(run.started)} ({_span(age)} ago, exit {run.exit_code}); "
            f"it runs every {_span(schedule.period)} (grace {_span(schedule.grace)})"
        )
    observed = f"{on_time} on time, {late} late, {len(not_yet)} not yet run"
    if not_yet:
        problems.append(f"not yet run here: {', '.join(not_yet)}")
    return Finding("scheduled-jobs", SUBJECT, level, observed, EXPECTED, "; ".join(problems))


def jobs_finding(settings: Settings, now: datetime) -> Finding:
    return check_jobs(read_runs(settings), now, since=recording_since(settings))


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="minutes").replace("+00:00", "Z")


def _span(delta: timedelta) -> str:
    hours = max(delta.total_seconds(), 0) / 3600
    if hours >= 48:
        return f"{hours / 24:.1f} d"
    return f"{hours:.1f} h" if hours >= 1 else f"{hours * 60:.0f} min"
