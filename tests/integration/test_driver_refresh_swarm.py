"""refresh on a real Swarm service removed by hand: dropping a protected resource from the
state is gated like deleting it; the program is swapped through the same seam as elsewhere."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pulumi
import pytest
from driver_toys import (
    specs_fixture,  # noqa: F401 - provides the `specs` fixture
    substitute_programs,
)

from automation.exit_codes import ExitCode
from sprocket_common.testing.dynamic_service import SwarmServiceResource

pytestmark = pytest.mark.integration


def test_refresh_gates_dropping_a_protected_service_from_state(
    specs: Any,
    swarm: Any,
    test_images: dict[str, str],
    service_name: str,
    run_cli: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def program() -> None:
        SwarmServiceResource(
            "app",
            service_name=service_name,
            image=test_images["1"],
            replicas=1,
            opts=pulumi.ResourceOptions(protect=True),
        )

    substitute_programs(monkeypatch, {"layer_1": program})
    assert run_cli("--yes", "deploy", "layer_1").exit_code == ExitCode.OK
    app = "urn:pulumi:local-layer_1::sprocket-infra::pulumi-python:dynamic:Resource::app"
    try:
        assert run_cli("--yes", "refresh", "layer_1").exit_code == ExitCode.OK  # nothing moved

        swarm.services.get(service_name).remove()  # gone outside Pulumi
        blocked = run_cli("--json", "--yes", "refresh", "layer_1")
        assert blocked.exit_code == ExitCode.GATE_BLOCKED, blocked.stdout + blocked.stderr
        [stack] = blocked.json()["data"]["stacks"]
        assert [(b["urn"], b["op"]) for b in stack["gate"]["blocked"]] == [(app, "delete")]

        allowed = run_cli("--yes", "refresh", "layer_1", "--allow-delete", app)
        assert allowed.exit_code == ExitCode.OK, allowed.stdout + allowed.stderr
        listed = run_cli("--json", "stacks").json()["data"]["stacks"]
        [row] = [r for r in listed if r["stack"] == "local-layer_1"]
        assert row["resource_count"] == 2  # the stack and the provider: app left the state
    finally:
        for service in swarm.services.list(filters={"name": service_name}):
            service.remove()
