"""The driver's workspace set-up with the real CLI: what it skips must not change what it does."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest
from pulumi import automation as auto

from automation.pulumi import workspace
from automation.settings import load_settings
from sprocket_common.stack_info import Env, Layer, StackInfo

pytestmark = pytest.mark.integration

INFO = StackInfo(Env.LOCAL, Layer.LAYER_1)


def _nothing() -> None:
    pass


@pytest.fixture(autouse=True)
def _fresh_command_cache() -> Iterator[None]:
    workspace._pulumi_command_for.cache_clear()
    yield
    workspace._pulumi_command_for.cache_clear()


def _real_version(pulumi_env: Any) -> str:
    cli = f"{pulumi_env.env['SPROCKET_PULUMI_CLI_DIR']}/pulumi"
    out = subprocess.run([cli, "version"], capture_output=True, text=True, check=True).stdout
    return out.strip().removeprefix("v")


def test_the_cli_version_is_recorded_for_that_binary_only(pulumi_env: Any) -> None:
    settings = load_settings()
    stamp = settings.state_dir / "pulumi-cli.json"
    assert str(workspace.pulumi_command(settings).version) == _real_version(pulumi_env)
    recorded = json.loads(stamp.read_text())
    assert recorded["version"] == _real_version(pulumi_env)

    # A record for another build of the binary (different mtime) is not trusted.
    recorded["binary"]["mtime_ns"] += 1
    recorded["version"] = "3.0.0"
    stamp.write_text(json.dumps(recorded))
    workspace._pulumi_command_for.cache_clear()
    assert str(workspace.pulumi_command(settings).version) == _real_version(pulumi_env)
    assert json.loads(stamp.read_text())["version"] == _real_version(pulumi_env)


def test_an_existing_stack_is_used_without_stack_select(
    pulumi_env: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = load_settings()
    with pytest.raises(auto.StackNotFoundError):
        workspace.select_stack(settings, INFO, program=_nothing, create=False)
    workspace.select_stack(settings, INFO, program=_nothing).up(color="never")

    def no_select(*_args: Any) -> None:
        raise AssertionError("`pulumi stack select` ran for a stack already on disk")

    monkeypatch.setattr(auto.LocalWorkspace, "select_stack", no_select)
    stack = workspace.select_stack(settings, INFO, program=_nothing, create=False)
    assert stack.preview(color="never").change_summary == {"same": 1}
    assert [u.result for u in stack.history()] == ["succeeded"]
