"""A Pulumi dynamic provider that sets one label on one Swarm node through the Docker SDK.

Placement constraints such as `node.labels.role==storage` need the label to exist; the
original made it by hand (spec §12) and a missing label left services pending forever.
Declaring it makes it part of the deploy. It lives in this installed package (not a layer
directory) because the engine runs dynamic providers in a separate process that must be able
to import it; that process reaches the Swarm manager through DOCKER_HOST like the driver.
"""

from __future__ import annotations

from typing import Any

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, Resource, ResourceProvider


def _client() -> Any:
    import docker

    return docker.from_env()


def pick_node(nodes: list[dict[str, Any]], wanted: str, config_key: str) -> dict[str, Any]:
    """The node to label: by hostname, or the only one; otherwise an error naming the key."""
    hostnames = [n["Description"]["Hostname"] for n in nodes]
    if wanted:
        for node, hostname in zip(nodes, hostnames, strict=True):
            if hostname == wanted:
                return node
        raise ValueError(
            f"{config_key}: no Swarm node named {wanted!r}; nodes are {sorted(hostnames)}"
        )
    if len(nodes) != 1:
        raise ValueError(
            f"{config_key}: required when the swarm has more than one node; "
            f"nodes are {sorted(hostnames)}"
        )
    return nodes[0]


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


class NodeLabelProvider(ResourceProvider):
    """Sets `key=value` on the chosen node; removes the key again on delete."""

    def create(self, props: dict[str, Any]) -> CreateResult:
        client = _client()
        nodes = [n.attrs for n in client.nodes.list()]
        node = pick_node(nodes, props["node"], props["config_key"])
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


class NodeLabel(Resource):
    """`node` is a hostname, or "" for the only node; `config_key` names where it is set."""

    hostname: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        *,
        node: str,
        key: str,
        value: str,
        config_key: str,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props = {
            "node": node,
            "key": key,
            "value": value,
            "config_key": config_key,
            "hostname": None,
        }
        super().__init__(NodeLabelProvider(), name, props, opts)
