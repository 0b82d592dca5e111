"""End to end through the Automation API: real CLI, real file backends, a real Swarm service."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pulumi
import pytest
from pulumi import automation as auto

from sprocket_common.testing.dynamic_service import SwarmServiceResource

pytestmark = pytest.mark.integration

CANARY = "canary-7f3a9c1e-never-print-me"


def _program(service_name: str) -> Any:
    def program() -> None:
        config = pulumi.Config()
        token = config.require_secret("canary")
        service = SwarmServiceResource(
            "app",
            service_name=service_name,
            image=config.require("image"),
            replicas=1,
            healthcheck={"test": ["CMD", "wget", "-q", "-O-", "http://127.0.0.1:8080/"]},
        )
        pulumi.export("service_id", service.service_id)
        pulumi.export("token_length", token.apply(len))
        pulumi.export("token", token)

    return program


def _cli_export(pulumi_env: Any, stack: str, path: Path) -> dict[str, Any]:
    """`pulumi stack export` without --show-secrets: the ciphertext form a backup keeps."""
    subprocess.run(
        [
            f"{pulumi_env.env['SPROCKET_PULUMI_CLI_DIR']}/pulumi",
            "stack",
            "export",
            "--stack",
            stack,
            "--file",
            str(path),
        ],
        cwd=pulumi_env.project_dir,
        env={**pulumi_env.env, "PATH": "/usr/bin:/bin"},
        check=True,
    )
    exported: dict[str, Any] = json.loads(path.read_text())
    return exported


def _image_of(swarm: Any, name: str) -> str:
    spec = swarm.services.get(name).attrs["Spec"]
    image: str = spec["TaskTemplate"]["ContainerSpec"]["Image"]
    return image.split("@sha256:")[0]


def test_up_update_export_import_destroy_on_real_swarm(
    pulumi_env: Any, swarm: Any, test_images: dict[str, str], service_name: str, tmp_path: Path
) -> None:
    stack_name = f"e2e-{service_name}"
    program = _program(service_name)
    stack = auto.create_stack(
        stack_name, "sprocket-infra", program, opts=pulumi_env.workspace_options()
    )
    stack.set_config("canary", auto.ConfigValue(CANARY, secret=True))
    stack.set_config("image", auto.ConfigValue(test_images["1"]))
    try:
        up = stack.up(color="never")
        assert up.outputs["token_length"].value == len(CANARY)
        assert _image_of(swarm, service_name) == test_images["1"]

        stack.set_config("image", auto.ConfigValue(test_images["2"]))
        update = stack.up(color="never")
        assert update.summary.resource_changes == {"same": 1, "update": 1}
        assert _image_of(swarm, service_name) == test_images["2"]

        export_path = tmp_path / "export.json"
        exported = _cli_export(pulumi_env, stack_name, export_path)
        text = export_path.read_text()
        assert CANARY not in text
        assert "ciphertext" in text
        assert exported["deployment"]["secrets_providers"]["type"] == "passphrase"

        # A fresh stack of the same name on a second backend, from the export alone.
        other = pulumi_env.with_backend(tmp_path / "backend-b")
        restored = auto.create_stack(
            stack_name, "sprocket-infra", program, opts=other.workspace_options()
        )
        restored.import_stack(
            auto.Deployment(version=exported["version"], deployment=exported["deployment"])
        )
        preview = restored.preview(color="never", expect_no_changes=True)
        assert preview.change_summary == {"same": 2}
    finally:
        stack.destroy(color="never")
    assert not swarm.services.list(filters={"name": service_name})
