"""The driver's model of Swarm: tasks, nodes, placement and the N/N rule, read from the Docker API's
own data (`docker service inspect`, `docker service ps`, `docker node inspect`).

One home for what `deploy`'s convergence watch (swarm_watch.py), `health`'s replica check
(health/checks.py), node drains and migrations each need to know about Swarm:

- ``replica_counts(spec, tasks, nodes)``: (running, desired), the N/N rule: a global service
  counts only the available nodes that meet its placement constraints; a Down node's tasks are
  not coming back; one task per slot (or node), so an old task beside its replacement is not
  counted twice; a scale-down's leftover higher slots are not counted.
- ``eligible_nodes``/``constraint_holds``: placement; ``active_nodes``: the nodes not Down.
- task errors and times (``task_errors``, ``first_failure_time``, ``parse_docker_time``,
  ``daemon_now``), the service's image (``spec_image``, ``strip_digest``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import datetime
from typing import Any

from automation.times import parse_time

# docker/cli's numberedStates: the order a task moves through.
TASK_STATE_ORDER = {
    state: rank
    for rank, state in enumerate(
        (
            "new",
            "allocated",
            "pending",
            "assigned",
            "accepted",
            "preparing",
            "ready",
            "starting",
            "running",
            "complete",
            "shutdown",
            "failed",
            "rejected",
            "remove",
            "orphaned",
        ),
        start=1,
    )
}
TERMINAL_DESIRED = {"complete", "shutdown", "failed", "rejected", "remove", "orphaned"}
Nodes = Collection[str] | Mapping[str, Mapping[str, Any]]  # IDs, or ID -> `docker node inspect`


def is_service(spec: Mapping[str, Any]) -> bool:
    """A long-running service (replicated or global), not a job that is meant to complete."""
    mode = spec.get("Mode", {})
    return "Replicated" in mode or "Global" in mode or not mode


def created_since(
    tasks: Sequence[Mapping[str, Any]], since: datetime | None
) -> list[Mapping[str, Any]]:
    """The tasks Swarm created at or after ``since`` (all of them without it)."""
    if since is None:
        return list(tasks)
    return [t for t in tasks if t.get("CreatedAt") and parse_docker_time(t["CreatedAt"]) >= since]


def desired_tasks(spec: Mapping[str, Any], active_nodes: Nodes) -> int:
    mode = spec.get("Mode", {})
    if "Global" in mode:
        return len(eligible_nodes(spec, active_nodes))
    return int(mode.get("Replicated", {}).get("Replicas", 1))


def eligible_nodes(spec: Mapping[str, Any], nodes: Nodes) -> list[str]:
    """The nodes a global service runs a task on: available (not drained or paused) and meeting
    its placement constraints. Nodes given as bare IDs all count."""
    if not isinstance(nodes, Mapping):
        return list(nodes)
    constraints = spec.get("TaskTemplate", {}).get("Placement", {}).get("Constraints") or []
    return [
        node_id
        for node_id, node in nodes.items()
        if node.get("Spec", {}).get("Availability", "active") == "active"
        and all(constraint_holds(c, node) for c in constraints)
    ]


_CONSTRAINT = re.compile(r"^\s*([\w.\-]+)\s*(==|!=)\s*(.+?)\s*$")


def constraint_holds(constraint: str, node: Mapping[str, Any]) -> bool:
    """Whether ``node`` (``docker node inspect``) meets one placement constraint, for the
    attributes docker's documentation lists (docs.docker.com, `docker service create
    --constraint`); an attribute it does not know counts as met, so a count is never too low."""
    match = _CONSTRAINT.match(constraint)
    if not match:
        return True
    key, operator, wanted = match.groups()
    actual = _node_attribute(key, node)
    if actual is None and not key.startswith(("node.labels.", "engine.labels.")):
        return True
    equal = actual is not None and actual.lower() == wanted.lower()
    return equal if operator == "==" else not equal


def _node_attribute(key: str, node: Mapping[str, Any]) -> str | None:
    description, spec = node.get("Description", {}), node.get("Spec", {})
    fixed: dict[str, str | None] = {
        "node.id": node.get("ID"),
        "node.hostname": description.get("Hostname"),
        "node.role": spec.get("Role"),
        "node.platform.os": description.get("Platform", {}).get("OS"),
        "node.platform.arch": description.get("Platform", {}).get("Architecture"),
    }
    if key in fixed:
        return fixed[key]
    for prefix, labels in (
        ("node.labels.", spec.get("Labels") or {}),
        ("engine.labels.", description.get("Engine", {}).get("Labels") or {}),
    ):
        if key.startswith(prefix):
            value = labels.get(key.removeprefix(prefix))
            return None if value is None else str(value)
    return None


def running_tasks(
    tasks: Sequence[Mapping[str, Any]], active_nodes: Nodes, spec: Mapping[str, Any]
) -> int:
    if "Global" in spec.get("Mode", {}):
        chosen = _pick_per_key(tasks, active_nodes, key=lambda task: task.get("NodeID", ""))
    else:
        replicas = desired_tasks(spec, active_nodes)
        chosen = {
            slot: task
            for slot, task in _pick_per_key(
                tasks, active_nodes, key=lambda task: int(task.get("Slot", 0))
            ).items()
            if int(slot) <= replicas  # a scale-down leaves higher slots behind
        }
    return sum(
        1
        for task in chosen.values()
        if task.get("DesiredState") not in TERMINAL_DESIRED
        and task.get("Status", {}).get("State") == "running"
    )


def _pick_per_key(
    tasks: Sequence[Mapping[str, Any]],
    active_nodes: Nodes,
    key: Callable[[Mapping[str, Any]], Any],
) -> dict[Any, Mapping[str, Any]]:
    """One task per slot (or node): the lowest desired state, then the lowest observed state."""
    chosen: dict[Any, Mapping[str, Any]] = {}
    for task in tasks:
        desired = TASK_STATE_ORDER.get(task.get("DesiredState", ""), 0)
        observed = TASK_STATE_ORDER.get(task.get("Status", {}).get("State", ""), 0)
        if not desired or not observed:
            continue
        node = task.get("NodeID", "")
        if node and node not in active_nodes:
            continue  # a Down node's tasks are not coming back
        existing = chosen.get(key(task))
        if existing is not None:
            old_desired = TASK_STATE_ORDER.get(existing.get("DesiredState", ""), 0)
            old_observed = TASK_STATE_ORDER.get(existing.get("Status", {}).get("State", ""), 0)
            if (old_desired, old_observed) <= (desired, observed):
                continue
        chosen[key(task)] = task
    return chosen


def task_errors(tasks: Sequence[Mapping[str, Any]], limit: int = 5) -> tuple[str, ...]:
    """Distinct task error messages, newest first, e.g. "task: non-zero exit (1)"."""
    failed = [
        task
        for task in tasks
        if task.get("Status", {}).get("Err") or task.get("Status", {}).get("State") == "failed"
    ]
    failed.sort(key=lambda task: task.get("Status", {}).get("Timestamp", ""), reverse=True)
    messages: list[str] = []
    for task in failed:
        status = task.get("Status", {})
        text = status.get("Err") or status.get("Message") or status.get("State", "")
        if text and text not in messages:
            messages.append(text)
    return tuple(messages[:limit])


def first_failure_time(
    tasks: Sequence[Mapping[str, Any]], since: datetime | None = None
) -> datetime | None:
    """When the earliest task of these created at or after ``since`` failed (its status
    timestamp), if any did; a failure of an earlier change with the same image does not count."""
    times = [
        parse_docker_time(task["Status"]["Timestamp"])
        for task in created_since(tasks, since)
        if task.get("Status", {}).get("State") in ("failed", "rejected")
        and task.get("Status", {}).get("Timestamp")
    ]
    return min(times) if times else None


def parse_docker_time(text: str) -> datetime:
    """Docker's RFC 3339 times (nanoseconds; ``Z`` for task times, the daemon's zone for
    ``docker info``'s SystemTime), by the driver's one parser (automation/times.py)."""
    return parse_time(text)


def spec_image(spec: Mapping[str, Any]) -> str:
    image: str = spec.get("TaskTemplate", {}).get("ContainerSpec", {}).get("Image", "")
    return image


def strip_digest(image: str) -> str:
    """Swarm appends @sha256:... when it can resolve a digest; compare without it."""
    return image.split("@sha256:")[0]


def replica_counts(
    spec: Mapping[str, Any], tasks: Sequence[Mapping[str, Any]], nodes: Nodes
) -> tuple[int, int]:
    """(running, desired) of one service: the N/N `deploy` waits for and `health` reports."""
    return running_tasks(tasks, nodes, spec), desired_tasks(spec, nodes)


def daemon_now(api: Any) -> datetime:
    """The Docker daemon's current time (``docker info``'s SystemTime): tasks' CreatedAt are on
    its clock, which may differ from this machine's when the manager is remote."""
    return parse_docker_time(str(api.info()["SystemTime"]))


def active_nodes(api: Any) -> dict[str, Mapping[str, Any]]:
    """The nodes that are not Down (their tasks can still run), by ID, with their inspect data."""
    return {
        node["ID"]: node for node in api.nodes() if node.get("Status", {}).get("State") != "down"
    }
