"""`scale` refusals change nothing: no stack created, no config file written."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from automation.exit_codes import ExitCode

pytestmark = pytest.mark.integration


def test_scale_without_a_platform_stack_creates_none(
    pulumi_env: Any, run_cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No engine is needed to refuse: an unreachable one proves nothing reached for it.
    monkeypatch.setenv("DOCKER_HOST", f"unix://{pulumi_env.root}/no-docker.sock")

    result = run_cli("--json", "scale", "web=3")

    assert not list(pulumi_env.backend_dir.rglob("local-platform.json*"))  # no stack created
    assert result.exit_code == ExitCode.ERROR, result.stdout
    [error] = result.json()["errors"]
    assert "local-platform stack does not exist yet" in error["message"], error
    assert "deploy" in error["hint"]
    tracked = yaml.safe_load((pulumi_env.project_dir / "Pulumi.local-platform.yaml").read_text())
    for copy in pulumi_env.root.glob("state/project/Pulumi.local-platform.yaml"):
        assert yaml.safe_load(copy.read_text()) == tracked  # seeded, no salt, no replicas
