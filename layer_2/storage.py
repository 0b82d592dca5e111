"""The storage node label and the data volumes of the stateful services.

The original assumed a node labelled `role=storage` existed (made by hand, spec §12); a
missing label left Influx and Loki pending forever. Here the label is a resource: a dynamic
provider sets it through the Docker API on the configured node (or the only node), and the
stateful services depend on it.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_docker as docker
from pulumi.dynamic import CreateResult, DiffResult, Resource, ResourceProvider

from . import names


def _client() -> Any:
    import docker as docker_sdk

    return docker_sdk.from_env()


def pick_node(nodes: list[dict[str, Any]], wanted: str) -> dict[str, Any]:
    """The node to label: by hostname, or the only one; otherwise a clear error."""
    hostnames = [n["Description"]["Hostname"] for n in nodes]
    if wanted:
        for node, hostname in zip(nodes, hostnames, strict=True):
            if hostname == wanted:
                return node
        raise ValueError(
            f"layer_2:storage_node: no Swarm node named {wanted!r}; nodes are {sorted(hostnames)}"
        )
    if len(nodes) != 1:
        raise ValueError(
            "layer_2:storage_node: required when the swarm has more than one node; "
            f"nodes are {sorted(hostnames)}"
        )
    return nodes[0]


class NodeLabelProvider(ResourceProvider):
    """Sets one label on one Swarm node; removes it again on delete."""

    def create(self, props: dict[str, Any]) -> CreateResult:
        client = _client()
        node = pick_node([n.attrs for n in client.nodes.list()], props["node"])
        _set_label(client, node["ID"], props["key"], props["value"])
        hostname = node["Description"]["Hostname"]
        return CreateResult(id_=node["ID"], outs={**props, "hostname": hostname})

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        changed = [k for k in ("node", "key", "value") if olds.get(k) != news.get(k)]
        return DiffResult(changes=bool(changed), replaces=changed, delete_before_replace=True)

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        import docker.errors

        try:
            _set_label(_client(), id_, props["key"], None)
        except docker.errors.NotFound:  # the node left the swarm: nothing to undo
            return


def _set_label(client: Any, node_id: str, key: str, value: str | None) -> None:
    node = client.nodes.get(node_id)
    spec = dict(node.attrs["Spec"])
    labels = dict(spec.get("Labels") or {})
    if value is None:
        labels.pop(key, None)
    else:
        labels[key] = value
    spec["Labels"] = labels
    node.update(spec)


class NodeLabel(Resource):
    hostname: pulumi.Output[str]

    def __init__(self, name: str, node: str, key: str, value: str) -> None:
        props = {"node": node, "key": key, "value": value, "hostname": None}
        super().__init__(NodeLabelProvider(), name, props)


def storage_label(node: str) -> NodeLabel:
    return NodeLabel("storage-node-label", node, names.STORAGE_LABEL_KEY, names.STORAGE_LABEL_VALUE)


def volume_name(role: str) -> str:
    return f"layer2-{role}"


def data_volume(role: str, *, quota: bool) -> docker.Volume:
    """A named local volume for one stateful service, kept if the resource is deleted.

    The size limit is passed to the driver only where it is enforceable (`layer_2:volume_quota`
    on an XFS/pquota data root); it is always recorded as a label for the health check.
    """
    limit_mb = names.VOLUME_LIMITS_MB[role]
    return docker.Volume(
        role,
        name=volume_name(role),
        driver="local",
        driver_opts={"size": f"{limit_mb}M"} if quota else None,
        labels=[docker.VolumeLabelArgs(label="sprocket.size-limit-mb", value=str(limit_mb))],
        opts=pulumi.ResourceOptions(retain_on_delete=True),
    )
