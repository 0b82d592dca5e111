"""Rollback and restore against a real Swarm service (the dynamic Swarm provider).

The layer program is substituted (driver_toys.substitute_programs) by one SwarmServiceResource
whose image comes from stack config, as the platform layer's image tags do.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml
from driver_toys import substitute_programs

from automation.exit_codes import ExitCode
from sprocket_common.testing.dynamic_service import SwarmServiceResource

pytestmark = [pytest.mark.integration, pytest.mark.long]

HERE = Path(__file__).resolve().parent
STACK = "local-layer_1"
CANARY = "canary-swarm-9c2e-never-print"


def _swarm_program(service_name: str) -> Callable[[], None]:
    def program() -> None:
        config = pulumi.Config()
        config.require_secret("canary")
        service = SwarmServiceResource(
            "app",
            service_name=service_name,
            image=config.require("image"),
            replicas=1,
            healthcheck={"test": ["CMD", "wget", "-q", "-O-", "http://127.0.0.1:8080/"]},
        )
        pulumi.export("service_id", service.service_id)

    return program


def _image_of(swarm: Any, name: str) -> str:
    spec = swarm.services.get(name).attrs["Spec"]
    image: str = spec["TaskTemplate"]["ContainerSpec"]["Image"]
    return image.split("@sha256:")[0]


def _settled(swarm: Any, name: str, timeout_s: float = 90) -> None:
    """Wait until Swarm has finished rolling the service (an update in flight makes the next
    update fail with `update out of sequence`, as it would for an operator)."""
    import time

    deadline = time.monotonic() + timeout_s
    state = None
    while time.monotonic() < deadline:
        state = (swarm.services.get(name).attrs.get("UpdateStatus") or {}).get("State")
        if state in (None, "completed"):
            return
        time.sleep(1)
    raise AssertionError(f"service {name} still {state!r} after {timeout_s:.0f} s")


def _config_image(pulumi_env: Any) -> str:
    config = yaml.safe_load(pulumi_env.stack_file(STACK).read_text())
    image: str = config["config"]["sprocket-infra:image"]
    return image


@pytest.fixture
def service_name(swarm: Any) -> Iterator[str]:
    """A service name of this module's own, removed after the test.

    Not conftest's `sprockettest-` prefix: every test session sweeps that prefix when it ends,
    so another helper's session ending mid-test would delete this service under the test.
    """
    import contextlib
    import uuid

    import docker.errors

    name = f"sprocketbk-{uuid.uuid4().hex[:8]}"
    yield name
    with contextlib.suppress(docker.errors.NotFound):
        swarm.services.get(name).remove()


@pytest.fixture
def released(
    pulumi_env: Any,
    s3_endpoint: Any,
    swarm: Any,
    test_images: dict[str, str],
    service_name: str,
    monkeypatch: pytest.MonkeyPatch,
    run_cli: Callable[..., Any],
) -> Callable[[str], None]:
    """A function deploying release `tag` of layer_1 through the driver (backups on)."""
    from pulumi import automation as auto

    from automation.pulumi.workspace import select_stack
    from automation.settings import load_settings
    from sprocket_common.stack_info import Env, Layer, StackInfo

    for stale in pulumi_env.project_dir.glob("Pulumi.local-*.yaml"):
        stale.unlink()
    monkeypatch.setenv("PYTHONPATH", f"{HERE}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    program = _swarm_program(service_name)
    substitute_programs(monkeypatch, {"layer_1": program})
    stack = select_stack(load_settings(), StackInfo(Env.LOCAL, Layer.LAYER_1))
    stack.set_config("canary", auto.ConfigValue(CANARY, secret=True))

    def release(tag: str) -> None:
        stack.set_config("image", auto.ConfigValue(test_images[tag]))
        result = run_cli("--yes", "deploy", "layer_1")
        assert result.exit_code == ExitCode.OK, result.stdout + result.stderr
        assert _image_of(swarm, service_name) == test_images[tag]
        _settled(swarm, service_name)

    return release


def test_rollback_last_good_returns_the_service_to_the_backed_up_image(
    released: Callable[[str], None],
    pulumi_env: Any,
    swarm: Any,
    test_images: dict[str, str],
    service_name: str,
    run_cli: Callable[..., Any],
) -> None:
    released("1")
    released("2")  # the "bad" release

    result = run_cli("--json", "--yes", "rollback", "layer_1", "--last-good")
    assert result.exit_code == ExitCode.OK, result.stdout + result.stderr
    assert CANARY not in result.stdout
    data = result.json()["data"]
    assert _image_of(swarm, service_name) == test_images["1"]  # the servers really went back
    assert _config_image(pulumi_env) == test_images["1"]  # and the config names that release
    assert data["update_version"] == 1
    # The service is updated in place (the stack's outputs may show as updated too: the
    # service's outputs are unknown until it is applied).
    resources = {
        s["urn"].rsplit("::", 1)[-1]: s["op"]
        for s in data["deploy"]["steps"]
        if s["type"] != "pulumi:pulumi:Stack"
    }
    assert resources == {"app": "update"}
    assert data["safety_backup"]["id"]

    # The rollback left a post-rollback snapshot: rolling "back" to it again changes nothing.
    listing = run_cli("--json", "backup", "list", "layer_1").json()["data"]["backups"]
    assert listing[0]["reason"] == "post-rollback"
    # The refresh and deploy inside the rollback are covered by its own pre/post snapshots.
    assert {b["reason"] for b in listing} == {
        "pre-deploy",
        "post-deploy",
        "pre-rollback",
        "post-rollback",
    }
    again = run_cli("--json", "--yes", "rollback", "layer_1", "--to", listing[0]["backup_id"])
    assert again.exit_code == ExitCode.OK, again.stderr
    assert again.json()["data"]["deploy"]["status"] == "unchanged"
    assert _image_of(swarm, service_name) == test_images["1"]


def test_restore_reports_where_reality_differs_from_the_restored_state(
    released: Callable[[str], None],
    swarm: Any,
    test_images: dict[str, str],
    service_name: str,
    run_cli: Callable[..., Any],
) -> None:
    released("1")
    released("2")
    listing = run_cli("--json", "backup", "list", "layer_1").json()["data"]["backups"]
    [v1] = [b for b in listing if b["reason"] == "post-deploy" and b["update_version"] == 1]

    result = run_cli("--json", "--yes", "restore", "layer_1", "--from", v1["backup_id"])
    assert result.exit_code == ExitCode.DRIFT_DETECTED, result.stdout + result.stderr
    assert result.json()["data"]["refresh"] == {"ok": True, "differences": {"update": 1}}
    # restore repairs state only: the service still runs release 2.
    assert _image_of(swarm, service_name) == test_images["2"]
