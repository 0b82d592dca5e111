"""`rotate vault-token` and `rotate oauth` on the real Pulumi engine, Vault and Swarm.

A stand-in platform program (on outputs-only layer_1 and layer_2 stacks) consumes both as the
real one does: `sprocket:vault_token` by a `vault.Provider` reading the KV v2 secret (the
project's Vault binary, `vault_dev`), and `secrets:discord-client-secret` by a house
SwarmService mounting it (busybox test image) on the test Swarm. One deployment for both."""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pulumi
import pytest
from rotate_consumer import plugins_home, remove_swarm_objects
from vault_fixture import VaultDev
from vault_fixture import vault_dev as vault_dev

from automation.exit_codes import ExitCode
from sprocket_common.outputs import LAYER1_KEYS, LAYER2_KEYS
from tests.conftest import SESSION_PREFIX

pytestmark = pytest.mark.integration

# Read the platform's secret; the provider makes itself a short-lived child token first.
OAUTH = "discord-client-secret"
OLD_OAUTH, NEW_OAUTH = (f"{which}-{uuid.uuid4().hex}" for which in ("old", "new"))
POLICY = """
path "secret/data/local/platform" { capabilities = ["read"] }
path "auth/token/create" { capabilities = ["update"] }
"""


def _exports(keys: tuple[str, ...]) -> Callable[[], None]:
    def program() -> None:
        for key in keys:
            pulumi.export(key, 5432 if key.endswith("_port") else "stand-in")

    return program


def _platform(addr: str, service: str, image: str) -> None:
    """What platform/secrets.py does with the token: a Vault provider reading the KV secret;
    and an app mounting an OAuth client secret from the stack's config."""
    import pulumi_vault as vault

    from sprocket_common.service import Healthcheck, SecretMount, ServiceConfig
    from sprocket_common.swarm_service import SwarmService

    app = ServiceConfig(
        name=service,
        image=image,
        healthcheck=Healthcheck(
            test=["CMD", "wget", "-q", "-O-", "http://127.0.0.1:8080/"],
            interval_s=1,
            timeout_s=2,
            retries=2,
            start_period_s=1,
        ),
        secret_mounts=[SecretMount(name=OAUTH, target="discord_client_secret")],
    )
    SwarmService(service, app, {OAUTH: pulumi.Config("secrets").require_secret(OAUTH)})

    provider = vault.Provider(
        "platform-vault",
        address=addr,
        token=pulumi.Config("sprocket").require_secret("vault_token"),
    )
    data = vault.kv.get_secret_v2_output(
        mount="secret", name="local/platform", opts=pulumi.InvokeOptions(provider=provider)
    )
    pulumi.export("keys", data.data.apply(lambda values: sorted(values or {})))


def _accessor(vault: VaultDev, token: str) -> str | None:
    import hvac

    try:
        client = hvac.Client(url=vault.addr, token=token)
        return str(client.auth.token.lookup_self()["data"]["accessor"])
    except hvac.exceptions.VaultError:
        return None


@pytest.fixture
def oauth_app(swarm: Any) -> Iterator[str]:
    """The app's name; its service and secrets (named after it) are removed afterwards."""
    name = f"{SESSION_PREFIX}-oauth-{uuid.uuid4().hex[:6]}"
    yield name
    remove_swarm_objects(swarm, name)


def _mounted(swarm: Any, service: str) -> str:
    """The OAuth secret as the running task's container reads it."""
    [container] = swarm.containers.list(
        filters={"label": f"com.docker.swarm.service.name={service}"}
    )
    return str(container.exec_run("cat /run/secrets/discord_client_secret").output.decode())


def test_rotate_vault_token_and_oauth_with_real_vault(
    vault_dev: VaultDev,
    pulumi_env: Any,
    run_cli: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
    swarm: Any,
    test_images: dict[str, str],
    oauth_app: str,
) -> None:
    import hvac
    from driver_toys import substitute_programs
    from pulumi.automation import ConfigValue

    from automation.guard import audit
    from automation.pulumi.workspace import select_stack
    from automation.settings import load_settings
    from sprocket_common.stack_info import Env, Layer, StackInfo

    root = hvac.Client(url=vault_dev.addr, token=vault_dev.token)
    root.secrets.kv.v2.create_or_update_secret(path="local/platform", secret={"bot-token": "x"})
    root.sys.create_or_update_policy("sprocket-platform", POLICY)
    old = root.auth.token.create_orphan(policies=["sprocket-platform"], ttl="1h")["auth"]
    for stale in pulumi_env.project_dir.glob("Pulumi.local-*.yaml"):
        stale.unlink()  # the checkout's stack files carry another passphrase's salt
    plugins_home(Path(pulumi_env.env["PULUMI_HOME"]))
    substitute_programs(
        monkeypatch,
        {
            "layer_1": _exports(LAYER1_KEYS),
            "layer_2": _exports(LAYER2_KEYS),
            "platform": lambda: _platform(vault_dev.addr, oauth_app, test_images["1"]),
        },
    )
    monkeypatch.setenv("VAULT_ADDR", vault_dev.addr)
    monkeypatch.setenv("VAULT_TOKEN", vault_dev.token)  # the operator's own token
    platform = select_stack(load_settings(), StackInfo(Env.LOCAL, Layer.PLATFORM))
    platform.set_config("sprocket:vault_token", ConfigValue(old["client_token"], secret=True))
    platform.set_config(f"secrets:{OAUTH}", ConfigValue(OLD_OAUTH, secret=True))
    for layer in ("layer_1", "layer_2", "platform"):
        result = run_cli("--yes", "deploy", layer)
        assert result.exit_code == ExitCode.OK, result.stdout + result.stderr

    dry = run_cli("--json", "rotate", "vault-token")
    assert dry.exit_code == ExitCode.OK, dry.stdout + dry.stderr
    assert _accessor(vault_dev, old["client_token"]) == old["accessor"]  # nothing changed

    done = run_cli("--json", "rotate", "vault-token", "--apply")
    assert done.exit_code == ExitCode.OK, done.stdout + done.stderr
    data = done.json()["data"]
    new_token = platform.get_config("sprocket:vault_token").value
    assert data["from"] == old["accessor"] and data["to"] == _accessor(vault_dev, new_token)
    assert _accessor(vault_dev, old["client_token"]) is None, "the old token still works"
    policies = root.auth.token.lookup_accessor(data["to"])["data"]["policies"]
    assert "sprocket-platform" in policies and "root" not in policies
    records = [r for r in audit.read(load_settings()) if r["command"] == "rotate vault-token"]
    shown = done.stdout + done.stderr + json.dumps(records)
    assert new_token not in shown and old["client_token"] not in shown
    assert [r["exit_code"] for r in records] == [ExitCode.OK]
    # The consumer reads Vault with the new token: the platform converges with no change.
    preview = run_cli("preview", "platform")
    assert preview.exit_code == ExitCode.OK, preview.stdout + preview.stderr

    # OAuth: the new client secret from stdin, the app rolled onto it, nothing printed.
    bad = run_cli("rotate", "oauth", "--provider", "github", "--apply")
    assert (
        bad.exit_code == ExitCode.BAD_INPUT and "discord, google, epic" in bad.stdout + bad.stderr
    )
    assert _mounted(swarm, oauth_app) == OLD_OAUTH
    listed = run_cli("--json", "rotate", "oauth", "--provider", "discord")
    assert listed.json()["data"]["consumers"] == {"local-platform": [oauth_app]}
    monkeypatch.setattr("sys.stdin", io.StringIO(NEW_OAUTH + "\n"))
    rotated = run_cli("--json", "rotate", "oauth", "--provider", "discord", "--apply")
    assert rotated.exit_code == ExitCode.OK, rotated.stdout + rotated.stderr
    assert "console" in rotated.json()["data"]["next"]
    assert NEW_OAUTH not in rotated.stdout + rotated.stderr
    assert platform.get_config(f"secrets:{OAUTH}").value == NEW_OAUTH
    assert _mounted(swarm, oauth_app) == NEW_OAUTH
    assert run_cli("preview", "platform").exit_code == ExitCode.OK
