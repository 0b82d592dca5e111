"""scripts/cron/: valid cron lines, commands the real CLI accepts, and run-job's record."""

from __future__ import annotations

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


def _run_job(tmp_path: Path, *command: str) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": os.environ["PATH"],
        "SPROCKET_LOG_DIR": str(tmp_path / "logs"),
        "SPROCKET_ENV_FILE": str(tmp_path / "env"),
    }
    (tmp_path / "env").write_text("SPROCKET_EXAMPLE=from-env-file\n")
    return subprocess.run(
        [str(CRON_DIR / "run-job"), "drift", *command], capture_output=True, text=True, env=env
    )


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
