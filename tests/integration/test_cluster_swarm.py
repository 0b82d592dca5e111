"""`node drain`, `node activate` and per-node `health` on a real 3-node Swarm of the tests' own
(netns_swarm: a manager and two workers, one dockerd each in its own network namespace).

One cluster for the module; the tests run in file order and each leaves the nodes active, except
the last, which stops a worker for good.
"""

from __future__ import annotations

import json
import os
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from netns_engine import Cluster, driver_setup, netns_swarm
from waiting import wait_until

from automation.exit_codes import ExitCode

pytestmark = pytest.mark.integration

DRAIN_TIMES: list[dict[str, Any]] = []  # each move's seconds, printed for the closing note


@pytest.fixture(scope="module")
def cluster(test_images: dict[str, str]) -> Iterator[Cluster]:
    with netns_swarm(f"spc{uuid.uuid4().hex[:6]}", workers=2, images=[test_images["1"]]) as c:
        yield c


@pytest.fixture
def driver(cluster: Cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The driver pointed at the cluster's manager, with a state dir (audit, locks) of its own."""
    monkeypatch.setenv("DOCKER_HOST", cluster.manager.host)
    monkeypatch.setenv("SPROCKET_STATE_DIR", str(tmp_path / "state"))
    return tmp_path / "state"


def _service(cluster: Cluster, name: str, image: str, *args: str) -> None:
    cluster.manager.docker(
        "service", "create", "--detach", "--name", name, *args, image
    )  # fmt: skip


def _placement(cluster: Cluster, service: str) -> list[str]:
    """The hostnames running the service's tasks (one entry per running task)."""
    out = cluster.manager.docker(
        "service", "ps", service, "--filter", "desired-state=running",
        "--format", "{{.Node}} {{.CurrentState}}",
    ).stdout  # fmt: skip
    return sorted(line.split()[0] for line in out.splitlines() if " Running " in f" {line} ")


def _availability(cluster: Cluster, node: str) -> str:
    return cluster.manager.docker(
        "node", "inspect", node, "--format", "{{.Spec.Availability}}"
    ).stdout.strip()


def _audit(state: Path, command: str) -> list[dict[str, Any]]:
    [path] = state.rglob("audit.jsonl")
    lines = path.read_text().splitlines()
    return [r for r in map(json.loads, lines) if r["command"] == command]


def test_drain_moves_a_workers_tasks_elsewhere_healthy_then_activate(
    cluster: Cluster, test_images: dict[str, str], driver: Path, run_cli: Any
) -> None:
    _service(cluster, "spread", test_images["1"], "--replicas", "3")
    # A single task pinned to the first worker until the test moves the constraint away: the
    # one running task of a service, so draining it needs --allow last-task.
    _service(cluster, "single", test_images["1"], "--constraint", "node.role==worker")
    wait_until(lambda: len(_placement(cluster, "spread")) == 3, "3 spread tasks running")
    wait_until(lambda: _placement(cluster, "single"), "the single task running")
    assert set(_placement(cluster, "spread")) == {e.name for e in cluster.engines}
    target = _placement(cluster, "single")[0]  # the worker the single task runs on
    assert target != cluster.manager.name

    refused = run_cli("--json", "node", "drain", target)
    assert refused.exit_code == ExitCode.GATE_BLOCKED, refused.stdout + refused.stderr
    [single] = [d for d in refused.json()["data"]["displaced"] if d["service"] == "single"]
    assert "last-task" in single["risks"]
    assert _availability(cluster, target) == "active"  # nothing changed

    result = run_cli("--json", "node", "drain", target, "--allow", "last-task")

    assert result.exit_code == ExitCode.OK, result.stdout + result.stderr
    moves = result.json()["data"]["moves"]
    DRAIN_TIMES.extend(moves)
    print("drain moves:", moves)
    assert {m["service"] for m in moves} == {"spread", "single"}
    assert all(m["to"] != target for m in moves)
    assert _availability(cluster, target) == "drain"
    assert target not in _placement(cluster, "spread") + _placement(cluster, "single")
    assert len(_placement(cluster, "spread")) == 3 and len(_placement(cluster, "single")) == 1
    healthy = cluster.manager.docker(
        "service", "ps", "single", "--filter", "desired-state=running", "--format", "{{.Node}}"
    ).stdout.split()
    assert healthy and target not in healthy
    [record] = _audit(driver, "node drain")[-1:]
    assert record["exit_code"] == 0 and record["node"]["moves"] == moves

    activated = run_cli("--json", "node", "activate", target)
    assert activated.exit_code == ExitCode.OK, activated.stdout + activated.stderr
    assert _availability(cluster, target) == "active"
    assert _audit(driver, "node activate")[-1]["node"]["was"] == "drain"
    for name in ("spread", "single"):
        cluster.manager.docker("service", "rm", name)


def test_drain_refuses_when_a_constrained_service_has_nowhere_else_to_go(
    cluster: Cluster, test_images: dict[str, str], driver: Path, run_cli: Any
) -> None:
    storage = cluster.workers[1].name
    cluster.manager.docker("node", "update", "--label-add", "role=storage", storage)
    _service(cluster, "stateful", test_images["1"], "--constraint", "node.labels.role==storage")
    _service(cluster, "other", test_images["1"], "--replicas", "3")
    wait_until(lambda: _placement(cluster, "stateful") == [storage], "stateful on its node")

    result = run_cli("--json", "node", "drain", storage, "--allow", "last-task")

    assert result.exit_code == ExitCode.GATE_BLOCKED, result.stdout + result.stderr
    data = result.json()["data"]
    assert data["refused"] == ["stateful"]
    [stateful] = [d for d in data["displaced"] if d["service"] == "stateful"]
    assert "node.labels.role==storage" in stateful["risks"]["placement"]
    assert _availability(cluster, storage) == "active"
    assert _placement(cluster, "stateful") == [storage]
    assert _audit(driver, "node drain")[-1]["exit_code"] == ExitCode.GATE_BLOCKED
    human = run_cli("node", "drain", storage)
    assert "stateful" in human.stdout and "refused" in human.stdout
    for name in ("stateful", "other"):
        cluster.manager.docker("service", "rm", name)


def _toy_platform(image: str) -> Callable[[], None]:
    """A stand-in platform program: the catalog's `web` as one Swarm service of the test image,
    its replicas read from `sprocket:replicas` as the real program reads them (the real
    program's handling is tests/unit/test_platform_program_mocked.py)."""

    def program() -> None:
        import pulumi
        import pulumi_docker as docker

        replicas = json.loads(pulumi.Config("sprocket").get("replicas") or "{}")
        docker.Service(
            "web",
            name="local-web",
            task_spec=docker.ServiceTaskSpecArgs(
                container_spec=docker.ServiceTaskSpecContainerSpecArgs(image=image)
            ),
            mode=docker.ServiceModeArgs(
                replicated=docker.ServiceModeReplicatedArgs(replicas=replicas.get("web", 1))
            ),
        )

    return program


@pytest.fixture
def toy_driver(
    cluster: Cluster,
    test_images: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> dict[str, str]:
    """The driver (real engine, real docker provider) on the cluster, the platform program
    swapped for _toy_platform."""
    from driver_toys import program_from_spec, substitute_programs
    from netns_engine import registered_plugins

    from sprocket_common.outputs import LAYER1_KEYS, LAYER2_KEYS

    env = driver_setup(tmp_path, cluster.manager.host, registered_plugins(), "cluster test")
    env["SPROCKET_PULUMI_CLI_DIR"] = str(Path(sys.executable).parent)
    monkeypatch.delenv("PULUMI_CONFIG_PASSPHRASE_FILE", raising=False)
    monkeypatch.delenv("SPROCKET_SETTINGS", raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    # The upstream layers as toys exporting their output contracts (platform's preflight).
    contract = {
        layer: {"exports": {k: 5672 if k.endswith("_port") else f"stand-in-{k}" for k in keys}}
        for layer, keys in (("layer_1", LAYER1_KEYS), ("layer_2", LAYER2_KEYS))
    }
    substitute_programs(
        monkeypatch,
        {
            **{layer: program_from_spec(spec) for layer, spec in contract.items()},
            "platform": _toy_platform(test_images["1"]),
        },
    )
    return env


def _platform_config() -> dict[str, Any]:
    """The config of the platform stack the driver runs (its machine copy for local)."""
    import yaml

    from automation.pulumi.stack_files import stack_file
    from automation.settings import load_settings
    from sprocket_common.stack_info import StackInfo

    path = stack_file(load_settings(), StackInfo.parse("local-platform"))
    return dict(yaml.safe_load(path.read_text())["config"])


def test_scale_of_a_stateless_service_to_3_runs_a_task_on_every_node_and_redis_is_refused(
    cluster: Cluster, toy_driver: dict[str, str], run_cli: Any
) -> None:
    deploy = run_cli("--json", "--yes", "deploy", "all")
    assert deploy.exit_code == ExitCode.OK, deploy.stdout + deploy.stderr
    assert len(_placement(cluster, "local-web")) == 1

    result = run_cli("--json", "--yes", "scale", "web=3")

    assert result.exit_code == ExitCode.OK, result.stdout + result.stderr
    data = result.json()["data"]
    assert data["scale"] == [{"service": "web", "from": 1, "to": 3}]
    assert [r["converged"] for r in data["deploy"]["services"]["results"]] == [True]
    assert sorted(_placement(cluster, "local-web")) == sorted(e.name for e in cluster.engines)
    assert _platform_config()["sprocket:replicas"] == '{"web": 3}'  # declared in the config
    assert run_cli("preview", "platform").exit_code == ExitCode.OK  # the state does not lag
    [record] = [r for r in _audit(Path(toy_driver["SPROCKET_STATE_DIR"]).parent, "scale")]
    assert record["scale"] == data["scale"] and record["exit_code"] == 0

    refused = run_cli("--json", "--yes", "scale", "redis=2")
    assert refused.exit_code == ExitCode.GATE_BLOCKED
    assert "redis is stateful" in refused.json()["errors"][0]["message"]
    assert _platform_config()["sprocket:replicas"] == '{"web": 3}'  # nothing changed
    cluster.manager.docker("service", "rm", "local-web")


def test_prod_preview_shows_the_worker_droplets_and_never_the_join_token(
    cluster: Cluster, toy_driver: dict[str, str], run_cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real layer_1 program with the real DigitalOcean provider, a placeholder token that
    reaches no API (a fresh stack: nothing to refresh)."""
    import subprocess

    from driver_toys import substitute_programs
    from test_real_stacks import PROD_LAYER_1

    from sprocket_common.stack_info import Layer, load_program

    substitute_programs(monkeypatch, {"layer_1": load_program(Layer.LAYER_1)})
    monkeypatch.setenv("DIGITALOCEAN_TOKEN", "dop_v1_placeholder_never_sent")
    project = Path(toy_driver["SPROCKET_PROJECT_DIR"])
    (project / "Pulumi.prod-layer_1.yaml").write_text(
        PROD_LAYER_1 + '  sprocket:worker_count: "2"\n'
    )
    token = "SWMTKN-1-canary-worker-token"

    def pulumi(*args: str, stdin: str | None = None) -> None:
        subprocess.run(
            [f"{toy_driver['SPROCKET_PULUMI_CLI_DIR']}/pulumi", "--non-interactive", *args],
            cwd=project, env={**os.environ, **toy_driver}, input=stdin, text=True,
            capture_output=True, check=True,
        )  # fmt: skip

    pulumi("stack", "init", "prod-layer_1", "--secrets-provider", "passphrase")
    for key, value in (("discord_client_secret", "canary-discord"), ("swarm_join_token", token)):
        pulumi("config", "set", "--secret", f"sprocket:{key}", "-s", "prod-layer_1", stdin=value)

    plan = run_cli("--env", "prod", "--json", "preview", "layer_1")

    assert plan.exit_code == ExitCode.CHANGES_PRESENT, plan.stdout + plan.stderr
    [stack] = plan.json()["data"]["stacks"]
    droplets = {
        step["urn"].rsplit("::", 1)[-1]: step["op"]
        for step in stack["steps"]
        if step["type"] == "digitalocean:index/droplet:Droplet"
    }
    assert droplets == {"manager": "create", "worker-1": "create", "worker-2": "create"}
    assert token not in plan.stdout + plan.stderr


def test_health_has_a_row_per_node_and_a_stopped_node_is_critical(
    cluster: Cluster, test_images: dict[str, str], driver: Path, run_cli: Any
) -> None:
    _service(cluster, "hl-web", test_images["1"], "--replicas", "3")
    wait_until(lambda: len(_placement(cluster, "hl-web")) == 3, "3 tasks running")
    stopped = cluster.workers[1]
    cluster.stop(stopped)
    wait_until(
        lambda: "Down" in cluster.manager.docker("node", "ls").stdout, "the stopped node Down"
    )

    result = run_cli("--json", "health", "--services", "hl-", "--no-tls", "--no-stats")

    assert result.exit_code == ExitCode.HEALTH_CRITICAL, result.stdout + result.stderr
    checks = result.json()["data"]["checks"]
    rows = {c["subject"].split()[0]: c for c in checks if c["check"] == "node"}
    assert set(rows) == {e.name for e in cluster.engines}
    assert rows[stopped.name]["level"] == "critical"
    assert rows[stopped.name]["observed"].startswith("down")
    assert rows[cluster.manager.name]["level"] == rows[cluster.workers[0].name]["level"] == "ok"
    resources = {c["subject"].split()[0]: c for c in checks if c["check"] == "node-resources"}
    assert "not sampled" in resources[cluster.workers[0].name]["message"]
    assert resources[cluster.manager.name]["level"] == "ok"
    assert [c["subject"] for c in checks if c["check"] == "replicas"] == ["hl-web"]
