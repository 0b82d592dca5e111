"""Draining a node: what it would cost first, then the drain and the wait for every moved task.

``plan()`` is pure: from the nodes, the services and the tasks running on the node it lists each
service that would lose something, with why (``Risk``). ``Drain.run()`` sets the node's
availability to drain and waits until each displaced service runs its tasks elsewhere, healthy
(a task with a healthcheck reports running only once healthy: swarm_watch.py), reporting each
move with the time from the drain to the new task running, on the daemon's clock.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from automation.cluster.nodes import NodeView
from automation.swarm import (
    TERMINAL_DESIRED,
    active_nodes,
    daemon_now,
    eligible_nodes,
    parse_docker_time,
)
from automation.swarm_watch import Phase, assess
from automation.waiting import Clock, WaitTimeout, wait_until


class Risk(StrEnum):
    """Why draining a node costs a service something; `--allow` takes these names."""

    LAST_TASK = "last-task"  # its only running task is there: down until the new one is healthy
    PLACEMENT = "placement"  # no other node meets its constraints: it stops running at all
    VOLUME = "volume"  # a local volume there: the new task starts on an empty one elsewhere
    GLOBAL = "global"  # one task per node: that node's task stops and is not replaced


@dataclass(frozen=True)
class Displaced:
    """A service with running tasks on the node to drain, and what draining costs it."""

    service: str
    tasks: int
    risks: Mapping[Risk, str] = field(default_factory=dict)

    @property
    def moves(self) -> bool:
        """Whether Swarm will start its tasks elsewhere (a wait is worth it)."""
        return Risk.PLACEMENT not in self.risks and Risk.GLOBAL not in self.risks

    def as_dict(self) -> dict[str, Any]:
        return {
            "service": self.service,
            "tasks": self.tasks,
            "risks": {str(k): v for k, v in self.risks.items()},
        }


def plan(
    node_id: str,
    nodes: Mapping[str, Mapping[str, Any]],
    services: Sequence[Mapping[str, Any]],
    tasks: Sequence[Mapping[str, Any]],
) -> list[Displaced]:
    """What draining `node_id` does to each service with a task meant to run there.

    `nodes`: ID -> `docker node inspect` of the nodes not Down; `services`: inspected services;
    `tasks`: the cluster's tasks whose desired state is running.
    """
    others = {
        node_id_: node
        for node_id_, node in nodes.items()
        if node_id_ != node_id and node.get("Status", {}).get("State") == "ready"
    }
    host = NodeView.of(nodes[node_id]).hostname if node_id in nodes else node_id
    displaced = []
    for service in sorted(services, key=lambda s: s["Spec"]["Name"]):
        own = [t for t in tasks if t.get("ServiceID") == service["ID"] and _live(t)]
        here = [t for t in own if t.get("NodeID") == node_id]
        if here:
            risks = _risks(service["Spec"], host, others, len(own) - len(here))
            displaced.append(Displaced(service["Spec"]["Name"], len(here), risks))
    return displaced


def _live(task: Mapping[str, Any]) -> bool:
    return task.get("DesiredState") not in TERMINAL_DESIRED


def _risks(
    spec: Mapping[str, Any], host: str, others: Mapping[str, Any], elsewhere: int
) -> dict[Risk, str]:
    risks: dict[Risk, str] = {}
    if "Global" in spec.get("Mode", {}):
        risks[Risk.GLOBAL] = f"a global service: its task on {host} stops, none replaces it"
        return risks
    if not eligible_nodes(spec, others):
        constraints = spec.get("TaskTemplate", {}).get("Placement", {}).get("Constraints") or []
        why = f"placement constraints {', '.join(constraints)}" if constraints else "no node"
        risks[Risk.PLACEMENT] = f"no other active node can run it ({why}): it stops"
    volumes = [
        m.get("Source", "")
        for m in spec.get("TaskTemplate", {}).get("ContainerSpec", {}).get("Mounts") or []
        if m.get("Type") == "volume" and _local_driver(m)
    ]
    if volumes:
        risks[Risk.VOLUME] = (
            f"local volume {', '.join(volumes)} stays on {host}: elsewhere it starts empty"
        )
    if elsewhere == 0:
        risks[Risk.LAST_TASK] = f"its only running task is on {host}: down until it moves"
    return risks


def _local_driver(mount: Mapping[str, Any]) -> bool:
    driver = (mount.get("VolumeOptions") or {}).get("DriverConfig") or {}
    return driver.get("Name", "local") in ("", "local")


def blocking(displaced: Sequence[Displaced], allowed: set[Risk]) -> list[Displaced]:
    """The services with a risk not in `allowed`."""
    return [d for d in displaced if set(d.risks) - allowed]


@dataclass(frozen=True)
class Move:
    """One task that left the drained node and runs elsewhere: `seconds` from the drain to the
    new task running (and healthy, when it has a healthcheck), on the daemon's clock."""

    service: str
    to_node: str
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        return {"service": self.service, "to": self.to_node, "seconds": round(self.seconds, 1)}


@dataclass
class Drain:
    """Drain one node and wait for its displaced services. `on_move` hears each move once."""

    api: Any
    node_id: str
    displaced: Sequence[Displaced]
    timeout_s: float = 300.0
    on_move: Callable[[Move], None] = lambda _move: None
    clock: Clock = field(default_factory=Clock)

    def run(self) -> list[Move]:
        """Set availability to drain, then wait. Raises WaitTimeout naming the services still
        short of running tasks elsewhere."""
        since = daemon_now(self.api)
        set_availability(self.api, self.node_id, "drain")
        waiting = [d.service for d in self.displaced if d.moves]
        seen: dict[str, Move] = {}
        why: dict[str, str] = {}  # Swarm's own reason a service is short, e.g. "no suitable node"

        def probe() -> tuple[bool | None, object]:
            pending = [name for name in waiting if not self._settled(name, since, seen, why)]
            return (True if not pending else None), waiting_for(pending, why)

        wait_until(probe, what="the drained tasks to run elsewhere", timeout_s=self.timeout_s,
                   interval_s=0.5, clock=self.clock)  # fmt: skip
        return sorted(seen.values(), key=lambda m: (m.seconds, m.service))

    def _settled(
        self, name: str, since: datetime, seen: dict[str, Move], why: dict[str, str]
    ) -> bool:
        service = self.api.inspect_service(name)
        tasks = self.api.tasks(filters={"service": service["ID"]})
        nodes = active_nodes(self.api)
        for task in tasks:
            self._note_move(name, task, since, nodes, seen)
        # The drain changes no spec: judge by the tasks alone, not an earlier update's status.
        verdict = assess({**service, "UpdateStatus": None}, tasks, nodes)
        why[name] = verdict.message or "; ".join(verdict.task_errors)
        on_node = [t for t in tasks if t.get("NodeID") == self.node_id and _live(t)]
        return verdict.phase in (Phase.CONVERGED, Phase.COMPLETED) and not on_node

    def _note_move(
        self,
        name: str,
        task: Mapping[str, Any],
        since: datetime,
        nodes: Mapping[str, Mapping[str, Any]],
        seen: dict[str, Move],
    ) -> None:
        status = task.get("Status", {})
        created = task.get("CreatedAt")
        if task["ID"] in seen or status.get("State") != "running" or not created:
            return
        if task.get("NodeID") == self.node_id or parse_docker_time(created) < since:
            return
        at = parse_docker_time(status.get("Timestamp", created))
        host = NodeView.of(nodes[task["NodeID"]]).hostname if task["NodeID"] in nodes else "?"
        seen[task["ID"]] = move = Move(name, host, (at - since).total_seconds())
        self.on_move(move)


def waiting_for(pending: Sequence[str], why: Mapping[str, str]) -> str:
    """What the wait last saw: each service still short, with Swarm's reason when it gave one
    (a pending task's Status.Err, e.g. "no suitable node (max replicas per node limit exceed)")."""
    named = [f"{name} ({why[name]})" if why.get(name) else name for name in pending]
    return f"waiting for {', '.join(named)}"


def set_availability(api: Any, node_id: str, availability: str) -> None:
    """`docker node update --availability`: the node's spec at its current version."""
    node = api.inspect_node(node_id)
    spec = {**node["Spec"], "Availability": availability}
    api.update_node(node_id, node["Version"]["Index"], spec)


__all__ = ["Displaced", "Drain", "Move", "Risk", "WaitTimeout", "blocking", "plan"]
