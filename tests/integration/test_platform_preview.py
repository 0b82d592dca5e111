"""`python -m automation preview platform` with a broken catalog: refused before the engine runs.

Real pulumi CLI, file backend and driver. The upstream layers are stand-ins (driver_toys) that
export the layer_1 / layer_2 contracts; the platform program is the real one. A valid catalog
cannot be previewed here (the docker provider plugin is not installed in this sandbox), which
is exactly why the catalog must fail first: this preview never needs a plugin.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from driver_toys import program_from_spec, specs_fixture, substitute_programs  # noqa: F401

from automation.exit_codes import ExitCode
from sprocket_common.outputs import LAYER1_KEYS, LAYER2_KEYS
from sprocket_common.stack_info import Layer, layer_package, load_program

pytestmark = pytest.mark.integration


def _contract(keys: tuple[str, ...]) -> dict[str, Any]:
    return {key: 5672 if key.endswith("_port") else f"stand-in-{key}" for key in keys}


def _resources(pulumi_env: Any, stack: str) -> list[dict[str, Any]] | None:
    proc = subprocess.run(
        [f"{pulumi_env.env['SPROCKET_PULUMI_CLI_DIR']}/pulumi", "stack", "export", "-s", stack],
        cwd=pulumi_env.project_dir,
        env={**os.environ, **pulumi_env.env},
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        return None  # never created
    resources: list[dict[str, Any]] = json.loads(proc.stdout)["deployment"].get("resources", [])
    return resources


def test_broken_catalog_stops_preview_before_the_engine_gets_anything(
    specs: Any,
    run_cli: Callable[..., Any],
    pulumi_env: Any,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    specs["layer_1"]["exports"] = _contract(LAYER1_KEYS)
    specs["layer_2"]["exports"] = _contract(LAYER2_KEYS)
    assert run_cli("--yes", "deploy", "layer_1").exit_code == ExitCode.OK
    assert run_cli("--yes", "deploy", "layer_2").exit_code == ExitCode.OK

    layer_package(Layer.PLATFORM)
    import sprocket_platform.catalog as catalog_module

    broken = tmp_path / "catalog.yaml"
    text = catalog_module.CATALOG_PATH.read_text()
    assert "routes:\n      - {host: image-generation}" in text
    broken.write_text(text.replace("{host: image-generation}", "{host: api}"))
    monkeypatch.setattr(catalog_module, "CATALOG_PATH", broken)
    substitute_programs(
        monkeypatch,
        {
            "layer_1": program_from_spec(specs["layer_1"]),
            "layer_2": program_from_spec(specs["layer_2"]),
            "platform": load_program(Layer.PLATFORM),
        },
    )

    result = run_cli("preview", "platform")
    assert result.exit_code == ExitCode.BAD_INPUT, result.stderr
    output = result.stdout + result.stderr
    assert "entry 'image-generation-frontend', field 'routes[0].host'" in output
    assert "already routed to 'core'" in output
    assert str(broken) in output  # the hint names the file to fix
    assert _resources(pulumi_env, "local-platform") is None  # no stack: the engine got nothing
