"""scripts/bootstrap_secrets.py against a real Vault (v1.21.3 dev server, built from Go proxy)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import requests
from vault_fixture import VaultDev, vault_dev

pytestmark = pytest.mark.integration
__all__ = ["vault_dev"]  # the fixture, imported so pytest finds it here
SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "bootstrap_secrets.py"
CANARY = "canary-5c1a-never-echo-me"
OTHER = "canary-9f03-second-value"


def _bootstrap(
    dotenv: Path, env_name: str, env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), "--dotenv", str(dotenv), "--env", env_name],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **env},
    )


def _kv(vault: VaultDev, env_name: str) -> Any:
    response = requests.get(
        f"{vault.addr}/v1/secret/data/{env_name}/platform",
        headers={"X-Vault-Token": vault.token},
        timeout=5,
    )
    return response.status_code, (response.json().get("data") if response.ok else None)


@pytest.fixture
def dotenv(tmp_path: Path) -> Path:
    path = tmp_path / "doppler.env"
    path.write_text(f'DISCORD_BOT_TOKEN="{CANARY}"\nBALLCHASING_API_KEY={OTHER}\n')
    return path


def test_bootstrap_creates_the_kv_v2_entry_on_a_real_vault(
    vault_dev: VaultDev, dotenv: Path
) -> None:
    result = _bootstrap(dotenv, "staging", vault_dev.env)

    assert result.returncode == 0, result.stderr
    assert CANARY not in result.stdout + result.stderr
    status, data = _kv(vault_dev, "staging")
    assert status == 200
    assert data["data"] == {"discord-bot-token": CANARY, "ballchasing-token": OTHER}
    assert data["metadata"]["version"] == 1


def test_bootstrap_keeps_existing_fields_and_writes_a_new_version(
    vault_dev: VaultDev, dotenv: Path
) -> None:
    headers = {"X-Vault-Token": vault_dev.token}
    url = f"{vault_dev.addr}/v1/secret/data/prod/platform"
    seeded = requests.post(
        url, headers=headers, json={"data": {"existing-field": "kept"}}, timeout=5
    )
    assert seeded.ok, seeded.text

    result = _bootstrap(dotenv, "prod", vault_dev.env)

    assert result.returncode == 0, result.stderr
    _, data = _kv(vault_dev, "prod")
    assert data["data"] == {
        "existing-field": "kept",
        "discord-bot-token": CANARY,
        "ballchasing-token": OTHER,
    }
    assert data["metadata"]["version"] == 2


def test_a_token_vault_rejects_is_a_clear_error_and_nothing_is_written(
    vault_dev: VaultDev, dotenv: Path
) -> None:
    result = _bootstrap(dotenv, "local", {**vault_dev.env, "VAULT_TOKEN": "not-a-real-token"})

    assert result.returncode != 0
    assert "Vault GET secret/data/local/platform: HTTP 403" in result.stderr
    assert CANARY not in result.stdout + result.stderr
    assert _kv(vault_dev, "local")[0] == 404
