"""`rotate vault-token` against the project's real Vault binary (`vault_dev`) and the real
Pulumi engine: the platform stack's `sprocket:vault_token` is consumed as platform/secrets.py
consumes it (a `vault.Provider` reading the KV v2 secret), by a stand-in platform program on
stand-in (outputs-only) layer_1 and layer_2 stacks."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pulumi
import pytest
from vault_fixture import VaultDev
from vault_fixture import vault_dev as vault_dev

from automation.exit_codes import ExitCode
from sprocket_common.outputs import LAYER1_KEYS, LAYER2_KEYS

pytestmark = pytest.mark.integration

# Read the platform's secret; the provider makes itself a short-lived child token first.
POLICY = """
path "secret/data/local/platform" { capabilities = ["read"] }
path "auth/token/create" { capabilities = ["update"] }
"""


def _exports(keys: tuple[str, ...]) -> Callable[[], None]:
    def program() -> None:
        for key in keys:
            pulumi.export(key, 5432 if key.endswith("_port") else "stand-in")

    return program


def _platform(addr: str) -> None:
    """What platform/secrets.py does with the token: a Vault provider reading the KV secret."""
    import pulumi_vault as vault

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


def test_rotate_vault_token_with_real_vault(
    vault_dev: VaultDev,
    pulumi_env: Any,
    run_cli: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import hvac
    from driver_toys import substitute_programs
    from pulumi.automation import ConfigValue
    from rotate_consumer import plugins_home

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
            "platform": lambda: _platform(vault_dev.addr),
        },
    )
    monkeypatch.setenv("VAULT_ADDR", vault_dev.addr)
    monkeypatch.setenv("VAULT_TOKEN", vault_dev.token)  # the operator's own token
    platform = select_stack(load_settings(), StackInfo(Env.LOCAL, Layer.PLATFORM))
    platform.set_config("sprocket:vault_token", ConfigValue(old["client_token"], secret=True))
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
