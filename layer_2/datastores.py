"""Redis and RabbitMQ: the platform's datastores, on the data network, with generated
credentials delivered as Swarm secrets (never args, env or labels)."""

from __future__ import annotations

import pulumi

from sprocket_common.service import (
    FileMount,
    Healthcheck,
    Resources,
    Route,
    SecretMount,
    ServiceConfig,
    VolumeMount,
)
from sprocket_common.traefik import INGRESS_NETWORK

from . import files, names
from .settings import Layer2Settings

REDIS_CONF = "/usr/local/etc/redis/redis.conf"


def redis_config(settings: Layer2Settings, volume: str) -> ServiceConfig:
    return ServiceConfig(
        name=names.REDIS,
        image=settings.images.redis,
        # The config is passed to redis-server, so it is actually loaded.
        command=["redis-server", REDIS_CONF],
        healthcheck=Healthcheck(
            test=[
                "CMD-SHELL",
                'REDISCLI_AUTH="$(cat /run/secrets/redis_password)" redis-cli ping | grep -q PONG',
            ]
        ),
        resources=Resources(cpu=0.5, memory_mb=2048),
        # One writer on the append-only file: the old task stops before the new one starts.
        update_order="stop-first",
        networks=[names.DATA_NETWORK],
        files=[FileMount(name="redis-conf", target=REDIS_CONF, content=files.read("redis.conf"))],
        secret_mounts=[
            SecretMount(name="redis-auth", target="redis-auth.conf"),
            SecretMount(name="redis-password", target="redis_password"),
        ],
        volumes=[
            VolumeMount(volume=volume, target="/data", size_limit_mb=_limit("redis-data")),
        ],
        placement=[names.STORAGE_CONSTRAINT],
        logging="fluentd",
    )


def redis_secrets(password: pulumi.Output[str]) -> dict[str, pulumi.Input[str]]:
    return {
        "redis-auth": password.apply(lambda p: f"requirepass {p}\n"),
        "redis-password": password,
    }


# The image's entrypoint has no *_FILE support for the default user, so the credentials file
# (a Swarm secret) is copied into conf.d, after the image's 10-defaults.conf and ours.
RABBITMQ_START = (
    "cp /run/secrets/rabbitmq-credentials.conf /etc/rabbitmq/conf.d/30-credentials.conf"
    " && exec docker-entrypoint.sh rabbitmq-server"
)


def rabbitmq_config(settings: Layer2Settings, volume: str, ui_hostname: str) -> ServiceConfig:
    return ServiceConfig(
        name=names.RABBITMQ,
        image=settings.images.rabbitmq,
        # Long-lived AMQP connections die on Swarm's VIP idle timeout: DNS round-robin. The
        # node name `rabbit@<hostname>` (and so its data directory) must not change per task.
        endpoint_mode="dnsrr",
        hostname="{{.Node.Hostname}}",
        command=["sh", "-c", RABBITMQ_START],
        healthcheck=Healthcheck(
            test=["CMD", "rabbitmq-diagnostics", "-q", "ping"],
            timeout_s=10,
            start_period_s=60,
        ),
        resources=Resources(cpu=1.0, memory_mb=1024),
        update_order="stop-first",
        # The management UI only, behind forward auth; AMQP is never published (the original
        # exposed 5672 through Traefik with guest/guest).
        routes=[Route(hostname=ui_hostname, port=names.RABBITMQ_UI_PORT, forward_auth=True)],
        networks=[names.DATA_NETWORK, INGRESS_NETWORK],
        files=[
            FileMount(
                name="rabbitmq-conf",
                target="/etc/rabbitmq/conf.d/20-sprocket.conf",
                content=files.read("rabbitmq.conf"),
            )
        ],
        secret_mounts=[
            SecretMount(name="rabbitmq-credentials", target="rabbitmq-credentials.conf")
        ],
        volumes=[
            VolumeMount(
                volume=volume, target="/var/lib/rabbitmq", size_limit_mb=_limit("rabbitmq-data")
            )
        ],
        placement=[names.STORAGE_CONSTRAINT],
        logging="fluentd",
    )


def rabbitmq_secrets(password: pulumi.Output[str]) -> dict[str, pulumi.Input[str]]:
    return {
        "rabbitmq-credentials": password.apply(
            lambda p: f"default_user = {names.RABBITMQ_USER}\ndefault_pass = {p}\n"
        )
    }


def _limit(volume_role: str) -> int:
    return names.VOLUME_LIMITS_MB[volume_role]
