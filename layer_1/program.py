"""layer_1: the core every other layer stands on.

Swarm networks, Traefik behind a Docker socket proxy, Discord forward auth, Vault; in prod and
staging also the DigitalOcean droplets, volume, firewall, DNS and Spaces buckets. `local`
declares no cloud resource and targets the local Docker engine. The exported outputs are the
contract in sprocket_common/outputs.py (LAYER1_KEYS), documented in layer_1/README.md.
"""

from __future__ import annotations

from typing import Any

import pulumi_docker as docker

from sprocket_common.env_config import EnvConfig, load_env_config
from sprocket_common.outputs import LAYER1_KEYS, LAYER1_SECRET_KEYS, export_contract
from sprocket_common.swarm_service import overlay_network
from sprocket_common.traefik import INGRESS_NETWORK

from . import digitalocean, forward_auth, traefik, vault
from .settings import load_settings

SOCKET_PROXY_NETWORK = "traefik-socket-proxy"


def networks() -> tuple[docker.Network, docker.Network]:
    # Attachable: later layers' services and one-off containers (`docker run --network`) join it.
    ingress = overlay_network("ingress-network", INGRESS_NETWORK, attachable=True)
    # Internal: the socket proxy needs no route out, only Traefik talks to it.
    socket_proxy = overlay_network("socket-proxy-network", SOCKET_PROXY_NETWORK, internal=True)
    return ingress, socket_proxy


def own_hostnames(env: EnvConfig) -> list[str]:
    return [env.hostname(name) for name in ("traefik", "fa", "vault")]


def program() -> None:
    env = load_env_config()
    settings = load_settings(env.env)
    protect = settings.protect(env.env)
    cloud = digitalocean.deploy(settings, env, own_hostnames(env)) if env.defaults.cloud else None
    ingress, socket_network = networks()
    edge = traefik.deploy(
        settings,
        env,
        ingress=ingress,
        socket_network=socket_network,
        socket_network_name=SOCKET_PROXY_NETWORK,
        protect=protect,
    )
    auth = forward_auth.deploy(settings, env, depends_on=[ingress])
    secrets_store = vault.deploy(
        settings, env, s3=_vault_storage(cloud), protect=protect, depends_on=[ingress]
    )
    export_contract(
        LAYER1_KEYS,
        _outputs(env, cloud, edge, auth, secrets_store),
        secret_keys=(*LAYER1_SECRET_KEYS, "traefik_dashboard_password"),
    )


def _vault_storage(cloud: digitalocean.Cloud | None) -> vault.S3Storage | None:
    if cloud is None:
        return None
    return vault.S3Storage(
        bucket=cloud.buckets.names["vault"],
        endpoint=cloud.buckets.endpoint,
        credentials_file=vault.credentials_file(
            cloud.vault_key.access_key, cloud.vault_key.secret_key
        ),
    )


def _outputs(
    env: EnvConfig,
    cloud: digitalocean.Cloud | None,
    edge: traefik.Traefik,
    auth: forward_auth.ForwardAuth,
    secrets_store: vault.Vault,
) -> dict[str, Any]:
    return {
        # -- the contract (sprocket_common.outputs.LAYER1_KEYS) --
        "ingress_network": INGRESS_NETWORK,
        "socket_proxy_network": SOCKET_PROXY_NETWORK,
        "base_domain": env.base_domain,
        "tls_resolver": env.tls_resolver,
        "forward_auth_middleware": auth.default_middleware,
        "vault_address": secrets_store.address,
        "spaces_endpoint": cloud.buckets.endpoint if cloud else "",
        "spaces_buckets": dict(cloud.buckets.names) if cloud else {},
        "manager_ip": cloud.manager.ipv4_address if cloud else "",
        "droplet_ips": cloud.droplet_ips if cloud else [],
        # -- extras for operators and later layers --
        "env": env.env.value,
        "base_hostname": env.base_hostname,
        "forward_auth_middlewares": auth.middlewares,
        "vault_internal_address": secrets_store.internal_address,
        "traefik_dashboard_url": edge.dashboard_url,
        "traefik_dashboard_user": traefik.DASHBOARD_USER,
        "traefik_dashboard_password": edge.dashboard_password,
        "data_mount": cloud.data_mount if cloud else "",
        "traefik_service": edge.traefik.service_name,
        "socket_proxy_service": edge.socket_proxy.service_name,
        "forward_auth_service": auth.service.service_name,
        "vault_service": secrets_store.service.service_name,
    }
