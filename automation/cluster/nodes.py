"""Reading the Swarm's nodes and finding the one an operator names."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from automation.errors import BadInput, DriverError


@dataclass(frozen=True)
class NodeView:
    """One node as `docker node ls` shows it; `state` is ready/down/unknown/disconnected,
    `availability` active/pause/drain."""

    id: str
    hostname: str
    role: str
    availability: str
    state: str
    labels: Mapping[str, str]

    @classmethod
    def of(cls, node: Mapping[str, Any]) -> NodeView:
        spec, status = node.get("Spec", {}), node.get("Status", {})
        return cls(
            id=node["ID"],
            hostname=node.get("Description", {}).get("Hostname", ""),
            role=spec.get("Role", ""),
            availability=spec.get("Availability", "active"),
            state=status.get("State", "unknown"),
            labels=spec.get("Labels") or {},
        )


def swarm_nodes(api: Any, host: str | None) -> list[Mapping[str, Any]]:
    """`docker node ls` through the low-level client; DriverError naming the engine when it is
    not a Swarm manager (a worker or a plain engine answers 503)."""
    import docker

    try:
        nodes: list[Mapping[str, Any]] = api.nodes()
    except docker.errors.APIError as exc:
        raise DriverError(
            f"the Docker engine at {host or 'the default socket'} cannot list Swarm nodes: "
            f"{exc.explanation or exc}",
            "point DOCKER_HOST at a Swarm manager (where `docker node ls` works)",
        ) from None
    return nodes


def find_node(nodes: Sequence[Mapping[str, Any]], name: str) -> Mapping[str, Any]:
    """The node whose hostname is `name`, or whose ID is or starts with it (as the docker CLI
    accepts). BadInput naming the nodes when none or several match."""
    views = [(NodeView.of(node), node) for node in nodes]
    exact = [node for view, node in views if name in (view.hostname, view.id)]
    # Every ID starts with "": an empty name (an unset shell variable) would match them all.
    matches = exact or [node for view, node in views if name and view.id.startswith(name)]
    known = ", ".join(sorted(view.hostname or view.id for view, _ in views))
    if not matches:
        raise BadInput(f"no Swarm node {name!r}", f"the nodes: {known}")
    if len(matches) > 1:
        raise BadInput(f"{name!r} names {len(matches)} nodes", f"give a node ID; nodes: {known}")
    return matches[0]
