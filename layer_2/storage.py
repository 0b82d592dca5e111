"""The storage node label and the data volumes of the stateful services.

The original assumed a node labelled `role=storage` existed (made by hand, spec §12); a
missing label left Influx and Loki pending forever. Here the label is a resource: a dynamic
provider sets it through the Docker API on the configured node (or the only node), and the
stateful services depend on it (sprocket_common.swarm_node_label).
"""

from __future__ import annotations

import pulumi
import pulumi_docker as docker

from sprocket_common.env_defaults import EnvDefaults
from sprocket_common.swarm_node_label import NodeLabel
from sprocket_common.swarm_service import house_volume

from . import names


def storage_label(node: str) -> NodeLabel:
    return NodeLabel(
        "storage-node-label",
        node=node,
        key=names.STORAGE_LABEL_KEY,
        value=names.STORAGE_LABEL_VALUE,
        config_key="layer_2:storage_node",
    )


# Directories of layer_1's data volume (prod/staging: the block volume mounted under /mnt, whose
# subdirectories layer_1's cloud-init creates) for the services with the most data. Keeping
# Influx, Loki and RabbitMQ there keeps the droplet's root disk free (spec §9), each in its
# own directory (the original nested them inside Influx's).
BIND_DIRS = {"influx-data": "influx", "loki-data": "loki", "rabbitmq-data": "rabbitmq"}


def bind_path(data_mount: str, role: str) -> str:
    """`<data_mount>/<dir>` for a role kept on the data volume, else "" (a named volume)."""
    if not data_mount or role not in BIND_DIRS:
        return ""
    return f"{data_mount.rstrip('/')}/{BIND_DIRS[role]}"


def volume_name(role: str) -> str:
    return f"layer2-{role}"


def data_volume(role: str, *, quota: bool, defaults: EnvDefaults) -> docker.Volume:
    """A named local volume for one stateful service, kept if the resource is deleted and
    protected as the env's defaults say (`defaults`: sprocket_common.env_defaults).

    The size limit is passed to the driver only where it is enforceable (`layer_2:volume_quota`
    on an XFS/pquota data root); it is always recorded as a label for the health check.
    """
    limit_mb = names.VOLUME_LIMITS_MB[role]
    return house_volume(
        role,
        volume_name(role),
        driver="local",
        driver_opts={"size": f"{limit_mb}M"} if quota else None,
        labels={"sprocket.size-limit-mb": str(limit_mb)},
        opts=pulumi.ResourceOptions(
            retain_on_delete=defaults.keep_volumes, protect=defaults.protect_stateful
        ),
    )
