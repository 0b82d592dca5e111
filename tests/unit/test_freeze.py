"""The deploy freeze through the real CLI: refusals, --force-frozen, expiry, a damaged file.

The refusals need no engine: a frozen verb stops before its lock and before any engine call.
The deploy that goes through with --force-frozen is in tests/integration/test_freeze_engine.py.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from automation.exit_codes import ExitCode
from automation.guard import audit
from automation.guard.freeze import FROZEN_VERBS, freeze_path, parse_until
from automation.settings import Settings, load_settings


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The driver's records in a temp folder (a file backend there): nothing of the checkout."""
    monkeypatch.setenv("SPROCKET_PROJECT_DIR", str(tmp_path / "project"))
    monkeypatch.setenv("SPROCKET_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("PULUMI_BACKEND_URL", f"file://{tmp_path / 'backend'}")
    monkeypatch.setenv("SPROCKET_ACTOR", "alice")
    monkeypatch.delenv("SPROCKET_SETTINGS", raising=False)
    (tmp_path / "backend").mkdir()
    return load_settings()


def _json(result: Any) -> dict[str, Any]:
    return dict(json.loads(result.stdout))


def test_a_frozen_deploy_is_refused_with_the_message_who_and_when(
    run_cli: Any, settings: Settings
) -> None:
    frozen = run_cli("--json", "freeze", "--message", "tournament final, no deploys")
    assert frozen.exit_code == ExitCode.OK, frozen.stderr
    # Beside the backend's other records: every ops host on this backend reads the same file.
    path = freeze_path(settings, "local")
    assert path.parent.parent == Path(settings.resolved_backend_url[7:]) / ".sprocket"
    assert json.loads(path.read_text())["user"] == "alice"

    result = run_cli("--json", "deploy", "all", "--yes")
    assert result.exit_code == ExitCode.FROZEN
    [error] = _json(result)["errors"]
    assert "local is frozen: 'tournament final, no deploys' (frozen by alice@" in error["message"]
    assert "until unfrozen" in error["message"]
    assert "--force-frozen REASON" in error["hint"] and "unfreeze" in error["hint"]
    [refusal] = [r for r in audit.read(settings) if r["command"] == "deploy"]
    assert refusal["exit_code"] == ExitCode.FROZEN and refusal["outcome"] == "frozen"

    assert run_cli("unfreeze").exit_code == ExitCode.OK
    assert not path.exists()
    commands = [r["command"] for r in audit.read(settings)]
    assert commands == ["freeze", "deploy", "unfreeze"]


@pytest.mark.parametrize(
    "args",
    [
        ("rotate", "vault-token", "--apply"),
        ("restore", "db", "--from", "x", "--into", "scratch_x"),
        ("rollout", "--tag", "2"),
    ],
    ids=lambda a: " ".join(a[:2]),
)
def test_other_mutating_verbs_are_refused_too(
    run_cli: Any, settings: Settings, args: tuple[str, ...]
) -> None:
    assert run_cli("freeze", "-m", "change window").exit_code == ExitCode.OK
    result = run_cli("--json", "--yes", *args)
    assert result.exit_code == ExitCode.FROZEN, result.stdout + result.stderr
    assert "'change window'" in _json(result)["errors"][0]["message"]


def test_a_backup_still_runs_while_frozen(run_cli: Any, settings: Settings) -> None:
    assert run_cli("freeze", "-m", "tournament").exit_code == ExitCode.OK
    result = run_cli("--json", "backup", "db")  # no database here: it fails, but not frozen
    assert result.exit_code not in (ExitCode.FROZEN, ExitCode.OK)
    assert "frozen" not in result.stdout


def test_force_frozen_lets_one_run_through_and_the_audit_keeps_the_reason(
    run_cli: Any, settings: Settings
) -> None:
    assert run_cli("freeze", "-m", "tournament").exit_code == ExitCode.OK
    # Past the freeze, the rotation fails for want of a deployed stack: the freeze let it on.
    result = run_cli("--json", "--yes", "rotate", "vault-token", "--apply",
                     "--force-frozen", "hotfix INC-42")  # fmt: skip
    assert result.exit_code not in (ExitCode.FROZEN, ExitCode.OK), result.stdout
    [record] = [r for r in audit.read(settings) if r["command"] == "rotate vault-token"]
    assert record["force_frozen"]["reason"] == "hotfix INC-42"
    assert record["force_frozen"]["freeze"]["message"] == "tournament"
    assert run_cli("deploy", "all", "--force-frozen", "  ").exit_code == ExitCode.BAD_INPUT


def test_a_freeze_past_its_until_time_refuses_nothing(run_cli: Any, settings: Settings) -> None:
    assert run_cli("freeze", "-m", "night", "--until", "2h").exit_code == ExitCode.OK
    path = freeze_path(settings, "local")
    record = json.loads(path.read_text())
    assert run_cli("--json", "stacks").exit_code in (ExitCode.OK, ExitCode.ERROR)
    record["until"] = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    path.write_text(json.dumps(record))
    result = run_cli("--json", "--yes", "rotate", "vault-token", "--apply")
    assert result.exit_code != ExitCode.FROZEN
    assert "expired" in run_cli("unfreeze").stdout


def test_a_damaged_freeze_file_is_named_and_counts_as_frozen(
    run_cli: Any, settings: Settings
) -> None:
    path = freeze_path(settings, "local")
    path.parent.mkdir(parents=True)
    path.write_text('{"env": "local", "message": "tourn')  # a torn write
    result = run_cli("--json", "deploy", "all", "--yes")
    assert result.exit_code == ExitCode.FROZEN
    message = _json(result)["errors"][0]["message"]
    assert f"freeze file {path} cannot be read" in message and "treated as frozen" in message
    assert run_cli("unfreeze").exit_code == ExitCode.OK
    assert not path.exists()


def test_freezes_are_per_environment(run_cli: Any, settings: Settings) -> None:
    assert run_cli("--env", "staging", "freeze", "-m", "staging only").exit_code == ExitCode.OK
    result = run_cli("--json", "--yes", "rotate", "vault-token", "--apply")  # local
    assert result.exit_code != ExitCode.FROZEN


def test_until_takes_a_time_or_a_duration_and_refuses_the_past() -> None:
    now = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
    assert parse_until("6h", now) == now + timedelta(hours=6)
    assert parse_until("2026-12-08T18:00Z", now) == datetime(2026, 12, 8, 18, 0, tzinfo=UTC)
    from automation.errors import BadInput

    with pytest.raises(BadInput, match="not in the future"):
        parse_until("2026-12-07T11:00Z", now)
    with pytest.raises(BadInput, match="neither a time nor a duration"):
        parse_until("tomorrow", now)


def test_every_frozen_verb_takes_force_frozen_and_others_do_not(run_cli: Any) -> None:
    for verb in sorted(FROZEN_VERBS):
        words = verb.split()
        if words[0] == "restore" and words[1] == "layer":
            words = ["restore", "layer_1"]
        shown = run_cli(*words, "--help")
        assert _OPTION_HELP in shown.stdout, verb
    for verb in ("preview", "backup", "drill", "health", "drift"):
        assert _OPTION_HELP not in run_cli(verb, "--help").stdout, verb


_OPTION_HELP = "Run although the environment is frozen"


def test_stacks_shows_the_freeze(run_cli: Any, pulumi_env: Any) -> None:
    """`stacks` on the real pulumi CLI (offline file backend): the freeze under the table."""
    assert run_cli("freeze", "-m", "league final", "--until", "6h").exit_code == ExitCode.OK
    listed = run_cli("--json", "stacks")
    assert listed.exit_code == ExitCode.OK, listed.stderr
    import jsonschema

    schema = Path(__file__).parents[2] / "automation" / "schema" / "result.schema.json"
    jsonschema.validate(_json(listed), json.loads(schema.read_text()))
    freeze = _json(listed)["data"]["freeze"]
    assert (freeze["message"], freeze["env"]) == ("league final", "local")
    human = run_cli("stacks").stdout.splitlines()
    assert human[-1].startswith("FROZEN until ") and "'league final' (by " in human[-1]
    assert run_cli("unfreeze").exit_code == ExitCode.OK
    assert _json(run_cli("--json", "stacks"))["data"]["freeze"] is None
    assert "FROZEN" not in run_cli("stacks").stdout


def test_a_hand_edited_freeze_time_without_a_zone_is_utc(run_cli: Any, settings: Settings) -> None:
    """A zone-less time (what a hand edit writes) made every reader raise TypeError, exit 1."""
    path = freeze_path(settings, "local")
    path.parent.mkdir(parents=True)
    until = (datetime.now(UTC) + timedelta(hours=2)).replace(tzinfo=None).isoformat()
    record = {"env": "local", "message": "m", "user": "u", "host": "h",
              "since": "2026-12-07T14:00:00Z", "until": until}  # fmt: skip
    path.write_text(json.dumps(record))
    assert run_cli("--json", "deploy", "all", "--yes").exit_code == ExitCode.FROZEN
    assert run_cli("freeze", "-m", "replaced").exit_code == ExitCode.OK
    assert run_cli("unfreeze").exit_code == ExitCode.OK and not path.exists()


def test_an_until_further_than_a_calendar_is_bad_input(run_cli: Any, settings: Settings) -> None:
    result = run_cli("--json", "freeze", "-m", "x", "--until", "99999999d")
    assert result.exit_code == ExitCode.BAD_INPUT, result.stdout + result.stderr
    assert "--until '99999999d'" in _json(result)["errors"][0]["message"]
