"""Objects on the engine that a stack's state does not hold (issue 35), on the real engine, the
real docker provider and a Swarm of this module's own (netns_engine.py): the local layer_1's
objects have fixed names, so an operator's engine must never see them.

Each test gets a driver of its own (its own state dir, file backend and PULUMI_HOME), as a fresh
clone would: what it finds on the engine was made by hand, or by another clone's state.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from netns_engine import Engine, driver_setup, netns_engine, registered_plugins

from automation.exit_codes import ExitCode

pytestmark = pytest.mark.integration

CASCADE = "but none were seen"


@pytest.fixture(scope="module")
def engine() -> Iterator[Engine]:
    with netns_engine(f"sprw{uuid.uuid4().hex[:6]}") as started:
        yield started


def _use_driver(root: Path, engine: Engine, patch: pytest.MonkeyPatch) -> dict[str, str]:
    """Point this process's driver at a fresh state under `root` for the local stacks on
    `engine`, as a new clone's would be."""
    root.mkdir(parents=True, exist_ok=True)
    env = driver_setup(root, engine.host, registered_plugins(), "ownership test passphrase")
    env["SPROCKET_PULUMI_CLI_DIR"] = str(Path(sys.executable).parent)
    patch.delenv("PULUMI_CONFIG_PASSPHRASE_FILE", raising=False)
    patch.delenv("SPROCKET_SETTINGS", raising=False)
    for key, value in env.items():
        patch.setenv(key, value)
    return env


def _engine_objects(engine: Engine) -> dict[str, set[str]]:
    client = engine.client()
    try:
        return {
            "network": {n.name for n in client.networks.list()},
            "volume": {v.name for v in client.volumes.list()},
            "service": {s.name for s in client.services.list()},
            "config": {c.name for c in client.configs.list()},
            "secret": {s.name for s in client.secrets.list()},
        }
    finally:
        client.close()


def _remove_all_but(engine: Engine, kept: dict[str, set[str]]) -> None:
    """Remove what the engine holds beyond `kept`, services first (they use the rest)."""
    now = _engine_objects(engine)
    for kind in ("service", "config", "secret", "network", "volume"):
        extra = sorted(now[kind] - kept[kind])
        if extra:
            engine.docker(kind, "rm", *extra, check=False)


@pytest.fixture
def clean_engine(engine: Engine) -> Iterator[Engine]:
    """The module's engine, left as the test found it."""
    kept = _engine_objects(engine)
    yield engine
    _remove_all_but(engine, kept)


def test_a_failed_deploy_names_the_first_failing_resources_own_error(
    clean_engine: Engine,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    run_cli: Callable[..., Any],
) -> None:
    """The network traefik-ingress is made (by hand, by another deploy) after the driver's check
    for taken names and before the engine creates layer_1's: the summary says so, not the
    `expected resource operations ... none were seen` of the 16 resources the engine then gave
    up on. (The network is made from inside the check, to land in that window every time.)"""
    from automation.stack import run

    engine = clean_engine
    _use_driver(tmp_path, engine, monkeypatch)
    checked = run.refuse_taken_names

    def then_made_by_hand(*args: Any) -> None:
        checked(*args)
        engine.docker("network", "create", "-d", "overlay", "--attachable", "traefik-ingress")

    monkeypatch.setattr(run, "refuse_taken_names", then_made_by_hand)
    deploy = run_cli("--json", "--yes", "deploy", "layer_1", "--env", "local")
    assert deploy.exit_code == ExitCode.ERROR, deploy.stdout + deploy.stderr
    [error] = deploy.json()["errors"]
    assert "ingress-network" in error["message"], error
    assert "network with name traefik-ingress already exists" in error["message"], error
    assert CASCADE not in error["message"], error


def _layer_1_images(engine: Engine) -> None:
    """The stand-in images of layer_1's services (automation/local_images.py: busybox that
    answers the declared healthchecks), made on `engine`."""
    from automation import local_images

    client = engine.client()
    try:
        services = [s for s in local_images.declared_services("local") if s.layer == "layer_1"]
        local_images.ensure_images(client, services, offline=True, dry_run=False)
    finally:
        client.close()


def _with_ids(engine: Engine) -> dict[str, set[tuple[str, str]]]:
    """Every object on the engine with its ID (a volume: its creation time), to show none was
    made, removed or made anew."""
    client = engine.client()
    try:
        return {
            "network": {(n.name, n.id) for n in client.networks.list()},
            "volume": {(v.name, v.attrs["CreatedAt"]) for v in client.volumes.list()},
            "service": {(s.name, s.id) for s in client.services.list()},
            "config": {(c.name, c.id) for c in client.configs.list()},
            "secret": {(s.name, s.id) for s in client.secrets.list()},
        }
    finally:
        client.close()


def test_a_second_state_deploying_onto_the_firsts_objects_stops_before_the_engine_runs(
    clean_engine: Engine,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    run_cli: Callable[..., Any],
) -> None:
    """A clone whose state is gone (here: a second state dir) deploys layer_1 onto an engine
    where the first already runs it. The deploy stops before the engine runs, one line per
    object the plan would create, and neither the engine nor the new state changes: Docker's
    idempotent volume create would otherwise have put traefik-data and vault-data into it."""
    engine = clean_engine
    _layer_1_images(engine)
    with monkeypatch.context() as first:
        _use_driver(tmp_path / "first", engine, first)
        deployed = run_cli("--json", "--yes", "deploy", "layer_1", "--env", "local", "--no-wait")
        assert deployed.exit_code == ExitCode.OK, deployed.stdout + deployed.stderr
    before = _with_ids(engine)

    _use_driver(tmp_path / "second", engine, monkeypatch)
    second = run_cli("--json", "--yes", "deploy", "layer_1", "--env", "local")
    assert second.exit_code == ExitCode.NAME_TAKEN, second.stdout + second.stderr
    [error] = second.json()["errors"]
    for line in (
        "network traefik-ingress: unlabelled / not in this stack's state",
        "network traefik-socket-proxy: unlabelled / not in this stack's state",
        "volume traefik-data: unlabelled / not in this stack's state",
        "volume vault-data: unlabelled / not in this stack's state",
        "service traefik: unlabelled / not in this stack's state",
    ):
        assert line in error["message"], error["message"]
    assert "restore layer_1 --file FILE" in error["hint"] and "migrate plan" in error["hint"]
    assert _with_ids(engine) == before
    listed = run_cli("--json", "stacks", "--env", "local").json()["data"]["stacks"]
    [row] = [r for r in listed if r["stack"] == "local-layer_1"]
    assert not row["resource_count"], row  # the new state holds nothing, no volume
