"""`migrate` on the original system's shape, built from the inventory on an engine of this
module's own (netns_engine.py): the real layer_2 program, Pulumi engine, docker provider and
Swarm. The original objects (suffixed networks, configs, volumes holding marker files, the
services, two of them named `influx` and `loki` as the program names its own) come from
../shared/fixtures/original-system-inventory.json; their services run a *stand-in image*
(busybox, not InfluxDB or Redis), as the program's services do (automation/local_images.py).

One deployment for the module, in file order: layer_1 deployed (layer_2 reads its outputs), the
old layer_2 built; plan; bad input (nothing changes); an apply killed after its first verified
copy and resumed; rollback.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from migrate_helper import make_helper_image
from netns_engine import Engine, driver_setup, netns_engine, registered_plugins

from automation import local_images
from automation.exit_codes import ExitCode
from automation.migrate.plan import load_mapping

pytestmark = [pytest.mark.integration, pytest.mark.long]

CHECKOUT = Path(__file__).resolve().parents[2]
INVENTORY = CHECKOUT.parent / "shared/fixtures/original-system-inventory.json"
HELPER = "sprockettest-migrate-helper:1"
ADOPTED = "layer2-rabbitmq-data"
# An old service's stand-in: exits at once on SIGTERM, as the real daemons do.
OLD_COMMAND = ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"]


def _inventory() -> list[dict[str, Any]]:
    if not INVENTORY.is_file():
        pytest.fail(f"the inventory fixture {INVENTORY} is missing (it lives in ../shared)")
    return list(json.loads(INVENTORY.read_text())["stacks"]["layer_2"])


def _old(kind: str) -> list[dict[str, Any]]:
    return [o for o in _inventory() if o["type"].endswith(kind)]


def _helper_image(engine: Engine, tmp: Path) -> None:
    make_helper_image(engine.host, HELPER, tmp)


def _sh(client: Any, script: str, volumes: dict[str, str]) -> str:
    """Run `script` in a helper container with `volumes` (name -> mount point)."""
    binds = {name: {"bind": target, "mode": "rw"} for name, target in volumes.items()}
    out = client.containers.run(HELPER, ["sh", "-c", script], volumes=binds, remove=True)
    return bytes(out).decode()


def _marker(volume: str) -> str:
    return f"data of {volume}"


def _build_original(engine: Engine) -> None:
    """The original layer_2's objects, under their live names."""
    client = engine.client()
    for net in _old("network:Network"):
        client.networks.create(net["live_name"], driver="overlay")
    for config in _old("serviceConfig:ServiceConfig"):
        client.configs.create(name=config["live_name"], data=b"stand-in config\n")
    for volume in _old("volume:Volume"):
        client.volumes.create(volume["live_name"])
        _sh(
            client,
            f"mkdir -p /v/sub && echo '{_marker(volume['live_name'])}' > /v/marker.txt"
            " && echo nested > /v/sub/file && echo hidden > /v/.dotfile",
            {volume["live_name"]: "/v"},
        )
    # One volume already named and labelled as the program declares it (made by hand, say):
    # adopted in place by `pulumi import`.
    client.volumes.create(ADOPTED, driver="local", labels={"sprocket.size-limit-mb": "2048"})
    _sh(client, f"echo '{_marker(ADOPTED)}' > /v/marker.txt", {ADOPTED: "/v"})
    monitoring = _old("network:Network")[0]["live_name"]
    for service in _old("service:Service"):
        args = ["service", "create", "--detach", "--name", service["live_name"]]
        args += ["--network", monitoring, "--stop-grace-period", "5s"]
        args += ["--mode", "global"] if service["global"] else ["--replicas", "1"]
        for mount in service["mounts"]:
            args += ["--mount", f"type=volume,source={mount['source']},target={mount['target']}"]
        for config in service["configs"]:
            args += ["--config", f"source={config},target=/etc/{config}"]
        engine.docker(*args, HELPER, *OLD_COMMAND)
    client.close()


def _running(client: Any, name: str) -> int:
    tasks = client.api.tasks(filters={"service": name})
    return sum(1 for t in tasks if t["Status"]["State"] == "running")


def _wait(
    condition: Callable[[], bool], what: str, timeout_s: float = 120, interval_s: float = 1
) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(interval_s)


def _record(line: str) -> dict[str, Any]:
    """A `done` line of the journal, else {} (other events, a line being written)."""
    try:
        record = json.loads(line)
    except json.JSONDecodeError:
        return {}
    return record if isinstance(record, dict) and record.get("event") == "done" else {}


def _old_services() -> list[str]:
    return [s["live_name"] for s in _old("service:Service")]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The engine, a driver pointed at it, layer_1 deployed and the old layer_2 running."""
    root = tmp_path_factory.mktemp("migrate")
    with netns_engine(f"sprm{uuid.uuid4().hex[:6]}") as engine:
        env = driver_setup(root, engine.host, registered_plugins(), "migrate test passphrase")
        env["SPROCKET_PULUMI_CLI_DIR"] = str(Path(sys.executable).parent)
        client = engine.client()
        with pytest.MonkeyPatch.context() as patch:
            patch.delenv("PULUMI_CONFIG_PASSPHRASE_FILE", raising=False)
            patch.delenv("SPROCKET_SETTINGS", raising=False)
            for key, value in env.items():
                patch.setenv(key, value)
            declared = local_images.declared_services("local")
            local_images.ensure_images(
                client, [s for s in declared if s.layer != "platform"], offline=True, dry_run=False
            )
            _helper_image(engine, root)
            _build_original(engine)
            _wait(
                lambda: all(_running(client, s) == 1 for s in _old_services()),
                "the old services to run",
            )
            yield {"env": env, "client": client, "engine": engine, "root": root}
        client.close()


@pytest.fixture(scope="module")
def layer_1(world: dict[str, Any]) -> None:
    from automation.cli import main

    with pytest.raises(SystemExit) as done:
        main(["--yes", "deploy", "layer_1"])
    assert done.value.code == ExitCode.OK


def _journal(world: dict[str, Any]) -> Path:
    return world["root"] / "backend" / ".sprocket" / "migrate" / "local-layer_2.jsonl"


# --- plan -------------------------------------------------------------------------------------


def test_plan_names_the_action_for_every_object_of_the_original_layer_2(
    world: dict[str, Any], layer_1: None, run_cli: Callable[..., Any]
) -> None:
    result = run_cli("--json", "migrate", "plan", "layer_2")
    assert result.exit_code == ExitCode.OK, result.stdout + result.stderr
    items = {i["live_name"]: i for i in result.json()["data"]["items"]}
    expected = {o["live_name"]: "leave" for o in _inventory()}
    expected |= {o["live_name"]: "move data" for o in _old("volume:Volume")}
    expected |= {o["live_name"]: "cut over" for o in _old("service:Service")}
    assert {n: items[n]["action"] for n in expected if n in items} == expected
    others = {n: i["action"] for n, i in items.items() if n not in expected}
    assert others == {ADOPTED: "adopt"}  # layer_1's objects (its stack's) are not listed
    assert items["influx-volume-5275127"]["target"] == "layer2-influx-data"
    assert items["fluent-service-f8e9998"]["target"] == "fluentd"
    assert items[ADOPTED]["action"] == "adopt"

    human = run_cli("migrate", "plan", "layer_2")
    assert "move data volume   layer2redis-volume-7cd681d" in human.stdout, human.stdout
    assert not _journal(world).exists()  # read-only


# --- bad input: one line each, nothing changed ------------------------------------------------


def _nothing_changed(world: dict[str, Any]) -> None:
    client = world["client"]
    assert {s: _running(client, s) for s in _old_services()} == dict.fromkeys(_old_services(), 1)
    journal = _journal(world).read_text().splitlines() if _journal(world).exists() else []
    assert [_record(line) for line in journal if _record(line)] == []
    assert "layer2-redis-data" not in {v.name for v in client.volumes.list()}


def test_a_volume_in_use_by_a_container_apply_cannot_stop_is_refused(
    world: dict[str, Any], layer_1: None, run_cli: Callable[..., Any]
) -> None:
    client = world["client"]
    squatter = client.containers.run(
        HELPER, OLD_COMMAND, detach=True, name="squatter",
        volumes={"gatus-internal-data-0e04323": {"bind": "/data", "mode": "rw"}},
    )  # fmt: skip
    try:
        result = run_cli("--yes", "migrate", "apply", "layer_2", "--helper-image", HELPER)
    finally:
        squatter.remove(force=True)
    assert result.exit_code == ExitCode.BAD_INPUT, result.stdout + result.stderr
    assert result.stderr.strip().splitlines() == [
        "error: volume gatus-internal-data-0e04323 is in use by squatter, which the migration "
        "cannot stop (not an old service of the plan); nothing was changed (stop that "
        "container, then run `python -m automation --env local migrate apply layer_2` again)"
    ]
    _nothing_changed(world)


def test_an_export_of_another_stack_and_an_object_matched_twice_are_refused(
    world: dict[str, Any], layer_1: None, run_cli: Callable[..., Any]
) -> None:
    root = world["root"]
    export = root / "platform-export.json"
    urn = "urn:pulumi:prod::platform::docker:index/network:Network::prod-net"
    export.write_text(json.dumps({"deployment": {"resources": [{"urn": urn}]}}))
    other = run_cli("migrate", "plan", "layer_2", "--from-export", str(export))
    assert other.exit_code == ExitCode.BAD_INPUT
    assert (
        other.stderr.startswith(
            f"error: export {export} is of project 'platform' stack 'prod', not the original "
            "'layer_2' stack 'layer_2'"
        )
        and other.stderr.count("\n") == 1
    )

    mapping = root / "twice.yaml"
    rules = [
        {"kind": "volume", "stems": ["loki-volume"], "target": f"layer2-{r}", "role": r}
        for r in ("loki-data", "influx-data")
    ]
    original = {"project": "layer_2", "stack": "layer_2"}
    mapping.write_text(json.dumps({"layer_2": {"original": original, "rules": rules}}))
    twice = run_cli("--yes", "migrate", "apply", "layer_2", "--mapping", str(mapping))
    assert twice.exit_code == ExitCode.BAD_INPUT
    assert (
        twice.stderr.startswith("error: volume loki-volume-e4a5166 is matched twice by the mapping")
        and twice.stderr.count("\n") == 1
    )
    _nothing_changed(world)


# --- apply, interrupted and resumed -------------------------------------------------------------


def _kill_after_first_copy(world: dict[str, Any]) -> None:
    """`migrate apply` in a process of its own, killed (SIGKILL: no clean-up at all) as soon
    as its journal records the first verified copy."""
    env = {**os.environ, **world["env"]}
    env.pop("PULUMI_CONFIG_PASSPHRASE_FILE", None)
    env["SPROCKET_ENGINE_OUTPUT"] = "1"  # the engine's own words in the failure message
    args = [sys.executable, "-m", "automation", "--yes", "migrate", "apply", "layer_2"]
    proc = subprocess.Popen(
        [*args, "--helper-image", HELPER],
        env=env, cwd=CHECKOUT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        journal = _journal(world)

        def copied() -> bool:
            if proc.poll() is not None:
                pytest.fail(f"apply ended before its first copy: {proc.stderr.read()!r}")  # type: ignore[union-attr]
            lines = journal.read_text().splitlines() if journal.exists() else []
            return any(_record(line).get("step", "").startswith("copy:") for line in lines)

        _wait(copied, "the first copy", timeout_s=180, interval_s=0.1)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()


def test_an_apply_killed_mid_way_resumes_and_takes_over_every_service_with_its_data(
    world: dict[str, Any], layer_1: None, run_cli: Callable[..., Any]
) -> None:
    client = world["client"]
    _kill_after_first_copy(world)
    done = [_record(line) for line in _journal(world).read_text().splitlines()]
    first_copy = next(r["step"] for r in done if r.get("step", "").startswith("copy:"))
    stopped = [s for s in _old_services() if _running(client, s) == 0]
    assert 0 < len(stopped) < len(_old_services()), stopped

    resumed = run_cli("--json", "--yes", "migrate", "apply", "layer_2", "--helper-image", HELPER)
    assert resumed.exit_code == ExitCode.OK, resumed.stdout + resumed.stderr
    data = resumed.json()["data"]
    assert data["resumed"] is True
    assert {f"adopt:{ADOPTED}", "volumes:layer_2", first_copy} <= set(data["skipped"]), data
    assert first_copy not in data["done"]
    world["downtime_s"] = data["downtime_s"]

    # every service of the program runs N/N (deploy waited for it) ...
    program = {s.name for s in local_images.declared_services("local") if s.layer == "layer_2"}
    counts = {name: _running(client, name) for name in program}
    assert all(counts.values()), counts
    # ... the program's volumes hold the old data, verified by the same files ...
    targets = {s: r.target for r in load_mapping("layer_2").rules for s in r.stems}
    for volume in _old("volume:Volume"):
        target = targets[volume["logical_name"]]
        out = _sh(client, "cat /v/marker.txt /v/sub/file /v/.dotfile", {target: "/v"})
        assert out.splitlines() == [_marker(volume["live_name"]), "nested", "hidden"], target
    out = _sh(client, "cat /v/marker.txt", {ADOPTED: "/v"})
    assert out.strip() == _marker(ADOPTED)  # adopted in place, RabbitMQ's data untouched
    # ... the program's `influx` mounts its own volume, no old service runs ...
    influx = client.services.get("influx").attrs["Spec"]["TaskTemplate"]["ContainerSpec"]
    assert [m["Source"] for m in influx["Mounts"]] == ["layer2-influx-data"]
    old_left = [s for s in _old_services() if s not in ("influx", "loki")]
    assert {s: _running(client, s) for s in old_left} == dict.fromkeys(old_left, 0)
    # ... and the layer's preview is clean.
    preview = run_cli("--json", "preview", "layer_2")
    assert preview.exit_code == ExitCode.OK, preview.stdout + preview.stderr
    again = run_cli("--json", "--yes", "migrate", "apply", "layer_2", "--helper-image", HELPER)
    assert again.exit_code == ExitCode.OK and again.json()["data"]["done"] == [], again.stdout


def test_downtime_is_one_stop_copy_start_for_stateful_services_and_none_for_stateless(
    world: dict[str, Any],
) -> None:
    downtime = world.get("downtime_s") or pytest.fail("the apply test did not run")
    print(f"\nmeasured downtime per old service (s): {json.dumps(downtime, sort_keys=True)}")
    stateful = {"loki", "influx", "gatus-internal-62424db", "layer2redis-redis-primary-7af3fee"}
    assert all(downtime[s] > 0 for s in stateful), downtime
    assert {s: v for s, v in downtime.items() if s not in stateful and v} == {}, downtime


# --- rollback ---------------------------------------------------------------------------------


def test_rollback_brings_back_every_old_service_with_its_data(
    world: dict[str, Any], layer_1: None, run_cli: Callable[..., Any]
) -> None:
    client = world["client"]
    result = run_cli("--json", "--yes", "migrate", "rollback", "layer_2")
    assert result.exit_code == ExitCode.OK, result.stdout + result.stderr
    assert result.json()["data"]["done"][-1] == f"adopt:{ADOPTED}"  # undone last
    running = {s: _running(client, s) for s in _old_services()}
    ps = [world["engine"].docker("service", "ps", "--no-trunc", s).stdout for s in running]
    assert running == dict.fromkeys(_old_services(), 1), (result.stdout, ps)
    influx = client.services.get("influx").attrs["Spec"]["TaskTemplate"]["ContainerSpec"]
    assert [m["Source"] for m in influx["Mounts"]] == ["influx-volume-5275127"]
    assert "grafana" not in {s.name for s in client.services.list()}
    for volume in _old("volume:Volume"):
        out = _sh(client, "cat /v/marker.txt", {volume["live_name"]: "/v"})
        assert out.strip() == _marker(volume["live_name"])
    # the copies stay in the program's volumes, the adopted volume is released, not deleted
    assert {"layer2-redis-data", ADOPTED} <= {v.name for v in client.volumes.list()}
    assert _sh(client, "cat /v/marker.txt", {ADOPTED: "/v"}).strip() == _marker(ADOPTED)

    # after a rollback no copy is current: finish refuses to delete an old volume
    finish = run_cli(
        "--yes", "migrate", "finish", "layer_2", "--remove-volume", "loki-volume-e4a5166"
    )
    assert finish.exit_code == ExitCode.BAD_INPUT, finish.stdout + finish.stderr
    assert "loki-volume-e4a5166: not an old volume this migration copied" in finish.stderr
    assert "loki-volume-e4a5166" in {v.name for v in client.volumes.list()}


# --- apply again after the rollback, then finish ------------------------------------------------


def test_apply_after_rollback_reuses_the_verified_copies_and_finish_deletes_only_named_volumes(
    world: dict[str, Any], layer_1: None, run_cli: Callable[..., Any]
) -> None:
    client = world["client"]
    again = run_cli("--json", "--yes", "migrate", "apply", "layer_2", "--helper-image", HELPER)
    assert again.exit_code == ExitCode.OK, again.stdout + again.stderr
    assert f"adopt:{ADOPTED}" in again.json()["data"]["done"]
    old_left = [s for s in _old_services() if s not in ("influx", "loki")]
    assert {s: _running(client, s) for s in old_left} == dict.fromkeys(old_left, 0)

    finish = run_cli(
        "--json", "--yes", "migrate", "finish", "layer_2", "--remove-volume", "loki-volume-e4a5166"
    )
    assert finish.exit_code == ExitCode.OK, finish.stdout + finish.stderr
    services = {s.name for s in client.services.list()}
    assert not services & set(old_left), services  # the stopped old services are gone
    assert {"loki", "influx"} <= services  # the program's, which took those names, stay
    volumes = {v.name for v in client.volumes.list()}
    assert "loki-volume-e4a5166" not in volumes
    others = {v["live_name"] for v in _old("volume:Volume")} - {"loki-volume-e4a5166"}
    assert others <= volumes  # old volumes not named stay
    out = _sh(client, "cat /v/marker.txt", {"layer2-loki-data": "/v"})
    assert out.strip() == _marker("loki-volume-e4a5166")
