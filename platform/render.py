"""From a catalog entry and the resolved environment to a `ServiceConfig` (pure, no Pulumi).

The config files the apps read are built here as Python dicts and written with `json.dumps`:
no template engine, so nothing is HTML-escaped (the original's Handlebars turned the broker
URL's `heartbeat=60` into `heartbeat&#x3D;60`). They hold no credential: every password is a
secret file under /run/secrets, and a block names the file (`passwordFile`).
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from sprocket_common.env_config import EnvConfig
from sprocket_common.env_defaults import env_defaults
from sprocket_common.forward_auth_rules import middleware_name
from sprocket_common.service import (
    SECRETS_DIR,
    FileMount,
    Route,
    SecretMount,
    ServiceConfig,
    VolumeMount,
)
from sprocket_common.stack_info import Env
from sprocket_common.traefik import traefik_labels

from .catalog import (
    DATASTORES,
    PLACEHOLDER,
    AppEntry,
    Catalog,
    RouteEntry,
    app_secrets,
)

CATALOG_LABEL = "sprocket.catalog"
ENV_LABEL = "sprocket.env"


@dataclass(frozen=True)
class Environment:
    """Everything an entry's rendering depends on besides the entry: plain values only."""

    env_config: EnvConfig
    values: Mapping[str, str]  # the catalog's VARIABLES (upstream outputs as text)
    networks: Mapping[str, str]  # platform, ingress, data, monitoring -> Swarm network name
    buckets: Mapping[str, str] = field(default_factory=dict)  # role -> bucket name
    tls_resolver: str = ""
    forward_auth_middleware: str = ""
    alpha_restrictions: bool = False

    @property
    def env(self) -> Env:
        return self.env_config.env


def swarm_name(env: Env, name: str) -> str:
    """The Swarm service name of catalog entry `name` (other apps address it by this DNS name)."""
    return f"{env.value}-{name}"


def queue_name(env: Env, role: str) -> str:
    """One naming rule for every queue, the Celery one included (the original had two)."""
    return f"{env.value}-{role}"


def bot_prefix(env: Env) -> str:
    """The Discord command prefix: `s.` in prod, `<env>.` elsewhere (the original's rule)."""
    return env_defaults(env).bot_prefix


def bucket_name(environment: Environment, role: str) -> str:
    """The bucket layer_1 made for `role`; local has none, so a name that cannot collide."""
    return environment.buckets.get(role) or f"sprocket-{role}-{environment.env.value}"


def hostname(environment: Environment, label: str) -> str:
    if label == "@":
        return environment.env_config.base_hostname
    return environment.env_config.hostname(label)


# --- placeholders ------------------------------------------------------------------------------


def lookup(environment: Environment, ref: str, secrets: Mapping[str, str] | None = None) -> str:
    """The value of placeholder `${ref}` (the catalog checked `ref` at load)."""
    kind, sep, arg = ref.partition(":")
    if not sep:
        if ref == "env":
            return environment.env.value
        if ref == "apex":
            return environment.env_config.base_hostname
        if ref == "bot_prefix":
            return bot_prefix(environment.env)
        return environment.values[ref]
    if kind == "service":
        return swarm_name(environment.env, arg)
    if kind == "host":
        return hostname(environment, arg)
    if kind == "bucket":
        return bucket_name(environment, arg)
    if kind == "queue":
        return queue_name(environment.env, arg)
    if secrets is not None and kind in ("secret", "urlsecret"):
        return secrets[arg] if kind == "secret" else quote(secrets[arg], safe="")
    raise KeyError(ref)


def fill(text: str, environment: Environment, secrets: Mapping[str, str] | None = None) -> str:
    return PLACEHOLDER.sub(lambda m: lookup(environment, m.group(1), secrets), text)


def fill_all(value: Any, environment: Environment) -> Any:
    if isinstance(value, str):
        return fill(value, environment)
    if isinstance(value, dict):
        return {k: fill_all(v, environment) for k, v in value.items()}
    if isinstance(value, list):
        return [fill_all(v, environment) for v in value]
    return value


# --- the config file ---------------------------------------------------------------------------


def _secret_file(app: AppEntry, secret: str) -> str:
    return f"{SECRETS_DIR}/{app_secrets(app)[secret]}"


def _port(value: str) -> int | str:
    return int(value) if value.isdigit() else value


def datastore_blocks(
    name: str, app: AppEntry, catalog: Catalog, environment: Environment
) -> dict[str, Any]:
    """The config blocks the entry's datastores and buckets bring (original key names)."""
    v, env = environment.values, environment.env
    blocks: dict[str, Any] = {}
    if "rabbitmq" in app.datastores:
        blocks["transport"] = {
            # Plain JSON string: `=` stays `=` (client heartbeat 60 s, as the server's).
            "url": f"amqp://{v['rabbitmq_host']}:{v['rabbitmq_port']}?heartbeat=60",
            "username": v["rabbitmq_user"],
            "passwordFile": _secret_file(app, "rabbitmq-password"),
            **{key: queue_name(env, role) for key, role in catalog.queues.items()},
            "events_application_key": f"{env.value}-{name}",
        }
    if "redis" in app.datastores:
        blocks["redis"] = {
            "host": v["redis_host"],
            "port": _port(v["redis_port"]),
            "prefix": env.value,
            "secure": False,
            "passwordFile": _secret_file(app, "redis-password"),
        }
    if "postgres" in app.datastores:
        blocks["database"] = {
            "host": v["postgres_host"],
            "port": _port(v["postgres_port"]),
            "username": v["app_db_user"],  # the app's own role, not the cluster admin
            "database": v["postgres_database"],
            "ssl": v["postgres_ssl_mode"] != "disable",  # the managed cluster requires TLS
            "passwordFile": _secret_file(app, "db-password"),
        }
    if "influx" in app.datastores:
        blocks["influx"] = {
            "address": v["influx_url"],
            "org": v["influx_org"],
            "bucket": v["influx_app_bucket"],  # created by layer_2 (the original never did)
            "tokenFile": _secret_file(app, "influx-token"),
        }
    if app.buckets:
        blocks["s3"] = _s3_block(app, environment)
    return {app.config_keys.get(key, key): block for key, block in blocks.items()}


def _s3_block(app: AppEntry, environment: Environment) -> dict[str, Any]:
    def camel(role: str) -> str:
        first, *rest = role.split("-")
        return first + "".join(part.title() for part in rest)

    return {
        "endpoint": environment.values["spaces_endpoint"],
        "port": 443,
        "ssl": True,
        "bucket": bucket_name(environment, app.buckets[0]),
        "buckets": {camel(role): bucket_name(environment, role) for role in app.buckets},
        "accessKeyFile": _secret_file(app, "s3-access-key"),
        "secretKeyFile": _secret_file(app, "s3-secret-key"),
    }


def logger_levels(env: Env) -> list[str]:
    levels = ["error", "warn", "log"]
    return [*levels, "debug"] if env_defaults(env).debug_logs else levels


def render_settings(
    name: str, app: AppEntry, catalog: Catalog, environment: Environment
) -> dict[str, Any]:
    """The JSON the app reads: common blocks, datastore blocks, then its own settings on top."""
    settings: dict[str, Any] = {
        "stack": environment.env.value,
        "logger": {"levels": logger_levels(environment.env)},
    }
    settings.update(datastore_blocks(name, app, catalog, environment))
    return _deep_merge(settings, fill_all(app.settings, environment))


def _deep_merge(base: dict[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in top.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def config_file_content(settings: Mapping[str, Any]) -> str:
    return json.dumps(settings, indent=2, sort_keys=True) + "\n"


# --- the service -------------------------------------------------------------------------------


def networks_for(app: AppEntry, environment: Environment) -> list[str]:
    """The platform network always; ingress if routed; each datastore's; any extra."""
    wanted = ["platform"]
    if app.routes:
        wanted.append("ingress")
    wanted += [DATASTORES[d].network for d in app.datastores]
    wanted += app.networks
    return [environment.networks[n] for n in dict.fromkeys(wanted)]


def routes_for(app: AppEntry, environment: Environment) -> list[Route]:
    return [_route(r, app, environment) for r in app.routes]


def _route(route: RouteEntry, app: AppEntry, environment: Environment) -> Route:
    gated = route.forward_auth is not False and (
        route.forward_auth_when is None or environment.alpha_restrictions
    )
    rule_middleware = (
        [forward_auth_rule_middleware(route.forward_auth)]
        if gated and isinstance(route.forward_auth, str)
        else []
    )
    port = route.port or app.port
    assert port is not None  # checked at catalog load
    return Route(
        hostname=hostname(environment, route.host),
        port=port,
        path_prefix=route.path_prefix,
        forward_auth=gated and route.forward_auth is True,
        middlewares=[*rule_middleware, *route.middlewares],
    )


def forward_auth_rule_middleware(rule: str) -> str:
    """layer_1 declares one middleware per rule: `EloTeam` -> `fa-elo-team@docker`."""
    return middleware_name(rule) + "@docker"


def command_for(app: AppEntry, environment: Environment) -> list[str] | None:
    """The entry's command; with env_from_secrets, wrapped to export the secret files first."""
    command = fill_all(app.command, environment) if app.command else None
    if not app.env_from_secrets or command is None:
        return command
    targets = app_secrets(app)
    exports = " ".join(
        f'{var}="$(cat {SECRETS_DIR}/{shlex.quote(targets[secret])})"'
        for var, secret in app.env_from_secrets.items()
    )
    return ["/bin/sh", "-c", f'export {exports}; exec "$@"', "sh", *command]


def service_config(
    name: str, app: AppEntry, catalog: Catalog, environment: Environment, image: str
) -> ServiceConfig:
    """The full house ServiceConfig of catalog entry `name` in `environment`."""
    env = environment.env
    files = []
    if app.config_file:
        content = config_file_content(render_settings(name, app, catalog, environment))
        files.append(FileMount(name="config", target=app.config_file, content=content))
    return ServiceConfig(
        name=swarm_name(env, name),
        image=image,
        replicas=app.replicas,
        command=command_for(app, environment),
        args=fill_all(app.args, environment) if app.args else None,
        env=fill_all({**catalog.defaults_env, **app.env}, environment),
        healthcheck=app.healthcheck.model_copy(
            update={"test": fill_all(app.healthcheck.test, environment)}
        ),
        resources=app.resources,
        update_order=app.update_order,
        routes=routes_for(app, environment),
        networks=networks_for(app, environment),
        files=files,
        secret_mounts=[SecretMount(name=s, target=t) for s, t in app_secrets(app).items()],
        volumes=[
            VolumeMount(
                volume=f"{env.value}-{v.name}", target=v.target, size_limit_mb=v.size_limit_mb
            )
            for v in app.volumes
        ],
        placement=app.placement,
        logging=catalog.logging,
        labels={CATALOG_LABEL: name, ENV_LABEL: env.value},
    )


def labels_for(config: ServiceConfig, environment: Environment) -> dict[str, str]:
    """The Traefik labels of a routed service (none for an unrouted one)."""
    return traefik_labels(
        config,
        environment.tls_resolver,
        environment.forward_auth_middleware,
        ingress_network=environment.networks["ingress"],
    )
