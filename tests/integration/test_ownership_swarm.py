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
    """The network traefik-ingress exists (made by hand) when the engine creates layer_1's: the
    summary says so, not the `expected resource operations ... none were seen` of the 16
    resources the engine then gave up on."""
    engine = clean_engine
    _use_driver(tmp_path, engine, monkeypatch)
    engine.docker("network", "create", "--driver", "overlay", "--attachable", "traefik-ingress")
    deploy = run_cli("--json", "--yes", "deploy", "layer_1", "--env", "local")
    assert deploy.exit_code == ExitCode.ERROR, deploy.stdout + deploy.stderr
    [error] = deploy.json()["errors"]
    assert "ingress-network" in error["message"], error
    assert "network with name traefik-ingress already exists" in error["message"], error
    assert CASCADE not in error["message"], error
