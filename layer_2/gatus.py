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

from sprocket_common.service import ServiceConfig

from . import files

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
    # Forward-auth routes answer with a redirect to the login page: up means "not 5xx".
    forward_auth: bool = False


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
                    forward_auth=route.forward_auth,
                )
            )
    return targets


def _public_endpoints(target: Target, check_certificates: bool) -> list[dict[str, Any]]:
    up = "[STATUS] < 500" if target.forward_auth else "[STATUS] == 200"
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
