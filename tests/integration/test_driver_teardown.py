"""Tearing a local environment down is one command; the gate's message names the one pattern
that allows all of a stack's blocked deletes, and that pattern, as printed, works."""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable
from typing import Any

import pytest
from driver_toys import specs_fixture  # noqa: F401 - provides the `specs` fixture

from automation.exit_codes import ExitCode
from sprocket_common.outputs import LAYER1_KEYS, LAYER2_KEYS

pytestmark = pytest.mark.integration

PATTERN = re.compile(r"(--allow-delete '[^']+')")


def _protected(*names: str) -> list[dict[str, Any]]:
    """Protected toys: the gate blocks deleting each, as it does a Swarm secret or volume."""
    return [{"name": name, "protect": True} for name in names]


def _deploy_three_layers(specs: Any, run_cli: Callable[..., Any]) -> None:
    specs["layer_1"].update(
        toys=_protected("net", "vault"), exports=dict.fromkeys(LAYER1_KEYS, "x")
    )
    specs["layer_2"].update(toys=_protected("redis", "pg"), exports=dict.fromkeys(LAYER2_KEYS, "y"))
    specs["platform"].update(toys=_protected("web", "core", "bot"))
    deployed = run_cli("--yes", "deploy", "all")
    assert deployed.exit_code == ExitCode.OK, deployed.stderr


def _resources(run_cli: Callable[..., Any]) -> dict[str, int]:
    rows = run_cli("--json", "stacks").json()["data"]["stacks"]
    return {row["stack"]: row["resource_count"] or 0 for row in rows if row["deployed"]}


def test_blocked_message_names_the_pattern_and_one_flag_tears_local_down(
    specs: Any, run_cli: Callable[..., Any]
) -> None:
    _deploy_three_layers(specs, run_cli)

    blocked = run_cli("--yes", "destroy", "all")
    assert blocked.exit_code == ExitCode.GATE_BLOCKED, blocked.stderr
    [hinted] = PATTERN.findall(blocked.stdout)  # destroy all stops at the first blocked layer
    assert hinted == "--allow-delete 'urn:pulumi:local-platform::*'"
    assert "all 3 blocked deletes of local-platform" in blocked.stdout

    # The pattern exactly as printed allows that stack's deletes, and only that stack's.
    platform = run_cli("--yes", "destroy", "platform", *shlex.split(hinted))
    assert platform.exit_code == ExitCode.OK, platform.stdout + platform.stderr
    assert _resources(run_cli)["local-platform"] == 0

    # Staging and prod: refused before anything runs, naming how to allow a named stack.
    prod = run_cli("--env", "prod", "--yes", "destroy", "all", "--allow-delete-all")
    assert prod.exit_code == ExitCode.BAD_INPUT
    assert "--allow-delete 'urn:pulumi:prod-platform::*'" in prod.stderr

    down = run_cli("--yes", "destroy", "all", "--allow-delete-all")
    assert down.exit_code == ExitCode.OK, down.stdout + down.stderr
    assert set(_resources(run_cli).values()) == {0}
