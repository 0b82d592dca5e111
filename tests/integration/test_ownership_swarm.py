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
DOCKERS_OWN = {"docker_gwbridge"}  # made by the engine when it first needs it


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
    """Remove what the engine holds beyond `kept`, services first (they use the rest), then,
    once their tasks' containers are gone (a network or volume in use cannot be removed), the
    rest; each test starts from the engine the module started with."""
    from automation.waiting import wait_until

    now = _engine_objects(engine)
    extra_services = sorted(now["service"] - kept["service"])
    if extra_services:
        engine.docker("service", "rm", *extra_services, check=False)

    def containers_gone() -> tuple[bool | None, object]:
        left = engine.docker("ps", "-aq", check=False).stdout.split()
        return (True if not left else None), f"{len(left)} containers left"

    wait_until(containers_gone, what="the removed services' containers", timeout_s=90)
    for kind in ("config", "secret", "network", "volume"):
        extra = sorted(now[kind] - kept[kind] - DOCKERS_OWN)
        if extra:
            engine.docker(kind, "rm", *extra)


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
            "network": {
                (n.name, n.id) for n in client.networks.list() if n.name not in DOCKERS_OWN
            },
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
    # The first state labelled what it made (sprocket_common/ownership.py); the second state
    # has no identity yet (its first deploy).
    for line in (
        "network traefik-ingress: this stack's, made by another state",
        "network traefik-socket-proxy: this stack's, made by another state",
        "volume traefik-data: this stack's, made by another state",
        "volume vault-data: this stack's, made by another state",
        "service traefik: this stack's, made by another state",
    ):
        assert line in error["message"], error["message"]
    assert "this state: none)" in error["message"], error["message"]
    assert "restore layer_1 --file FILE" in error["hint"], error["hint"]
    assert "migrate plan" not in error["hint"], error["hint"]  # nothing unlabelled
    assert _with_ids(engine) == before
    listed = run_cli("--json", "stacks", "--env", "local").json()["data"]["stacks"]
    [row] = [r for r in listed if r["stack"] == "local-layer_1"]
    assert not row["resource_count"], row  # the new state holds nothing, no volume


def _labelled(owner: dict[str, str]) -> list[str]:
    return [arg for key, value in owner.items() for arg in ("--label", f"{key}={value}")]


def test_objects_made_by_hand_by_another_stack_and_by_a_lost_state_are_each_named(
    clean_engine: Engine,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    run_cli: Callable[..., Any],
) -> None:
    """Three of layer_1's names taken on the engine, each by another owner: a network made by
    hand (no labels), a network another stack labelled, and a volume this stack's lost state
    made. The deploy stops before the engine runs with exit 16, one line per object naming
    the owner found, and offers what works for those cases; nothing is made."""
    from sprocket_common.ownership import PROJECT_LABEL, STACK_LABEL, STATE_LABEL

    engine = clean_engine
    engine.docker("network", "create", "-d", "overlay", "--attachable", "traefik-ingress")
    other_stack = {PROJECT_LABEL: "sprocket-infra", STACK_LABEL: "staging-layer_1"}
    engine.docker(
        "network", "create", "-d", "overlay", *_labelled(other_stack), "traefik-socket-proxy"
    )
    lost = {
        PROJECT_LABEL: "sprocket-infra",
        STACK_LABEL: "local-layer_1",
        STATE_LABEL: "0badc0de-0000-4000-8000-000000000000",
    }
    engine.docker("volume", "create", *_labelled(lost), "traefik-data")
    before = _with_ids(engine)

    _use_driver(tmp_path, engine, monkeypatch)
    deploy = run_cli("--json", "--yes", "deploy", "layer_1", "--env", "local")
    assert deploy.exit_code == ExitCode.NAME_TAKEN, deploy.stdout + deploy.stderr
    [error] = deploy.json()["errors"]
    lines = sorted(error["message"].splitlines()[1:])
    assert lines == [
        "  network traefik-ingress: unlabelled (made by hand, by the original system, or "
        "before labels)",
        "  network traefik-socket-proxy: another stack's (sprocket-infra/staging-layer_1)",
        "  volume traefik-data: this stack's, made by another state (0badc0de; this state: none)",
    ], error["message"]
    for choice in ("restore layer_1 --file FILE", "another stack's objects", "migrate plan"):
        assert choice in error["hint"], error["hint"]
    assert _with_ids(engine) == before


def _differing(old: Any, new: Any, path: str = "") -> list[str]:
    if isinstance(old, dict) and isinstance(new, dict):
        return [
            d
            for key in sorted(set(old) | set(new))
            for d in _differing(old.get(key), new.get(key), f"{path}.{key}")
        ]
    return [] if old == new else [f"{path}: {old!r} -> {new!r}"]


def _task_templates(engine: Engine) -> dict[str, Any]:
    """Each service's ID and task template, its environment sorted: the docker provider sends
    a service's env from a Go map, in a new order on every update of the service (a label
    change too), which rolls its tasks once, as any update of it already did; nothing else of
    the template may change."""
    client = engine.client()
    try:
        found: dict[str, Any] = {}
        for service in client.services.list():
            template = service.attrs["Spec"]["TaskTemplate"]
            container = template.get("ContainerSpec") or {}
            container["Env"] = sorted(container.get("Env") or [])
            found[service.name] = {"id": service.id, "template": template}
        return found
    finally:
        client.close()


def test_a_deployment_older_than_the_labels_is_relabelled_without_a_replace_or_restart(
    clean_engine: Engine,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    run_cli: Callable[..., Any],
) -> None:
    """layer_1 deployed as before the ownership labels (the label helper answering nothing),
    then deployed with them: the docker provider would replace a network, volume, config or
    secret whose labels change, so those keep what they were made with; the services get the
    labels in place. Same networks, volumes, configs, secrets and services (IDs), and no task
    template changed but the order of a service's env (_task_templates)."""
    from sprocket_common import swarm_service
    from sprocket_common.ownership import STACK_LABEL, STATE_LABEL

    engine = clean_engine
    _layer_1_images(engine)
    _use_driver(tmp_path, engine, monkeypatch)
    with monkeypatch.context() as unlabelled:
        unlabelled.setattr(swarm_service, "ownership_labels", lambda: {})
        old = run_cli("--json", "--yes", "deploy", "layer_1", "--env", "local", "--no-wait")
        assert old.exit_code == ExitCode.OK, old.stdout + old.stderr
    before, templates = _with_ids(engine), _task_templates(engine)
    assert not engine.client().networks.get("traefik-ingress").attrs["Labels"]

    new = run_cli("--json", "--yes", "deploy", "layer_1", "--env", "local", "--no-wait")
    assert new.exit_code == ExitCode.OK, new.stdout + new.stderr
    assert _with_ids(engine) == before
    after = _task_templates(engine)
    assert set(after) == set(templates)
    changed = {
        name: _differing(templates[name], after[name])
        for name in templates
        if after[name] != templates[name]
    }
    assert not changed, changed
    client = engine.client()
    try:
        labels = client.services.get("traefik").attrs["Spec"]["Labels"]
        assert labels[STACK_LABEL] == "local-layer_1" and labels[STATE_LABEL], labels
        assert not client.networks.get("traefik-ingress").attrs["Labels"]  # as it was made
    finally:
        client.close()


def test_a_targeted_first_deploy_makes_its_target_with_no_state_in_its_label(
    clean_engine: Engine,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    run_cli: Callable[..., Any],
) -> None:
    """A `--target` run of a stack whose state holds no identity yet (migrate's volume step on
    a fresh layer_2 does this) skips the identity's create: the labels must not make the
    target depend on it (the engine refuses an untargeted dependency), and the object made
    says its stack and no state, which the check before create never lets by."""
    from sprocket_common.ownership import PROJECT_LABEL, STACK_LABEL, STATE_LABEL

    engine = clean_engine
    _use_driver(tmp_path, engine, monkeypatch)
    urn = "urn:pulumi:local-layer_1::sprocket-infra::docker:index/network:Network::ingress-network"
    deploy = run_cli("--json", "--yes", "deploy", "layer_1", "--env", "local", "--target", urn)
    assert deploy.exit_code == ExitCode.OK, deploy.stdout + deploy.stderr
    client = engine.client()
    try:
        labels = client.networks.get("traefik-ingress").attrs["Labels"]
    finally:
        client.close()
    assert labels == {
        PROJECT_LABEL: "sprocket-infra",
        STACK_LABEL: "local-layer_1",
        STATE_LABEL: "none",
    }, labels
