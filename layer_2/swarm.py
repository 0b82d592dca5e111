"""How layer_2 creates its Swarm services: the house `SwarmService`, plus a few spec fields
the shared `ServiceConfig` has no field for yet.

Those are applied by a Pulumi transformation on the component's `docker.Service` child:
global mode (FluentD, Telegraf: one task per node), DNS round-robin endpoints and a stable
container hostname (RabbitMQ: long-lived AMQP connections die on Swarm's VIP idle timeout,
and the node name `rabbit@<hostname>` must not change), the container user and extra groups,
read-only bind mounts, executable init scripts, and explicit dependencies on the networks,
volumes and node label the service needs (its spec names them by string).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi

from sprocket_common.service import ServiceConfig, SwarmService

SERVICE_TYPE = "docker:index/service:Service"


@dataclass(frozen=True)
class SpecExtras:
    global_mode: bool = False
    dnsrr: bool = False
    hostname: str | None = None
    user: str | None = None
    groups: tuple[str, ...] = ()
    read_only_binds: bool = False
    executable_suffixes: tuple[str, ...] = (".sh",)
    # The shared toolkit mounts secrets 0400 root-owned; images that drop to their own user
    # (redis, grafana, postgres, influxdb, telegraf) could not read them. 0444 is Docker's own
    # default and only visible inside this one container.
    secret_file_mode: int = 0o444
    # Images without any shell or HTTP client (Gatus is FROM scratch) cannot run a probe;
    # the reason is required so the exception is deliberate and visible.
    no_healthcheck_because: str = ""
    depends_on: Sequence[pulumi.Resource] = field(default_factory=tuple)


def _fields(obj: Any) -> dict[str, Any]:
    """The input values of a generated Args object (or a plain dict of them)."""
    return obj if isinstance(obj, dict) else obj.__dict__


def _patch_container(container: dict[str, Any], extras: SpecExtras) -> None:
    if extras.hostname:
        container["hostname"] = extras.hostname
    if extras.user:
        container["user"] = extras.user
    if extras.groups:
        container["groups"] = list(extras.groups)
    if extras.read_only_binds:
        for mount in container.get("mounts") or []:
            fields = _fields(mount)
            if fields.get("type") == "bind":
                fields["read_only"] = True
    for secret in container.get("secrets") or []:
        _fields(secret)["file_mode"] = extras.secret_file_mode
    if extras.no_healthcheck_because:
        container["healthcheck"] = None
    for config in container.get("configs") or []:
        fields = _fields(config)
        if str(fields.get("file_name", "")).endswith(extras.executable_suffixes):
            fields["file_mode"] = 0o555


def patch_service(extras: SpecExtras) -> Any:
    """A transformation that applies `extras` to the `docker.Service` of a SwarmService."""
    import pulumi_docker as docker

    def transform(args: pulumi.ResourceTransformationArgs) -> Any:
        if args.type_ != SERVICE_TYPE:
            return None
        props = _fields(args.props)
        if extras.global_mode:
            props["mode"] = docker.ServiceModeArgs(global_=True)
        if extras.dnsrr:
            props["endpoint_spec"] = docker.ServiceEndpointSpecArgs(mode="dnsrr")
        _patch_container(_fields(_fields(props["task_spec"])["container_spec"]), extras)
        opts = pulumi.ResourceOptions.merge(
            args.opts, pulumi.ResourceOptions(depends_on=list(extras.depends_on))
        )
        return pulumi.ResourceTransformationResult(args.props, opts)

    return transform


def service(
    config: ServiceConfig,
    secrets: Mapping[str, pulumi.Input[str]] | None = None,
    *,
    extras: SpecExtras | None = None,
    labels: Mapping[str, pulumi.Input[str]] | None = None,
    parent: pulumi.Resource | None = None,
) -> SwarmService:
    """Declare one house Swarm service, named like its Swarm service."""
    extras = extras or SpecExtras()
    # depends_on on the component too: it finds the ids of this layer's networks there.
    opts = pulumi.ResourceOptions(
        parent=parent,
        transformations=[patch_service(extras)],
        depends_on=list(extras.depends_on),
    )
    # Label values may be Outputs (the layer_1 network and middleware names); the spec builder
    # passes them through to docker.ServiceLabelArgs unchanged.
    return SwarmService(config.name, config, secrets or {}, opts, extra_labels=labels)
