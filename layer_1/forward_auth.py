"""The Discord forward-auth service, its config, and one Traefik middleware per access rule."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pulumi
import pulumi_random as random

from sprocket_common.env_config import EnvConfig
from sprocket_common.forward_auth_rules import middleware_name, rule_keys
from sprocket_common.required_config import (
    DISCORD_CLIENT_SECRET,
    DOCKER_ACCESS_TOKEN,
    required_in,
)
from sprocket_common.service import (
    FileMount,
    Healthcheck,
    RegistryAuth,
    Resources,
    Route,
    SecretMount,
    ServiceConfig,
    SwarmService,
)
from sprocket_common.traefik import INGRESS_NETWORK, traefik_labels

from .settings import Layer1Settings

NAME = "forward-auth"
PORT = 3000
CONFIG_PATH = "/app/config.yaml"
SECRET_TARGET = "discord_client_secret"  # noqa: S105 (a file name)
DEFAULT_MIDDLEWARE = "fa-default"
DOCKER_HUB = "https://index.docker.io/v1/"
TEMPLATE = Path(__file__).parent / "files" / "discord-forward-auth.yaml"  # also the catalog's
# source of rule names (sprocket_common/forward_auth_rules.py)


@dataclass(frozen=True)
class ForwardAuth:
    service: SwarmService
    default_middleware: str  # guild membership
    middlewares: dict[str, str]  # rule key -> middleware reference


def config_file(settings: Layer1Settings, env: EnvConfig) -> FileMount:
    values = {
        "client_id": settings.discord_client_id,
        "guild_id": settings.discord_guild_id,
        "fa_hostname": env.hostname("fa"),
        "cookie_domain": env.base_hostname,
    }
    return FileMount.from_file("config", CONFIG_PATH, TEMPLATE, values)


def middleware_labels(rule_keys: list[str]) -> dict[str, str]:
    """Traefik reaches forward auth on the ingress overlay, not through public DNS and TLS."""
    base = f"http://{NAME}:{PORT}/login"
    labels = {f"traefik.http.middlewares.{DEFAULT_MIDDLEWARE}.forwardauth.address": base}
    for rule in rule_keys:
        address = f"{base}?rule={rule}"
        labels[f"traefik.http.middlewares.{middleware_name(rule)}.forwardauth.address"] = address
    return labels


def secret_env_wrapper(entrypoint: list[str]) -> list[str] | None:
    """For an image that only reads CLIENT_SECRET from its environment: export it from the
    secret file inside the container, then exec the image's own entrypoint. The value never
    appears in the service spec, only in the running process's environment."""
    if not entrypoint:
        return None
    script = f'export CLIENT_SECRET="$(cat /run/secrets/{SECRET_TARGET})" && exec "$@"'
    return ["/bin/sh", "-c", script, "sh", *entrypoint]


def service_config(settings: Layer1Settings, env: EnvConfig, config: FileMount) -> ServiceConfig:
    return ServiceConfig(
        name=NAME,
        image=settings.forward_auth_image,
        # Traefik calls it by name on every guarded request (middleware_labels): the name
        # resolves to the tasks, as Traefik's own routing does, not to a virtual IP (which
        # does not route where the kernel has no IPVS, as on the build machines).
        endpoint_mode="dnsrr",
        env={"CONFIG_FILE": CONFIG_PATH, "CLIENT_SECRET_FILE": f"/run/secrets/{SECRET_TARGET}"},
        command=secret_env_wrapper(settings.forward_auth_entrypoint),
        healthcheck=Healthcheck(test=settings.forward_auth_healthcheck, start_period_s=15),
        resources=Resources(cpu=0.25, memory_mb=128),
        routes=[Route(hostname=env.hostname("fa"), port=PORT)],
        networks=[INGRESS_NETWORK],
        files=[config],
        secret_mounts=[SecretMount(name="client-secret", target=SECRET_TARGET)],
    )


def client_secret(env: EnvConfig) -> pulumi.Output[str]:
    """Required in staging and prod; local runs without Discord login (a random placeholder)."""
    config = pulumi.Config("sprocket")
    if required_in(DISCORD_CLIENT_SECRET, env.env):
        return config.require_secret(DISCORD_CLIENT_SECRET.name)
    given = config.get_secret(DISCORD_CLIENT_SECRET.name)
    if given is not None:
        return given
    pulumi.log.info("sprocket:discord_client_secret unset: Discord login will not work in local")
    placeholder = random.RandomPassword(
        "discord-client-secret-placeholder", length=32, special=False
    )
    return pulumi.Output.secret(placeholder.result)


def registry_auth(settings: Layer1Settings) -> RegistryAuth | None:
    """Docker Hub credentials for a private forward-auth image (the original's was private)."""
    if not settings.docker_username:
        return None
    token = pulumi.Config("sprocket").require_secret(DOCKER_ACCESS_TOKEN.name)
    return RegistryAuth(DOCKER_HUB, settings.docker_username, token)


def deploy(
    settings: Layer1Settings, env: EnvConfig, *, depends_on: list[pulumi.Resource]
) -> ForwardAuth:
    file = config_file(settings, env)
    config = service_config(settings, env, file)
    keys = rule_keys(file.content)
    labels = {
        **traefik_labels(config, env.tls_resolver, ""),
        **middleware_labels(keys),
    }
    service = SwarmService(
        NAME,
        config,
        secrets={"client-secret": client_secret(env)},
        opts=pulumi.ResourceOptions(depends_on=depends_on),
        extra_labels=labels,
        registry_auth=registry_auth(settings),
    )
    return ForwardAuth(
        service=service,
        default_middleware=f"{DEFAULT_MIDDLEWARE}@docker",
        middlewares={rule: f"{middleware_name(rule)}@docker" for rule in keys},
    )
