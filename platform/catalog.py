"""The service catalog: every Sprocket app as data (catalog.yaml), validated when it is loaded.

Adding a microservice is one entry in catalog.yaml. Everything an entry may say is in
`AppEntry`; what a datastore brings with it (network, secret files, a config block) is in
`DATASTORES`, so an entry only names the datastores it needs. A broken catalog is rejected
before anything reaches the engine, with an error naming the entry and the field:

    catalog.yaml: entry 'core', field 'datastores[1]': unknown datastore 'mongo' (valid: ...)

Values may refer to the environment with `${...}` placeholders (see `VARIABLES`), e.g.
`${service:core}` (another entry's Swarm service name) or `${host:api}` (a public hostname);
they are checked here against what the catalog declares (a host must be a route's, a bucket an
entry's) and filled in by `render.py`. A route's forward-auth rule key is checked against the
rules layer_1 declares its middlewares from (sprocket_common/forward_auth_rules.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from sprocket_common.docker_tag import TAG_PATTERN
from sprocket_common.forward_auth_rules import rule_keys
from sprocket_common.outputs import LAYER2_KEYS, LAYER2_SECRET_KEYS
from sprocket_common.service import Healthcheck, Resources
from sprocket_common.stack_info import Env

CATALOG_PATH = Path(__file__).resolve().parent / "catalog.yaml"
# The node layer_2 labels for the stateful services' data (layer_2/names.py).
STORAGE_CONSTRAINT = "node.labels.role==storage"

_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,40}[a-z0-9])?$")
_TAG = TAG_PATTERN  # sprocket_common/docker_tag.py
_REPOSITORY = re.compile(r"^[a-z0-9]+([._/-][a-z0-9]+)*$")
_HOST_LABEL = re.compile(r"^(@|[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)$")
_ENV_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
PLACEHOLDER = re.compile(r"\$\{([^}]*)\}")


@dataclass(frozen=True)
class Datastore:
    """What declaring a datastore gives an app: a network, secret files, a config block."""

    network: str
    secrets: dict[str, str]  # secret name -> file under /run/secrets
    block: str  # the key of its block in the rendered config file


DATASTORES: dict[str, Datastore] = {
    "rabbitmq": Datastore("data", {"rabbitmq-password": "rabbitmq-password.txt"}, "transport"),
    "redis": Datastore("data", {"redis-password": "redis-password.txt"}, "redis"),
    "postgres": Datastore("data", {"db-password": "db-password.txt"}, "database"),
    "influx": Datastore("monitoring", {"influx-token": "influx-token"}, "influx"),
}
# Secrets whose values are layer_2 outputs; they come with the datastore, never listed by hand.
UPSTREAM_SECRETS: dict[str, str] = {
    "rabbitmq-password": "rabbitmq_password",
    "redis-password": "redis_password",
    "db-password": "app_db_password",
    "influx-token": "influx_token",
}
BUCKETS = ("main", "replays", "image-generation")
# Any app with buckets mounts the Spaces key pair; the catalog must declare both secrets.
BUCKET_SECRETS: dict[str, str] = {
    "s3-access-key": "minio-access.txt",
    "s3-secret-key": "minio-secret.txt",
}
NETWORKS = ("platform", "ingress", "data", "monitoring")

# Plain values a placeholder may name; `kind:arg` forms are checked in `_check_placeholder`.
# layer_2's plain outputs come from its output contract (not its secrets, not its networks).
VARIABLES = frozenset(
    {key for key in LAYER2_KEYS if key not in LAYER2_SECRET_KEYS and not key.endswith("_network")}
    | {
        "env",
        "apex",
        "bot_prefix",
        "spaces_endpoint",
        # ports as /proc/net/tcp shows them (4 hex digits), for connection healthchecks
        "rabbitmq_port_hex",
        "redis_port_hex",
    }
)
# Only secret templates may embed secret values (`${secret:x}`, `${urlsecret:x}` URL-encoded).
SECRET_KINDS = ("secret", "urlsecret")


class CatalogError(ValueError):
    """The catalog is invalid; str() names the file, the entry and the field."""

    def __init__(self, entry: str | None, field: str, message: str) -> None:
        where = f"entry {entry!r}, field {field!r}" if entry else f"field {field!r}"
        super().__init__(f"{CATALOG_PATH.name}: {where}: {message}")
        self.entry = entry
        self.field = field


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ImageRef(_Model):
    """`repository` under the catalog's namespace (`core`) or a full one (`dgraph/dgraph`).

    Without `tag` the image follows the stack's `sprocket:image_tag`; with one it is pinned
    (third-party images), though `sprocket:image_tags.<entry>` still overrides it.
    """

    repository: str
    tag: str | None = None

    @field_validator("repository")
    @classmethod
    def _valid_repository(cls, value: str) -> str:
        if not _REPOSITORY.match(value):
            raise ValueError(f"{value!r} is not a Docker repository name (lowercase, '/')")
        return value

    @field_validator("tag")
    @classmethod
    def _valid_tag(cls, value: str | None) -> str | None:
        if value is not None and not _TAG.match(value):
            raise ValueError(f"{value!r} is not a Docker image tag")
        return value


class RouteEntry(_Model):
    """A public route: `host` is a label under the environment's apex, or `@` for the apex."""

    host: str
    port: int | None = Field(default=None, gt=0, lt=65536)  # default: the entry's port
    path_prefix: str | None = None
    # Discord forward auth (layer_1): true = guild membership; a rule key of layer_1's
    # discord-forward-auth.yaml (e.g. EloTeam) = that rule's middleware `fa-elo-team@docker`.
    forward_auth: bool | str = False
    # Apply the forward auth only when this stack config flag is true (web's alpha gate).
    forward_auth_when: Literal["alpha_restrictions"] | None = None
    middlewares: list[str] = Field(default_factory=list)

    @field_validator("forward_auth")
    @classmethod
    def _rule_key(cls, value: bool | str) -> bool | str:
        if isinstance(value, str) and not re.match(r"^[A-Z][A-Za-z0-9]*$", value):
            raise ValueError(f"{value!r} is not a forward-auth rule key like EloTeam")
        return value

    @field_validator("host")
    @classmethod
    def _valid_host(cls, value: str) -> str:
        if not _HOST_LABEL.match(value):
            raise ValueError(f"{value!r} is not '@' or one lowercase DNS label (e.g. 'api')")
        return value


class VolumeEntry(_Model):
    """A named volume `<env>-<name>` (kept on destroy by the engine's retain policy)."""

    name: str
    target: str
    size_limit_mb: int | None = Field(default=None, gt=0)


class SecretSpec(_Model):
    """Where a secret's value comes from.

    - external: set by an operator: Vault KV v2 (prod, staging) or `secrets:<name>` stack
      config (local; generated when unset, so a fresh machine needs nothing);
    - generated: a random password kept in state (length, no special characters);
    - template: text built from other secrets and plain values (e.g. a broker URL with its
      credentials), so a URL with a password is a secret file, never env or a config file.
    """

    source: Literal["external", "generated", "template"]
    description: str = ""
    length: int = Field(default=64, ge=16, le=256)
    template: str | None = None


class AppEntry(_Model):
    """One app: one Swarm service."""

    description: str
    image: ImageRef
    replicas: int = Field(default=1, ge=0)
    port: int | None = Field(default=None, gt=0, lt=65536)
    command: list[str] | None = None
    args: list[str] | None = None
    routes: list[RouteEntry] = Field(default_factory=list)
    datastores: list[str] = Field(default_factory=list)
    buckets: list[str] = Field(default_factory=list)
    secrets: dict[str, str] = Field(default_factory=dict)  # secret name -> file name
    # Legacy apps that read credentials from env only: the secret files are exported into the
    # environment by a shell wrapper at start, so they never appear in the service spec.
    env_from_secrets: dict[str, str] = Field(default_factory=dict)  # ENV_VAR -> secret name
    env: dict[str, str] = Field(default_factory=dict)
    settings: dict[str, Any] = Field(default_factory=dict)
    config_file: str | None = None  # where the rendered JSON settings are mounted
    config_keys: dict[str, str] = Field(default_factory=dict)  # rename a datastore's block
    healthcheck: Healthcheck
    resources: Resources = Field(default_factory=Resources)
    update_order: Literal["start-first", "stop-first"] = "start-first"
    networks: list[str] = Field(default_factory=list)  # beyond those the datastores imply
    volumes: list[VolumeEntry] = Field(default_factory=list)
    placement: list[str] = Field(default_factory=list)
    environments: list[Env] = Field(default_factory=lambda: list(Env))
    # Why this app keeps state (a node-local volume, a single writer): `scale` and
    # `sprocket:replicas` refuse it unless `scaling` says how its replicas share that state.
    stateful: str | None = None
    scaling: str | None = None

    @field_validator("image", mode="before")
    @classmethod
    def _short_image(cls, value: Any) -> Any:
        """`image: core` or `image: dgraph/dgraph:v21.12.0` as shorthand for the mapping."""
        if isinstance(value, str):
            repository, _, tag = value.partition(":")
            return {"repository": repository, "tag": tag or None}
        return value

    @field_validator("datastores")
    @classmethod
    def _known_datastores(cls, values: list[str]) -> list[str]:
        for i, value in enumerate(values):
            if value not in DATASTORES:
                raise _item_error(i, f"unknown datastore {value!r}", sorted(DATASTORES))
        return values

    @field_validator("buckets")
    @classmethod
    def _known_buckets(cls, values: list[str]) -> list[str]:
        for i, value in enumerate(values):
            if value not in BUCKETS:
                raise _item_error(i, f"unknown bucket {value!r}", BUCKETS)
        return values

    @field_validator("networks")
    @classmethod
    def _known_networks(cls, values: list[str]) -> list[str]:
        for i, value in enumerate(values):
            if value not in NETWORKS:
                raise _item_error(i, f"unknown network {value!r}", NETWORKS)
        return values

    @field_validator("env", "env_from_secrets")
    @classmethod
    def _env_keys(cls, env: dict[str, str]) -> dict[str, str]:
        for key in env:
            if not _ENV_KEY.match(key):
                raise ValueError(f"{key!r} is not an environment variable name")
        return env

    @field_validator("config_file")
    @classmethod
    def _absolute(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("/"):
            raise ValueError(f"{value!r} must be an absolute path in the container")
        return value


class Catalog(_Model):
    """The whole catalog; top-level keys starting with `x-` hold YAML anchors and are ignored."""

    image_namespace: str  # Docker Hub namespace of the Sprocket images
    defaults_env: dict[str, str] = Field(default_factory=dict)  # every app gets these first
    logging: Literal["json-file", "fluentd"] = "fluentd"
    queues: dict[str, str]  # transport key -> queue role; the queue is `<env>-<role>`
    secrets: dict[str, SecretSpec]
    apps: dict[str, AppEntry]
    # The other layers' stateful services (Redis, Postgres ...) -> why: never scaled here.
    stateful: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _drop_extension_keys(cls, raw: Any) -> Any:
        if isinstance(raw, dict):
            return {k: v for k, v in raw.items() if not str(k).startswith("x-")}
        return raw

    def scale_refusal(self, name: str) -> str | None:
        """Why `name` must not get another replica count, or None when it may (an unknown
        name is the caller's to report)."""
        if name in self.stateful:
            return f"{name} is stateful ({self.stateful[name]}) and not a platform service"
        app = self.apps.get(name)
        if app is not None and app.stateful and not app.scaling:
            return (
                f"{name} is stateful ({app.stateful}) and its catalog entry does not say how "
                "it scales (a `scaling:` line)"
            )
        return None

    def enabled(self, env: Env) -> dict[str, AppEntry]:
        """The entries deployed in `env`, in catalog order."""
        return {name: app for name, app in self.apps.items() if env in app.environments}


def _item_error(index: int, message: str, valid: Any) -> ValueError:
    return ValueError(f"[{index}] {message} (valid: {', '.join(valid)})")


# --- loading -----------------------------------------------------------------------------------


def load_catalog(path: Path | None = None) -> Catalog:
    """Parse and validate the catalog; any problem raises CatalogError naming entry and field."""
    path = path or CATALOG_PATH
    try:
        raw = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as err:
        raise CatalogError(None, "<file>", f"cannot read {path}: {err}") from None
    return parse_catalog(raw)


def parse_catalog(raw: Any) -> Catalog:
    try:
        catalog = Catalog.model_validate(raw)
    except ValidationError as err:
        raise _from_validation(err) from None
    check_catalog(catalog)
    return catalog


def _from_validation(err: ValidationError) -> CatalogError:
    first = err.errors()[0]
    loc = [str(part) for part in first["loc"]]
    message = first["msg"].removeprefix("Value error, ")
    index = re.match(r"^\[(\d+)\] (.*)$", message, re.DOTALL)
    if index:  # list validators put the item index in the message
        loc, message = [*loc, index.group(1)], index.group(2)
    if first["type"] == "missing":
        message = "required but missing"
    if len(loc) >= 2 and loc[0] in ("apps", "secrets"):
        return CatalogError(loc[1], _field_path(loc[2:]), message)
    return CatalogError(None, _field_path(loc), message)


def _field_path(parts: list[str]) -> str:
    path = ""
    for part in parts:
        path += f"[{part}]" if part.isdigit() else (f".{part}" if path else part)
    return path or "<entry>"


# --- cross-entry checks ------------------------------------------------------------------------


def check_catalog(catalog: Catalog) -> None:
    _check_secret_registry(catalog)
    hosts: dict[tuple[str, str], str] = {}
    for name, app in catalog.apps.items():
        if not _NAME.match(name):
            raise CatalogError(name, "<name>", "must be lowercase letters, digits and '-'")
        _check_secrets(catalog, name, app)
        _check_routes(name, app, hosts)
        _check_placeholders(catalog, name, app)
        if app.volumes and not app.stateful:
            raise CatalogError(
                name, "stateful", "required with volumes: say why its data must stay put"
            )
        if app.volumes and STORAGE_CONSTRAINT not in app.placement:
            # A local volume lives on one node: a task scheduled elsewhere (a multi-node Swarm,
            # a reschedule) would start on an empty one.
            raise CatalogError(name, "placement", f"required with volumes: {STORAGE_CONSTRAINT}")
        if app.env_from_secrets and not app.command:
            raise CatalogError(
                name, "command", "required with env_from_secrets (the wrapper execs it)"
            )
        for key in app.config_keys:
            if key not in {d.block for d in DATASTORES.values()} | {"s3"}:
                raise CatalogError(name, f"config_keys.{key}", "is not a datastore block")


def app_secrets(app: AppEntry) -> dict[str, str]:
    """Every secret the app mounts (name -> file): its datastores', buckets' and its own."""
    mounts: dict[str, str] = {}
    for store in app.datastores:
        mounts.update(DATASTORES[store].secrets)
    if app.buckets:
        mounts.update(BUCKET_SECRETS)
    mounts.update(app.secrets)
    for secret in app.env_from_secrets.values():
        mounts.setdefault(secret, secret)
    return mounts


def _check_secret_registry(catalog: Catalog) -> None:
    for name, spec in catalog.secrets.items():
        if name in UPSTREAM_SECRETS:
            raise CatalogError(name, "source", "comes from layer_2 with its datastore")
        if not _NAME.match(name):
            raise CatalogError(name, "<name>", "must be lowercase letters, digits and '-'")
        if (spec.source == "template") != (spec.template is not None):
            raise CatalogError(name, "template", "required exactly when source is 'template'")
        for ref in PLACEHOLDER.findall(spec.template or ""):
            kind, _, arg = ref.partition(":")
            if kind in SECRET_KINDS:
                if arg not in catalog.secrets and arg not in UPSTREAM_SECRETS:
                    raise CatalogError(name, "template", f"secret {arg!r} is not declared")
                if arg in catalog.secrets and catalog.secrets[arg].source == "template":
                    raise CatalogError(name, "template", f"{arg!r} is itself a template")
            else:
                _check_placeholder(catalog, name, "template", ref)


def _check_secrets(catalog: Catalog, name: str, app: AppEntry) -> None:
    for secret in app.secrets:
        if secret in UPSTREAM_SECRETS:
            store = next(s for s, d in DATASTORES.items() if secret in d.secrets)
            raise CatalogError(
                name, f"secrets.{secret}", f"comes with datastore {store!r}: list that instead"
            )
    declared = set(catalog.secrets) | set(UPSTREAM_SECRETS)
    for secret in app_secrets(app):
        if secret not in declared:
            field = _where_secret(app, secret)
            raise CatalogError(
                name,
                field,
                f"secret {secret!r} is not declared under the top-level 'secrets' "
                f"(declared: {', '.join(sorted(declared))})",
            )
    targets = list(app_secrets(app).values())
    for target in targets:
        if "/" in target or targets.count(target) > 1:
            raise CatalogError(
                name, "secrets", f"file {target!r} is not a unique file name under /run/secrets"
            )


def _where_secret(app: AppEntry, secret: str) -> str:
    if secret in app.secrets:
        return f"secrets.{secret}"
    if secret in BUCKET_SECRETS and app.buckets:
        return "buckets"
    env_var = next((k for k, v in app.env_from_secrets.items() if v == secret), None)
    return f"env_from_secrets.{env_var}" if env_var else "secrets"


def _check_routes(name: str, app: AppEntry, seen: dict[tuple[str, str], str]) -> None:
    for i, route in enumerate(app.routes):
        if route.port is None and app.port is None:
            raise CatalogError(name, f"routes[{i}].port", "required when the entry has no port")
        _check_forward_auth_rule(name, i, route)
        key = (route.host, route.path_prefix or "/")
        if key in seen:
            where = "the apex" if route.host == "@" else repr(route.host)
            raise CatalogError(
                name, f"routes[{i}].host", f"hostname {where} is already routed to {seen[key]!r}"
            )
        seen[key] = name


def _check_forward_auth_rule(name: str, index: int, route: RouteEntry) -> None:
    """A rule key names a middleware layer_1 declares only if its config file has the rule."""
    if not isinstance(route.forward_auth, str):
        return
    rules = rule_keys()
    if route.forward_auth not in rules:
        raise CatalogError(
            name,
            f"routes[{index}].forward_auth",
            f"unknown forward-auth rule {route.forward_auth!r} (valid: true, or a rule of "
            f"layer_1/files/discord-forward-auth.yaml: {', '.join(rules)})",
        )


def _check_placeholders(catalog: Catalog, name: str, app: AppEntry) -> None:
    fields: dict[str, Any] = {
        "env": app.env,
        "settings": app.settings,
        "command": app.command or [],
        "args": app.args or [],
        "healthcheck": app.healthcheck.test,
    }
    for field, value in fields.items():
        for text in _strings(value):
            for ref in PLACEHOLDER.findall(text):
                _check_placeholder(catalog, name, field, ref)


def _check_placeholder(catalog: Catalog, entry: str, field: str, ref: str) -> None:
    kind, sep, arg = ref.partition(":")
    if not sep and ref in VARIABLES:
        return
    if kind in SECRET_KINDS:
        raise CatalogError(
            entry, field, f"${{{ref}}}: secret values only go in secret templates, never in {field}"
        )
    declared = _declared_references(catalog)
    if not sep or kind not in declared:
        raise CatalogError(
            entry,
            field,
            f"unknown placeholder ${{{ref}}} (valid: {', '.join(sorted(VARIABLES))}, "
            f"{', '.join(f'{k}:<{what}>' for k, (what, _) in declared.items())})",
        )
    what, valid = declared[kind]
    if arg not in valid:
        raise CatalogError(
            entry,
            field,
            f"${{{ref}}} names no declared {what} {arg!r} (valid: {', '.join(sorted(valid))})",
        )


def _declared_references(catalog: Catalog) -> dict[str, tuple[str, set[str]]]:
    """What each `${kind:arg}` may name: only what the catalog declares (kind -> (what, args))."""
    return {
        "service": ("entry", set(catalog.apps)),
        "host": ("route host", {r.host for app in catalog.apps.values() for r in app.routes}),
        "bucket": ("bucket", {b for app in catalog.apps.values() for b in app.buckets}),
        "queue": ("queue", set(catalog.queues.values())),
    }


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []
