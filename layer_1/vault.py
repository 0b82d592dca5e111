"""Vault as a Swarm service: Spaces (S3) storage in the cloud, a local volume in local.

Vault starts sealed and uninitialised. `vault operator init` (once) and `vault operator
unseal` (after every restart) are operator steps: see layer_1/README.md. The healthcheck
treats sealed/uninitialised as alive, so Swarm does not kill a Vault waiting to be unsealed.
Spaces credentials reach Vault as an AWS shared-credentials file in a Swarm secret, from a
Spaces key limited to the Vault bucket.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pulumi

from sprocket_common.env_config import EnvConfig
from sprocket_common.service import (
    FileMount,
    Healthcheck,
    Resources,
    Route,
    SecretMount,
    ServiceConfig,
    SwarmService,
    VolumeMount,
)
from sprocket_common.swarm_service import house_volume
from sprocket_common.traefik import INGRESS_NETWORK, traefik_labels

from .settings import Layer1Settings

NAME = "vault"
PORT = 8200
CONFIG_PATH = "/vault/config/vault.hcl"
DATA_VOLUME = "vault-data"
CREDENTIALS_TARGET = "vault_s3_credentials"
TEMPLATE = Path(__file__).parent / "files" / "vault.hcl"
# 200 for active, standby, sealed and uninitialised: alive is all Swarm should judge.
HEALTH_URL = f"http://127.0.0.1:{PORT}/v1/sys/health?standbyok=true&sealedcode=200&uninitcode=200"


@dataclass(frozen=True)
class S3Storage:
    bucket: str
    endpoint: str  # https://<region>.digitaloceanspaces.com
    credentials_file: pulumi.Output[str]  # secret


@dataclass(frozen=True)
class Vault:
    service: SwarmService
    address: str
    internal_address: str


def storage_stanza(s3: S3Storage | None) -> str:
    if s3 is None:
        return 'storage "file" {\n  path = "/vault/file"\n}\n'
    # region is required by the AWS SDK; Spaces ignores it.
    return (
        'storage "s3" {\n'
        f'  bucket   = "{s3.bucket}"\n'
        f'  endpoint = "{s3.endpoint}"\n'
        '  region   = "us-east-1"\n'
        '  path     = "vault"\n'
        "}\n"
    )


def config_file(env: EnvConfig, s3: S3Storage | None) -> FileMount:
    values = {"api_addr": f"https://{env.hostname(NAME)}", "storage": storage_stanza(s3)}
    return FileMount.from_file("config", CONFIG_PATH, TEMPLATE, values)


def service_config(settings: Layer1Settings, env: EnvConfig, s3: S3Storage | None) -> ServiceConfig:
    extra_env = {"AWS_SHARED_CREDENTIALS_FILE": f"/run/secrets/{CREDENTIALS_TARGET}"} if s3 else {}
    return ServiceConfig(
        name=NAME,
        image=settings.vault_image,
        args=["server"],  # the image entrypoint runs `vault server -config=/vault/config`
        env={"VAULT_ADDR": f"http://127.0.0.1:{PORT}", "SKIP_SETCAP": "true", **extra_env},
        healthcheck=Healthcheck(
            test=["CMD-SHELL", f"wget -q -O /dev/null '{HEALTH_URL}' || exit 1"],
            start_period_s=15,
        ),
        resources=Resources(cpu=0.5, memory_mb=256),
        # One Vault per storage: the old task must stop before the new one takes the lock.
        update_order="stop-first",
        routes=[Route(hostname=env.hostname(NAME), port=PORT)],
        networks=[INGRESS_NETWORK],
        files=[config_file(env, s3)],
        secret_mounts=[SecretMount(name="s3-credentials", target=CREDENTIALS_TARGET)] if s3 else [],
        volumes=[] if s3 else [VolumeMount(volume=DATA_VOLUME, target="/vault/file")],
        placement=["node.role == manager"],
    )


def credentials_file(
    access_key: pulumi.Input[str], secret_key: pulumi.Input[str]
) -> pulumi.Output[str]:
    text = pulumi.Output.all(access_key, secret_key).apply(
        lambda keys: (
            f"[default]\naws_access_key_id = {keys[0]}\naws_secret_access_key = {keys[1]}\n"
        )
    )
    return pulumi.Output.secret(text)


def deploy(
    settings: Layer1Settings,
    env: EnvConfig,
    *,
    s3: S3Storage | None,
    protect: bool,
    depends_on: list[pulumi.Resource],
) -> Vault:
    deps = list(depends_on)
    if s3 is None:
        deps.append(
            house_volume(DATA_VOLUME, DATA_VOLUME, opts=pulumi.ResourceOptions(protect=protect))
        )
    config = service_config(settings, env, s3)
    service = SwarmService(
        NAME,
        config,
        secrets={"s3-credentials": s3.credentials_file} if s3 else {},
        opts=pulumi.ResourceOptions(depends_on=deps),
        extra_labels=traefik_labels(config, env.tls_resolver, ""),
    )
    return Vault(
        service=service,
        address=f"https://{env.hostname(NAME)}",
        internal_address=f"http://{NAME}:{PORT}",
    )
