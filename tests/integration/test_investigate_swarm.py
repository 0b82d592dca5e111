"""`logs` and `exec` on the real local Swarm: a service that prints a stack secret, read back
with task and node and the secret redacted; `id` run in its task, audited without the output."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
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
        # No platform stack outputs here: catalog names cannot be known, and the hint says so.
        assert "platform stack is not deployed here" in error["hint"], error
        assert "`python -m automation --env local deploy platform`" in error["hint"], error
    # exec audits even the refusal
    assert _audit()[-1]["exit_code"] == ExitCode.BAD_INPUT


OUTPUT_CANARY = "canary-5e1a-generated-password-output"


def test_a_secret_stack_output_is_redacted_in_exec_output_and_audit(
    probe: str, pulumi_env: Any, run_cli: Callable[..., Any]
) -> None:
    """The passwords the layers generate are secret stack outputs, not config (layer_1's
    traefik_dashboard_password): a break test read one in clear through exec and its record."""
    import pulumi

    def program() -> None:
        pulumi.export("traefik_dashboard_password", pulumi.Output.secret(OUTPUT_CANARY))

    layer_1 = auto.create_or_select_stack(
        "local-layer_1", "sprocket-infra", program, opts=pulumi_env.workspace_options()
    )
    layer_1.up(on_output=lambda _line: None)

    shown = run_cli("--json", "exec", probe, "--", "echo", f"pw={OUTPUT_CANARY}")
    assert shown.exit_code == ExitCode.OK, shown.stdout + shown.stderr
    assert shown.json()["data"]["stdout"] == "pw=[secret]\n"
    assert OUTPUT_CANARY not in shown.stdout + shown.stderr
    assert OUTPUT_CANARY not in audit_path(load_settings()).read_text()
    assert _audit()[-1]["argv"] == ["echo", "pw=[secret]"]


def test_exec_refusals_and_a_stopped_exec_are_recorded(
    probe: str, run_cli: Callable[..., Any]
) -> None:
    # No command: 64, and recorded like every other exec.
    before = len(_audit())
    empty = run_cli("exec", probe, "--")
    assert empty.exit_code == ExitCode.BAD_INPUT and "needs a command" in empty.stderr
    assert len(_audit()) == before + 1 and _audit()[-1]["exit_code"] == ExitCode.BAD_INPUT
    # A program the image lacks: said so, not as an ordinary failing command.
    missing = run_cli("--json", "exec", probe, "--", "nosuchcmd")
    assert missing.exit_code == ExitCode.ERROR, missing.stdout
    assert "nosuchcmd: not found in container" in missing.json()["errors"][0]["message"]
    # A tail the engine refuses (a 500 and a traceback before) is the option's own error.
    huge = run_cli("logs", probe, "--tail", "99999999999999999999")
    assert huge.exit_code == ExitCode.BAD_INPUT and "--tail" in huge.stderr, huge.stderr

    # SIGTERM (`kill`, a CI cancel) during a long command: 130, recorded, and the message says
    # the command may still run in the container (the driver only stops waiting for it).
    proc = subprocess.Popen(
        [sys.executable, "-m", "automation", "--json", "exec", probe, "--", "sleep", "30"],
        env=dict(os.environ), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    wait_until(lambda: _exec_started(probe), "the sleep to start in the container")
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == ExitCode.INTERRUPTED, out + err
    [error] = json.loads(out)["errors"]
    assert "may still be running in container" in error["message"], error
    assert _audit()[-1]["exit_code"] == ExitCode.INTERRUPTED


def _exec_started(service: str) -> bool:
    """Whether `sleep 30` runs in the probe's container (the exec began)."""
    ps = subprocess.run(
        ["docker", "ps", "-q", "--filter", f"label=com.docker.swarm.service.name={service}"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    container = ps.stdout.split()[0]
    top = subprocess.run(["docker", "top", container], capture_output=True, text=True)
    return "sleep 30" in top.stdout


def _audit() -> list[dict[str, Any]]:
    path: Path = audit_path(load_settings())
    if not path.exists():  # no verb has written a record yet
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
