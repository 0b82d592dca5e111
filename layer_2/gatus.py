"""Gatus's checks, generated from what is declared (never a hand-kept list that goes stale,
as the original's did): every public route of this layer, the platform hostnames configured
in `layer_2:public_checks`, and the internal services.

Thresholds are the runbook's. Gatus has no per-condition severity, so each public hostname
gets an endpoint per severity: group `critical` (down), `warning` (slower than 500 ms, 1 s for
the API), and, where certificates are checked, `certificate` (expiring within 7 days: critical)
and `certificate-notice` (within 30 days: info). Certificates have endpoints of their own so an
expiring certificate is never counted as downtime by `report sla` (automation/sla/), which
reads only the `critical` and `internal` groups.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

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

from . import alerting, files, names
from .settings import Layer2Settings

CRITICAL = "critical"
WARNING = "warning"
INTERNAL = "internal"
CERTIFICATE = "certificate"
CERTIFICATE_NOTICE = "certificate-notice"
WARN_RESPONSE_MS = 500
API_RESPONSE_MS = 1000  # the API's p99 target
CERT_WARN = "720h"  # 30 days
CERT_CRITICAL = "168h"  # 7 days
INTERVAL = "1m"
# Gatus's own condition for "the call got an answer". Every endpoint has it first: Gatus v5
# evaluates a failed call (DNS error, refused connection) with status 0 and a ~1 ms response
# time, so `[STATUS] < 500` and `[RESPONSE_TIME] < 500` alone pass on a route that is down
# (config/endpoint/endpoint.go EvaluateHealth: a call error does not clear Success).
CONNECTED = "[CONNECTED] == true"
# "Not 5xx" is up for a route whose healthy answer is a redirect or 401 (forward auth, basic
# auth) or a 400 (GraphQL without a query). But when every task of a route's service is gone,
# Traefik drops the router and answers its own 404: that route is down, not "not 5xx". The
# body tells Traefik's 404 from a backend's (forward auth answers 404 for paths it does not
# serve); Gatus compares the body with surrounding white space trimmed.
NOT_5XX = "[STATUS] < 500"
TRAEFIK_404 = "404 page not found"
NO_ROUTE = f"[BODY] != {TRAEFIK_404}"

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


# Paths of platform routes whose root is not a health answer (the API serves /graphql).
PLATFORM_PATHS = {"api": "/graphql"}
# Response-time thresholds above the default 500 ms (the API's p99 target is 1 s).
SLOWER_MS = {"api": API_RESPONSE_MS}


def catalog_targets(env: EnvConfig) -> list[Target]:
    """A target per public route of the platform catalog (platform/catalog.yaml), so a new
    app's route is watched without a second list to keep."""
    from sprocket_common.stack_info import Layer, layer_package

    catalog = importlib.import_module(f"{layer_package(Layer.PLATFORM)}.catalog").load_catalog()
    targets = []
    for app in catalog.apps.values():
        for route in app.routes:
            host = env.base_hostname if route.host == "@" else env.hostname(route.host)
            path = route.path_prefix or PLATFORM_PATHS.get(route.host, "/")
            # The API answers a GET without a query with 400; forward auth redirects.
            expect_ok = not route.forward_auth and route.host not in PLATFORM_PATHS
            targets.append(
                Target(
                    name=host,
                    url=f"https://{host}{path}",
                    expect_ok=expect_ok,
                    max_response_ms=SLOWER_MS.get(route.host, WARN_RESPONSE_MS),
                )
            )
    return targets


def other_layers_targets(env: EnvConfig) -> list[Target]:
    """The public hostnames of layer_1 (its own traefik/fa/vault) and every public route of
    the platform catalog."""

    def url(service: str, path: str = "/") -> str:
        return f"https://{env.hostname(service)}{path}"

    return [
        *catalog_targets(env),
        Target(name=env.hostname("fa"), url=url("fa"), expect_ok=False),
        Target(name=env.hostname("traefik"), url=url("traefik"), expect_ok=False),
        Target(name=env.hostname("vault"), url=url("vault", "/v1/sys/health")),
    ]


def merge(defaults: Iterable[Target], overrides: Iterable[Target]) -> list[Target]:
    """Targets by name; a configured check replaces the default of the same name."""
    merged = {t.name: t for t in defaults}
    merged.update({t.name: t for t in overrides})
    return list(merged.values())


def _public_endpoints(
    target: Target, check_certificates: bool, via: str = "", interval: str = INTERVAL
) -> list[dict[str, Any]]:
    """`via` (host[:port]): connect there instead, with the target's hostname as Host."""
    up = ["[STATUS] == 200"] if target.expect_ok else [NOT_5XX, NO_ROUTE]
    client = {"ignore-redirect": True, "insecure": not check_certificates}
    url, headers = target.url, {}
    if via:
        parts = urlsplit(target.url)
        url, headers = urlunsplit(parts._replace(netloc=via)), {"Host": parts.netloc}
    groups = {
        CRITICAL: [CONNECTED, *up],
        WARNING: [CONNECTED, f"[RESPONSE_TIME] < {target.max_response_ms}"],
    }
    if check_certificates:
        groups[CERTIFICATE] = [CONNECTED, f"[CERTIFICATE_EXPIRATION] > {CERT_CRITICAL}"]
        groups[CERTIFICATE_NOTICE] = [CONNECTED, f"[CERTIFICATE_EXPIRATION] > {CERT_WARN}"]
    return [
        {
            "name": target.name,
            "group": group,
            "url": url,
            **({"headers": headers} if headers else {}),
            "interval": interval,
            "client": client,
            "conditions": conditions,
        }
        for group, conditions in groups.items()
    ]


def internal_endpoint(name: str, url: str, interval: str = INTERVAL) -> dict[str, Any]:
    """A check from inside the Swarm: TCP connect for datastores, HTTP 200 for the rest."""
    conditions = [CONNECTED] if url.startswith("tcp://") else [CONNECTED, "[STATUS] == 200"]
    return {
        "name": name,
        "group": INTERNAL,
        "url": url,
        "interval": interval,
        "conditions": conditions,
    }


# The severity of each endpoint group, for the same routing as Grafana's (alerting.py).
GROUP_SEVERITY = {
    CRITICAL: alerting.CRITICAL,
    WARNING: alerting.WARNING,
    INTERNAL: alerting.CRITICAL,
    CERTIFICATE: alerting.CRITICAL,  # the runbook: expiring within 7 days is critical
    CERTIFICATE_NOTICE: alerting.INFO,  # within 30 days is info
}
_DEFAULT_ALERT = {"send-on-resolved": True, "failure-threshold": 3, "success-threshold": 2}


@dataclass(frozen=True)
class AlertChannels:
    """The channels' secret values (this whole config is a Swarm secret) and email settings."""

    discord_webhook: str | None = None
    slack_webhook: str | None = None
    pagerduty_key: str | None = None
    smtp_password: str | None = None
    email_to: str = ""
    smtp_host: str = ""  # host:port
    smtp_user: str = ""
    smtp_from: str = ""

    def grafana(self) -> alerting.Channels:
        """The same channels as Grafana sees them (which are on)."""
        return alerting.Channels.configured(
            slack=bool(self.slack_webhook),
            pagerduty=bool(self.pagerduty_key),
            smtp_password=bool(self.smtp_password),
            email_to=self.email_to,
            smtp_host=self.smtp_host,
        )

    def providers(self) -> dict[str, dict[str, Any]]:
        """Gatus's `alerting:` section: one provider per configured channel."""
        providers: dict[str, dict[str, Any]] = {}
        if self.discord_webhook:
            providers["discord"] = {"webhook-url": self.discord_webhook}
        if self.slack_webhook:
            providers["slack"] = {"webhook-url": self.slack_webhook}
        if self.pagerduty_key:
            providers["pagerduty"] = {"integration-key": self.pagerduty_key}
        if self.grafana().email_to:
            host, _, port = self.smtp_host.partition(":")
            providers["email"] = {
                "from": self.smtp_from or self.smtp_user,
                "username": self.smtp_user,
                "password": self.smtp_password,
                "host": host,
                "port": int(port or 587),
                "to": self.email_to.replace(";", ","),
            }
        for provider in providers.values():
            provider["default-alert"] = dict(_DEFAULT_ALERT)
        return providers


def _alerts(endpoint: dict[str, Any], channels: AlertChannels) -> list[dict[str, Any]]:
    severity = GROUP_SEVERITY[endpoint["group"]]
    types = list(alerting.severity_receivers(severity, channels.grafana()))
    if channels.discord_webhook:
        types.append("discord")  # the original's channel: every alert, as before
    description = f"{severity.upper()}: {endpoint['name']}"
    return [{"type": kind, "description": description} for kind in types]


def render(
    targets: Iterable[Target],
    internal: Iterable[dict[str, Any]],
    *,
    check_certificates: bool,
    channels: AlertChannels | None = None,
    via: str = "",
    interval: str = INTERVAL,
) -> str:
    """The full Gatus config.yaml (the template from files/ plus the generated parts); the
    public checks connect to `via` (host[:port]) when given, with their hostname as Host."""
    config = yaml.safe_load(files.read("gatus.yaml"))
    endpoints = [
        e for t in targets for e in _public_endpoints(t, check_certificates, via, interval)
    ]
    endpoints += list(internal)
    providers = channels.providers() if channels else {}
    if channels and providers:
        config["alerting"] = providers
        for endpoint in endpoints:
            endpoint["alerts"] = _alerts(endpoint, channels)
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


def internal_checks(
    postgres_host: str, postgres_port: int, interval: str = INTERVAL
) -> list[dict[str, Any]]:
    """The services of this layer, checked from inside the Swarm."""
    checks = [
        ("redis", f"tcp://{names.REDIS}:{names.REDIS_PORT}"),
        ("rabbitmq", f"tcp://{names.RABBITMQ}:{names.AMQP_PORT}"),
        ("postgres", f"tcp://{postgres_host}:{postgres_port}"),
        ("influx", f"http://{names.INFLUX}:{names.INFLUX_PORT}/health"),
        ("loki", f"http://{names.LOKI}:{names.LOKI_PORT}/ready"),
        ("grafana", f"http://{names.GRAFANA}:{names.GRAFANA_PORT}/api/health"),
    ]
    return [internal_endpoint(name, url, interval) for name, url in checks]
