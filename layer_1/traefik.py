"""Traefik and the Docker socket proxy it reads the Swarm through.

Traefik never mounts the Docker socket: a read-only API proxy (tecnativa/docker-socket-proxy)
on a network only the two of them share does, on a manager node (the Swarm API is only there).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_docker as docker
import pulumi_random as random
import yaml

from sprocket_common.env_config import RESOLVER, STAGING_RESOLVER, EnvConfig
from sprocket_common.service import (
    FileMount,
    Healthcheck,
    Resources,
    SecretMount,
    ServiceConfig,
    SwarmService,
    VolumeMount,
)
from sprocket_common.swarm_service import house_volume
from sprocket_common.traefik import INGRESS_NETWORK, SECURE_ENTRYPOINT, WEB_ENTRYPOINT

from .settings import Layer1Settings

SOCKET_PROXY = "socket-proxy"
SOCKET_PROXY_PORT = 2375
TRAEFIK = "traefik"
METRICS_ENTRYPOINT = "metrics"
METRICS_PORT = 8082  # layer_2/files/telegraf.conf scrapes http://tasks.traefik:8082/metrics
CONFIG_PATH = "/etc/traefik/traefik.yaml"
DASHBOARD_USER = "admin"
DASHBOARD_USERS_SECRET = "dashboard_users"  # noqa: S105 (a file name)
STAGING_CA = "https://acme-staging-v02.api.letsencrypt.org/directory"
# Read-only API sections Traefik's swarm provider needs (POST stays 0: nothing can be changed).
SOCKET_PROXY_ALLOW = ("CONTAINERS", "SERVICES", "SWARM", "NETWORKS", "TASKS", "NODES", "EVENTS",
                      "PING", "VERSION")  # fmt: skip


@dataclass(frozen=True)
class Traefik:
    socket_proxy: SwarmService
    traefik: SwarmService
    dashboard_password: pulumi.Output[str]
    dashboard_url: str


def socket_proxy_config(settings: Layer1Settings, network: str) -> ServiceConfig:
    return ServiceConfig(
        name=SOCKET_PROXY,
        image=settings.socket_proxy_image,
        # Traefik holds a /events stream open to it: through a virtual IP that long-lived
        # connection dies on the VIP's idle timeout (and where the kernel has no IPVS, as on
        # the build machines, a VIP does not route at all). The name resolves to the task.
        endpoint_mode="dnsrr",
        env={section: "1" for section in SOCKET_PROXY_ALLOW},
        healthcheck=Healthcheck(
            test=["CMD-SHELL", f"wget -q -O- http://127.0.0.1:{SOCKET_PROXY_PORT}/_ping | grep OK"],
            start_period_s=10,
        ),
        resources=Resources(cpu=0.25, memory_mb=64),
        networks=[network],
        volumes=[
            VolumeMount(
                volume=settings.docker_socket, target="/var/run/docker.sock", read_only=True
            )
        ],
        placement=["node.role == manager"],
    )


def static_config(env: EnvConfig) -> dict[str, Any]:
    """Traefik's static configuration (v2 syntax)."""
    config: dict[str, Any] = {
        "global": {"checkNewVersion": False, "sendAnonymousUsage": False},
        "log": {"level": "INFO"},
        # Access logs on, as JSON; request headers (cookies, Authorization) are dropped.
        "accessLog": {"format": "json", "fields": {"headers": {"defaultMode": "drop"}}},
        "ping": {"entryPoint": "traefik"},
        "api": {"dashboard": True},  # served only through the authenticated router
        "entryPoints": {
            WEB_ENTRYPOINT: {
                "address": ":80",
                "http": {
                    "redirections": {
                        "entryPoint": {
                            "to": SECURE_ENTRYPOINT,
                            "scheme": "https",
                            "permanent": True,
                        }
                    }
                },
            },
            SECURE_ENTRYPOINT: {"address": ":443"},
            "traefik": {"address": ":8080"},  # ping and API, not published
            # Request metrics for layer_2's alert rules (Telegraf scrapes it over the ingress
            # network); not published, and no router uses this entrypoint.
            METRICS_ENTRYPOINT: {"address": f":{METRICS_PORT}"},
        },
        "metrics": {
            "prometheus": {
                "entryPoint": METRICS_ENTRYPOINT,
                "addServicesLabels": True,
                "addEntryPointsLabels": True,
            }
        },
        "providers": {
            "docker": {
                "endpoint": f"tcp://{SOCKET_PROXY}:{SOCKET_PROXY_PORT}",
                "swarmMode": True,
                "exposedByDefault": False,
                "network": INGRESS_NETWORK,
                "watch": True,
            }
        },
    }
    if env.tls_resolver:
        config["certificatesResolvers"] = _resolvers(env.acme_email)
    return config


def _resolvers(email: str) -> dict[str, Any]:
    """Both resolvers always exist, so switching `acme_staging` only relabels routers."""

    def acme(storage: str, **extra: str) -> dict[str, Any]:
        body: dict[str, Any] = {"storage": storage, "tlsChallenge": {}, **extra}
        if email:
            body["email"] = email
        return {"acme": body}

    return {
        RESOLVER: acme("/data/acme.json"),
        STAGING_RESOLVER: acme("/data/acme-staging.json", caServer=STAGING_CA),
    }


def dashboard_labels(env: EnvConfig) -> dict[str, str]:
    """The dashboard router on Traefik's own service: api@internal behind basic auth."""
    router = "traefik.http.routers.traefik-dashboard"
    labels = {
        "traefik.enable": "true",
        "traefik.docker.network": INGRESS_NETWORK,
        f"{router}.rule": f"Host(`{env.hostname('traefik')}`)",
        f"{router}.entrypoints": SECURE_ENTRYPOINT,
        f"{router}.service": "api@internal",
        f"{router}.tls": "true",
        f"{router}.middlewares": "dashboard-auth",
        "traefik.http.middlewares.dashboard-auth.basicauth.usersfile": (
            f"/run/secrets/{DASHBOARD_USERS_SECRET}"
        ),
        # Swarm mode wants a port on every enabled service; api@internal ignores it.
        "traefik.http.services.traefik-dashboard.loadbalancer.server.port": "9999",
    }
    if env.tls_resolver:
        labels[f"{router}.tls.certresolver"] = env.tls_resolver
    return labels


def traefik_config(
    settings: Layer1Settings, env: EnvConfig, socket_network: str, data_volume: str
) -> ServiceConfig:
    return ServiceConfig(
        name=TRAEFIK,
        image=settings.traefik_image,
        args=[f"--configFile={CONFIG_PATH}"],
        healthcheck=Healthcheck(
            test=["CMD", "traefik", "healthcheck", f"--configFile={CONFIG_PATH}"],
            start_period_s=20,
        ),
        resources=Resources(cpu=1.0, memory_mb=512),
        # Host-mode ports: the old task must release 80/443 before the new one binds them.
        update_order="stop-first",
        publish_host_ports=[80, 443],
        networks=[INGRESS_NETWORK, socket_network],
        files=[
            FileMount(
                name="static",
                target=CONFIG_PATH,
                content=yaml.safe_dump(static_config(env), sort_keys=False),
            )
        ],
        secret_mounts=[SecretMount(name="dashboard-users", target=DASHBOARD_USERS_SECRET)],
        volumes=[VolumeMount(volume=data_volume, target="/data")],
        # Public DNS points at the manager, and the ACME store is a local volume there.
        placement=["node.role == manager"],
        labels=dashboard_labels(env),
    )


def deploy(
    settings: Layer1Settings,
    env: EnvConfig,
    *,
    ingress: docker.Network,
    socket_network: docker.Network,
    socket_network_name: str,
    protect: bool,
) -> Traefik:
    proxy = SwarmService(
        SOCKET_PROXY,
        socket_proxy_config(settings, socket_network_name),
        opts=pulumi.ResourceOptions(depends_on=[socket_network]),
    )
    # The ACME account and certificates: losing them means re-issuing against rate limits.
    data = house_volume(
        "traefik-data", "traefik-data", opts=pulumi.ResourceOptions(protect=protect)
    )
    password = random.RandomPassword(
        "traefik-dashboard-password", length=32, special=False, numeric=True
    )
    users_file = password.bcrypt_hash.apply(lambda h: f"{DASHBOARD_USER}:{h}\n")
    traefik = SwarmService(
        TRAEFIK,
        traefik_config(settings, env, socket_network_name, "traefik-data"),
        secrets={"dashboard-users": users_file},
        opts=pulumi.ResourceOptions(depends_on=[ingress, socket_network, data, proxy]),
    )
    return Traefik(
        socket_proxy=proxy,
        traefik=traefik,
        dashboard_password=pulumi.Output.secret(password.result),
        dashboard_url=f"https://{env.hostname('traefik')}",
    )
