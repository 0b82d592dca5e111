"""Gatus's checks, generated from what is declared (never a hand-kept list that goes stale,
as the original's did): every public route of this layer, the platform hostnames configured
in `layer_2:public_checks`, and the internal services.

Thresholds are the runbook's. Gatus has no per-condition severity, so each public hostname
gets two endpoints: one in group `critical` (down, or certificate expiring within 7 days) and
one in group `warning` (slower than 500 ms, 1 s for the API, or certificate within 30 days).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict

from sprocket_common.env_config import EnvConfig
from sprocket_common.service import (
    Route,
    SecretMount,
    ServiceConfig,
    VolumeMount,
)
from sprocket_common.traefik import INGRESS_NETWORK

from . import files, names
from .settings import Layer2Settings

CRITICAL = "critical"
WARNING = "warning"
INTERNAL = "internal"
WARN_RESPONSE_MS = 500
API_RESPONSE_MS = 1000  # the API's p99 target
CERT_WARN = "720h"  # 30 days
CERT_CRITICAL = "168h"  # 7 days
INTERVAL = "1m"

# Health paths of this layer's routed services (the bare hostname for the rest).
HEALTH_PATHS = {"grafana": "/api/health", "influx": "/health", "gatus": "/health"}


class Target(BaseModel):
    """One public URL to watch."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    url: str
    max_response_ms: int = WARN_RESPONSE_MS
    # False where a healthy answer is not 200: forward-auth and basic-auth routes redirect or
    # answer 401, a GraphQL GET without a query is a 400. Up then means "not 5xx".
    expect_ok: bool = True


def route_targets(configs: Iterable[ServiceConfig]) -> list[Target]:
    """A target per route of the given services (their hostnames are the declared ones)."""
    targets = []
    for config in configs:
        for route in config.routes:
            path = route.path_prefix or HEALTH_PATHS.get(config.name, "/")
            targets.append(
                Target(
                    name=route.hostname,
                    url=f"https://{route.hostname}{path}",
                    expect_ok=not route.forward_auth,
                )
            )
    return targets


def other_layers_targets(env: EnvConfig) -> list[Target]:
    """The public hostnames of layer_1 and the platform (the names layer_1 publishes in DNS:
    the apex, its own traefik/fa/vault, and api and image-generation for the platform)."""

    def url(service: str, path: str = "/") -> str:
        return f"https://{env.hostname(service)}{path}"

    apex = env.base_hostname
    return [
        Target(name=apex, url=f"https://{apex}/"),
        Target(
            name=env.hostname("api"),
            url=url("api", "/graphql"),
            expect_ok=False,
            max_response_ms=API_RESPONSE_MS,
        ),
        Target(name=env.hostname("image-generation"), url=url("image-generation")),
        Target(name=env.hostname("fa"), url=url("fa"), expect_ok=False),
        Target(name=env.hostname("traefik"), url=url("traefik"), expect_ok=False),
        Target(name=env.hostname("vault"), url=url("vault", "/v1/sys/health")),
    ]


def merge(defaults: Iterable[Target], overrides: Iterable[Target]) -> list[Target]:
    """Targets by name; a configured check replaces the default of the same name."""
    merged = {t.name: t for t in defaults}
    merged.update({t.name: t for t in overrides})
    return list(merged.values())


def _public_endpoints(target: Target, check_certificates: bool) -> list[dict[str, Any]]:
    up = "[STATUS] == 200" if target.expect_ok else "[STATUS] < 500"
    client = {"ignore-redirect": True, "insecure": not check_certificates}
    critical = [up]
    warning = [f"[RESPONSE_TIME] < {target.max_response_ms}"]
    if check_certificates:
        critical.append(f"[CERTIFICATE_EXPIRATION] > {CERT_CRITICAL}")
        warning.append(f"[CERTIFICATE_EXPIRATION] > {CERT_WARN}")
    return [
        {
            "name": target.name,
            "group": CRITICAL,
            "url": target.url,
            "interval": INTERVAL,
            "client": client,
            "conditions": critical,
        },
        {
            "name": target.name,
            "group": WARNING,
            "url": target.url,
            "interval": INTERVAL,
            "client": client,
            "conditions": warning,
        },
    ]


def internal_endpoint(name: str, url: str) -> dict[str, Any]:
    """A check from inside the Swarm: TCP connect for datastores, HTTP 200 for the rest."""
    condition = "[CONNECTED] == true" if url.startswith("tcp://") else "[STATUS] == 200"
    return {
        "name": name,
        "group": INTERNAL,
        "url": url,
        "interval": INTERVAL,
        "conditions": [condition],
    }


def render(
    targets: Iterable[Target],
    internal: Iterable[dict[str, Any]],
    *,
    check_certificates: bool,
    discord_webhook: str | None = None,
) -> str:
    """The full Gatus config.yaml (the template from files/ plus the generated parts)."""
    config = yaml.safe_load(files.read("gatus.yaml"))
    endpoints = [e for t in targets for e in _public_endpoints(t, check_certificates)]
    endpoints += list(internal)
    if discord_webhook:
        config["alerting"] = {
            "discord": {
                "webhook-url": discord_webhook,
                "default-alert": {
                    "send-on-resolved": True,
                    "failure-threshold": 3,
                    "success-threshold": 2,
                },
            }
        }
        for endpoint in endpoints:
            severity = endpoint["group"].upper()
            endpoint["alerts"] = [
                {"type": "discord", "description": f"{severity}: {endpoint['name']}"}
            ]
    config["endpoints"] = endpoints
    return yaml.safe_dump(config, sort_keys=False)


def service_config(settings: Layer2Settings, volume: str, hostname: str) -> ServiceConfig:
    return ServiceConfig(
        name=names.GATUS,
        image=settings.images.gatus,
        # The config holds the alert webhook, so it is a secret; Gatus reads it from there.
        env={"GATUS_CONFIG_PATH": "/run/secrets/gatus.yaml", "GATUS_LOG_LEVEL": "WARN"},
        no_healthcheck_because="the gatus image is FROM scratch: no shell or HTTP client",
        update_order="stop-first",  # sqlite on the volume: one writer
        routes=[Route(hostname=hostname, port=names.GATUS_PORT)],
        networks=[INGRESS_NETWORK, names.MONITORING_NETWORK, names.DATA_NETWORK],
        secret_mounts=[SecretMount(name="gatus-config", target="gatus.yaml")],
        volumes=[
            VolumeMount(
                volume=volume, target="/data", size_limit_mb=names.VOLUME_LIMITS_MB["gatus-data"]
            )
        ],
        placement=[names.STORAGE_CONSTRAINT],
        logging="fluentd",
    )


def internal_checks(postgres_host: str, postgres_port: int) -> list[dict[str, Any]]:
    """The services of this layer, checked from inside the Swarm."""
    return [
        internal_endpoint("redis", f"tcp://{names.REDIS}:{names.REDIS_PORT}"),
        internal_endpoint("rabbitmq", f"tcp://{names.RABBITMQ}:{names.AMQP_PORT}"),
        internal_endpoint("postgres", f"tcp://{postgres_host}:{postgres_port}"),
        internal_endpoint("influx", f"http://{names.INFLUX}:{names.INFLUX_PORT}/health"),
        internal_endpoint("loki", f"http://{names.LOKI}:{names.LOKI_PORT}/ready"),
        internal_endpoint("grafana", f"http://{names.GRAFANA}:{names.GRAFANA_PORT}/api/health"),
    ]
