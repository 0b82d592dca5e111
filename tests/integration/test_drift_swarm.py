"""`drift` after a real deploy of a dynamic Swarm resource, with the service changed by hand."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
from driver_toys import check_schema
from pulumi import automation as auto
from waiting import wait_until

from automation.exit_codes import ExitCode
from sprocket_common.testing.dynamic_service import SwarmServiceResource

pytestmark = pytest.mark.integration


@pytest.fixture
def deployed_layer_1(
    pulumi_env: Any, swarm: Any, test_images: dict[str, str], service_name: str
) -> Any:
    """The driver's `local-layer_1` stack, deployed with one real Swarm service; destroyed after."""

    def program() -> None:
        SwarmServiceResource("app", service_name=service_name, image=test_images["1"], replicas=1)

    # The checkout's stack file carries the salt of its own local passphrase, not the test's.
    (pulumi_env.project_dir / "Pulumi.local-layer_1.yaml").unlink(missing_ok=True)
    stack = auto.create_stack(
        "local-layer_1", "sprocket-infra", program, opts=pulumi_env.workspace_options()
    )
    stack.up(color="never")
    try:
        yield stack
    finally:
        stack.refresh(color="never")  # forget what was deleted by hand, then remove the rest
        stack.destroy(color="never")


def test_no_drift_right_after_a_deploy(deployed_layer_1: Any, run_cli: Any) -> None:
    result = run_cli("--json", "drift", "layer_1")
    assert result.exit_code == ExitCode.OK, result.stderr
    [stack] = result.json()["data"]["stacks"]
    assert stack == {"stack": "local-layer_1", "deployed": True, "drifted": []}


def test_service_scaled_by_hand_is_drift_naming_the_property(
    deployed_layer_1: Any, swarm: Any, service_name: str, run_cli: Any
) -> None:
    swarm.services.get(service_name).scale(2)  # by hand, through the Docker API
    wait_until(
        lambda: (
            swarm.services.get(service_name).attrs["Spec"]["Mode"]["Replicated"]["Replicas"] == 2
        ),
        "the new replica count",
    )

    result = run_cli("--json", "drift", "layer_1")

    assert result.exit_code == ExitCode.DRIFT_DETECTED, result.stderr
    check_schema(result.json())
    [stack] = result.json()["data"]["stacks"]
    [drifted] = stack["drifted"]
    assert drifted["urn"].endswith("pulumi-python:dynamic:Resource::app")
    assert (drifted["op"], drifted["changed"]) == ("update", ["replicas"])

    human = run_cli("drift", "layer_1")
    assert human.exit_code == ExitCode.DRIFT_DETECTED
    assert "local-layer_1: 1 resource(s) changed outside Pulumi" in human.stdout
    assert "changed: replicas" in human.stdout
    # a refresh preview writes nothing: the state still says 1 replica, so drift persists
    assert run_cli("drift", "layer_1").exit_code == ExitCode.DRIFT_DETECTED


def test_service_removed_by_hand_is_reported_deleted(
    deployed_layer_1: Any, swarm: Any, service_name: str, run_cli: Any
) -> None:
    swarm.services.get(service_name).remove()
    result = run_cli("--json", "drift", "all")
    assert result.exit_code == ExitCode.DRIFT_DETECTED
    stacks = {s["stack"]: s for s in result.json()["data"]["stacks"]}
    assert [d["op"] for d in stacks["local-layer_1"]["drifted"]] == ["delete"]
    # the other layers were never deployed in this backend: said so, and not drift
    assert stacks["local-layer_2"] == {"stack": "local-layer_2", "deployed": False, "drifted": []}


def test_unknown_layer_is_bad_input(run_cli: Any, pulumi_env: Any) -> None:
    result = run_cli("drift", "layer_9")
    assert result.exit_code == ExitCode.BAD_INPUT
    assert "layer_1, layer_2, platform" in result.stderr


def test_a_deploy_holding_the_lock_makes_drift_wait_or_exit_4(
    deployed_layer_1: Any, run_cli: Any
) -> None:
    """Mid-deploy, live and recorded state differ without drift: drift takes the stack's lock."""
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import time\n"
            "from automation.guard.lock import stack_lock\n"
            "from automation.settings import load_settings\n"
            "with stack_lock(load_settings(), 'local-layer_1', 'deploy'):\n"
            "    print('held', flush=True)\n"
            "    time.sleep(60)\n",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        result = run_cli("drift", "layer_1")
        assert result.exit_code == ExitCode.LOCKED
        assert "local-layer_1 is locked by" in result.stderr and "deploy" in result.stderr
    finally:
        holder.terminate()
        holder.wait(timeout=10)
    assert run_cli("drift", "layer_1", "--lock-wait", "5").exit_code == ExitCode.OK
