"""A stack's outcome as text: its steps, what the gate blocked, what a destroy kept."""

from __future__ import annotations

from typing import Any

from automation.hints import driver_command
from automation.stack.gate import RETAIN_OP, PlannedChange
from automation.stack.progress import short_name
from sprocket_common.stack_info import StackInfo

# How to remove an object the engine retained on purpose, by resource type.
_REMOVE_COMMANDS = {
    "docker:index/volume:Volume": "docker volume rm {name}",
    "digitalocean:index/volume:Volume": "doctl compute volume delete {name}",
}


def retained_text(changes: list[PlannedChange], info: StackInfo) -> str:
    """What a destroy kept on purpose (`retain_on_delete`), by name, with the command to remove
    each; empty when it kept nothing."""
    kept = [c for c in changes if c.op == RETAIN_OP]
    if not kept:
        return ""
    lines = [f"kept on purpose (retain_on_delete), still there: {len(kept)}"]
    for change in kept:
        name = change.name or short_name(change.urn)
        command = _REMOVE_COMMANDS.get(change.type, "").format(name=name)
        lines.append(f"    {name}  ({change.type})" + (f"  remove: {command}" if command else ""))
    lines.append(
        "  a new deploy makes new credentials (the random passwords lived in this state); data"
        " initialised with the old ones (Postgres roles, RabbitMQ users, the InfluxDB token)"
        " will refuse them: to keep the data, restore the stack's state from a backup"
        f" ({driver_command(info.env, 'restore', info.layer.value, '--from', 'ID')}) before"
        " deploying, or remove the volumes"
    )
    return "\n".join(lines)


_SYMBOLS = {
    "create": "+",
    "update": "~",
    "replace": "+-",
    "delete": "-",
    "retain": "=",
    "same": " ",
}


def stack_text(stack: dict[str, Any]) -> str:
    counts = ", ".join(f"{n} to {op}" for op, n in sorted(stack["changes"].items()))
    if stack["status"] in ("failed", "not run"):  # nothing was previewed
        lines = [f"{stack['stack']}: [{stack['status']}]"]
    else:
        lines = [f"{stack['stack']}: {counts or 'no changes'} [{stack['status']}]"]
    for step in stack["steps"]:
        diff = f"  [diff: {', '.join(step['diffs'])}]" if step["diffs"] else ""
        symbol = _SYMBOLS.get(step["op"], "*")
        lines.append(
            f"  {symbol:>2} {step['op']:<8} {short_name(step['urn'])}  ({step['type']}){diff}"
        )
    for blocked in stack["gate"]["blocked"]:
        lines.append(f"  BLOCKED {blocked['op']} {blocked['urn']}: {blocked['reason']}")
    if "services" in stack:
        services = stack["services"]
        lines.append(f"  services: {services['converged']}/{services['total']} converged")
    if stack.get("message"):
        lines.append(f"  {stack['message']}")
    return "\n".join(lines)
