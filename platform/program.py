"""The platform layer: every app of the service catalog (catalog.yaml) as one house Swarm service.

Order of work, so that a mistake stops the program before anything reaches the engine:
1. load and validate the catalog and the stack config (image tags, secrets source);
2. read layer_1 and layer_2 through the typed contracts (sprocket_common.outputs);
3. declare the platform network, the app buckets (prod, staging), the volumes, the secrets;
4. once the upstream values are known, one `SwarmService` per enabled entry.

Step 4 runs inside an `apply` because the shared `ServiceConfig` takes plain strings (network
names, rendered config files); every value it waits for is a stack-reference output or an
explicit name, all known during preview, so previews still show every service.

Exports (no credential): `images` {entry: image}, `service_names` {entry: Swarm service name},
`routes` {entry: [public hostnames]}, `network`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlparse

import pulumi
import pulumi_docker as docker
from pydantic import BaseModel, ConfigDict, Field, field_validator

from sprocket_common.env_config import (
    SHARED_KEYS,
    ConfigError,
    EnvConfig,
    check_unknown_keys,
    current_env,
    read_config,
)
from sprocket_common.env_defaults import EnvDefaults, env_defaults
from sprocket_common.outputs import Layer1Outputs, Layer2Outputs, read_layer1, read_layer2
from sprocket_common.required_config import DOCKER_ACCESS_TOKEN
from sprocket_common.service import RegistryAuth, SwarmService
from sprocket_common.stack_info import Env
from sprocket_common.swarm_service import house_volume, overlay_network

from .catalog import AppEntry, Catalog, app_secrets, load_catalog
from .images import ImageSettings, image_for
from .render import Environment, labels_for, service_config, swarm_name
from .secrets import VAULT_TOKEN, SecretSettings, SecretValues, needed_secrets

DOCKER_HUB = "https://index.docker.io/v1/"


class PlatformSettings(BaseModel):
    """`sprocket:alpha_restrictions`, `sprocket:bucket_names` (role -> name, to adopt buckets),
    `sprocket:docker_username` (with the secret `sprocket:docker_access_token`: the Sprocket
    images are private on Docker Hub; the same keys as layer_1's), `sprocket:placement`
    ({entry: [constraint]}: this stack's Swarm placement constraints added to the catalog's, e.g.
    `{core: ["node.labels.sprocket.apps==true"]}` to keep an app on chosen nodes),
    `sprocket:replicas` ({entry: N}: replicas overriding the catalog's, set by `scale`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    alpha_restrictions: bool = False
    bucket_names: dict[str, str] = Field(default_factory=dict)
    docker_username: str | None = None
    placement: dict[str, list[str]] = Field(default_factory=dict)
    replicas: dict[str, Annotated[int, Field(ge=0)]] = Field(default_factory=dict)

    @field_validator("placement")
    @classmethod
    def _constraints(cls, values: dict[str, list[str]]) -> dict[str, list[str]]:
        for name, constraints in values.items():
            for constraint in constraints:
                if not _CONSTRAINT.match(constraint):
                    raise ValueError(
                        f"{name}: {constraint!r} is not a Swarm constraint like "
                        "node.labels.KEY==VALUE or node.role!=manager"
                    )
        return values


_CONSTRAINT = re.compile(r"^[\w.\-]+\s*(==|!=)\s*\S.*$")


def with_placement(apps: Mapping[str, AppEntry], settings: PlatformSettings) -> dict[str, AppEntry]:
    """The entries with this stack's `sprocket:placement` constraints added (an entry it names
    that the catalog does not enable here is a ConfigError: a typo would pin nothing)."""
    unknown = sorted(set(settings.placement) - set(apps))
    if unknown:
        raise ConfigError(
            "sprocket:placement",
            f"names no enabled catalog entry: {', '.join(unknown)} (entries: {', '.join(apps)})",
        )
    return {
        name: app.model_copy(
            update={"placement": [*app.placement, *settings.placement.get(name, [])]}
        )
        for name, app in apps.items()
    }


def with_replicas(
    catalog: Catalog, apps: Mapping[str, AppEntry], settings: PlatformSettings
) -> dict[str, AppEntry]:
    """The entries with this stack's `sprocket:replicas` (ConfigError for an entry not enabled
    here, or one the catalog marks stateful without saying how it scales)."""
    unknown = sorted(set(settings.replicas) - set(apps))
    if unknown:
        raise ConfigError(
            "sprocket:replicas",
            f"names no enabled catalog entry: {', '.join(unknown)} (entries: {', '.join(apps)})",
        )
    for name in settings.replicas:
        refused = catalog.scale_refusal(name)
        if refused:
            raise ConfigError("sprocket:replicas", refused)
    return {
        name: app.model_copy(update={"replicas": settings.replicas.get(name, app.replicas)})
        for name, app in apps.items()
    }


def registry_auth(settings: PlatformSettings) -> RegistryAuth | None:
    if not settings.docker_username:
        return None
    token = pulumi.Config("sprocket").require_secret(DOCKER_ACCESS_TOKEN.name)
    return RegistryAuth(DOCKER_HUB, settings.docker_username, token)


def check_config_keys() -> None:
    """Refuse a `sprocket:` key this layer does not read (ConfigError naming it); `secrets:`
    keys are the catalog's business (scripts/bootstrap_secrets.py may set others on purpose)."""
    read = (PlatformSettings, ImageSettings, SecretSettings)
    known = {field for model in read for field in model.model_fields}
    check_unknown_keys({"sprocket": {*known, *SHARED_KEYS, DOCKER_ACCESS_TOKEN.name, VAULT_TOKEN}})


def program() -> None:
    env = current_env()
    check_config_keys()
    catalog = load_catalog()
    settings = read_config(PlatformSettings)
    apps = with_replicas(catalog, with_placement(catalog.enabled(env), settings), settings)
    images = image_settings(catalog)
    secret_settings = read_config(SecretSettings)
    image_refs = {
        name: image_for(name, app, images, catalog.image_namespace) for name, app in apps.items()
    }

    layer1, layer2 = read_layer1(env), read_layer2(env)
    network = overlay_network("platform-network", f"{env.value}-platform")
    buckets = bucket_names(env, settings, apps)
    defaults = env_defaults(env)
    if defaults.cloud:
        declare_buckets(buckets, layer1)
    volumes = declare_volumes(env, apps, defaults)
    environment = resolve_environment(env, layer1, layer2, network.name, buckets, settings)
    secrets = SecretValues(catalog, env, secret_settings, layer1, layer2, environment).build(
        needed_secrets(catalog, apps)
    )
    ready = pulumi.Output.all(environment, *[v.name for v in volumes])
    auth = registry_auth(settings)
    declared = ready.apply(
        lambda args: declare_services(
            catalog, apps, args[0], image_refs, secrets, auth, depends_on=[network, *volumes]
        )
    )
    routes = declared.apply(lambda d: d.routes)

    # From each service's own state, not the config: a `--target` deploy leaves the other
    # services as they were, and this output must name what runs, not what was asked for.
    pulumi.export("images", declared.apply(lambda d: d.images))
    pulumi.export("service_names", {name: swarm_name(env, name) for name in apps})
    pulumi.export("routes", routes)
    pulumi.export("network", network.name)


def image_settings(catalog: Catalog) -> ImageSettings:
    images = read_config(ImageSettings)
    unknown = images.unknown_entries(catalog.apps)
    if unknown:
        key = "image_tags" if set(unknown) & set(images.image_tags) else "image_digests"
        raise ConfigError(
            f"sprocket:{key}",
            f"names no catalog entry: {', '.join(unknown)} (entries: {', '.join(catalog.apps)})",
        )
    return images


def bucket_names(
    env: Env, settings: PlatformSettings, apps: Mapping[str, AppEntry]
) -> dict[str, str]:
    """The app buckets (role -> name); `sprocket:bucket_names` keeps existing names (adoption)."""
    roles = dict.fromkeys(role for app in apps.values() for role in app.buckets)
    return {
        role: settings.bucket_names.get(role) or f"sprocket-{role}-{env.value}" for role in roles
    }


def declare_buckets(names: Mapping[str, str], layer1: Layer1Outputs) -> None:
    """Private Spaces buckets for the apps (the original's prod-s3), protected: they hold data."""
    import pulumi_digitalocean as do

    region = layer1.spaces_endpoint.apply(_region_of)
    for role, name in names.items():
        do.SpacesBucket(
            f"bucket-{role}",
            name=name,
            region=region,
            acl="private",
            opts=pulumi.ResourceOptions(protect=True),
        )


def _region_of(endpoint: str) -> str:
    """`https://nyc3.digitaloceanspaces.com` -> `nyc3`."""
    host = urlparse(endpoint).hostname or endpoint
    return host.split(".", 1)[0]


def declare_volumes(
    env: Env, apps: Mapping[str, AppEntry], defaults: EnvDefaults
) -> list[docker.Volume]:
    """Named volumes, kept when the stack is destroyed and protected as the env's defaults say
    (as layer_1's and layer_2's: staging's data is protected too)."""
    opts = pulumi.ResourceOptions(
        retain_on_delete=defaults.keep_volumes, protect=defaults.protect_stateful
    )
    return [
        house_volume(volume.name, f"{env.value}-{volume.name}", opts=opts)
        for app in apps.values()
        for volume in app.volumes
    ]


def resolve_environment(
    env: Env,
    layer1: Layer1Outputs,
    layer2: Layer2Outputs,
    platform_network: pulumi.Output[str],
    buckets: Mapping[str, str],
    settings: PlatformSettings,
) -> pulumi.Output[Environment]:
    """The plain (non-secret) upstream values the apps' specs and config files are built from."""
    values = pulumi.Output.all(
        base_domain=layer1.base_domain,
        tls_resolver=layer1.tls_resolver,
        forward_auth_middleware=layer1.forward_auth_middleware,
        ingress=layer1.ingress_network,
        spaces_endpoint=layer1.spaces_endpoint,
        platform=platform_network,
        data=layer2.data_network,
        monitoring=layer2.monitoring_network,
        redis_host=layer2.redis_host,
        redis_port=layer2.redis_port,
        rabbitmq_host=layer2.rabbitmq_host,
        rabbitmq_port=layer2.rabbitmq_port,
        rabbitmq_user=layer2.rabbitmq_user,
        postgres_host=layer2.postgres_host,
        postgres_port=layer2.postgres_port,
        postgres_database=layer2.postgres_database,
        app_db_user=layer2.app_db_user,
        influx_url=layer2.influx_url,
        influx_org=layer2.influx_org,
        influx_app_bucket=layer2.influx_app_bucket,
        postgres_ssl_mode=layer2.postgres_ssl_mode,
    )
    return values.apply(lambda v: build_environment(env, v, buckets, settings))


NETWORK_KEYS = ("platform", "ingress", "data", "monitoring")
ENDPOINT_KEYS = ("base_domain", "tls_resolver", "forward_auth_middleware")


def build_environment(
    env: Env, values: Mapping[str, Any], buckets: Mapping[str, str], settings: PlatformSettings
) -> Environment:
    """Hostnames follow layer_1's base domain, so the layers cannot disagree on it."""
    plain = {
        k: _text(v) for k, v in values.items() if k not in NETWORK_KEYS and k not in ENDPOINT_KEYS
    }
    for store in ("rabbitmq", "redis"):
        plain[f"{store}_port_hex"] = f"{int(float(values[f'{store}_port'])):04X}"
    return Environment(
        env_config=EnvConfig(env=env, base_domain=values["base_domain"]),
        values=plain,
        networks={k: str(values[k]) for k in NETWORK_KEYS},
        buckets=dict(buckets),
        tls_resolver=str(values["tls_resolver"] or ""),
        forward_auth_middleware=str(values["forward_auth_middleware"] or ""),
        alpha_restrictions=settings.alpha_restrictions,
    )


def _text(value: Any) -> str:
    """Stack outputs cross the wire as JSON numbers: a port arrives as 5672.0, not 5672."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


@dataclass(frozen=True)
class DeclaredServices:
    routes: dict[str, list[str]]  # entry -> public hostnames
    images: pulumi.Output[dict[str, str]]  # entry -> image, from each Service's state


def declare_services(
    catalog: Catalog,
    apps: Mapping[str, AppEntry],
    environment: Environment,
    images: Mapping[str, str],
    secrets: Mapping[str, pulumi.Output[str]],
    auth: RegistryAuth | None = None,
    depends_on: list[pulumi.Resource] | None = None,
) -> DeclaredServices:
    """One SwarmService per entry; returns what the exports need."""
    routes: dict[str, list[str]] = {}
    running: dict[str, pulumi.Output[str]] = {}
    for name, app in apps.items():
        config = service_config(name, app, catalog, environment, images[name])
        service = SwarmService(
            name,
            config,
            secrets={secret: secrets[secret] for secret in app_secrets(app)},
            extra_labels=labels_for(config, environment),
            # The private Sprocket images only; third-party ones (dgraph, redis) are public.
            registry_auth=auth if "/" not in app.image.repository else None,
            opts=pulumi.ResourceOptions(depends_on=depends_on),
        )
        routes[name] = [route.hostname for route in config.routes]
        running[name] = service.service.task_spec.container_spec.image
    return DeclaredServices(routes, pulumi.Output.all(**running))
