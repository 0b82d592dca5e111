"""A legacy catalog entry on the real Swarm: credentials reach the process, never the spec.

The legacy bots read their credentials from env only. The catalog's `env_from_secrets` runs
them through a shell wrapper that exports the mounted secret files at start. Here the rendered
command and env of `legacy-bot-emilio` run on a real Swarm (image and start command swapped for
the busybox test image, which has no npm): the bot's process must see `bot_token`, and
`docker service inspect` must not.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from sprocket_common.env_config import EnvConfig
from sprocket_common.stack_info import Env, Layer, layer_package

layer_package(Layer.PLATFORM)

from sprocket_platform.catalog import app_secrets, load_catalog  # noqa: E402
from sprocket_platform.render import Environment, service_config  # noqa: E402

pytestmark = pytest.mark.integration

CANARY = "canary-legacy-7731"


def _environment() -> Environment:
    plain = {
        key: "stand-in"
        for key in (
            "redis_host",
            "rabbitmq_host",
            "rabbitmq_user",
            "postgres_host",
            "postgres_database",
            "app_db_user",
            "influx_url",
            "influx_org",
            "influx_app_bucket",
            "postgres_ssl_mode",
            "spaces_endpoint",
        )
    }
    plain.update(redis_port="6379", rabbitmq_port="5672", postgres_port="5432")
    plain.update(redis_port_hex="18EB", rabbitmq_port_hex="1628")
    return Environment(
        env_config=EnvConfig(env=Env.PROD, base_domain="sprocket.example.gg"),
        values=plain,
        networks={n: n for n in ("platform", "ingress", "data", "monitoring")},
    )


@pytest.fixture
def swarm_secrets(swarm: Any, service_name: str) -> Iterator[dict[str, Any]]:
    """One real Swarm secret per secret the entry mounts (canary values), removed afterwards."""
    app = load_catalog().apps["legacy-bot-emilio"]
    made = {
        name: swarm.secrets.create(name=f"{service_name}-{name}", data=f"{CANARY}-{name}".encode())
        for name in app_secrets(app)
    }
    yield made
    for service in swarm.services.list(filters={"name": service_name}):
        service.remove()
    time.sleep(1)  # a secret in use by a shutting-down task cannot be removed yet
    for secret in made.values():
        secret.remove()


def _running_container(swarm: Any, name: str, timeout_s: float = 60) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = swarm.containers.list(filters={"label": f"com.docker.swarm.service.name={name}"})
        if found and found[0].status == "running":
            return found[0]
        time.sleep(0.5)
    pytest.fail(f"no running task of {name} within {timeout_s}s")


def test_env_from_secrets_wrapper_on_a_real_swarm(
    swarm: Any, test_images: dict[str, str], service_name: str, swarm_secrets: dict[str, Any]
) -> None:
    import docker

    catalog = load_catalog()
    app = catalog.apps["legacy-bot-emilio"].model_copy(
        update={"command": ["httpd", "-f", "-p", "8080", "-h", "/"]}
    )
    config = service_config("legacy-bot-emilio", app, catalog, _environment(), test_images["1"])
    refs = [
        docker.types.SecretReference(
            swarm_secrets[m.name].id, swarm_secrets[m.name].name, filename=m.target
        )
        for m in config.secret_mounts
    ]
    service = swarm.services.create(
        test_images["1"],
        name=service_name,
        command=config.command,
        env=[f"{k}={v}" for k, v in config.env.items()],
        secrets=refs,
    )

    container = _running_container(swarm, service_name)
    environ = container.exec_run(["cat", "/proc/1/environ"]).output.decode().split("\0")
    assert f"bot_token={CANARY}-legacy-bot-token-emilio" in environ
    assert f"connstring={CANARY}-legacy-connstring" in environ
    assert f"file_token_secret={CANARY}-s3-secret-key" in environ
    assert "bot=Emilio" in environ  # plain settings stay plain env
    service.reload()
    assert CANARY not in str(service.attrs["Spec"])  # what `docker service inspect` shows
