"""scripts/bootstrap_secrets.py into a real stack's encrypted config, and into Vault's KV v2 API."""

from __future__ import annotations

import http.server
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pulumi import automation as auto

pytestmark = pytest.mark.integration
SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "bootstrap_secrets.py"
CANARY = "canary-0b7d-never-echo-me"
OTHER = "canary-2e91-second-value"


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {})},
    )


@pytest.fixture
def dotenv(tmp_path: Path) -> Path:
    path = tmp_path / "doppler.env"
    path.write_text(
        f'DISCORD_BOT_TOKEN="{CANARY}"\nBALLCHASING_API_KEY={OTHER}\nNODE_ENV=production\n'
        "DOPPLER_CONFIG=prd\n"
    )
    return path


@pytest.fixture
def fresh_project(pulumi_env: Any) -> Any:
    # The checkout's stack file holds the salt of the checkout's own passphrase.
    (pulumi_env.project_dir / "Pulumi.local-platform.yaml").unlink(missing_ok=True)
    return pulumi_env


def test_values_become_encrypted_stack_secrets_and_are_never_printed(
    fresh_project: Any, dotenv: Path
) -> None:
    result = _run("--dotenv", str(dotenv), "--env", "local")
    assert result.returncode == 0, result.stderr
    output = result.stdout + result.stderr
    assert CANARY not in output and OTHER not in output
    assert "set 2 secrets on stack local-platform" in result.stdout
    assert "ballchasing-token, discord-bot-token" in result.stdout
    assert "skipped (not a catalog secret; --include-unknown to set): NODE_ENV" in result.stdout

    stack = auto.select_stack(
        "local-platform",
        "sprocket-infra",
        lambda: None,
        opts=fresh_project.workspace_options(fresh_project.stack_file("local-platform").parent),
    )
    config = stack.get_all_config()
    assert config["secrets:discord-bot-token"].value == CANARY
    assert config["secrets:discord-bot-token"].secret
    assert config["secrets:ballchasing-token"].value == OTHER
    assert "secrets:node-env" not in config
    stack_file = fresh_project.stack_file("local-platform").read_text()
    assert CANARY not in stack_file and "secure:" in stack_file


def test_dry_run_names_what_it_would_set_and_creates_nothing(
    fresh_project: Any, dotenv: Path
) -> None:
    result = _run("--dotenv", str(dotenv), "--dry-run")
    assert result.returncode == 0, result.stderr
    assert "would set 2 secrets on stack local-platform: ballchasing-token, discord-bot-token" in (
        result.stdout
    )
    assert CANARY not in result.stdout + result.stderr
    assert not (fresh_project.project_dir / "Pulumi.local-platform.yaml").exists()
    assert not fresh_project.stack_file("local-platform").exists()
    assert not list(fresh_project.backend_dir.rglob("local-platform*"))


def test_bad_input_is_one_line_naming_it(fresh_project: Any, tmp_path: Path) -> None:
    empty = tmp_path / "only-unknown.env"
    empty.write_text("NODE_ENV=production\n")
    result = _run("--dotenv", str(empty))
    assert result.returncode == 64
    assert result.stderr.strip() == "error: nothing to set: no variable names a catalog secret"
    wrong_env = _run("--dotenv", str(empty), "--env", "qa")
    assert wrong_env.returncode == 64 and "'qa'" in wrong_env.stderr
    assert _run("--help").returncode == 0


# --- Vault ----------------------------------------------------------------------------------


@pytest.fixture
def vault_stub() -> Iterator[dict[str, Any]]:
    """A loopback server answering Vault's KV v2 API (no Vault server can be installed here)."""
    seen: dict[str, Any] = {"requests": [], "store": {"existing-field": "kept"}}

    class Vault(http.server.BaseHTTPRequestHandler):
        def log_message(self, *_args: Any) -> None:
            pass

        def _reply(self, code: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            seen["requests"].append(("GET", self.path, self.headers.get("X-Vault-Token")))
            self._reply(200, {"data": {"data": seen["store"], "metadata": {"version": 3}}})

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            seen["requests"].append(("POST", self.path, self.headers.get("X-Vault-Token")))
            seen["posted"] = body
            self._reply(200, {"data": {"version": 4}})

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Vault)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    seen["addr"] = f"http://127.0.0.1:{server.server_address[1]}"
    yield seen
    server.shutdown()
    server.server_close()


def test_with_vault_addr_values_go_to_kv_v2_merged_with_check_and_set_stub(
    vault_stub: dict[str, Any], dotenv: Path
) -> None:
    result = _run(
        "--dotenv", str(dotenv), "--env", "prod",
        env={"VAULT_ADDR": vault_stub["addr"], "VAULT_TOKEN": "s.test-token"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert CANARY not in result.stdout + result.stderr
    assert [r[:2] for r in vault_stub["requests"]] == [
        ("GET", "/v1/secret/data/prod/platform"),
        ("POST", "/v1/secret/data/prod/platform"),
    ]
    assert {r[2] for r in vault_stub["requests"]} == {"s.test-token"}
    assert vault_stub["posted"] == {
        "options": {"cas": 3},
        "data": {"existing-field": "kept", "discord-bot-token": CANARY, "ballchasing-token": OTHER},
    }
    assert "set 2 secrets on Vault" in result.stdout


def test_vault_without_a_token_is_refused(dotenv: Path) -> None:
    result = _run(
        "--dotenv", str(dotenv), env={"VAULT_ADDR": "http://127.0.0.1:9", "VAULT_TOKEN": ""}
    )
    assert result.returncode == 64 and "VAULT_TOKEN is not" in result.stderr


def test_values_never_appear_on_a_command_line(
    fresh_project: Any, dotenv: Path, tmp_path: Path
) -> None:
    """A wrapper around the real pulumi CLI records every argv the script's processes get."""
    real_cli = Path(fresh_project.env["SPROCKET_PULUMI_CLI_DIR"]) / "pulumi"
    wrapper_dir = tmp_path / "cli" / "bin"
    wrapper_dir.mkdir(parents=True)
    argv_log = tmp_path / "argv.log"
    wrapper = wrapper_dir / "pulumi"
    wrapper.write_text(f'#!/bin/sh\necho "$*" >> {argv_log}\nexec {real_cli} "$@"\n')
    wrapper.chmod(0o755)

    result = _run("--dotenv", str(dotenv), env={"SPROCKET_PULUMI_CLI_DIR": str(wrapper_dir)})

    assert result.returncode == 0, result.stderr
    logged = argv_log.read_text()
    assert "config set --secret" in logged  # the wrapper really was the CLI used
    assert CANARY not in logged and OTHER not in logged
