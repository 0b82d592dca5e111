"""Health rows per Swarm node, read through the manager's API alone.

The manager's Docker API answers for the whole Swarm about nodes, services and tasks, but for
containers (CPU, memory samples) only about its own engine: per node this reads what the Swarm
knows (state, availability, tasks running, the resources the node declares and what its tasks
reserve) and says, for a node other than the one answering, that its containers' CPU and memory
could not be sampled here. Replicas stay cluster-wide rows (health/checks.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from automation.cluster.nodes import NodeView
from automation.health.model import Finding, Level
from automation.swarm import TERMINAL_DESIRED

NANO = 1_000_000_000
UNSAMPLED = (
    "CPU/memory of its containers not sampled: the Docker API answering is another node's, and "
    "a Docker API sees only its own engine's containers"
)


def node_findings(
    nodes: Sequence[Mapping[str, Any]], tasks: Sequence[Mapping[str, Any]], self_id: str
) -> list[Finding]:
    """Two rows per node: `node` (down or unreachable: critical; drained or paused: warning)
    and `node-resources` (reservations against capacity; skipped for the containers' figures of
    a node other than `self_id`, the node whose API answered)."""
    findings: list[Finding] = []
    for node in sorted(nodes, key=lambda n: NodeView.of(n).hostname):
        view = NodeView.of(node)
        mine = [t for t in tasks if t.get("NodeID") == view.id]
        findings += [_state(view, mine), _resources(node, view, mine, self_id)]
    return findings


def _subject(view: NodeView) -> str:
    return f"{view.hostname} ({view.role})"


def _state(view: NodeView, tasks: Sequence[Mapping[str, Any]]) -> Finding:
    running = sum(1 for t in tasks if t.get("Status", {}).get("State") == "running")
    observed = f"{view.state}, {view.availability}, {running} task(s) running"
    if view.state != "ready":
        level, message = Level.CRITICAL, f"node is {view.state}: its tasks are not running"
    elif view.availability != "active":
        level, message = Level.WARNING, f"node is {view.availability}: no new tasks go there"
    else:
        level, message = Level.OK, ""
    return Finding("node", _subject(view), level, observed, "ready, active", message)


def _resources(
    node: Mapping[str, Any], view: NodeView, tasks: Sequence[Mapping[str, Any]], self_id: str
) -> Finding:
    capacity = node.get("Description", {}).get("Resources", {})
    live = [t for t in tasks if t.get("DesiredState") not in TERMINAL_DESIRED]
    cpus = sum(_reservation(t, "NanoCPUs") for t in live) / NANO
    memory = sum(_reservation(t, "MemoryBytes") for t in live)
    total_cpus = capacity.get("NanoCPUs", 0) / NANO
    total_memory = capacity.get("MemoryBytes", 0)
    observed = (
        f"reserved {cpus:.2f} of {total_cpus:.0f} CPUs, "
        f"{memory / 2**20:.0f} of {total_memory / 2**20:.0f} MiB"
    )
    if view.state != "ready":
        return Finding("node-resources", _subject(view), Level.SKIPPED, observed, "", "node down")
    if view.id == self_id:
        message = "its containers' CPU/memory are the cpu and memory rows"
        return Finding("node-resources", _subject(view), Level.OK, observed, "", message)
    return Finding("node-resources", _subject(view), Level.SKIPPED, observed, "", UNSAMPLED)


def _reservation(task: Mapping[str, Any], key: str) -> int:
    resources = task.get("Spec", {}).get("Resources") or {}
    return int((resources.get("Reservations") or {}).get(key, 0))


def swarm_node_findings(api: Any) -> list[Finding]:
    """node_findings() of the Swarm `api` (a docker APIClient) manages; none on a single node
    (the existing rows already cover it)."""
    nodes = api.nodes()
    if len(nodes) < 2:
        return []
    tasks = api.tasks(filters={"desired-state": "running"})
    return node_findings(nodes, tasks, api.info().get("Swarm", {}).get("NodeID", ""))
