"""`SwarmService`: the Pulumi component for a house Swarm service (see sprocket_common.service).

Imported lazily through `sprocket_common.service.SwarmService`, so the config models stay usable
without loading pulumi.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

import pulumi
import pulumi_docker as docker

from sprocket_common.env_defaults import env_defaults
from sprocket_common.ownership import labels_only_on_create, ownership_labels
from sprocket_common.service import (
    DEFAULT_FLUENTD_ADDRESS,
    RegistryAuth,
    ServiceConfig,
    config_object_name,
    service_args,
    with_health_timings,
)
from sprocket_common.stack_info import StackInfo, UnknownNameError


def _env_adapted(config: ServiceConfig) -> ServiceConfig:
    """What the stack's environment changes of a service (env_defaults): the healthcheck
    timings capped (local short, prod as declared), and in an environment without service VIPs
    (local) a service with no published port resolved by name to its tasks (dnsrr). A stack
    outside the `<env>-<layer>` naming keeps what the service declares."""
    try:
        env = StackInfo.parse(pulumi.get_stack()).env
    except UnknownNameError:
        return config
    defaults = env_defaults(env)
    config = with_health_timings(config, defaults.health)
    if not defaults.service_vips and not config.publish_host_ports:
        config = config.model_copy(update={"endpoint_mode": "dnsrr"})
    return config


def _label_args(cls: Any, extra: Mapping[str, pulumi.Input[str]] | None = None) -> list[Any]:
    """The ownership labels (sprocket_common/ownership.py) and `extra` as `cls` label args."""
    labels = {**(extra or {}), **ownership_labels()}
    return [cls(label=key, value=value) for key, value in sorted(labels.items())]


def overlay_network(
    resource_name: str, name: str, opts: pulumi.ResourceOptions | None = None, **kwargs: Any
) -> docker.Network:
    """A Swarm overlay network whose services (that depend on it) refer to it by id, labelled
    with its owner when it is created (a label change would replace it: labels_only_on_create)."""
    network = docker.Network(
        resource_name,
        name=name,
        driver="overlay",
        labels=_label_args(docker.NetworkLabelArgs),
        opts=labels_only_on_create(opts),
        **kwargs,
    )
    network.swarm_name = name  # type: ignore[attr-defined]  # read by _network_ids
    return network


def house_volume(
    resource_name: str,
    name: str,
    opts: pulumi.ResourceOptions | None = None,
    *,
    labels: Mapping[str, str] | None = None,
    **kwargs: Any,
) -> docker.Volume:
    """A named Docker volume labelled with its owner (and `labels`) when it is created: a
    label change would replace the volume, its data with it (labels_only_on_create), so a
    change of `labels` reaches only a volume created after it."""
    return docker.Volume(
        resource_name,
        name=name,
        labels=_label_args(docker.VolumeLabelArgs, labels),
        opts=labels_only_on_create(opts),
        **kwargs,
    )


def _network_ids(
    names: list[str], depends_on: Any, parent: pulumi.Resource
) -> dict[str, pulumi.Input[str]]:
    """Each network's id: Swarm keeps a service's networks by id and `refresh` reads ids back,
    so a spec naming them differed from the live service after every refresh (every `drift`
    run reported every service). A network of this program (`overlay_network`, in the
    service's depends_on) gives its id; an upstream layer's is looked up by name, which exists
    because the upstream stack is deployed."""
    own = {
        getattr(d, "swarm_name", None): d.id
        for d in (depends_on if isinstance(depends_on, list) else [])
        if isinstance(d, docker.Network)
    }
    lookup = pulumi.InvokeOutputOptions(parent=parent)
    return {
        name: own[name] if name in own else docker.get_network_output(name=name, opts=lookup).id
        for name in names
    }


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


class SwarmService(pulumi.ComponentResource):
    """A Swarm service with the house defaults, its configs and its secrets.

    `secrets` maps each SecretMount name to its value (a Pulumi secret Output, e.g. from
    `config.require_secret` or `RandomPassword.result`); values are kept secret in state.
    """

    def __init__(
        self,
        name: str,
        config: ServiceConfig,
        secrets: Mapping[str, pulumi.Input[str]] | None = None,
        opts: pulumi.ResourceOptions | None = None,
        *,
        extra_labels: Mapping[str, pulumi.Input[str]] | None = None,
        registry_auth: RegistryAuth | None = None,
    ) -> None:
        _check_secret_values(config, secrets or {})
        super().__init__("sprocket:swarm:Service", name, None, opts)
        config = _env_adapted(config)
        config_ids = self._configs(name, config)
        swarm_secrets = self._secrets(name, config, secrets or {})
        fluentd_address = (
            pulumi.Config("sprocket").get("fluentd_address") or DEFAULT_FLUENTD_ADDRESS
        )
        depends_on = opts.depends_on if opts and opts.depends_on else None
        args = service_args(
            config,
            network_ids=_network_ids(config.networks, depends_on, self),
            config_ids=config_ids,
            secret_ids={k: v.id for k, v in swarm_secrets.items()},
            secret_names={k: v.name for k, v in swarm_secrets.items()},
            # Service labels are updated in place (same service). The deploy that first stamps
            # them on a running stack rolls its tasks once, as any service update does: the
            # provider sends env from a Go map, in a new order each time.
            extra_labels={**(extra_labels or {}), **ownership_labels()},
            fluentd_address=fluentd_address,
            registry_auth=_secret_password(registry_auth),
        )
        # The Swarm service name is explicit (other services address it by DNS), so a replace
        # must delete first; most changes are in-place updates that Swarm rolls per task.
        # The spec names networks and volumes by string, so the component's depends_on (the
        # networks, volumes it needs) is passed on to make the service wait for them.
        self.service = docker.Service(
            name,
            args,
            opts=pulumi.ResourceOptions(
                parent=self, delete_before_replace=True, depends_on=depends_on
            ),
        )
        self.service_name: pulumi.Output[str] = self.service.name
        self.register_outputs({"service_name": self.service_name})

    def _configs(self, name: str, config: ServiceConfig) -> dict[str, pulumi.Output[str]]:
        ids: dict[str, pulumi.Output[str]] = {}
        for file in config.files:
            obj = docker.ServiceConfig(
                f"{name}-{file.name}",
                name=config_object_name(config.name, file),
                data=_b64(file.content),
                labels=_label_args(docker.ServiceConfigLabelArgs),
                # Create the new config, move the service onto it, then delete the old one. The
                # bridge asks for delete-before-replace because `name` is given (a content hash,
                # so it changes too), and Swarm refuses to delete a config a service uses: a
                # changed file failed every deploy of a running stack. Defined False overrides it.
                opts=labels_only_on_create(
                    pulumi.ResourceOptions(parent=self, delete_before_replace=False)
                ),
            )
            ids[file.name] = obj.id
        return ids

    def _secrets(
        self, name: str, config: ServiceConfig, values: Mapping[str, pulumi.Input[str]]
    ) -> dict[str, docker.Secret]:
        made: dict[str, docker.Secret] = {}
        for mount in config.secret_mounts:
            data = pulumi.Output.secret(values[mount.name]).apply(_b64)
            # No `name`: Pulumi auto-names it with a random suffix (see sprocket_common.service).
            made[mount.name] = docker.Secret(
                f"{name}-{mount.name}",
                data=data,
                labels=_label_args(docker.SecretLabelArgs),
                opts=labels_only_on_create(pulumi.ResourceOptions(parent=self)),
            )
        return made


def _secret_password(auth: RegistryAuth | None) -> RegistryAuth | None:
    if auth is None:
        return None
    return RegistryAuth(auth.server, auth.username, pulumi.Output.secret(auth.password))


def _check_secret_values(config: ServiceConfig, secrets: Mapping[str, Any]) -> None:
    wanted = {s.name for s in config.secret_mounts}
    missing, unused = sorted(wanted - set(secrets)), sorted(set(secrets) - wanted)
    if missing:
        raise ValueError(f"service {config.name}: no value given for secret mounts {missing}")
    if unused:
        raise ValueError(f"service {config.name}: values given for unknown secrets {unused}")
