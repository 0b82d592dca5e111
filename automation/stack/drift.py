"""Drift, as data: a refresh preview's per-resource outcomes reduced to what changed outside Pulumi.

Pure (no engine, no I/O): the `drift` command (automation/commands/drift.py) feeds it events.
Only property *names* are kept, never values, so a report cannot leak a secret.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from automation.hints import driver_command
from sprocket_common.stack_info import StackInfo

# Engine step ops that mean the live resource is not what the state says.
DRIFT_OPS = frozenset({"update", "delete"})
# Bookkeeping outputs the engine or providers rewrite on every read; not drift.
_IGNORED_KEYS = frozenset({"__provider", "__meta"})


@dataclass(frozen=True)
class DriftedResource:
    urn: str
    type: str
    op: str  # update: changed outside Pulumi; delete: gone outside Pulumi
    changed: tuple[str, ...]  # top-level property names that differ

    def as_json(self) -> dict[str, Any]:
        return {"urn": self.urn, "type": self.type, "op": self.op, "changed": list(self.changed)}


def changed_keys(old: Mapping[str, Any] | None, new: Mapping[str, Any] | None) -> tuple[str, ...]:
    old, new = old or {}, new or {}
    keys = (set(old) | set(new)) - _IGNORED_KEYS
    # `__`-keys are the bridged providers' bookkeeping (`__pulumi_raw_state_delta`, `__meta`),
    # not properties anyone changed.
    return tuple(sorted(k for k in keys if old.get(k) != new.get(k) and not k.startswith("__")))


def drift_from_step(op: str, urn: str, type_: str, old: Any, new: Any) -> DriftedResource | None:
    """A refresh step's outcome (res_outputs_event metadata) as drift, or None if unchanged."""
    if op not in DRIFT_OPS:
        return None
    old_outputs = getattr(old, "outputs", None) if old is not None else None
    new_outputs = getattr(new, "outputs", None) if new is not None else None
    changed = () if op == "delete" else changed_keys(old_outputs, new_outputs)
    return DriftedResource(urn, type_, op, changed)


class DriftCollector:
    """`on_event` for preview_refresh: a refresh's real outcome is in res_outputs_event.

    (Its resource_pre_event steps all say `refresh`; only the outputs event says update/delete.)
    """

    def __init__(self) -> None:
        self.drifted: list[DriftedResource] = []

    def __call__(self, event: Any) -> None:
        outputs = getattr(event, "res_outputs_event", None)
        if outputs is None:
            return
        meta = outputs.metadata
        op = getattr(meta.op, "value", meta.op)
        found = drift_from_step(str(op), meta.urn, meta.type, meta.old, meta.new)
        if found:
            self.drifted.append(found)


def drift_text(data: dict[str, Any]) -> str:
    lines = []
    for stack in data["stacks"]:
        if not stack["deployed"]:
            lines.append(f"{stack['stack']}: not deployed")
            continue
        if not stack["drifted"]:
            lines.append(f"{stack['stack']}: no drift")
            continue
        lines.append(
            f"{stack['stack']}: {len(stack['drifted'])} resource(s) changed outside Pulumi"
        )
        for item in stack["drifted"]:
            what = "deleted" if item["op"] == "delete" else "changed: " + ", ".join(item["changed"])
            lines.append(f"  {item['urn']}\n    {what}")
    for stack in (s for s in data["stacks"] if s["drifted"]):
        info = StackInfo.parse(stack["stack"])
        env, layer = info.env, info.layer.value
        lines.append(
            f"{stack['stack']}: to accept the live state: {driver_command(env, 'refresh', layer)}; "
            f"to restore the declared one: {driver_command(env, 'deploy', layer)}."
        )
    return "\n".join(lines)
