"""`logs` and `exec` on the real local Swarm: a service that prints a stack secret, read back
with task and node and the secret redacted; `id` run in its task, audited without the output."""

from __future__ import annotations

import subprocess
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from busybox_rootfs import add_busybox
from driver_toys import check_schema
from pulumi import automation as auto
from waiting import wait_until

from automation.exit_codes import ExitCode
from automation.guard.audit import audit_path
from automation.settings import load_settings

pytestmark = pytest.mark.integration

CANARY = "canary-7d2f-investigate-never-shown"
IMAGE = "sprocket-test/investigate:1"


@pytest.fixture(scope="module")
def image(swarm: Any, tmp_path_factory: pytest.TempPathFactory) -> str:
    """busybox with sh, echo, sleep and id (the shared test images have no id)."""
    tar_path = tmp_path_factory.mktemp("investigate") / "rootfs.tar"
    with tarfile.open(tar_path, "w") as tar:
        add_busybox(tar, ("sh", "echo", "sleep", "id"))
    with tar_path.open("rb") as data:
        subprocess.run(
            ["docker", "import", "-", IMAGE], stdin=data, check=True, capture_output=True
        )
    return IMAGE


@pytest.fixture
def probe(swarm: Any, image: str, service_name: str, pulumi_env: Any) -> str:
    """A service whose stand-in prints the platform stack's secret canary, then waits."""
    stack = auto.create_stack(
        "local-platform", "sprocket-infra", lambda: None, opts=pulumi_env.workspace_options()
    )
    stack.set_config("canary", auto.ConfigValue(CANARY, secret=True))
    script = f"echo 'connecting with {CANARY} now'; echo ready; exec sleep 600"
    swarm.services.create(image, command=["sh", "-c", script], name=service_name)
    wait_until(
        lambda: any(t["Status"]["State"] == "running" for t in swarm.api.tasks(
            filters={"service": service_name})),
        "the probe's task running",
    )  # fmt: skip
    return service_name


def _node_hostname(swarm: Any) -> str:
    return str(swarm.info()["Name"])


def test_logs_show_task_node_and_the_canary_redacted(
    probe: str, swarm: Any, run_cli: Callable[..., Any]
) -> None:
    def logged() -> Any:
        run = run_cli("--json", "logs", probe, "--since", "10m")
        return run if len(run.json()["data"]["lines"]) >= 2 else None

    result = wait_until(logged, "the probe's two lines in its logs")

    assert result.exit_code == ExitCode.OK, result.stderr
    check_schema(result.json())
    lines = result.json()["data"]["lines"]
    [task] = swarm.api.tasks(filters={"service": probe, "desired-state": "running"})
    texts = [line["text"] for line in lines]
    assert "connecting with [secret] now" in texts
    for line in lines:
        assert line["task"] == task["ID"][:12]
        assert line["node"] == _node_hostname(swarm)
        assert line["timestamp"].startswith("20")
    assert CANARY not in result.stdout + result.stderr

    human = run_cli("logs", probe, "--grep", "connecting")
    assert human.exit_code == ExitCode.OK, human.stderr
    [shown] = human.stdout.splitlines()
    assert f"{task['ID'][:12]}@{_node_hostname(swarm)} connecting with [secret] now" in shown
    assert CANARY not in human.stdout + human.stderr


def test_exec_runs_id_in_the_task_and_audits_the_command_not_its_output(
    probe: str, swarm: Any, run_cli: Callable[..., Any]
) -> None:
    result = run_cli("exec", probe, "--", "id")

    assert result.exit_code == ExitCode.OK, result.stderr
    assert "uid=0" in result.stdout
    [record] = [r for r in _audit() if r["command"] == "exec"]
    [task] = swarm.api.tasks(filters={"service": probe, "desired-state": "running"})
    container = task["Status"]["ContainerStatus"]["ContainerID"]
    assert record["argv"] == ["id"]
    assert record["command_exit_code"] == 0 and record["exit_code"] == 0
    assert (record["service"], record["task"]) == (probe, task["ID"][:12])
    assert (record["container"], record["node"]) == (container[:12], _node_hostname(swarm))
    assert record["user"]
    assert "uid=0" not in audit_path(load_settings()).read_text()

    # A command that fails: exit 1, its code in the message and the JSON, audited the same.
    failed = run_cli("--json", "exec", probe, "--", "sh", "-c", f"echo {CANARY}; exit 3")
    assert failed.exit_code == ExitCode.ERROR
    data = failed.json()["data"]
    assert data["command_exit_code"] == 3
    assert data["stdout"] == "[secret]\n"
    assert "exited 3" in failed.json()["errors"][0]["message"]
    assert CANARY not in failed.stdout + failed.stderr
    last = _audit()[-1]
    assert (last["command"], last["command_exit_code"], last["exit_code"]) == ("exec", 3, 1)
    assert CANARY not in audit_path(load_settings()).read_text()


def test_an_unknown_service_is_64_naming_it_and_the_known_ones(
    probe: str, run_cli: Callable[..., Any]
) -> None:
    for verb in (["logs", "no-such-svc"], ["exec", "no-such-svc", "--", "id"]):
        result = run_cli("--json", *verb)
        assert result.exit_code == ExitCode.BAD_INPUT, result.stdout
        [error] = result.json()["errors"]
        assert "no-such-svc" in error["message"]
        assert probe in error["hint"]
    # exec audits even the refusal
    assert _audit()[-1]["exit_code"] == ExitCode.BAD_INPUT


def _audit() -> list[dict[str, Any]]:
    import json

    path: Path = audit_path(load_settings())
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
