"""layer_1's stack config (`sprocket:*`), validated up front with errors that name the key.

The keys and their meaning are listed in layer_1/README.md. Secrets are not here: they are read
with `require_secret` where they are used, so they never exist as plain values.
"""

from __future__ import annotations

import ipaddress
import re

from pydantic import BaseModel, ConfigDict, Field, field_validator

from sprocket_common.env_config import (
    NAMESPACE,
    SHARED_KEYS,
    ConfigError,
    EnvConfig,
    check_unknown_keys,
    docker_socket_path,
    read_config,
)
from sprocket_common.env_defaults import env_defaults
from sprocket_common.required_config import BY_LAYER, required_in
from sprocket_common.stack_info import Env

# DigitalOcean regions that take droplets and volumes, and the subset with Spaces.
DROPLET_REGIONS = frozenset(
    {"nyc1", "nyc2", "nyc3", "sfo2", "sfo3", "ams3", "sgp1", "lon1", "fra1", "tor1", "blr1",
     "syd1", "atl1", "ric1"}
)  # fmt: skip
SPACES_REGIONS = frozenset({"nyc3", "sfo2", "sfo3", "ams3", "sgp1", "fra1", "syd1", "blr1", "atl1"})

_FINGERPRINT = re.compile(r"^([0-9a-f]{2}:){15}[0-9a-f]{2}$")
# Keys read elsewhere (EnvConfig, SwarmService, outputs, secrets), so they are not "unknown".
OTHER_KEYS = frozenset(
    {
        *SHARED_KEYS,
        "discord_client_secret",
        "docker_access_token",
        "swarm_join_token",
        *EnvConfig.model_fields,
    }
)


class Layer1Settings(BaseModel):
    # YAML `- 12345678` (a numeric SSH key id) arrives as a number inside a JSON list.
    model_config = ConfigDict(extra="forbid", frozen=True, coerce_numbers_to_str=True)

    # -- DigitalOcean (prod/staging only) --
    region: str = "nyc3"
    spaces_region: str = ""  # empty: same as region
    droplet_size: str = "s-4vcpu-8gb"
    droplet_image: str = "ubuntu-24-04-x64"
    worker_count: int = Field(default=0, ge=0, le=10)
    worker_size: str = "s-2vcpu-4gb"
    ssh_keys: list[str] = Field(default_factory=list)  # fingerprints or ids of account keys
    admin_cidrs: list[str] = Field(default_factory=list)  # who may SSH in
    data_volume_gb: int = Field(default=50, ge=1, le=16384)
    dns_zone: str = ""  # empty: base_domain
    manage_dns_zone: bool = True  # false: records go into a zone another stack (prod) owns
    dns_services: list[str] = Field(
        default_factory=lambda: [
            "api",
            "grafana",
            "influx",
            "status",
            "image-generation",
            "rabbitmq",
            "dgraph",
        ]
    )
    bucket_prefix: str = ""  # empty: sprocket-<env>
    backup_noncurrent_days: int = Field(default=90, ge=1)
    assets_acl: str = "private"
    # -- services --
    traefik_image: str = "traefik:v2.11"
    socket_proxy_image: str = "tecnativa/docker-socket-proxy:0.3.0"
    # The Docker socket on the manager, as the socket proxy mounts it (its host path): another
    # where the engine listens elsewhere (rootless Docker, a test's own engine).
    docker_socket: str = "/var/run/docker.sock"
    vault_image: str = "hashicorp/vault:1.17"
    forward_auth_image: str = "asaxplayinghorse/discord-forward-auth:latest"
    # The FA image's entrypoint, if it reads CLIENT_SECRET only from env (see forward_auth.py).
    forward_auth_entrypoint: list[str] = Field(default_factory=list)
    forward_auth_healthcheck: list[str] = Field(
        default_factory=lambda: ["CMD-SHELL", "nc -z 127.0.0.1 3000 || exit 1"]
    )
    docker_username: str = ""  # set (+ secret docker_access_token) if the FA image is private
    discord_client_id: str = ""
    discord_guild_id: str = ""
    protect_stateful: bool | None = None  # default: the env's (sprocket_common.env_defaults)

    @field_validator("region")
    @classmethod
    def _known_region(cls, value: str) -> str:
        if value not in DROPLET_REGIONS:
            raise ValueError(
                f"unknown region {value!r}: valid regions are {', '.join(sorted(DROPLET_REGIONS))}"
            )
        return value

    @field_validator("spaces_region")
    @classmethod
    def _known_spaces_region(cls, value: str) -> str:
        if value and value not in SPACES_REGIONS:
            raise ValueError(
                f"Spaces is not offered in {value!r}: valid regions are "
                + ", ".join(sorted(SPACES_REGIONS))
            )
        return value

    @field_validator("admin_cidrs")
    @classmethod
    def _valid_cidrs(cls, values: list[str]) -> list[str]:
        for value in values:
            try:
                network = ipaddress.ip_network(value, strict=False)
            except ValueError:
                raise ValueError(
                    f"{value!r} is not an IP address or CIDR (e.g. 198.51.100.7/32)"
                ) from None
            if network.prefixlen == 0:
                raise ValueError(f"{value!r} opens SSH to the whole internet; list admin addresses")
        return values

    @field_validator("ssh_keys")
    @classmethod
    def _valid_ssh_keys(cls, values: list[str]) -> list[str]:
        for value in values:
            if not (value.isdigit() or _FINGERPRINT.match(value)):
                raise ValueError(
                    f"{value!r} is neither an MD5 fingerprint (aa:bb:...:ff, from "
                    "`doctl compute ssh-key list`) nor a numeric key id"
                )
        return values

    @field_validator("discord_client_id", "discord_guild_id")
    @classmethod
    def _snowflake(cls, value: str) -> str:
        if value and not value.isdigit():
            raise ValueError(f"{value!r} is not a Discord id (digits, from the developer portal)")
        return value

    _absolute_socket = field_validator("docker_socket")(docker_socket_path)

    @field_validator("assets_acl")
    @classmethod
    def _known_acl(cls, value: str) -> str:
        if value not in ("private", "public-read"):
            raise ValueError(f"{value!r} is not an ACL: valid are private, public-read")
        return value

    def effective_spaces_region(self) -> str:
        region = self.spaces_region or self.region
        if region not in SPACES_REGIONS:
            raise ConfigError(
                f"{NAMESPACE}:spaces_region",
                f"region {region!r} has no Spaces; set one of {', '.join(sorted(SPACES_REGIONS))}",
            )
        return region

    def protect(self, env: Env) -> bool:
        if self.protect_stateful is None:
            return env_defaults(env).protect_stateful
        return self.protect_stateful

    def prefix(self, env: Env) -> str:
        return self.bucket_prefix or f"sprocket-{env.value}"


def _require_for_cloud(settings: Layer1Settings, env: Env) -> None:
    """The declared required keys that are settings (sprocket_common.required_config)."""
    for required in BY_LAYER["layer_1"]:
        declared = required.name in Layer1Settings.model_fields and required_in(required, env)
        if declared and not getattr(settings, required.name):
            raise ConfigError(required.key, f"required in {env.value} ({required.meaning})")
    if env_defaults(env).cloud:
        settings.effective_spaces_region()


def load_settings(env: Env) -> Layer1Settings:
    check_unknown_keys({NAMESPACE: known_keys()})
    settings = read_config(Layer1Settings)
    _require_for_cloud(settings, env)
    return settings


def known_keys() -> list[str]:
    return sorted(frozenset(Layer1Settings.model_fields) | OTHER_KEYS)
