"""Staging and prod state lives in the team's backend (issue 35): with none configured, every
verb refuses the checkout's own file backend (exit 64, naming the setting), before it reads or
plans anything; an explicit file:// path is accepted and said; s3:// is taken as it is."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from automation.exit_codes import ExitCode


@pytest.fixture
def no_backend(pulumi_env: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """A fresh clone's settings: no sprocket.toml, no PULUMI_BACKEND_URL."""
    monkeypatch.delenv("PULUMI_BACKEND_URL")
    return pulumi_env


@pytest.mark.parametrize(
    ("env", "verb"),
    [("prod", ("stacks",)), ("staging", ("stacks",)), ("prod", ("deploy", "all")),
     ("staging", ("history", "layer_1"))],
)  # fmt: skip
def test_staging_and_prod_refuse_the_checkouts_own_file_backend(
    no_backend: Any, run_cli: Any, env: str, verb: tuple[str, ...]
) -> None:
    result = run_cli("--yes", "--env", env, *verb)
    assert result.exit_code == ExitCode.BAD_INPUT, result.stdout + result.stderr
    assert "backend_url" in result.stderr and "PULUMI_BACKEND_URL" in result.stderr
    assert f"the {env} stacks' state" in result.stderr
    assert "not deployed" not in result.stdout + result.stderr
    assert not (no_backend.root / "state" / "backend").exists()  # nothing was made there


def test_local_still_takes_the_embedded_file_backend(no_backend: Any, run_cli: Any) -> None:
    result = run_cli("--env", "local", "stacks")
    assert result.exit_code == ExitCode.OK, result.stderr
    assert "local-layer_1" in result.stdout and "file backend" not in result.stderr


def test_an_explicit_file_backend_in_sprocket_toml_is_accepted_and_said(
    no_backend: Any, run_cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shared = tmp_path / "shared-mount"
    shared.mkdir()
    settings = tmp_path / "sprocket.toml"
    settings.write_text(f'backend_url = "file://{shared}"\n')
    monkeypatch.setenv("SPROCKET_SETTINGS", str(settings))
    result = run_cli("--env", "prod", "stacks")
    assert result.exit_code == ExitCode.OK, result.stderr
    assert "prod-layer_1" in result.stdout and "not deployed" in result.stdout
    assert f"prod: state in the file backend file://{shared}" in result.stderr


def test_an_s3_backend_is_taken_as_it_is(
    no_backend: Any, run_cli: Any, s3_endpoint: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real pulumi CLI on a moto bucket (loopback) as its backend."""
    host = s3_endpoint.url.removeprefix("http://")
    monkeypatch.setenv(
        "PULUMI_BACKEND_URL",
        f"s3://{s3_endpoint.bucket}?endpoint={host}&disableSSL=true&s3ForcePathStyle=true"
        f"&region={s3_endpoint.region}",
    )
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3_endpoint.access_key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3_endpoint.secret_access_key)
    result = run_cli("--env", "prod", "stacks")
    assert result.exit_code == ExitCode.OK, result.stderr
    assert "prod-layer_1" in result.stdout
    assert "backend" not in result.stderr


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("file://{project}/.sprocket/backend", "inside this checkout"),
        ("file://{state}/backend", "inside this checkout"),
        ("file://tmp/team-backend", "relative path"),
        ("file://{root}/not-mounted", "does not exist: is the share mounted?"),
        ("file:~/backend", "is not a backend URL"),
    ],
    ids=["in-checkout", "in-state-dir", "relative", "missing-mount", "no-slashes"],
)
def test_a_prod_file_backend_only_this_checkout_sees_is_refused(
    no_backend: Any, run_cli: Any, monkeypatch: pytest.MonkeyPatch, url: str, says: str
) -> None:
    """Ways around the refusal a new operator found: the checkout's own folder by its path, a
    relative path (it made ./tmp in the tree), an unmounted share (made empty: 'not deployed')."""
    root = no_backend.root
    url = url.format(project=no_backend.project_dir, state=root / "state", root=root)
    monkeypatch.setenv("PULUMI_BACKEND_URL", url)
    monkeypatch.chdir(root)
    result = run_cli("--env", "prod", "stacks")
    assert result.exit_code == ExitCode.BAD_INPUT, result.stdout + result.stderr
    assert says in result.stderr and "Nothing was run" in result.stderr
    assert not (root / "tmp").exists() and not (root / "not-mounted").exists()


def test_a_backend_url_pulumi_does_not_know_is_bad_input_in_every_env(
    pulumi_env: Any, run_cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`garbage` went to the engine as a Pulumi Cloud name: 'PULUMI_ACCESS_TOKEN must be set'."""
    monkeypatch.setenv("PULUMI_BACKEND_URL", "garbage")
    result = run_cli("--env", "local", "stacks")
    assert result.exit_code == ExitCode.BAD_INPUT, result.stdout + result.stderr
    assert "'garbage' is not a backend URL" in result.stderr
    assert "PULUMI_ACCESS_TOKEN" not in result.stderr


def test_with_json_the_file_backend_note_stays_out_of_the_output(
    no_backend: Any, run_cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A scheduled job's log holds stdout and stderr and is read as one JSON document: the
    note broke test_backup_cron's three prod jobs."""
    import json

    shared = tmp_path / "shared-mount"
    shared.mkdir()
    monkeypatch.setenv("PULUMI_BACKEND_URL", f"file://{shared}")
    result = run_cli("--json", "--env", "prod", "stacks")
    assert result.exit_code == ExitCode.OK, result.stderr
    assert json.loads(result.stdout + result.stderr)["status"] == "success"
