"""The driver's main paths on the real stacks: the layers' own programs, the real engine, the real
docker provider plugin (built from ../shared/vendor by scripts/install-plugins.sh), a real Swarm.

The Swarm is an engine of this module's own (netns_engine.py): the layers' Swarm objects have
fixed names, and an operator's `make deploy` on the machine's engine must not collide with it.
Images cannot be pulled here, so every image the local environment declares is a *stand-in
image* made by automation/local_images.py (busybox, not the real software) that keeps running
and answers its declared healthcheck: what is real is Pulumi, the provider, Swarm's scheduling,
healthchecks, rolling updates and rollbacks.

The tests run in file order on one deployment (deploy all once, about a minute): each leaves the
stacks deployed and converged for the next, and the last one destroys everything.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from netns_engine import Engine, driver_setup, netns_engine, registered_plugins

from automation import local_images
from automation.exit_codes import ExitCode

pytestmark = [pytest.mark.integration, pytest.mark.long]

PROJECT_ROOT = Path(__file__).resolve().parents[2]
STACKS = ("local-layer_1", "local-layer_2", "local-platform")
# Every resource of the local stacks, for destroy (one pattern per stack, as the gate takes).
ALLOW_ALL = [arg for stack in STACKS for arg in ("--allow-delete", f"urn:pulumi:{stack}::*")]


@pytest.fixture(scope="module")
def engine() -> Iterator[Engine]:
    with netns_engine(f"sprt{uuid.uuid4().hex[:6]}") as started:
        yield started


@pytest.fixture(scope="module")
def real(engine: Engine, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Driver settings for the local stacks on `engine`, and the stand-in images made there."""
    root = tmp_path_factory.mktemp("real")
    env = driver_setup(root, engine.host, registered_plugins(), "real stacks, test passphrase")
    env["SPROCKET_PULUMI_CLI_DIR"] = str(Path(sys.executable).parent)
    project = Path(env["SPROCKET_PROJECT_DIR"])
    client = engine.client()
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("PULUMI_CONFIG_PASSPHRASE_FILE", raising=False)
        patch.delenv("SPROCKET_SETTINGS", raising=False)
        for key, value in env.items():
            patch.setenv(key, value)
        outcomes = local_images.ensure_images(
            client, local_images.declared_services("local"), offline=True, dry_run=False
        )
        assert {o.action for o in outcomes} == {"stand-in"}, outcomes
        yield {"env": env, "client": client, "engine": engine, "project": project, "root": root}
    client.close()


def _stack_services(client: Any) -> list[Any]:
    return [s for s in client.services.list() if "pulumi" not in s.name]


def _running(client: Any, service: Any) -> tuple[int, int]:
    """(running tasks, desired) as `docker service ls` counts them; global: one per node."""
    service.reload()
    mode = service.attrs["Spec"]["Mode"]
    tasks = service.tasks(filters={"desired-state": "running"})
    running = sum(1 for t in tasks if t["Status"]["State"] == "running")
    if "Global" in mode:
        return running, len(client.nodes.list())
    return running, int(mode.get("Replicated", {}).get("Replicas", 1))


def _wait_converged(client: Any, timeout_s: float = 180) -> dict[str, tuple[int, int]]:
    """Every service N/N, or the counts when the deadline passes (local declares no job)."""
    deadline = time.monotonic() + timeout_s
    while True:
        counts = {s.name: _running(client, s) for s in client.services.list()}
        if all(r == d for r, d in counts.values()) or time.monotonic() > deadline:
            return counts
        time.sleep(2)


def _exported(env: dict[str, str], stack: str) -> dict[str, Any]:
    proc = subprocess.run(
        [f"{env['SPROCKET_PULUMI_CLI_DIR']}/pulumi", "stack", "output", "--json", "-s", stack],
        cwd=env["SPROCKET_PROJECT_DIR"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return dict(json.loads(proc.stdout))


# --- deploy ---------------------------------------------------------------------------------------


def test_the_plain_cli_plans_the_same_creates_as_the_driver_for_layer_1(
    real: dict[str, Any], run_cli: Callable[..., Any]
) -> None:
    driver = _driver_preview(run_cli, "layer_1")  # creates the stack, as a first deploy does
    assert ("create" in {op for _, op in driver}) and len(driver) > 10, driver
    assert _plain_preview(real, "local-layer_1") == driver


def test_deploy_all_runs_every_declared_service_and_a_second_deploy_changes_nothing(
    real: dict[str, Any], run_cli: Callable[..., Any]
) -> None:
    client = real["client"]
    deploy = run_cli("--json", "--yes", "deploy", "all")
    assert deploy.exit_code == ExitCode.OK, deploy.stdout + deploy.stderr
    assert [s["stack"] for s in deploy.json()["data"]["stacks"]] == list(STACKS)

    declared = {s.name for s in local_images.declared_services("local")}
    assert declared <= {s.name for s in client.services.list()}
    # deploy waited: every service already runs N/N when it returns, and says so per service
    watched = [r for s in deploy.json()["data"]["stacks"] for r in s["services"]["results"]]
    assert {r["service"] for r in watched} == declared
    assert [r["service"] for r in watched if not r["converged"]] == []
    counts = _wait_converged(client, timeout_s=0)
    assert {n: c for n, c in counts.items() if c[0] != c[1]} == {}, counts

    preview = run_cli("--json", "preview", "all")
    assert preview.exit_code == ExitCode.OK, preview.stdout  # no perpetual diff
    again = run_cli("--json", "--yes", "deploy", "all")
    assert again.exit_code == ExitCode.OK, again.stdout + again.stderr
    assert {s["status"] for s in again.json()["data"]["stacks"]} == {"unchanged"}, again.stdout


# --- drift ----------------------------------------------------------------------------------------


def test_drift_is_none_after_deploy_and_names_a_service_changed_by_hand(
    real: dict[str, Any], run_cli: Callable[..., Any]
) -> None:
    clean = run_cli("--json", "drift", "all")
    assert clean.exit_code == ExitCode.OK, clean.stdout + clean.stderr

    real["engine"].docker("service", "update", "--detach", "--env-add", "HAND=1", "local-web")
    drifted = run_cli("--json", "drift", "all")
    assert drifted.exit_code == ExitCode.DRIFT_DETECTED, drifted.stdout + drifted.stderr
    drifted_urns = [
        d["urn"] for s in drifted.json()["data"]["stacks"] for d in s.get("drifted", [])
    ]
    assert [u for u in drifted_urns if "docker:index/service:Service" in u] == [
        "urn:pulumi:local-platform::sprocket-infra::sprocket:swarm:Service$"
        "docker:index/service:Service::web"
    ], drifted.stdout

    put_back = run_cli("--yes", "deploy", "platform")
    assert put_back.exit_code == ExitCode.OK, put_back.stdout + put_back.stderr
    assert run_cli("drift", "all").exit_code == ExitCode.OK
    assert _wait_converged(real["client"])["local-web"] == (1, 1)


def test_a_targeted_preview_claims_no_image_for_the_services_it_leaves_alone(
    real: dict[str, Any], run_cli: Callable[..., Any]
) -> None:
    """`--target core` with a new tag asked for web: web is not deployed, so the Stack's
    `images` output (read from each service's state) must not say web runs the new tag."""
    import yaml

    settings = _machine_settings("local-platform")
    original = settings.read_text()
    document = yaml.safe_load(original)
    document["config"]["sprocket:image_tags"] = {"web": "v9"}
    settings.write_text(yaml.safe_dump(document))
    core = "urn:pulumi:local-platform::sprocket-infra::sprocket:swarm:Service$"
    core += "docker:index/service:Service::core"
    try:
        whole = run_cli("--json", "preview", "platform")
        targeted = run_cli("--json", "preview", "platform", "--target", core)
    finally:
        settings.write_text(original)
    steps = [
        (s["op"], s["urn"].rsplit("::", 1)[-1]) for s in whole.json()["data"]["stacks"][0]["steps"]
    ]
    assert ("update", "web") in steps, whole.stdout
    assert targeted.exit_code == ExitCode.OK, targeted.stdout + targeted.stderr
    assert targeted.json()["data"]["stacks"][0]["steps"] == []


# --- rollout --------------------------------------------------------------------------------------


def _image_of(client: Any, service: str) -> str:
    spec = client.services.get(service).attrs["Spec"]["TaskTemplate"]["ContainerSpec"]
    return str(spec["Image"]).split("@")[0]


def test_rollout_of_a_healthy_tag_succeeds_and_a_failing_one_is_rolled_back(
    real: dict[str, Any], run_cli: Callable[..., Any]
) -> None:
    client = real["client"]
    declared = local_images.declared_services("local")
    web = [s for s in declared if s.name == "local-web"]
    recipe = local_images.recipe_for(web[0].image, web)
    repository = web[0].image.rpartition(":")[0]
    local_images.make_stand_in(client, f"{repository}:v2", recipe)  # stand-in image, healthy
    local_images.make_stand_in(client, f"{repository}:broken", recipe, healthy=False)
    before = {s.name: _image_of(client, s.name) for s in _stack_services(client)}

    good = run_cli("--json", "--yes", "rollout", "--tag", "v2", "--service", "web")
    assert good.exit_code == ExitCode.OK, good.stdout + good.stderr
    assert _image_of(client, "local-web") == f"{repository}:v2"
    unchanged = {n: i for n, i in before.items() if n != "local-web"}
    assert {n: _image_of(client, n) for n in unchanged} == unchanged

    bad = run_cli("--json", "--yes", "rollout", "--tag", "broken", "--service", "web")
    assert bad.exit_code == ExitCode.ROLLED_BACK, bad.stdout + bad.stderr
    assert _image_of(client, "local-web") == f"{repository}:v2"
    assert _exported(real["env"], "local-platform")["images"]["web"] == f"{repository}:v2"
    assert run_cli("preview", "platform").exit_code == ExitCode.OK
    assert _wait_converged(client)["local-web"][0] >= 1


# --- deploy waits for the services (issue 14) ----------------------------------------------------

NOWHERE = "node.labels.sprocket.nowhere==true"


def _machine_settings(stack: str) -> Path:
    """The settings file the driver runs for a local stack (automation/pulumi/stack_files.py)."""
    from automation.pulumi.stack_files import stack_file
    from automation.settings import load_settings
    from sprocket_common.stack_info import StackInfo

    return stack_file(load_settings(), StackInfo.parse(stack))


def _deploy_platform_with(settings: Path, document: Any, run_cli: Callable[..., Any]) -> Any:
    """`deploy platform` with the settings `document` in the driver's file; the file as it was
    is put back afterwards, whatever happens."""
    import yaml

    original = settings.read_text()
    settings.write_text(yaml.safe_dump(document))
    try:
        return run_cli("--json", "--yes", "deploy", "platform")
    finally:
        settings.write_text(original)


def test_deploy_names_each_service_that_does_not_converge_in_swarms_words(
    real: dict[str, Any], run_cli: Callable[..., Any]
) -> None:
    """Three faults in one platform deploy (stand-in images): an image that does not exist, a
    placement constraint no node meets, a failing healthcheck under `failure_action: rollback`."""
    import yaml

    client = real["client"]
    web = [s for s in local_images.declared_services("local") if s.name == "local-web"]
    broken = f"{web[0].image.rpartition(':')[0]}:broken"
    local_images.make_stand_in(client, broken, local_images.recipe_for(web[0].image, web),
                               healthy=False)  # fmt: skip
    settings = _machine_settings("local-platform")
    document = yaml.safe_load(settings.read_text())
    config = document["config"]
    tags = config.get("sprocket:image_tags") or {}
    tags = json.loads(tags) if isinstance(tags, str) else tags  # as `pulumi config set` wrote it
    config["sprocket:image_tags"] = {**tags, "web": "broken", "notification-service": "missing"}
    config["sprocket:placement"] = {"image-generation-frontend": [NOWHERE]}
    failed = _deploy_platform_with(settings, document, run_cli)
    assert failed.exit_code == ExitCode.NOT_CONVERGED, failed.stdout + failed.stderr
    [stack] = failed.json()["data"]["stacks"]
    results = {r["service"]: r for r in stack["services"]["results"]}
    assert set(results) == set(_exported(real["env"], "local-platform")["service_names"].values())
    not_converged = {name for name, r in results.items() if not r["converged"]}
    assert not_converged == {
        "local-web", "local-notification-service", "local-image-generation-frontend"
    }, stack["services"]  # fmt: skip

    missing = results["local-notification-service"]
    assert any("No such image" in e for e in missing["task_errors"]), missing
    unplaced = results["local-image-generation-frontend"]
    assert "no suitable node" in unplaced["message"] and NOWHERE in unplaced["message"], unplaced
    unhealthy = results["local-web"]
    assert unhealthy["rolled_back_by_swarm"], unhealthy
    assert "local-web" in stack["message"] and "rolled back by Swarm" in stack["message"]
    assert "drift platform" in stack["message"]

    # The state records the broken spec, the Swarm runs the previous one: drift names it.
    drift = run_cli("--json", "drift", "platform")
    assert drift.exit_code == ExitCode.DRIFT_DETECTED, drift.stdout + drift.stderr
    drifted = {
        d["urn"].rsplit("::", 1)[-1]
        for s in drift.json()["data"]["stacks"]
        for d in s.get("drifted", [])
        if "docker:index/service:Service" in d["urn"]
    }
    assert "web" in drifted and drifted <= {"web", "notification-service"}, drift.stdout

    # The tags and the constraint taken out of the settings again, as an operator undoes them:
    # one deploy converges everything, and the constraint is gone from the live service too
    # (the provider's `placement` is Optional+Computed: the program always declares it).
    config["sprocket:image_tags"] = tags
    del config["sprocket:placement"]
    healed = _deploy_platform_with(settings, document, run_cli)
    assert healed.exit_code == ExitCode.OK, healed.stdout + healed.stderr
    [stack] = healed.json()["data"]["stacks"]
    assert stack["services"]["converged"] == stack["services"]["total"] > 0, stack["services"]
    assert _wait_converged(client, timeout_s=10)["local-image-generation-frontend"] == (1, 1)
    frontend = client.services.get("local-image-generation-frontend").attrs["Spec"]
    assert not frontend["TaskTemplate"].get("Placement", {}).get("Constraints"), frontend
    assert run_cli("preview", "platform").exit_code == ExitCode.OK


# --- backup, restore, rollback --------------------------------------------------------------------


def test_backup_all_then_restore_and_rollback_platform_leave_a_clean_preview(
    real: dict[str, Any], run_cli: Callable[..., Any], s3_endpoint: Any
) -> None:
    backup = run_cli("--json", "--yes", "backup", "all")
    assert backup.exit_code == ExitCode.OK, backup.stdout + backup.stderr
    backups = {b["stack"]: b for b in backup.json()["data"]["backups"]}
    assert set(backups) == set(STACKS)

    restored = run_cli(
        "--json", "--yes", "restore", "platform", "--from", backups[STACKS[2]]["backup_id"]
    )
    assert restored.exit_code == ExitCode.OK, restored.stdout + restored.stderr
    assert run_cli("preview", "platform").exit_code == ExitCode.OK

    # A release after the backup, then back to the last good one.
    tracked = real["project"] / "Pulumi.local-platform.yaml"
    tracked.write_text(
        tracked.read_text().replace('alpha_restrictions: "false"', 'alpha_restrictions: "true"')
    )
    assert run_cli("--yes", "deploy", "platform").exit_code == ExitCode.OK
    rolled = run_cli("--json", "--yes", "rollback", "platform", "--last-good")
    assert rolled.exit_code == ExitCode.OK, rolled.stdout + rolled.stderr
    assert run_cli("preview", "platform").exit_code == ExitCode.OK


# --- the plain CLI sees what the driver sees ------------------------------------------------------


def _project_copy(real: dict[str, Any]) -> Path:
    """A copy of the checkout's program for `pulumi preview -s STACK` (runs __main__.py)."""
    copy = real["root"] / "checkout"
    if not copy.exists():
        shutil.copytree(
            PROJECT_ROOT,
            copy,
            ignore=shutil.ignore_patterns(".venv", ".sprocket", ".git", "*cache*", "tests"),
        )
        (copy / ".venv").symlink_to(PROJECT_ROOT / ".venv")
    return copy


def _plain_preview(real: dict[str, Any], stack: str) -> set[tuple[str, str]]:
    """The plain CLI's plan, with the settings the driver runs: a local stack's live in the
    machine's copy (automation/pulumi/stack_files.py), which holds e.g. a rollout's image tags."""
    from automation.pulumi.stack_files import stack_file
    from automation.settings import load_settings
    from sprocket_common.stack_info import StackInfo

    shutil.copy(
        stack_file(load_settings(), StackInfo.parse(stack)),
        _project_copy(real) / f"Pulumi.{stack}.yaml",
    )
    env = {**os.environ, **real["env"]}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    proc = subprocess.run(
        [f"{real['env']['SPROCKET_PULUMI_CLI_DIR']}/pulumi", "preview", "--json", "-s", stack],
        cwd=_project_copy(real),
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:] + proc.stdout[-2000:]
    steps = json.loads(proc.stdout).get("steps", [])
    changes = [s for s in steps if s["op"] not in ("same", "read")]  # read: a StackReference
    return {(s["urn"], s["op"]) for s in changes if not _not_compared(s["urn"])}


def _driver_preview(run_cli: Callable[..., Any], layer: str) -> set[tuple[str, str]]:
    result = run_cli("--json", "preview", layer)
    assert result.exit_code in (ExitCode.OK, ExitCode.CHANGES_PRESENT), result.stdout
    [stack] = result.json()["data"]["stacks"]
    return {(s["urn"], s["op"]) for s in stack["steps"] if not _not_compared(s["urn"])}


def _not_compared(urn: str) -> bool:
    """Default providers (the plain CLI's --json leaves their steps out) and the stack itself
    (the driver reports changed outputs as its update, the plain CLI calls that step `same`)."""
    return "::pulumi:providers:" in urn or "::pulumi:pulumi:Stack::" in urn


def test_after_deploy_the_plain_cli_and_the_driver_plan_the_same_for_every_layer(
    real: dict[str, Any], run_cli: Callable[..., Any]
) -> None:
    for layer in ("layer_1", "layer_2"):
        assert _plain_preview(real, f"local-{layer}") == _driver_preview(run_cli, layer) == set()
    # A release tag change in the tracked file: the same services update, seen by both.
    tracked = real["project"] / "Pulumi.local-platform.yaml"
    tracked.write_text(
        tracked.read_text().replace("sprocket:image_tag: main", "sprocket:image_tag: v3")
    )
    driver = _driver_preview(run_cli, "platform")
    assert driver and {op for _, op in driver} == {"update"}, driver
    assert _plain_preview(real, "local-platform") == driver
    tracked.write_text(
        tracked.read_text().replace("sprocket:image_tag: v3", "sprocket:image_tag: main")
    )
    assert run_cli("preview", "platform").exit_code == ExitCode.OK


# --- prod: the real DigitalOcean plan, and the gate on real types -------------------------------

PROD_LAYER_1 = """config:
  sprocket:base_domain: sprocket.example.gg
  sprocket:acme_email: ops@example.gg
  sprocket:ssh_keys: ["3b:16:bf:e4:8b:00:8b:b8:59:8c:a9:d3:f0:19:45:fa"]
  sprocket:admin_cidrs: ["198.51.100.7/32"]
  sprocket:discord_client_id: "123456"
  sprocket:discord_guild_id: "654321"
"""
DO_TYPES = {
    f"digitalocean:index/{t}"
    for t in (
        "droplet:Droplet",
        "volume:Volume",
        "volumeAttachment:VolumeAttachment",
        "firewall:Firewall",
        "domain:Domain",
        "dnsRecord:DnsRecord",
        "spacesBucket:SpacesBucket",
        "spacesKey:SpacesKey",
    )
}


def _pulumi(real: dict[str, Any], *args: str, stdin: str | None = None) -> str:
    proc = subprocess.run(
        [f"{real['env']['SPROCKET_PULUMI_CLI_DIR']}/pulumi", "--non-interactive", *args],
        cwd=real["project"],
        env={**os.environ, **real["env"]},
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def _with_state(real: dict[str, Any], stack: str, resources: list[dict[str, Any]]) -> None:
    """Import a checkpoint holding `resources` (under the stack and the default provider)."""
    exported = json.loads(_pulumi(real, "stack", "export", "-s", stack))
    prefix = f"urn:pulumi:{stack}::sprocket-infra::"
    root = f"{prefix}pulumi:pulumi:Stack::sprocket-infra-{stack}"
    provider = f"{prefix}pulumi:providers:digitalocean::default_4_76_0"
    provider_id = "5e1f0000-0000-4000-8000-000000000001"
    exported["deployment"]["resources"] = [
        {"urn": root, "custom": False, "type": "pulumi:pulumi:Stack", "outputs": {}},
        {
            "urn": provider,
            "custom": True,
            "id": provider_id,
            "type": "pulumi:providers:digitalocean",
            "inputs": {"version": "4.76.0"},
            "outputs": {"version": "4.76.0"},
        },
        *(
            {
                "urn": f"{prefix}{r['type']}::{r['name']}",
                "custom": True,
                "id": r["id"],
                "type": r["type"],
                "inputs": r["props"],
                "outputs": {**r["props"], "id": r["id"]},
                "parent": root,
                "provider": f"{provider}::{provider_id}",
            }
            for r in resources
        ),
    ]
    path = real["root"] / f"{stack}.json"
    path.write_text(json.dumps(exported))
    _pulumi(real, "stack", "import", "-s", stack, "--file", str(path))


def test_prod_preview_renders_the_digitalocean_plan_and_the_gate_blocks_real_types(
    real: dict[str, Any], run_cli: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DIGITALOCEAN_TOKEN", "dop_v1_placeholder_never_sent")
    (real["project"] / "Pulumi.prod-layer_1.yaml").write_text(PROD_LAYER_1)
    _pulumi(real, "stack", "init", "prod-layer_1", "--secrets-provider", "passphrase")
    _pulumi(real, "config", "set", "--secret", "sprocket:discord_client_secret", "-s",
            "prod-layer_1", stdin="canary-discord-secret")  # fmt: skip

    plan = run_cli("--env", "prod", "--json", "preview", "all")
    stacks = {s["stack"]: s for s in plan.json()["data"]["stacks"]}
    layer_1 = stacks["prod-layer_1"]
    assert layer_1["status"] == "previewed", plan.stdout
    assert {s["type"] for s in layer_1["steps"]} >= DO_TYPES
    assert {s["op"] for s in layer_1["steps"]} == {"create"}
    assert "canary-discord-secret" not in plan.stdout

    # The live droplet is in another region (a replace); a bucket no longer declared (a delete).
    droplet = "digitalocean:index/droplet:Droplet"
    bucket = "digitalocean:index/spacesBucket:SpacesBucket"
    _with_state(
        real,
        "prod-layer_1",
        [
            {"type": droplet, "name": "manager", "id": "1001",
             "props": {"name": "sprocket-manager", "region": "sfo3", "size": "s-4vcpu-8gb",
                       "image": "ubuntu-24-04-x64"}},
            {"type": bucket, "name": "old-assets", "id": "old-assets",
             "props": {"name": "old-assets", "region": "nyc3"}},
        ],
    )  # fmt: skip
    # --no-refresh: the placeholder token reaches no API; the provider's own diff decides.
    gated = run_cli("--env", "prod", "--json", "preview", "layer_1", "--no-refresh")
    assert gated.exit_code == ExitCode.GATE_BLOCKED, gated.stdout + gated.stderr
    [stack] = gated.json()["data"]["stacks"]
    blocked = {(b["urn"].rsplit("::", 1)[-1], b["op"]) for b in stack["gate"]["blocked"]}
    assert blocked == {("manager", "replace"), ("old-assets", "delete")}


# --- destroy --------------------------------------------------------------------------------------


def test_destroy_all_leaves_no_swarm_object_and_names_the_volumes_it_keeps(
    real: dict[str, Any], run_cli: Callable[..., Any]
) -> None:
    client = real["client"]
    destroyed = run_cli("--yes", "destroy", "all", *ALLOW_ALL)
    assert destroyed.exit_code == ExitCode.OK, destroyed.stdout + destroyed.stderr

    assert [s.name for s in client.services.list()] == []
    assert [n.name for n in client.networks.list() if n.attrs["Scope"] == "swarm"] == ["ingress"]
    assert client.secrets.list() == [] and client.configs.list() == []
    kept = sorted(v.name for v in client.volumes.list())
    assert kept, "layer_2 and platform keep their data volumes (retain_on_delete)"
    for volume in kept:
        assert volume in destroyed.stdout and f"docker volume rm {volume}" in destroyed.stdout
