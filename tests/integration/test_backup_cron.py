"""The cron entry points (scripts/cron/job) run the backup verbs as written, end to end.

Real processes: the job script, the driver, the pulumi CLI and the S3 endpoint. The prod stacks
do not exist on the test backend, so `backup all` has nothing to back up; what is checked is
that every scheduled command line parses, exits 0, logs, and fails with a one-line reason.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from automation.exit_codes import ExitCode

pytestmark = pytest.mark.integration

JOB = Path(__file__).resolve().parents[2] / "scripts" / "cron" / "job"


def _job(name: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(JOB), name],
        env={
            **os.environ,
            "SPROCKET_ENV_FILE": str(tmp_path / "no-such-env-file"),
            "SPROCKET_LOG_DIR": str(tmp_path / "log"),
            **env,
        },
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.mark.parametrize("name", ["backup", "backup-verify", "backup-prune"])
def test_scheduled_backup_jobs_run_and_log(
    name: str, pulumi_env: Any, s3_endpoint: Any, tmp_path: Path
) -> None:
    result = _job(name, tmp_path)
    assert result.returncode == ExitCode.OK, result.stderr
    log = (tmp_path / "log" / f"{name}.log").read_text()
    header, body = log.split("\n", 1)
    assert header.startswith(f"## job={name} ") and header.endswith("exit_code=0")
    assert json.loads(body)["status"] == "success"


def test_a_failing_backup_job_exits_non_zero_with_one_line(
    pulumi_env: Any, s3_endpoint: Any, tmp_path: Path
) -> None:
    result = _job("backup", tmp_path, SPROCKET_BACKUP_BUCKET="")
    assert result.returncode == ExitCode.BAD_INPUT
    assert len(result.stderr.strip().splitlines()) == 1
    assert "sprocket job backup exited 64" in result.stderr
    logged = (tmp_path / "log" / "backup.log").read_text()
    assert "no backup bucket is configured" in logged
