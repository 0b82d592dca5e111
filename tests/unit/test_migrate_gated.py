"""migrate changes the state only through the gated verbs: its rollback's destroy of the program's
services is the previewed, judged destroy (never `--skip-preview`), and its adopt step's
`pulumi import` runs a preview-only import and the gate before the import itself."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from automation.context import Context
from automation.exit_codes import ExitCode
from automation.guard.operation import Operation
from automation.migrate import apply
from automation.migrate.plan import Step
from automation.settings import Settings
from automation.stack import run as stack_run
from sprocket_common.stack_info import Env, Layer

SERVICE_URN = "urn:pulumi:local-layer_2::sprocket-infra::docker:index/service:Service::redis"
ROLE_URN = "urn:pulumi:local-layer_2::sprocket-infra::postgresql:index/role:Role::app"
VOLUME_URN = "urn:pulumi:local-layer_2::sprocket-infra::sprocket:x$docker:index/volume:Volume::d"


def _ctx(tmp_path: Path) -> Context:
    return Context(Settings(project_dir=tmp_path, state_dir=tmp_path), Env.LOCAL, assume_yes=True)


@pytest.fixture
def cli_calls(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """Every plain `pulumi` CLI run, recorded (none reaches a CLI)."""
    from automation.pulumi import cli, workspace

    calls: list[list[str]] = []
    exported = {"deployment": {"resources": [
        {"urn": SERVICE_URN, "type": apply.SERVICE_TYPE},
        {"urn": ROLE_URN, "type": "postgresql:index/role:Role", "dependencies": [SERVICE_URN]},
        {"urn": VOLUME_URN, "type": apply.VOLUME, "dependencies": [SERVICE_URN]},
        {"urn": "urn:other", "type": "random:index/randomPassword:RandomPassword"},
    ]}}  # fmt: skip
    monkeypatch.setattr(cli, "run_pulumi", lambda _s, _i, args, **_k: calls.append(list(args)))
    monkeypatch.setattr(cli, "run_pulumi_json", lambda *_a, **_k: exported)
    monkeypatch.setattr(workspace, "select_stack", lambda *_a, **_k: object())
    return calls


@contextlib.contextmanager
def _no_guard(_ctx: Context, info: Any, command: str, **_kwargs: Any) -> Iterator[Operation]:
    yield Operation(command=command, stack=info.name)


def test_rollback_destroys_the_program_services_through_the_gated_destroy(
    tmp_path: Path, cli_calls: list[list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    destroyed: list[stack_run.RunOptions] = []

    def destroy_stack(_ctx: Context, _info: Any, options: stack_run.RunOptions) -> Any:
        destroyed.append(options)
        return stack_run.StackOutcome("local-layer_2", status="destroyed", applied=True)

    monkeypatch.setattr(stack_run, "destroy_stack", destroy_stack)
    ctx = _ctx(tmp_path)
    apply._remove_program_services(ctx, ctx.stack(Layer.LAYER_2))
    assert not [c for c in cli_calls if "destroy" in c or "--skip-preview" in c], cli_calls
    assert [(o.targets, o.target_dependents) for o in destroyed] == [((SERVICE_URN,), True)]
    # the rollback's standing allowance: the services and their dependents, never a volume
    assert set(destroyed[0].policy.allow_delete) == {SERVICE_URN, ROLE_URN}


def test_a_blocked_rollback_destroy_stops_the_rollback(
    tmp_path: Path, cli_calls: list[list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    blocked = stack_run.StackOutcome("local-layer_2", status="blocked")
    blocked.exit_code = ExitCode.GATE_BLOCKED
    monkeypatch.setattr(stack_run, "destroy_stack", lambda *_a: blocked)
    ctx = _ctx(tmp_path)
    with pytest.raises(apply.DriverError) as raised:
        apply._remove_program_services(ctx, ctx.stack(Layer.LAYER_2))
    assert raised.value.code == ExitCode.GATE_BLOCKED


def test_the_destroy_preview_and_the_destroy_name_the_same_targets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: dict[str, dict[str, Any]] = {}

    class Stack:
        def preview_destroy(self, **kwargs: Any) -> None:
            seen["preview"] = kwargs

    monkeypatch.setattr(stack_run, "guarded", _no_guard)
    monkeypatch.setattr(stack_run, "require_docker_engine", lambda _ctx: None)
    monkeypatch.setattr(stack_run, "_existing", lambda *_a: Stack())
    ctx = _ctx(tmp_path)
    options = stack_run.RunOptions(targets=(SERVICE_URN,), target_dependents=True)
    outcome = stack_run.destroy_stack(ctx, ctx.stack(Layer.LAYER_2), options)
    assert outcome.status == "unchanged"  # nothing in the (empty) preview
    assert seen["preview"]["target"] == [SERVICE_URN]
    assert seen["preview"]["target_dependents"] is True


@pytest.fixture
def unguarded(monkeypatch: pytest.MonkeyPatch) -> None:
    """stack.run's engine-side helpers without the lock, audit and engine."""
    monkeypatch.setattr(stack_run, "guarded", _no_guard)
    monkeypatch.setattr(stack_run, "_select", lambda *_a: object())


@pytest.mark.usefixtures("unguarded")
def test_adopt_previews_and_gates_the_import_before_importing(
    tmp_path: Path, cli_calls: list[list[str]]
) -> None:
    ctx = _ctx(tmp_path)
    step = Step("adopt", "sprocket_redis", {"kind": "volume", "id": "sprocket_redis"})
    record = apply._adopt(ctx, ctx.stack(Layer.LAYER_2), step)
    imports = [c for c in cli_calls if c and c[0] == "import"]
    assert [("--preview-only" in c) for c in imports] == [True, False], cli_calls
    assert [("--yes" in c) for c in imports] == [False, True]  # the CLI refuses both at once
    assert record["urn"].endswith("::docker:index/volume:Volume::sprocket_redis")


@pytest.mark.usefixtures("unguarded")
def test_a_gate_that_blocks_the_import_leaves_the_state_alone(
    tmp_path: Path, cli_calls: list[list[str]]
) -> None:
    ctx = _ctx(tmp_path)
    urn = "urn:pulumi:local-layer_2::sprocket-infra::docker:index/volume:Volume::a"
    resources = {urn: {"type": "docker:index/volume:Volume", "name": "a", "id": "a"}}
    options = stack_run.RunOptions(policy=stack_run.GatePolicy(max_changes=0))
    outcome = stack_run.import_resources(ctx, ctx.stack(Layer.LAYER_2), resources, options)
    assert outcome.exit_code == ExitCode.GATE_BLOCKED
    assert [("--preview-only" in c) for c in cli_calls] == [True]
