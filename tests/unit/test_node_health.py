"""Per-node health rows from what the manager's API says about nodes and tasks."""

from __future__ import annotations

from typing import Any

from automation.cluster.node_health import node_findings
from automation.health.model import Level


def _node(node_id: str, host: str, state: str = "ready", availability: str = "active") -> Any:
    return {
        "ID": node_id,
        "Description": {
            "Hostname": host,
            "Resources": {"NanoCPUs": 2_000_000_000, "MemoryBytes": 4 * 2**30},
        },
        "Spec": {"Role": "worker", "Availability": availability},
        "Status": {"State": state},
    }


def _task(node: str, memory: int = 0) -> dict[str, Any]:
    return {
        "NodeID": node,
        "DesiredState": "running",
        "Status": {"State": "running"},
        "Spec": {"Resources": {"Reservations": {"MemoryBytes": memory}}},
    }


def test_a_row_per_node_down_is_critical_drained_a_warning_others_not_sampled() -> None:
    nodes = [_node("m", "m1"), _node("a", "w1", "down"), _node("b", "w2", availability="drain")]
    tasks = [_task("m", 512 * 2**20), _task("m"), _task("b")]
    rows = {(f.check, f.subject.split()[0]): f for f in node_findings(nodes, tasks, "m")}
    assert rows[("node", "m1")].level is Level.OK
    assert rows[("node", "m1")].observed == "ready, active, 2 task(s) running"
    assert rows[("node", "w1")].level is Level.CRITICAL
    assert rows[("node", "w2")].level is Level.WARNING
    assert rows[("node-resources", "m1")].observed == "reserved 0.00 of 2 CPUs, 512 of 4096 MiB"
    assert rows[("node-resources", "w2")].level is Level.SKIPPED
    assert "not sampled" in rows[("node-resources", "w2")].message
