"""health's "scheduled jobs" row: the rule with times, and the records it reads from disk."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from automation.exit_codes import ExitCode
from automation.health.jobs import (
    JobRun,
    Schedule,
    check_jobs,
    jobs_dir,
    read_runs,
    record_run,
    recording_since,
)
from automation.health.model import Level
from automation.settings import Settings

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
H = timedelta(hours=1)
# period + grace: 7 h for backup, 25 h for backup-db
SCHEDULES = {"backup": Schedule(6 * H, 1 * H), "backup-db": Schedule(24 * H, 1 * H)}


def _ran(job: str, ago: timedelta, code: int = 0) -> JobRun:
    return JobRun(job, NOW - ago, code)


def _check(*runs: JobRun) -> tuple[Level, str, str]:
    finding = check_jobs({r.job: r for r in runs}, NOW, SCHEDULES)
    assert (finding.check, finding.subject) == ("scheduled-jobs", "scheduled jobs")
    return finding.level, finding.observed, finding.message


def test_runs_within_period_and_grace_are_normal() -> None:
    level, observed, message = _check(_ran("backup", 6.9 * H), _ran("backup-db", 20 * H))
    assert (level, observed, message) == (Level.OK, "2 on time, 0 late, 0 not yet run", "")


def test_older_than_period_and_grace_is_a_warning_naming_the_job_and_its_last_run() -> None:
    level, observed, message = _check(_ran("backup", 7.5 * H, code=6), _ran("backup-db", 2 * H))
    assert level is Level.WARNING and observed == "1 on time, 1 late, 0 not yet run"
    assert message == (
        "backup last ran 2026-12-07T04:30Z (7.5 h ago, exit 6); it runs every 6.0 h (grace 1.0 h)"
    )


def test_older_than_twice_period_and_grace_is_critical() -> None:
    assert _check(_ran("backup", 14 * H), _ran("backup-db", 2 * H))[0] is Level.WARNING
    level, _, message = _check(_ran("backup", 14.5 * H), _ran("backup-db", 2 * H))
    assert level is Level.CRITICAL and message.startswith("backup last ran")
    assert _check(_ran("backup", 1 * H), _ran("backup-db", 51 * H))[0] is Level.CRITICAL


def test_a_fresh_checkout_with_no_runs_is_normal_not_yet_run() -> None:
    level, observed, message = _check()
    assert level is Level.OK and observed == "0 on time, 0 late, 2 not yet run"
    assert message == "not yet run here: backup, backup-db"


def test_a_job_that_never_ran_while_others_record_is_a_warning_after_its_own_grace() -> None:
    runs = {"backup": _ran("backup", 1 * H)}  # backup-db has no record
    # Jobs have recorded runs here for 24 h: backup-db (25 h) is not yet due.
    young = check_jobs(runs, NOW, SCHEDULES, since=NOW - 24 * H)
    assert young.level is Level.OK and young.message == "not yet run here: backup-db"
    old = check_jobs(runs, NOW, SCHEDULES, since=NOW - 26 * H)
    assert old.level is Level.WARNING and old.observed == "1 on time, 1 late, 0 not yet run"
    assert old.message == (
        "backup-db never ran, though scheduled jobs have recorded runs since 2026-12-06T10:00Z "
        "(every 24.0 h: is it in the crontab?)"
    )


def test_a_damaged_record_is_named_and_a_warning() -> None:
    damaged = JobRun("backup", damaged="record /x/backup.json cannot be read (bad JSON)")
    level, _, message = _check(damaged, _ran("backup-db", 1 * H))
    assert level is Level.WARNING and "backup: record /x/backup.json cannot be read" in message


def test_records_are_written_and_read_back_beside_the_backend(tmp_path: Path) -> None:
    settings = Settings(
        project_dir=tmp_path, state_dir=tmp_path / "state", backend_url=f"file://{tmp_path}/b"
    )
    assert recording_since(settings) is None
    record_run(settings, "backup", 0, NOW - 2 * H)
    record_run(settings, "backup", 6, NOW - 1 * H)  # the newest run replaces the one before
    assert recording_since(settings) == NOW - 2 * H  # the first run recorded, kept
    (jobs_dir(settings) / "drift.json").write_text('{"job": "drift", "started": ')
    runs = read_runs(settings)
    assert jobs_dir(settings) == tmp_path / "b" / ".sprocket" / "jobs"
    assert (runs["backup"].started, runs["backup"].exit_code) == (NOW - 1 * H, 6)
    assert "drift.json cannot be read" in runs["drift"].damaged
    assert json.loads((jobs_dir(settings) / "backup.json").read_text())["exit_code"] == 6


def _cli_settings(tmp_path: Path, monkeypatch: Any) -> Settings:
    from automation.settings import load_settings

    monkeypatch.setenv("SPROCKET_PROJECT_DIR", str(tmp_path / "project"))
    monkeypatch.setenv("SPROCKET_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("PULUMI_BACKEND_URL", f"file://{tmp_path / 'backend'}")
    monkeypatch.delenv("SPROCKET_SETTINGS", raising=False)
    monkeypatch.delenv("SPROCKET_NOTIFY_URL", raising=False)
    (tmp_path / "backend").mkdir()
    return load_settings()


@pytest.mark.parametrize("name", ["../../etc/x", "", "Backup", "backup db"])
def test_notify_job_refuses_a_name_that_is_not_a_job_name(
    run_cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    """The name is the record's file name: `../../etc/x` wrote outside jobs/ before."""
    settings = _cli_settings(tmp_path, monkeypatch)
    result = run_cli("--json", "notify", "job", name, "--exit-code", "1")
    assert result.exit_code == ExitCode.BAD_INPUT, result.stdout + result.stderr
    assert f"job name {name!r}" in json.loads(result.stdout)["errors"][0]["message"]
    written = [p for p in (tmp_path / "backend").rglob("*") if p.is_file()]
    assert written == [], written
    assert read_runs(settings) == {}


def test_notify_job_refuses_a_start_in_the_future(
    run_cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run 'started' in 2099 counted the job on time for 73 years."""
    settings = _cli_settings(tmp_path, monkeypatch)
    future = run_cli("--json", "notify", "job", "backup", "--exit-code", "0",
                     "--started", "2099-01-01T00:00Z")  # fmt: skip
    assert future.exit_code == ExitCode.BAD_INPUT
    assert "is in the future" in json.loads(future.stdout)["errors"][0]["message"]
    assert read_runs(settings) == {} and recording_since(settings) is None
    now = datetime.now(UTC).isoformat(timespec="seconds")
    ok = run_cli("--json", "notify", "job", "backup", "--exit-code", "0", "--started", now)
    assert ok.exit_code == ExitCode.OK, ok.stdout + ok.stderr
    assert set(read_runs(settings)) == {"backup"}
