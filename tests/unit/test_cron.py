"""scripts/cron/: valid cron lines, commands the real CLI accepts, and run-job's record."""

from __future__ import annotations

import itertools
import os
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

CRON_DIR = Path(__file__).resolve().parents[2] / "scripts" / "cron"
CRONTAB = CRON_DIR / "sprocket.crontab"
FIELD_RANGES = [(0, 59), (0, 23), (1, 31), (1, 12), (0, 7)]


def _jobs() -> list[tuple[list[str], str]]:
    jobs = []
    for line in CRONTAB.read_text().splitlines():
        if not line.strip() or line.startswith("#") or "=" in line.split()[0]:
            continue
        fields = line.split(None, 5)
        jobs.append((fields[:5], fields[5]))
    return jobs


def _valid_field(text: str, low: int, high: int) -> bool:
    for part in text.split(","):
        base, _, step = part.partition("/")
        if step and not step.isdigit():
            return False
        if base == "*":
            continue
        bounds = base.split("-")
        if not all(b.isdigit() and low <= int(b) <= high for b in bounds) or len(bounds) > 2:
            return False
    return True


def _crontab_variable(name: str) -> str:
    for line in CRONTAB.read_text().splitlines():
        if line.startswith(f"{name}="):
            return line.split("=", 1)[1]
    raise AssertionError(f"{name} is not set in {CRONTAB}")


def test_every_line_has_five_valid_time_fields() -> None:
    jobs = _jobs()
    assert len(jobs) >= 5
    for fields, command in jobs:
        assert all(
            _valid_field(f, lo, hi) for f, (lo, hi) in zip(fields, FIELD_RANGES, strict=True)
        ), fields
        assert "scripts/cron/run-job" in command


def test_drift_runs_beside_the_backup() -> None:
    names = [shlex.split(command.split("&&", 1)[1])[1] for _, command in _jobs()]
    assert {"backup", "backup-verify", "drift", "health", "docker-cleanup"} <= set(names)


def _driver_invocations() -> list[list[str]]:
    driver = shlex.split(_crontab_variable("DRIVER"))
    assert driver[:3] == [".venv/bin/python", "-m", "automation"]
    calls = []
    for _, command in _jobs():
        words = shlex.split(command.split("&&", 1)[1])
        if "$DRIVER" in words:
            calls.append(driver[3:] + words[words.index("$DRIVER") + 1 :])
    return calls


@pytest.mark.parametrize("args", _driver_invocations(), ids=lambda a: " ".join(a[4:]))
def test_each_driver_command_is_accepted_by_the_real_cli(run_cli: Any, args: list[str]) -> None:
    # --help after the arguments: click still rejects unknown commands and options first.
    result = run_cli(*args, "--help")
    assert result.exit_code == 0, result.stderr


def test_cleanup_job_options_exist() -> None:
    [command] = [c for _, c in _jobs() if "docker_cleanup.py" in c]
    words = shlex.split(command.split("&&", 1)[1])
    script_args = words[words.index(".venv/bin/python") + 2 :]
    script = CRON_DIR.parent / "docker_cleanup.py"
    help_text = subprocess.run(
        [sys.executable, str(script), "--help"], capture_output=True, text=True, check=True
    ).stdout
    for option in (a for a in script_args if a.startswith("--")):
        assert option in help_text


def _run_job(
    tmp_path: Path, *command: str, name: str = "drift", **extra: str
) -> subprocess.CompletedProcess[str]:
    (tmp_path / "backend").mkdir(exist_ok=True)
    env = {
        "PATH": os.environ["PATH"],
        "SPROCKET_LOG_DIR": str(tmp_path / "logs"),
        "SPROCKET_ENV_FILE": str(tmp_path / "env"),
        # The driver's `notify job` after the run: this interpreter, records in a temp backend.
        "SPROCKET_PYTHON": sys.executable,
        "SPROCKET_ENV": "local",
        "SPROCKET_STATE_DIR": str(tmp_path / "state"),
        "PULUMI_BACKEND_URL": f"file://{tmp_path / 'backend'}",
        **extra,
    }
    (tmp_path / "env").write_text("SPROCKET_EXAMPLE=from-env-file\n")
    return subprocess.run(
        [str(CRON_DIR / "run-job"), name, *command], capture_output=True, text=True, env=env
    )


def _settings(tmp_path: Path) -> Any:
    from automation.settings import Settings

    return Settings(
        project_dir=tmp_path, state_dir=tmp_path / "state",
        backend_url=f"file://{tmp_path / 'backend'}",
    )  # fmt: skip


def test_run_job_keeps_the_output_and_passes_the_exit_code_on(tmp_path: Path) -> None:
    script = 'echo "{\\"drifted\\": 1, \\"v\\": \\"$SPROCKET_EXAMPLE\\"}"; exit 10'
    result = _run_job(tmp_path, "sh", "-c", script)
    assert result.returncode == 10
    assert result.stderr.startswith("sprocket job drift exited 10 at ")
    log = (tmp_path / "logs" / "drift.log").read_text().splitlines()
    assert log[0].startswith("## job=drift started=") and log[0].endswith("exit_code=10")
    assert log[1] == '{"drifted": 1, "v": "from-env-file"}'
    # The notification (no notify url here: nothing sent) is tested against a receiver in
    # tests/integration/test_notify_webhook.py.
    assert "notify failed" not in result.stderr


def test_run_job_is_quiet_on_success(tmp_path: Path) -> None:
    result = _run_job(tmp_path, "true")
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_job_names_are_checked(tmp_path: Path) -> None:
    result = subprocess.run([str(CRON_DIR / "job"), "drfit"], capture_output=True, text=True)
    assert result.returncode == 64 and "usage:" in result.stderr


def test_each_run_is_recorded_beside_the_backend_for_health(tmp_path: Path) -> None:
    from automation.health.jobs import jobs_dir, read_runs

    assert _run_job(tmp_path, "sh", "-c", "exit 6", name="backup-db").returncode == 6
    assert _run_job(tmp_path, "true", name="drift").returncode == 0
    settings = _settings(tmp_path)
    assert jobs_dir(settings) == tmp_path / "backend" / ".sprocket" / "jobs"
    runs = read_runs(settings)
    assert {job: run.exit_code for job, run in runs.items()} == {"backup-db": 6, "drift": 0}
    log = (tmp_path / "logs" / "drift.log").read_text().splitlines()[0]
    started = log.split("started=")[1].split()[0]
    assert runs["drift"].started is not None
    assert runs["drift"].started.strftime("%Y-%m-%dT%H:%M:%SZ") == started


def test_the_heartbeat_is_pinged_on_loopback_with_the_exit_code(tmp_path: Path) -> None:
    import http.server
    import threading

    pings: list[str] = []

    class Checker(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            pings.append(self.path)
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Checker)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/ping/check-uuid"
    try:
        assert _run_job(tmp_path, "true", name="backup-db",
                        SPROCKET_HEARTBEAT_URL_BACKUP_DB=url).returncode == 0  # fmt: skip
        assert _run_job(tmp_path, "sh", "-c", "exit 6", name="backup-db",
                        SPROCKET_HEARTBEAT_URL_BACKUP_DB=url).returncode == 6  # fmt: skip
        assert _run_job(tmp_path, "true", name="drift").returncode == 0  # no URL: no ping
    finally:
        server.shutdown()
    assert pings == ["/ping/check-uuid/0", "/ping/check-uuid/6"]


def test_a_heartbeat_that_cannot_be_sent_does_not_fail_the_job(tmp_path: Path) -> None:
    import socket

    from automation.notify.heartbeat import ping

    with socket.socket() as closed:  # a loopback port nothing listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    url = f"http://127.0.0.1:{port}/ping"
    assert ping("drift", 0, {"SPROCKET_HEARTBEAT_URL_DRIFT": url}) == "failed (ConnectionError)"
    assert ping("drift", 0, {}) == ""
    result = _run_job(tmp_path, "true", name="drift", SPROCKET_HEARTBEAT_URL_DRIFT=url)
    assert result.returncode == 0 and result.stderr == ""


def test_the_crontab_periods_are_the_ones_health_checks() -> None:
    """health's "scheduled jobs" row judges each job by SCHEDULES: the crontab must agree."""
    from datetime import datetime

    from cronsim import CronSim

    from automation.health.jobs import SCHEDULES

    periods = {}
    for fields, command in _jobs():
        name = shlex.split(command.split("&&", 1)[1])[1]
        times = CronSim(" ".join(fields), datetime(2026, 1, 1))
        firings = [next(times) for _ in range(30)]
        periods[name] = max(b - a for a, b in itertools.pairwise(firings))
    assert periods == {name: schedule.period for name, schedule in SCHEDULES.items()}


@pytest.mark.parametrize("args", _driver_invocations(), ids=lambda a: " ".join(a[4:]))
def test_no_scheduled_job_is_refused_by_a_freeze(args: list[str]) -> None:
    from automation.guard.freeze import FROZEN_VERBS

    words = args[4:]
    assert words[0] not in FROZEN_VERBS and " ".join(words[:2]) not in FROZEN_VERBS
