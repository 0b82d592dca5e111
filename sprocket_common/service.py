"""The house Swarm service: one config model, one spec builder, one Pulumi component.

Every Swarm service of every layer is declared as a `ServiceConfig` and created with
`SwarmService`, so the house defaults (rotated logs, healthcheck, rollback on a failed update,
a bounded restart policy, resource limits) cannot be forgotten. `service_args` is a pure
function from the config to `pulumi_docker.ServiceArgs`, so tests (and another backend) can
inspect the exact spec without an engine.

Naming of the immutable Swarm objects a service mounts:
- configs are named `<svc>-<file>-<sha8 of content>`: a content change makes a new name, so
  Pulumi creates the new config, rolls the service onto it, then deletes the old one;
- secrets are NOT content-hashed (a short hash of a low-entropy secret can be brute-forced).
  Their Docker names are left to Pulumi's auto-naming (`<svc>-<secret>-<random suffix>`): a
  value change replaces the secret create-before-delete under a fresh random name, which gives
  the same roll-forward without publishing anything derived from the value.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from string import Template
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

if TYPE_CHECKING:
    import pulumi
    import pulumi_docker as docker

    from sprocket_common.env_defaults import HealthTimings
    from sprocket_common.swarm_service import SwarmService as SwarmService

# The docker_gwbridge gateway, where FluentD's host-mode port listens (spec §1.5); configurable
# through `sprocket:fluentd_address` because the gwbridge subnet can differ per host.
DEFAULT_FLUENTD_ADDRESS = "172.18.0.1:24224"
SECRETS_DIR = "/run/secrets"

_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
_HOSTNAME = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9-]{1,63}$")
# Words that mark an env var as a credential when they appear as a `_`-separated part of its key.
_CREDENTIAL_WORDS = frozenset(
    {"PASSWORD", "PASSWD", "PASS", "PWD", "SECRET", "TOKEN", "KEY", "APIKEY", "DSN", "CREDENTIALS"}
)
# Traefik middlewares that take password hashes inline; `...usersfile` (a secret mount) is fine.
_INLINE_USERS_LABELS = (".basicauth.users", ".digestauth.users")
_URL_WITH_USERINFO = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://[^/@\s]+@")


class _Model(BaseModel):
    # hide_input_in_errors: a refused credential must not be echoed into logs by the error.
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)


def _check_name(value: str, what: str) -> str:
    if not _NAME.match(value):
        raise ValueError(
            f"{what} {value!r} must be 1-63 lowercase letters, digits or '-', "
            "not starting or ending with '-'"
        )
    return value


class Healthcheck(_Model):
    """A container healthcheck: Swarm replaces unhealthy tasks and rolls back failed updates."""

    test: list[str] = Field(min_length=1)
    interval_s: int = Field(default=10, gt=0)
    timeout_s: int = Field(default=5, gt=0)
    start_period_s: int = Field(default=30, ge=0)
    retries: int = Field(default=3, gt=0)

    @field_validator("test")
    @classmethod
    def _real_check(cls, test: list[str]) -> list[str]:
        if test[0] not in ("CMD", "CMD-SHELL"):
            raise ValueError(
                f"healthcheck test must start with 'CMD' or 'CMD-SHELL', got {test[0]!r}"
            )
        if len(test) < 2:
            raise ValueError("healthcheck test needs a command after " + repr(test[0]))
        return test


class Resources(_Model):
    """Limits per task, and reservations only where a service declares them.

    Reservations are what Swarm's scheduler must find free on a node before it places a task;
    a task it cannot place stays pending ("no suitable node (insufficient resources)"). Half of
    every limit, the earlier default, added up to 9 CPUs and 10.5 GB over the three layers:
    more than the prod droplet (s-4vcpu-8gb) or this project's test machines have, so services
    sat at 0/N. Limits alone bound each task; overcommitting limits is normal.
    """

    cpu: float = Field(default=0.5, gt=0)
    memory_mb: int = Field(default=512, gt=0)
    reserved_cpu: float = Field(default=0, ge=0)
    reserved_memory_mb: int = Field(default=0, ge=0)


class Route(_Model):
    """One public hostname (optionally a path prefix) routed by Traefik to a container port."""

    hostname: str
    port: int = Field(gt=0, lt=65536)
    path_prefix: str | None = None
    forward_auth: bool = False
    middlewares: list[str] = Field(default_factory=list)

    @field_validator("hostname")
    @classmethod
    def _valid_hostname(cls, value: str) -> str:
        if not _HOSTNAME.match(value):
            raise ValueError(f"hostname {value!r} is not a valid lowercase DNS name")
        return value

    @field_validator("path_prefix")
    @classmethod
    def _absolute_prefix(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("/"):
            raise ValueError(f"path_prefix {value!r} must start with '/'")
        return value


class SecretMount(_Model):
    """A Swarm secret mounted at /run/secrets/<target>; its value is passed to SwarmService."""

    name: str
    target: str
    # Docker's own default: images that drop to their own user (vault, redis...) cannot read
    # a root-owned 0400 file, and the file is visible only inside this one container anyway.
    file_mode: int = 0o444

    @field_validator("name")
    @classmethod
    def _valid_name(cls, value: str) -> str:
        return _check_name(value, "secret name")

    @field_validator("target")
    @classmethod
    def _relative_target(cls, value: str) -> str:
        if "/" in value or not value:
            raise ValueError(f"secret target {value!r} must be a file name under {SECRETS_DIR}")
        return value


class FileMount(_Model):
    """A non-secret file delivered as a Swarm config (immutable, content-hashed name).

    `file_mode` unset leaves Docker's default (0444); init scripts an image runs directly
    need 0o555.
    """

    name: str
    target: str
    content: str
    file_mode: int | None = Field(default=None, ge=0, le=0o777)

    @field_validator("name")
    @classmethod
    def _valid_name(cls, value: str) -> str:
        return _check_name(value, "file name")

    @field_validator("target")
    @classmethod
    def _absolute_target(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError(f"file target {value!r} must be an absolute path")
        return value

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.content.encode()).hexdigest()[:8]

    @classmethod
    def from_file(
        cls,
        name: str,
        target: str,
        path: Path | str,
        values: Mapping[str, str] | None = None,
        file_mode: int | None = None,
    ) -> FileMount:
        """Content from a template file; `${key}` placeholders are filled from `values`.

        `string.Template` leaves Swarm/Go templates (`{{.Node.Hostname}}`) untouched; write a
        literal `$` as `$$`.
        """
        text = Path(path).read_text()
        if values is not None:
            try:
                text = Template(text).substitute(values)
            except KeyError as err:
                raise ValueError(f"{path}: no value for placeholder ${{{err.args[0]}}}") from None
        return cls(name=name, target=target, content=text, file_mode=file_mode)


class VolumeMount(_Model):
    """A named volume (or, if `volume` is an absolute path, a host bind mount) at `target`.

    `size_limit_mb` is recorded as a volume label (`sprocket.size-limit-mb`) for the health
    check to compare usage against; the local driver only enforces sizes on XFS with pquota,
    so it is not passed as a driver option (spec §9: creating the volume would fail).
    """

    volume: str
    target: str
    size_limit_mb: int | None = Field(default=None, gt=0)
    read_only: bool = False

    @field_validator("target")
    @classmethod
    def _absolute_target(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError(f"volume target {value!r} must be an absolute path")
        return value

    @property
    def is_bind(self) -> bool:
        return self.volume.startswith("/")


def looks_like_credential(key: str, value: str) -> bool:
    """True if an env var carries a credential that belongs in a secret mount instead.

    `<NAME>_FILE` variables pointing into /run/secrets are the sanctioned way to hand a secret
    mount to an app, so they pass.
    """
    if key.upper().endswith("_FILE") and value.startswith(SECRETS_DIR + "/"):
        return False
    words = set(re.split(r"[^A-Z0-9]+", key.upper()))
    return bool(words & _CREDENTIAL_WORDS) or bool(_URL_WITH_USERINFO.match(value))


class ServiceConfig(_Model):
    """Everything about one Swarm service; the house defaults fill what is not given.

    `healthcheck` is required unless `no_healthcheck_because` says why the image cannot run
    one (e.g. FROM scratch: no shell or HTTP client), so going without is deliberate.
    `mode="global"` runs one task per node (`replicas` then does not apply);
    `endpoint_mode="dnsrr"` resolves the service name to the tasks' addresses instead of a
    virtual IP (long-lived connections die on the VIP's idle timeout). `hostname`, `user` and
    `groups` are the container's. Raises pydantic.ValidationError naming the field.
    """

    name: str
    image: str = Field(min_length=1)
    mode: Literal["replicated", "global"] = "replicated"
    replicas: int = Field(default=1, ge=0)
    endpoint_mode: Literal["vip", "dnsrr"] = "vip"
    hostname: str | None = Field(default=None, min_length=1)
    user: str | None = Field(default=None, min_length=1)
    groups: list[str] = Field(default_factory=list)
    command: list[str] | None = None
    args: list[str] | None = None
    env: dict[str, str] = Field(default_factory=dict)
    healthcheck: Healthcheck | None = None
    no_healthcheck_because: str = ""
    resources: Resources = Field(default_factory=Resources)
    update_order: Literal["start-first", "stop-first"] = "start-first"
    routes: list[Route] = Field(default_factory=list)
    networks: list[str] = Field(default_factory=list)
    files: list[FileMount] = Field(default_factory=list)
    secret_mounts: list[SecretMount] = Field(default_factory=list)
    volumes: list[VolumeMount] = Field(default_factory=list)
    placement: list[str] = Field(default_factory=list)
    logging: Literal["json-file", "fluentd"] = "json-file"
    labels: dict[str, str] = Field(default_factory=dict)
    publish_host_ports: list[int] = Field(default_factory=list)

    @field_validator("name")
    @classmethod
    def _valid_name(cls, value: str) -> str:
        return _check_name(value, "service name")

    @field_validator("env")
    @classmethod
    def _no_credentials_in_env(cls, env: dict[str, str]) -> dict[str, str]:
        for key, value in env.items():
            if looks_like_credential(key, value):
                raise ValueError(
                    f"env {key} looks like a credential: plain env vars are visible in "
                    "`docker service inspect` and state; use secret_mounts (and a "
                    f"{key}_FILE=/run/secrets/<target> variable if the app supports it)"
                )
        return env

    @field_validator("command", "args")
    @classmethod
    def _no_credential_urls_in_argv(cls, argv: list[str] | None) -> list[str] | None:
        for item in argv or []:
            value = item.partition("=")[2] if item.startswith("--") else item
            if _URL_WITH_USERINFO.match(value):
                scheme = value.split("://", 1)[0]
                raise ValueError(
                    f"an argument holds a {scheme}:// URL with credentials; the command line is "
                    "public in the service spec (read them from a secret mount instead)"
                )
        return argv

    @field_validator("labels")
    @classmethod
    def _no_credentials_in_labels(cls, labels: dict[str, str]) -> dict[str, str]:
        for key, value in labels.items():
            if _URL_WITH_USERINFO.match(value) or key.endswith(_INLINE_USERS_LABELS):
                raise ValueError(
                    f"label {key} carries a credential; labels are public in the Swarm API "
                    "(use a users file from a secret mount)"
                )
        return labels

    @model_validator(mode="after")
    def _healthcheck_or_reason(self) -> ServiceConfig:
        if (self.healthcheck is None) == (not self.no_healthcheck_because.strip()):
            raise ValueError(
                f"service {self.name}: give a healthcheck, or no_healthcheck_because with the "
                "reason the image cannot run one (not both)"
            )
        if self.mode == "global" and self.replicas != 1:
            raise ValueError(
                f"service {self.name}: a global service runs one task per node; "
                f"replicas={self.replicas} does not apply"
            )
        return self

    @model_validator(mode="after")
    def _consistent(self) -> ServiceConfig:
        if self.publish_host_ports and self.update_order == "start-first":
            raise ValueError(
                f"service {self.name}: host-mode ports {self.publish_host_ports} cannot be "
                "updated start-first (the new task cannot bind the port the old one holds); "
                "set update_order='stop-first'"
            )
        for kind, names in (
            ("file", [f.name for f in self.files]),
            ("secret", [s.name for s in self.secret_mounts]),
        ):
            duplicates = sorted({n for n in names if names.count(n) > 1})
            if duplicates:
                raise ValueError(f"service {self.name}: duplicate {kind} names {duplicates}")
        return self


@dataclass(frozen=True)
class RegistryAuth:
    """Credentials for a private registry; `password` should be a Pulumi secret Output."""

    server: str
    username: str
    password: pulumi.Input[str]


# --- house defaults (plain dicts with pulumi_docker argument names) ---------------------------


def house_monitor_s(hc: Healthcheck | None) -> int:
    """How long Swarm watches a new task: longer than it can take to be declared unhealthy.

    Without a healthcheck, as long as a check with the default timings would take (a task
    that crashes at start is still caught).
    """
    fields = Healthcheck.model_fields
    start, interval, retries = (
        (hc.start_period_s, hc.interval_s, hc.retries)
        if hc
        else (fields[f].default for f in ("start_period_s", "interval_s", "retries"))
    )
    return int(start + interval * retries + 10)


def with_health_timings(config: ServiceConfig, timings: HealthTimings) -> ServiceConfig:
    """`config` with its healthcheck's interval and start period capped by `timings` (the
    environment's, sprocket_common.env_defaults); the monitor window follows. Unchanged when
    nothing is capped, so prod's specs are what the services declare."""
    hc = config.healthcheck
    if hc is None:
        return config
    interval_s, start_period_s = timings.capped(hc.interval_s, hc.start_period_s)
    if (interval_s, start_period_s) == (hc.interval_s, hc.start_period_s):
        return config
    capped = hc.model_copy(update={"interval_s": interval_s, "start_period_s": start_period_s})
    return config.model_copy(update={"healthcheck": capped})


def house_update_config(hc: Healthcheck | None, order: str) -> dict[str, Any]:
    """One task at a time, rolled back automatically when it fails within the monitor window."""
    return {
        "parallelism": 1,
        "delay": "5s",
        "failure_action": "rollback",
        "monitor": swarm_duration(house_monitor_s(hc)),
        "max_failure_ratio": "0.0",  # as the provider reads it back
        "order": order,
    }


def house_rollback_config(hc: Healthcheck | None, order: str) -> dict[str, Any]:
    """Rolling back must not itself roll back in a loop: pause and wait for a human."""
    return {**house_update_config(hc, order), "failure_action": "pause"}


def house_restart_policy() -> dict[str, Any]:
    """Bounded restarts: a broken service stops looping (the storage-bloat cause, spec §9)."""
    window = swarm_duration(120)
    return {"condition": "on-failure", "delay": "5s", "max_attempts": 5, "window": window}


def house_log_driver(
    kind: str, service: str = "", fluentd_address: str = DEFAULT_FLUENTD_ADDRESS
) -> dict[str, Any]:
    """json-file rotated 5 MB x 5 compressed, or fluentd that never blocks the app."""
    if kind == "json-file":
        return {
            "name": "json-file",
            "options": {"max-size": "5m", "max-file": "5", "compress": "true"},
        }
    if kind == "fluentd":
        return {
            "name": "fluentd",
            "options": {
                "fluentd-address": fluentd_address,
                "fluentd-async": "true",
                "fluentd-retry-wait": "1s",
                "fluentd-max-retries": "3",
                "mode": "non-blocking",
                "max-buffer-size": "4m",
                # Swarm expands {{.Name}}; it must reach Docker literally (no str.format here).
                "tag": "docker." + (service or "service") + ".{{.Name}}",
            },
        }
    raise ValueError(f"unknown log driver {kind!r}: valid drivers are json-file, fluentd")


# --- the spec builder -------------------------------------------------------------------------


def config_object_name(service: str, file: FileMount) -> str:
    return f"{service}-{file.name}-{file.digest}"


def swarm_duration(seconds: int) -> str:
    """Whole seconds as the docker provider reads a duration back from Swarm: Go's
    `time.Duration.String()` with a trailing "0s" and then "0m" dropped (60 -> "1m",
    90 -> "1m30s", 3600 -> "1h"). Declaring "60s" instead made every preview after a deploy
    show an update (the refreshed "1m" differs). Source: terraform-provider-docker,
    internal/provider/resource_docker_service_structures.go, `shortDur`.
    """
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    text = f"{minutes}m{secs}s" if minutes else f"{secs}s"
    if hours:
        text = f"{hours}h{minutes}m{secs}s"
    if text.endswith("m0s"):
        text = text[:-2]
    if text.endswith("h0m"):
        text = text[:-2]
    return text


def service_args(
    config: ServiceConfig,
    *,
    config_ids: Mapping[str, pulumi.Input[str]] | None = None,
    secret_ids: Mapping[str, pulumi.Input[str]] | None = None,
    extra_labels: Mapping[str, pulumi.Input[str]] | None = None,
    fluentd_address: str = DEFAULT_FLUENTD_ADDRESS,
    registry_auth: RegistryAuth | None = None,
    secret_names: Mapping[str, pulumi.Input[str]] | None = None,
    network_ids: Mapping[str, pulumi.Input[str]] | None = None,
) -> docker.ServiceArgs:
    """The full `docker.Service` spec for `config` (pure: no resources are created).

    `config_ids` / `secret_ids` map FileMount / SecretMount names to the ids of the Swarm
    objects holding them (`secret_names`: the secrets' Docker names, which Swarm checks against
    the ids); `extra_labels` are service labels added by the caller (Traefik);
    `registry_auth` lets Swarm nodes pull a private image; `network_ids` maps network names to
    their ids (Swarm keeps a service's networks by id and the provider reads ids back, so a
    spec naming them differs from the live service after every refresh).
    """
    import pulumi_docker as docker

    hc, order = config.healthcheck, config.update_order
    labels = {**config.labels, **(extra_labels or {})}
    return docker.ServiceArgs(
        name=config.name,
        auth=_auth(registry_auth),
        task_spec=_task_spec(
            config,
            config_ids or {},
            secret_ids or {},
            secret_names or {},
            fluentd_address,
            network_ids or {},
        ),
        mode=_mode(config),
        update_config=docker.ServiceUpdateConfigArgs(**house_update_config(hc, order)),
        rollback_config=docker.ServiceRollbackConfigArgs(**house_rollback_config(hc, order)),
        endpoint_spec=_endpoint_spec(config),
        labels=[docker.ServiceLabelArgs(label=k, value=v) for k, v in sorted(labels.items())]
        or None,
    )


def _task_spec(
    config: ServiceConfig,
    config_ids: Mapping[str, pulumi.Input[str]],
    secret_ids: Mapping[str, pulumi.Input[str]],
    secret_names: Mapping[str, pulumi.Input[str]],
    fluentd_address: str,
    network_ids: Mapping[str, pulumi.Input[str]],
) -> docker.ServiceTaskSpecArgs:
    import pulumi_docker as docker

    log = house_log_driver(config.logging, config.name, fluentd_address)
    return docker.ServiceTaskSpecArgs(
        container_spec=_container_spec(config, config_ids, secret_ids, secret_names),
        resources=_resources(config.resources),
        restart_policy=docker.ServiceTaskSpecRestartPolicyArgs(**house_restart_policy()),
        log_driver=docker.ServiceTaskSpecLogDriverArgs(**log),
        networks_advanceds=[
            docker.ServiceTaskSpecNetworksAdvancedArgs(id=network_ids.get(n, n))
            for n in config.networks
        ]
        or None,
        # Always sent, even empty: the provider's `placement` is Optional+Computed, so leaving
        # it out keeps the constraints Swarm has (a constraint dropped from config never left
        # the live service); an empty list removes them, and is `same` for a service without.
        placement=docker.ServiceTaskSpecPlacementArgs(constraints=list(config.placement)),
    )


def _container_spec(
    config: ServiceConfig,
    config_ids: Mapping[str, pulumi.Input[str]],
    secret_ids: Mapping[str, pulumi.Input[str]],
    secret_names: Mapping[str, pulumi.Input[str]],
) -> docker.ServiceTaskSpecContainerSpecArgs:
    import pulumi_docker as docker

    configs = [
        docker.ServiceTaskSpecContainerSpecConfigArgs(
            config_id=config_ids[f.name],
            config_name=config_object_name(config.name, f),
            file_name=f.target,
            file_mode=f.file_mode,
        )
        for f in config.files
    ]
    secrets = [
        docker.ServiceTaskSpecContainerSpecSecretArgs(
            secret_id=secret_ids[s.name],
            secret_name=secret_names.get(s.name),
            file_name=f"{SECRETS_DIR}/{s.target}",
            file_mode=s.file_mode,
        )
        for s in config.secret_mounts
    ]
    return docker.ServiceTaskSpecContainerSpecArgs(
        image=config.image,
        commands=config.command,
        args=config.args,
        env=dict(config.env) or None,
        hostname=config.hostname,
        user=config.user,
        groups=list(config.groups) or None,
        healthcheck=_healthcheck(config.healthcheck),
        configs=configs or None,
        secrets=secrets or None,
        mounts=[_mount(v) for v in config.volumes] or None,
    )


def _healthcheck(
    hc: Healthcheck | None,
) -> docker.ServiceTaskSpecContainerSpecHealthcheckArgs | None:
    import pulumi_docker as docker

    if hc is None:
        return None
    return docker.ServiceTaskSpecContainerSpecHealthcheckArgs(
        tests=list(hc.test),
        interval=swarm_duration(hc.interval_s),
        timeout=swarm_duration(hc.timeout_s),
        start_period=swarm_duration(hc.start_period_s),
        retries=hc.retries,
    )


def _mode(config: ServiceConfig) -> docker.ServiceModeArgs:
    import pulumi_docker as docker

    if config.mode == "global":
        return docker.ServiceModeArgs(global_=True)
    return docker.ServiceModeArgs(
        replicated=docker.ServiceModeReplicatedArgs(replicas=config.replicas)
    )


def _resources(resources: Resources) -> docker.ServiceTaskSpecResourcesArgs:
    """Limits as configured; a reservation only where one is declared (see Resources)."""
    import pulumi_docker as docker

    reserved = resources.reserved_cpu or resources.reserved_memory_mb
    return docker.ServiceTaskSpecResourcesArgs(
        limits=docker.ServiceTaskSpecResourcesLimitsArgs(
            nano_cpus=int(resources.cpu * 1e9), memory_bytes=resources.memory_mb << 20
        ),
        reservation=docker.ServiceTaskSpecResourcesReservationArgs(
            nano_cpus=int(resources.reserved_cpu * 1e9),
            memory_bytes=resources.reserved_memory_mb << 20,
        )
        if reserved
        else None,
    )


def _endpoint_spec(config: ServiceConfig) -> docker.ServiceEndpointSpecArgs | None:
    """Host-mode ports and the endpoint mode; None for the default (VIP, no ports)."""
    import pulumi_docker as docker

    ports = [
        docker.ServiceEndpointSpecPortArgs(
            target_port=port, published_port=port, publish_mode="host", protocol="tcp"
        )
        for port in config.publish_host_ports
    ]
    if not ports and config.endpoint_mode == "vip":
        return None
    return docker.ServiceEndpointSpecArgs(
        mode="dnsrr" if config.endpoint_mode == "dnsrr" else None, ports=ports or None
    )


def _auth(auth: RegistryAuth | None) -> docker.ServiceAuthArgs | None:
    import pulumi_docker as docker

    if auth is None:
        return None
    return docker.ServiceAuthArgs(
        server_address=auth.server, username=auth.username, password=auth.password
    )


def _mount(volume: VolumeMount) -> docker.ServiceTaskSpecContainerSpecMountArgs:
    import pulumi_docker as docker

    if volume.is_bind:
        return docker.ServiceTaskSpecContainerSpecMountArgs(
            type="bind", source=volume.volume, target=volume.target, read_only=volume.read_only
        )
    labels = (
        [
            docker.ServiceTaskSpecContainerSpecMountVolumeOptionsLabelArgs(
                label="sprocket.size-limit-mb", value=str(volume.size_limit_mb)
            )
        ]
        if volume.size_limit_mb
        else None
    )
    return docker.ServiceTaskSpecContainerSpecMountArgs(
        type="volume",
        source=volume.volume,
        target=volume.target,
        read_only=volume.read_only or None,
        volume_options=docker.ServiceTaskSpecContainerSpecMountVolumeOptionsArgs(labels=labels)
        if labels
        else None,
    )


# --- the component (pulumi is imported only when it is used) --------------------------------


def __getattr__(name: str) -> Any:
    if name == "SwarmService":
        from sprocket_common.swarm_service import SwarmService

        return SwarmService
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
