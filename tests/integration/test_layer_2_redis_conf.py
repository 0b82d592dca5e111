"""layer_2's redis.conf loaded by a real redis-server (Debian's), the way the service loads it.

The original mounted a redis.conf that redis-server never read (and that bound 127.0.0.1).
Here the file is passed to redis-server, the password comes from an included secret file, and
the service's healthcheck command is run against it. Only what belongs to the image is
adapted: the module paths (RedisJSON/RediSearch ship in the image, not in Debian), and the
secret and data directories, which are /run/secrets and /data in the container.
"""

from __future__ import annotations

import importlib
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from sprocket_common.stack_info import Layer, layer_package

pytestmark = pytest.mark.integration

CONF = Path(__file__).resolve().parents[2] / "layer_2" / "files" / "redis.conf"
PASSWORD = "redis-canary-" + "x" * 40


def _layer2(module: str) -> Any:
    return importlib.import_module(f"{layer_package(Layer.LAYER_2)}.{module}")


def _ensure_redis() -> None:
    if shutil.which("redis-server") and shutil.which("redis-cli"):
        return
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", "redis-server"],
        check=True,
        env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Redis:
    port: int
    secrets: Path

    def cli(self, *args: str, password: str | None = None) -> str:
        env = {k: v for k, v in os.environ.items() if k != "REDISCLI_AUTH"}
        if password is not None:
            env["REDISCLI_AUTH"] = password
        result = subprocess.run(
            ["redis-cli", "-p", str(self.port), *args],
            env=env,
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        )
        return result.stdout.strip()


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[Redis]:
    _ensure_redis()
    secrets, data = tmp_path / "secrets", tmp_path / "data"
    secrets.mkdir()
    data.mkdir()
    # The two Swarm secrets the service mounts: the included `requirepass` line and the bare
    # password its healthcheck reads.
    values = {"redis-auth.conf": f"requirepass {PASSWORD}\n", "redis_password": PASSWORD}
    for name, value in values.items():
        (secrets / name).write_text(value)
    conf = (
        "\n".join(
            line for line in CONF.read_text().splitlines() if not line.startswith("loadmodule")
        )
        .replace("/run/secrets/", f"{secrets}/")
        .replace("dir /data", f"dir {data}")
    )
    port = _free_port()
    conf_file = tmp_path / "redis.conf"
    conf_file.write_text(conf + f"\nport {port}\n")
    server = subprocess.Popen(
        ["redis-server", str(conf_file)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    handle = Redis(port, secrets)
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if server.poll() is not None:
                pytest.fail(f"redis-server refused the config:\n{server.stdout.read()}")  # type: ignore[union-attr]
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        yield handle
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_the_password_from_the_included_secret_is_required(redis: Redis) -> None:
    assert "NOAUTH" in redis.cli("ping")
    assert redis.cli("ping", password=PASSWORD) == "PONG"
    assert "NOAUTH" in redis.cli("ping", password="not-the-password")  # AUTH was refused


def test_the_config_is_the_one_loaded(redis: Redis) -> None:
    def get(key: str) -> str:
        return redis.cli("config", "get", key, password=PASSWORD).splitlines()[1]

    assert get("appendonly") == "yes"
    assert get("maxmemory-policy") == "volatile-lru"
    assert get("maxmemory") == str(1536 * 1024 * 1024)
    assert get("timeout") == "300"
    assert get("bind").startswith("0.0.0.0")  # noqa: S104 (reachable over the overlay)


def _healthcheck(redis: Redis) -> int:
    """The service's own healthcheck command, pointed at this server and secrets dir."""
    settings = _layer2("settings").Layer2Settings()
    test = _layer2("datastores").redis_config(settings, "v").healthcheck.test
    assert test[0] == "CMD-SHELL"
    command = test[1].replace("/run/secrets/", f"{redis.secrets}/")
    command = command.replace("redis-cli", f"redis-cli -p {redis.port}")
    return subprocess.run(["sh", "-c", command], check=False, timeout=10).returncode


def test_the_service_healthcheck_passes_and_fails_on_a_wrong_password(redis: Redis) -> None:
    assert _healthcheck(redis) == 0
    (redis.secrets / "redis_password").write_text("not-the-password")
    assert _healthcheck(redis) != 0
