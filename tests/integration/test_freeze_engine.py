"""The deploy freeze on the tests' own engine: a frozen deploy is refused before any engine run,
and with --force-frozen it deploys, the audit keeping the reason."""

from __future__ import annotations

from typing import Any

import pytest
from driver_toys import specs_fixture  # noqa: F401 - provides the `specs` fixture

from automation.exit_codes import ExitCode
from automation.guard import audit
from automation.pulumi.workspace import existing_stack
from automation.settings import load_settings
from sprocket_common.stack_info import Env, Layer, StackInfo

pytestmark = pytest.mark.integration

LAYER_1 = StackInfo(Env.LOCAL, Layer.LAYER_1)


def test_a_deploy_is_refused_while_frozen_and_passes_with_force_frozen_audited(
    specs: Any, run_cli: Any
) -> None:
    specs["layer_1"]["toys"] = [{"name": "one"}]
    assert run_cli("freeze", "-m", "tournament final").exit_code == ExitCode.OK

    refused = run_cli("--yes", "deploy", "layer_1")
    assert refused.exit_code == ExitCode.FROZEN, refused.stderr
    assert "'tournament final'" in refused.stderr
    settings = load_settings()
    assert existing_stack(settings, LAYER_1) is None  # the engine never ran: no stack made

    forced = run_cli("--yes", "deploy", "layer_1", "--force-frozen", "hotfix INC-7")
    assert forced.exit_code == ExitCode.OK, forced.stderr
    stack = existing_stack(settings, LAYER_1)
    assert stack is not None and stack.history()[0].result == "succeeded"
    deploys = [r for r in audit.read(settings, LAYER_1.name) if r["command"] == "deploy"]
    assert [r["exit_code"] for r in deploys] == [ExitCode.FROZEN, ExitCode.OK]
    assert "force_frozen" not in deploys[0]
    assert deploys[1]["force_frozen"]["reason"] == "hotfix INC-7"
    assert deploys[1]["force_frozen"]["freeze"]["message"] == "tournament final"
