"""The environment-wide stack config (`sprocket:*`) every layer reads, and config errors.

Config errors name the key (`sprocket:base_domain: ...`) so that an operator knows exactly what
to `pulumi config set`. `read_config` turns any pydantic model into a config reader with the
same error shape, for the layers' own settings.
"""

from __future__ import annotations

import json
import re
import types
from collections.abc import Collection, Mapping
from typing import Any, TypeVar, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from sprocket_common.env_defaults import EnvDefaults, env_defaults
from sprocket_common.stack_info import PROJECT_NAME, Env, StackInfo, UnknownNameError

NAMESPACE = "sprocket"
LOCAL_DOMAIN = "localhost"  # *.localhost resolves to loopback in browsers and curl
RESOLVER = "letsencrypt"
STAGING_RESOLVER = "letsencrypt-staging"
# `sprocket:` keys that shared code reads in every layer: SwarmService (`fluentd_address`) and
# the upstream stack references (`stack_org`).
SHARED_KEYS = frozenset({"fluentd_address", "stack_org"})
_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z]{2,63}$")

M = TypeVar("M", bound=BaseModel)


def docker_socket_path(value: str) -> str:
    """A Docker socket's host path on the nodes, as a bind mount needs it (absolute)."""
    if value.startswith("unix://"):
        raise ValueError(
            f"{value!r} is a DOCKER_HOST address: give the socket's path alone"
            f" ({value.removeprefix('unix://')})"
        )
    if not value.startswith("/") or value != value.strip():
        raise ValueError(
            f"{value!r} is not an absolute path: give the Docker socket's path on the"
            " nodes (default /var/run/docker.sock)"
        )
    return value


class ConfigError(ValueError):
    """A stack config value is missing or invalid; str() names the key first."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key
        self.message = message


class EnvConfig(BaseModel):
    """Which environment this is and how its public hostnames are built."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    env: Env
    base_domain: str = LOCAL_DOMAIN
    acme_staging: bool = False
    acme_email: str = ""

    @field_validator("base_domain")
    @classmethod
    def _valid_domain(cls, value: str) -> str:
        if not _DOMAIN.match(value):
            raise ValueError(f"{value!r} is not a lowercase domain name like sprocket.example.gg")
        return value

    @property
    def defaults(self) -> EnvDefaults:
        """This environment's row of the defaults table (sprocket_common.env_defaults)."""
        return env_defaults(self.env)

    @property
    def base_hostname(self) -> str:
        """The environment's own apex: `<base>` in prod, `<env>.<base>` elsewhere."""
        if self.defaults.env_in_hostnames:
            return f"{self.env.value}.{self.base_domain}"
        return self.base_domain

    def hostname(self, service: str) -> str:
        """`<service>.<base>` in prod, `<service>.<env>.<base>` elsewhere: envs never collide."""
        return f"{service}.{self.base_hostname}"

    @property
    def tls_resolver(self) -> str:
        """The ACME resolver routers use; empty in local (Traefik's default certificate)."""
        if not self.defaults.acme_tls:
            return ""
        return STAGING_RESOLVER if self.acme_staging else RESOLVER


def _is_plain_str(annotation: Any) -> bool:
    if annotation is str:
        return True
    if get_origin(annotation) in (Union, types.UnionType):
        return str in get_args(annotation) and all(
            a in (str, type(None)) for a in get_args(annotation)
        )
    return False


def _raw_value(model: type[BaseModel], field: str, raw: str) -> Any:
    """Stack config arrives as text; lists and objects as JSON (`pulumi config set --path`)."""
    if _is_plain_str(model.model_fields[field].annotation):
        return raw
    if raw[:1] in "[{":
        try:
            return json.loads(raw)
        except json.JSONDecodeError:
            return raw
    return raw


def read_config(
    model: type[M], namespace: str = NAMESPACE, overrides: dict[str, Any] | None = None
) -> M:
    """Build `model` from the `namespace:` stack config, naming the key in any error.

    Only the model's own fields are read (by field name); `overrides` supply values that do
    not come from config (e.g. the env parsed from the stack name).
    """
    import pulumi

    config = pulumi.Config(namespace)
    values: dict[str, Any] = dict(overrides or {})
    for field in model.model_fields:
        if field in values:
            continue
        raw = config.get(field)
        if raw is not None:
            values[field] = _raw_value(model, field, raw)
    try:
        return model.model_validate(values)
    except ValidationError as err:
        first = err.errors()[0]
        field = str(first["loc"][0]) if first["loc"] else "?"
        message = first["msg"].removeprefix("Value error, ")
        if first["type"] == "missing":
            message = "required but not set (pulumi config set " + f"{namespace}:{field} ...)"
        raise ConfigError(f"{namespace}:{field}", message) from None


def check_unknown_keys(known: Mapping[str, Collection[str]]) -> None:
    """Refuse a stack config key the layer does not read: a misspelt key would silently fall
    back to a default.

    `known` maps each namespace the layer owns (`sprocket`, `layer_2`) to the keys it reads;
    other namespaces (providers' `digitalocean:`, platform's `secrets:`) are their readers'
    business. A `<project>:` key is refused too (Pulumi's default namespace, never read).
    Raises ConfigError naming the key and the valid ones.
    """
    from pulumi.runtime.config import CONFIG

    for full_key in sorted(CONFIG.get()):
        namespace, _, key = full_key.partition(":")
        if namespace == PROJECT_NAME:
            raise ConfigError(
                full_key, f"layer settings live in the {NAMESPACE}: namespace ({NAMESPACE}:{key})"
            )
        valid = known.get(namespace)
        if valid is not None and key not in valid:
            raise ConfigError(full_key, f"unknown key; valid keys are {', '.join(sorted(valid))}")


def current_env() -> Env:
    import pulumi

    try:
        return StackInfo.parse(pulumi.get_stack()).env
    except UnknownNameError as err:
        raise ConfigError("stack", str(err)) from None


def load_env_config() -> EnvConfig:
    """EnvConfig from `sprocket:*`; the env comes from the stack name (`prod-layer_1`)."""
    import pulumi

    env = current_env()
    declared = pulumi.Config(NAMESPACE).get("env")
    if declared is not None and declared != env.value:
        raise ConfigError(
            f"{NAMESPACE}:env", f"is {declared!r} but the stack is a {env.value!r} stack"
        )
    from sprocket_common.required_config import BASE_DOMAIN, required_in

    if required_in(BASE_DOMAIN, env) and pulumi.Config(NAMESPACE).get(BASE_DOMAIN.name) is None:
        raise ConfigError(BASE_DOMAIN.key, f"required in {env.value} ({BASE_DOMAIN.meaning})")
    return read_config(EnvConfig, overrides={"env": env})
