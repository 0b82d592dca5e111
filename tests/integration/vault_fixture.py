"""A real Vault dev server on loopback (in memory, unsealed, KV v2 at `secret/`) for the tests.

The binary is built from the Go module proxy by scripts/install-vault-dev.sh (cached under
~/.cache/sprocket-infra); this fixture never builds it. Use it from a test module with
`from vault_fixture import vault_dev` (like driver_toys: tests/integration has no __init__.py,
so pytest puts it on sys.path).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[2]
INSTALL_SCRIPT = PROJECT_ROOT / "scripts" / "install-vault-dev.sh"
START_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class VaultDev:
    addr: str
    token: str  # the dev server's root token
    binary: Path

    @property
    def env(self) -> dict[str, str]:
        """What a client (the vault CLI, scripts/bootstrap_secrets.py) needs to reach it."""
        return {"VAULT_ADDR": self.addr, "VAULT_TOKEN": self.token}


def _cached_vault_binary() -> Path:
    done = subprocess.run(
        [str(INSTALL_SCRIPT), "--cached-only"], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        pytest.fail(done.stderr.strip() or "scripts/install-vault-dev.sh --cached-only failed")
    return Path(done.stdout.strip().splitlines()[-1])


def _free_loopback_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_until_serving(addr: str, process: subprocess.Popen[bytes], log: Path) -> None:
    import requests

    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"vault server -dev exited {process.returncode}: {log.read_text()[-2000:]}")
        try:
            if requests.get(f"{addr}/v1/sys/health", timeout=1).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.2)
    pytest.fail(f"vault server -dev did not serve {addr} within {START_TIMEOUT_S:.0f}s")


@pytest.fixture(scope="session")
def vault_dev(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VaultDev]:
    binary = _cached_vault_binary()
    home = tmp_path_factory.mktemp("vault-home")  # -dev writes ~/.vault-token: keep it private
    log = home / "server.log"
    addr = f"http://127.0.0.1:{_free_loopback_port()}"
    token = f"sprockettest-{secrets.token_hex(8)}"
    command = [
        str(binary), "server", "-dev",
        f"-dev-listen-address={addr.removeprefix('http://')}",
        f"-dev-root-token-id={token}",
    ]  # fmt: skip
    env = {**os.environ, "HOME": str(home)}
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        _wait_until_serving(addr, process, log)
        yield VaultDev(addr, token, binary)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# --- a real server (not -dev): file storage, initialised, unsealed with real key shares --------

SHARES, THRESHOLD = 3, 2
CHECK_PATH = "secret/sprocket/dr-check"


@dataclass
class VaultServer:
    """A real Vault server on file storage, initialised with SHARES key shares (THRESHOLD to
    unseal), unsealed, KV v2 at `secret/` holding CHECK_PATH. `init_json` is what `vault operator
    init -format=json` printed: the escrow a test hands the driver."""

    addr: str
    storage_dir: Path
    binary: Path
    shares: list[str]
    root_token: str
    init_json: str
    process: subprocess.Popen[bytes]

    def vault(self, *args: str) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "VAULT_ADDR": self.addr, "VAULT_TOKEN": self.root_token}
        return subprocess.run(
            [str(self.binary), *args], env=env, capture_output=True, text=True, check=False
        )

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _wait_for_listener(addr: str, process: subprocess.Popen[bytes], log: Path) -> None:
    import requests

    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"vault server exited {process.returncode}: {log.read_text()[-2000:]}")
        try:
            requests.get(f"{addr}/v1/sys/seal-status", timeout=1)
            return
        except requests.ConnectionError:
            time.sleep(0.2)
    pytest.fail(f"vault server did not serve {addr} within {START_TIMEOUT_S:.0f}s")


@contextlib.contextmanager
def running_vault_server(root: Path, storage_stanza: str) -> Iterator[VaultServer]:
    """A real Vault server on the given storage, initialised, unsealed, KV v2 at `secret/`
    holding CHECK_PATH; stopped on the way out, whatever happened."""
    import json

    binary = _cached_vault_binary()
    root.mkdir(parents=True, exist_ok=True)
    addr = f"127.0.0.1:{_free_loopback_port()}"
    config = root / "vault.hcl"
    config.write_text(
        f"{storage_stanza}\n"
        f'listener "tcp" {{\n  address = "{addr}"\n  tls_disable = true\n}}\n'
        f'disable_mlock = true\napi_addr = "http://{addr}"\n'
    )
    log = root / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(binary), "server", f"-config={config}"], stdout=out, stderr=subprocess.STDOUT
        )
    server = VaultServer(f"http://{addr}", root / "storage", binary, [], "", "", process)
    try:
        _wait_for_listener(server.addr, process, log)
        init = server.vault(
            "operator", "init", f"-key-shares={SHARES}", f"-key-threshold={THRESHOLD}",
            "-format=json",
        )  # fmt: skip
        assert init.returncode == 0, init.stderr
        document = json.loads(init.stdout)
        server.shares, server.root_token = document["unseal_keys_b64"], document["root_token"]
        server.init_json = init.stdout
        for share in server.shares[:THRESHOLD]:
            assert server.vault("operator", "unseal", share).returncode == 0
        enabled = server.vault("secrets", "enable", "-path=secret", "kv-v2")
        assert enabled.returncode == 0, enabled.stderr
        put = server.vault("kv", "put", "-mount=secret", "sprocket/dr-check", "canary=alive", "n=2")
        assert put.returncode == 0, put.stderr
        yield server
    finally:
        server.stop()


@pytest.fixture
def vault_server(tmp_path: Path) -> Iterator[VaultServer]:
    """A real Vault on file storage (`storage_dir`), as the local `vault-data` volume holds it."""
    root = tmp_path / "vault-server"
    stanza = f'storage "file" {{\n  path = "{root / "storage"}"\n}}'
    with running_vault_server(root, stanza) as server:
        yield server
