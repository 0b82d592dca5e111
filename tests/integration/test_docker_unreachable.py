"""An unreachable Docker engine is named before the engine runs, with what to do."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from automation.exit_codes import ExitCode

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("verb", ["preview", "deploy", "refresh", "destroy", "drift"])
def test_an_unreachable_docker_engine_is_one_line_naming_it(
    verb: str, pulumi_env: Any, run_cli: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKER_HOST", "unix:///run/sprocket-test-no-engine.sock")
    result = run_cli("--yes", verb, "layer_1")
    assert result.exit_code == ExitCode.ERROR, result.stdout + result.stderr
    [line] = [x for x in result.stderr.splitlines() if x.startswith("error:")]
    assert "the Docker engine at unix:///run/sprocket-test-no-engine.sock is unreachable" in line
    assert "scripts/ensure-docker.sh" in line and "DOCKER_HOST" in line
