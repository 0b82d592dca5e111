"""The driver's preview/deploy/destroy on the real engine, with stand-in layer programs.

Everything is real (pulumi CLI, file backend, plans, locks, audit log) except the layers'
program(), swapped through one seam (driver_toys.substitute_programs) for dynamic resources.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any

import pytest
from driver_toys import (
    check_schema,
    specs_fixture,  # noqa: F401 - provides the `specs` fixture
)

from automation.exit_codes import ExitCode

pytestmark = pytest.mark.integration

TOY_TYPE = "pulumi-python:dynamic:Resource"


def urn(stack: str, name: str) -> str:
    return f"urn:pulumi:{stack}::sprocket-infra::{TOY_TYPE}::{name}"


def _export(pulumi_env: Any, stack: str) -> dict[str, Any]:
    import subprocess

    proc = subprocess.run(
        [
            f"{pulumi_env.env['SPROCKET_PULUMI_CLI_DIR']}/pulumi",
            "stack",
            "export",
            "--stack",
            stack,
        ],
        cwd=pulumi_env.project_dir,
        env={**os.environ, **pulumi_env.env},
        capture_output=True,
        text=True,
        check=True,
    )
    deployment: dict[str, Any] = json.loads(proc.stdout)["deployment"]
    return deployment


def _resource(deployment: dict[str, Any], name: str) -> dict[str, Any]:
    [resource] = [r for r in deployment.get("resources", []) if r["urn"].endswith(f"::{name}")]
    return resource


def test_a_plan_bigger_than_max_changes_is_blocked_whole(
    specs: Any, run_cli: Callable[..., Any]
) -> None:
    specs["layer_1"]["toys"] = [{"name": f"t{i}", "value": "v1"} for i in range(3)]
    fits = run_cli("--json", "preview", "layer_1", "--max-changes", "5")
    assert fits.exit_code == ExitCode.CHANGES_PRESENT, fits.stdout + fits.stderr

    bigger = run_cli("--json", "--yes", "deploy", "layer_1", "--max-changes", "2")
    assert bigger.exit_code == ExitCode.GATE_BLOCKED, bigger.stdout + bigger.stderr
    [stack] = bigger.json()["data"]["stacks"]
    assert stack["applied"] is False
    assert all("more than the 2 expected" in b["reason"] for b in stack["gate"]["blocked"])
    assert run_cli("preview", "layer_1").exit_code == ExitCode.CHANGES_PRESENT  # nothing applied


def test_preview_exit_codes_no_changes_vs_changes(specs: Any, run_cli: Callable[..., Any]) -> None:
    specs["layer_1"]["toys"] = [{"name": "web", "value": "v1"}]

    preview = run_cli("--json", "preview", "layer_1")
    assert preview.exit_code == ExitCode.CHANGES_PRESENT, preview.stderr
    doc = check_schema(preview.json())
    assert (doc["schema_version"], doc["command"], doc["status"]) == (1, "preview", "success")
    [stack] = doc["data"]["stacks"]
    assert stack["stack"] == "local-layer_1"
    assert stack["changes"]["create"] >= 1
    assert {"urn": urn("local-layer_1", "web"), "type": TOY_TYPE, "op": "create", "diffs": []} in (
        stack["steps"]
    )
    assert stack["gate"] == {"allowed": True, "blocked": []}

    deploy = run_cli("--yes", "deploy", "layer_1")
    assert deploy.exit_code == ExitCode.OK, deploy.stderr
    assert "local-layer_1:" in deploy.stdout and "[applied]" in deploy.stdout

    again = run_cli("preview", "layer_1")
    assert again.exit_code == ExitCode.OK, again.stderr
    assert "local-layer_1: no changes" in again.stdout

    specs["layer_1"]["toys"] = [{"name": "web", "value": "v2"}]
    changed = run_cli("preview", "layer_1")
    assert changed.exit_code == ExitCode.CHANGES_PRESENT
    assert "update" in changed.stdout and "web" in changed.stdout


def test_gate_blocks_replacing_a_protected_resource_until_allowed(
    specs: Any, run_cli: Callable[..., Any], pulumi_env: Any
) -> None:
    db = urn("local-layer_1", "db")
    specs["layer_1"]["toys"] = [{"name": "db", "key": "a", "protect": True}, {"name": "web"}]
    assert run_cli("--yes", "deploy", "layer_1").exit_code == ExitCode.OK

    specs["layer_1"]["toys"][0]["key"] = "b"  # a key change replaces the protected resource
    preview = run_cli("--json", "preview", "layer_1")
    assert preview.exit_code == ExitCode.GATE_BLOCKED, preview.stdout
    [stack] = check_schema(preview.json())["data"]["stacks"]
    [blocked] = stack["gate"]["blocked"]
    assert (blocked["urn"], blocked["op"]) == (db, "replace")
    assert f"--allow-replace {db}" in blocked["reason"]

    refused = run_cli("--yes", "deploy", "layer_1")
    assert refused.exit_code == ExitCode.GATE_BLOCKED
    assert f"BLOCKED replace {db}" in refused.stdout
    assert _resource(_export(pulumi_env, "local-layer_1"), "db")["id"] == "toy-a"  # untouched

    previewed = run_cli("preview", "layer_1", "--allow-replace", db)
    assert previewed.exit_code == ExitCode.CHANGES_PRESENT, previewed.stdout + previewed.stderr
    assert "lifts `protect` from db for itself only" in previewed.stdout

    allowed = run_cli("--yes", "deploy", "layer_1", "--allow-replace", db)
    assert allowed.exit_code == ExitCode.OK, allowed.stderr + allowed.stdout
    replaced = _resource(_export(pulumi_env, "local-layer_1"), "db")
    assert replaced["id"] == "toy-b"
    assert replaced.get("protect") is True  # the replacement is protected again
    assert run_cli("preview", "layer_1").exit_code == ExitCode.OK


def test_allowance_that_matches_nothing_is_bad_input(
    specs: Any, run_cli: Callable[..., Any]
) -> None:
    specs["layer_1"]["toys"] = [{"name": "web"}]
    typo = urn("local-layer_1", "wbe")
    result = run_cli("preview", "layer_1", "--allow-replace", typo)
    assert result.exit_code == ExitCode.BAD_INPUT
    assert result.stderr.count("\n") == 1
    assert typo in result.stderr and "matches no replace step" in result.stderr

    other_stack = run_cli("preview", "layer_1", "--allow-delete", urn("local-platform", "web"))
    assert other_stack.exit_code == ExitCode.BAD_INPUT
    assert "local-layer_1" in other_stack.stderr and "not a URN of a stack" in other_stack.stderr

    not_urn = run_cli("preview", "layer_1", "--allow-delete", "web")
    assert not_urn.exit_code == ExitCode.BAD_INPUT and "'web'" in not_urn.stderr

    as_json = check_schema(run_cli("--json", "preview", "layer_1", "--allow-replace", typo).json())
    assert (as_json["status"], as_json["exit_code"], as_json["data"]) == ("error", 64, {})
    assert typo in as_json["errors"][0]["message"]


def test_plan_drift_between_preview_and_apply_is_refused(
    specs: Any, run_cli: Callable[..., Any], pulumi_env: Any
) -> None:
    specs["layer_1"]["toys"] = [{"name": "web", "value": "v1"}]
    assert run_cli("--yes", "deploy", "layer_1").exit_code == ExitCode.OK

    # The program answers differently each time it runs: the approved preview sees "v2",
    # the apply would send "v3". The engine, bound to the saved plan, must refuse.
    runs = iter(["v2", "v3", "v4"])

    class Drifting(dict):  # type: ignore[type-arg]
        def get(self, key: str, default: Any = None) -> Any:
            return next(runs) if key == "value" else super().get(key, default)

    specs["layer_1"]["toys"] = [Drifting(name="web")]
    result = run_cli("--yes", "deploy", "layer_1")
    assert result.exit_code == ExitCode.GATE_BLOCKED, result.stdout + result.stderr
    assert "did not show" in result.stderr and "violates plan" in result.stderr
    assert _resource(_export(pulumi_env, "local-layer_1"), "web")["outputs"]["value"] == "v1"


def test_engine_or_program_error_is_exit_1(
    specs: Any, run_cli: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    specs["layer_1"]["fail"] = "the catalog names an image that does not exist"
    result = run_cli("--yes", "deploy", "layer_1")
    assert result.exit_code == ExitCode.ERROR
    assert "the catalog names an image that does not exist" in result.stderr
    assert "SPROCKET_ENGINE_OUTPUT=1" in result.stderr  # where the full story is

    monkeypatch.setenv("SPROCKET_ENGINE_OUTPUT", "1")
    verbose = run_cli("--json", "preview", "layer_1")
    assert verbose.exit_code == ExitCode.ERROR
    assert "Previewing update (local-layer_1)" in verbose.stderr  # the engine's own output
    assert check_schema(verbose.json())["status"] == "error"  # stdout stays one document


def test_deploy_without_yes_off_a_terminal_refuses(specs: Any, run_cli: Callable[..., Any]) -> None:
    specs["layer_1"]["toys"] = [{"name": "web"}]
    result = run_cli("deploy", "layer_1")
    assert result.exit_code == ExitCode.BAD_INPUT
    assert "pass --yes" in result.stderr
    assert run_cli("preview", "layer_1").exit_code == ExitCode.CHANGES_PRESENT  # nothing applied


def test_downstream_layer_refused_when_upstream_outputs_are_missing(
    specs: Any, run_cli: Callable[..., Any]
) -> None:
    specs["layer_1"].update(toys=[{"name": "net"}], exports={"base_domain": "sprocket.test"})
    specs["layer_2"]["toys"] = [{"name": "redis"}]

    result = run_cli("--json", "--yes", "deploy", "all")
    assert result.exit_code == ExitCode.ERROR
    stacks = {s["stack"]: s for s in check_schema(result.json())["data"]["stacks"]}
    assert stacks["local-layer_1"]["status"] == "applied"
    assert stacks["local-layer_2"]["status"] == "failed"
    assert stacks["local-platform"]["status"] == "not run"
    message = result.json()["errors"][0]["message"]
    assert "local-layer_1" in message and "ingress_network" in message
    assert "base_domain" not in message  # present, so not named


def test_target_limits_the_deploy_to_the_named_resource(
    specs: Any, run_cli: Callable[..., Any], pulumi_env: Any
) -> None:
    specs["layer_1"]["toys"] = [{"name": "web", "value": "v1"}, {"name": "api", "value": "v1"}]
    assert run_cli("--yes", "deploy", "layer_1").exit_code == ExitCode.OK
    specs["layer_1"]["toys"] = [{"name": "web", "value": "v2"}, {"name": "api", "value": "v2"}]

    web = urn("local-layer_1", "web")
    result = run_cli("--json", "--yes", "deploy", "layer_1", "--target", web)
    assert result.exit_code == ExitCode.OK, result.stderr
    [stack] = check_schema(result.json())["data"]["stacks"]
    assert [(s["urn"], s["op"]) for s in stack["steps"]] == [(web, "update")]
    state = _export(pulumi_env, "local-layer_1")
    assert _resource(state, "web")["outputs"]["value"] == "v2"
    assert _resource(state, "api")["outputs"]["value"] == "v1"  # not targeted: untouched

    missing = run_cli("preview", "layer_1", "--target", urn("local-layer_1", "nope"))
    assert missing.exit_code == ExitCode.BAD_INPUT, missing.stderr
    assert "--target" in missing.stderr


def test_removing_protect_is_gated_until_allowed(
    specs: Any, run_cli: Callable[..., Any], pulumi_env: Any
) -> None:
    db = urn("local-layer_1", "db")
    specs["layer_1"]["toys"] = [{"name": "db", "protect": True}]
    assert run_cli("--yes", "deploy", "layer_1").exit_code == ExitCode.OK

    specs["layer_1"]["toys"][0]["protect"] = False
    blocked = run_cli("--yes", "deploy", "layer_1")
    assert blocked.exit_code == ExitCode.GATE_BLOCKED, blocked.stdout + blocked.stderr
    assert f"--allow-unprotect {db}" in blocked.stdout
    assert _resource(_export(pulumi_env, "local-layer_1"), "db").get("protect") is True

    allowed = run_cli("--yes", "deploy", "layer_1", "--allow-unprotect", db)
    assert allowed.exit_code == ExitCode.OK, allowed.stdout + allowed.stderr
    assert not _resource(_export(pulumi_env, "local-layer_1"), "db").get("protect")


def test_output_only_change_is_a_change(specs: Any, run_cli: Callable[..., Any]) -> None:
    """Downstream layers read stack outputs: a changed output is never 'no changes'."""
    specs["layer_1"].update(toys=[{"name": "net"}], exports={"base_domain": "a.test"})
    assert run_cli("--yes", "deploy", "layer_1").exit_code == ExitCode.OK
    specs["layer_1"]["exports"] = {"base_domain": "b.test"}

    preview = run_cli("--json", "preview", "layer_1")
    assert preview.exit_code == ExitCode.CHANGES_PRESENT, preview.stdout
    [stack] = check_schema(preview.json())["data"]["stacks"]
    assert [(s["type"], s["op"], s["diffs"]) for s in stack["steps"]] == [
        ("pulumi:pulumi:Stack", "update", ["base_domain"])
    ]
    assert run_cli("--yes", "deploy", "layer_1").exit_code == ExitCode.OK
    assert run_cli("preview", "layer_1").exit_code == ExitCode.OK


def test_deploy_all_runs_the_layers_in_order_once_the_contracts_are_met(
    specs: Any, run_cli: Callable[..., Any]
) -> None:
    from automation.guard import audit
    from automation.settings import load_settings
    from sprocket_common.outputs import LAYER1_KEYS, LAYER2_KEYS

    specs["layer_1"].update(toys=[{"name": "net"}], exports=dict.fromkeys(LAYER1_KEYS, "x"))
    specs["layer_2"].update(toys=[{"name": "redis"}], exports=dict.fromkeys(LAYER2_KEYS, "y"))
    specs["platform"].update(toys=[{"name": "web"}])

    preview = run_cli("--json", "preview", "all")  # layer_2 cannot be previewed before layer_1
    assert preview.exit_code == ExitCode.ERROR
    assert "deploy layer_1 first" in preview.json()["errors"][0]["hint"]

    result = run_cli("--json", "--yes", "deploy", "all")
    assert result.exit_code == ExitCode.OK, result.stderr
    stacks = check_schema(result.json())["data"]["stacks"]
    assert [(s["stack"], s["status"]) for s in stacks] == [
        ("local-layer_1", "applied"),
        ("local-layer_2", "applied"),
        ("local-platform", "applied"),
    ]
    deploys = [r["stack"] for r in audit.read(load_settings()) if r["command"] == "deploy"]
    assert deploys == ["local-layer_1", "local-layer_2", "local-platform"]
    assert run_cli("preview", "all").exit_code == ExitCode.OK
