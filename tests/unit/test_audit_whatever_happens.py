"""Every verb that touches a stack leaves its audit record whatever happens: a verb that fails
or is interrupted half-way is where the record matters most. And one change is one record:
`scale` (a config edit and its deploy) writes one, not a `deploy` and a `scale`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from automation.errors import DriverError, StackLocked
from automation.exit_codes import ExitCode
from automation.guard import audit
from automation.settings import Settings


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    settings = Settings(project_dir=tmp_path, state_dir=tmp_path / ".sprocket")
    monkeypatch.setattr("automation.settings.load_settings", lambda: settings)
    monkeypatch.setattr("automation.notify.notify_result", lambda *_a, **_k: None)
    monkeypatch.setattr("automation.stack.upstream.require_docker_engine", lambda _ctx: None)
    monkeypatch.setattr("automation.stack.upstream.preflight", lambda *_a: None)
    return settings


def _run(*args: str) -> int:
    from automation.cli import main

    with pytest.raises(SystemExit) as done:
        main(["--json", *args])
    return int(done.value.code or 0)


def _records(settings: Settings) -> list[tuple[str, str, int]]:
    return [(r["command"], r["stack"], r["exit_code"]) for r in audit.read(settings)]


def _interrupt(*_args: Any, **_kwargs: Any) -> Any:
    raise KeyboardInterrupt


def test_an_interrupted_state_backup_is_recorded(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("automation.backup.service.take", _interrupt)
    assert _run("backup", "take", "layer_1") == ExitCode.INTERRUPTED
    assert _records(settings) == [("backup", "local-layer_1", 130)]


def test_a_drift_check_that_fails_is_recorded(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    def locked(*_args: Any) -> Any:
        raise StackLocked("stack local-layer_1 is locked", "wait")

    monkeypatch.setattr("automation.commands.drift._stack_drift", locked)
    assert _run("drift", "layer_1") == ExitCode.LOCKED
    assert _records(settings) == [("drift", "local-layer_1", int(ExitCode.LOCKED))]


def test_a_preview_that_fails_is_recorded(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    def failed(*_args: Any, **_kwargs: Any) -> Any:
        raise DriverError("the engine failed", "see above")

    monkeypatch.setattr("automation.stack.run.gated_preview", failed)
    assert _run("preview", "layer_1") == ExitCode.ERROR
    assert _records(settings) == [("preview", "local-layer_1", int(ExitCode.ERROR))]


def test_an_interrupted_drill_is_recorded(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("automation.drill.run_drill", _interrupt)
    assert _run("drill") == ExitCode.INTERRUPTED
    assert _records(settings) == [("drill", "all", 130)]


def test_an_unlock_refused_at_the_confirmation_is_recorded(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from automation.guard.lock import HeldLock, Liveness

    stale = HeldLock("driver lock", settings.state_dir / "x.json", "ops@host pid 1", Liveness.GONE)
    monkeypatch.setattr("automation.commands.stacks._held_locks", lambda *_a: [stale])
    assert _run("unlock", "layer_1") == ExitCode.BAD_INPUT  # no terminal, no --yes
    assert _records(settings) == [("unlock", "local-layer_1", int(ExitCode.BAD_INPUT))]


class _PlatformStack:
    def __init__(self) -> None:
        self.config: dict[str, Any] = {}

    def get_all_config(self) -> dict[str, Any]:
        return dict(self.config)

    def set_config(self, key: str, value: Any) -> None:
        self.config[key] = value

    def remove_config(self, key: str) -> None:
        self.config.pop(key, None)


@pytest.fixture
def platform(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> _PlatformStack:
    stack = _PlatformStack()
    monkeypatch.setattr("automation.pulumi.workspace.select_stack", lambda *_a, **_k: stack)
    monkeypatch.setattr("automation.pulumi.cli.run_pulumi_json", lambda *_a, **_k: {})
    monkeypatch.setattr("automation.stack.run._select", lambda *_a: stack)
    monkeypatch.setattr("automation.stack.run.preflight", lambda *_a: None)
    return stack


def test_a_blocked_scale_is_one_record(
    settings: Settings, platform: _PlatformStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    from automation.stack.run import StackOutcome

    def blocked(*_args: Any, **_kwargs: Any) -> StackOutcome:
        return StackOutcome("local-platform", status="blocked", exit_code=ExitCode.GATE_BLOCKED)

    monkeypatch.setattr("automation.stack.run.gated_preview", blocked)
    assert _run("scale", "web=3") == ExitCode.GATE_BLOCKED
    assert _records(settings) == [("scale", "local-platform", int(ExitCode.GATE_BLOCKED))]
    [record] = audit.read(settings)
    assert record["scale"] and platform.config == {}  # the count went back


def test_a_scale_whose_deploy_fails_is_one_record(
    settings: Settings, platform: _PlatformStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    def failed(*_args: Any, **_kwargs: Any) -> Any:
        raise DriverError("the engine failed", "see above")

    monkeypatch.setattr("automation.stack.run.gated_preview", failed)
    assert _run("scale", "web=3") == ExitCode.ERROR
    assert _records(settings) == [("scale", "local-platform", int(ExitCode.ERROR))]
    assert platform.config == {}
