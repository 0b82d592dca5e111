"""drift: a refresh preview of a layer (or all) that lists what was changed outside Pulumi.

Nothing is written: no state, no servers. Exit 10 (DRIFT_DETECTED) when any resource's live state
differs from the state file, naming each resource and which of its properties differ (names
only, never values). Meant for cron (scripts/cron/) as well as for people.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import click

from automation.cli import run_verb
from automation.context import Context
from automation.errors import BadInput, translate_engine_error
from automation.exit_codes import ExitCode
from automation.render import Result
from sprocket_common.stack_info import LAYER_ORDER, Layer, UnknownNameError, parse_layer

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
    return tuple(sorted(k for k in keys if old.get(k) != new.get(k)))


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


def _layers(name: str) -> list[Layer]:
    if name == "all":
        return list(LAYER_ORDER)
    try:
        return [parse_layer(name)]
    except UnknownNameError as exc:
        raise BadInput(str(exc), "or pass `all`") from None


def _stack_drift(ctx: Context, layer: Layer) -> dict[str, Any]:
    from pulumi.automation import errors as auto_errors

    from automation.engine import select_stack

    info = ctx.stack(layer)
    try:
        stack = select_stack(ctx.settings, info, create=False)
    except auto_errors.StackNotFoundError:
        return {"stack": info.name, "deployed": False, "drifted": []}
    collector = DriftCollector()
    try:
        stack.preview_refresh(color="never", on_event=collector, suppress_progress=True)
    except auto_errors.CommandError as exc:
        raise translate_engine_error(exc) from exc
    return {
        "stack": info.name,
        "deployed": True,
        "drifted": [d.as_json() for d in collector.drifted],
    }


def run_drift(ctx: Context, layer_name: str) -> Result:
    from automation import audit

    stacks = []
    for layer in _layers(layer_name):
        started = time.monotonic()
        report = _stack_drift(ctx, layer)
        stacks.append(report)
        audit.record(
            ctx.settings,
            {
                "command": "drift",
                "stack": report["stack"],
                "changes": {"drifted": len(report["drifted"])},
                "exit_code": int(ExitCode.DRIFT_DETECTED if report["drifted"] else ExitCode.OK),
                "duration_s": round(time.monotonic() - started, 2),
            },
        )
    drifted = any(s["drifted"] for s in stacks)
    code = ExitCode.DRIFT_DETECTED if drifted else ExitCode.OK
    return Result("drift", code, {"stacks": stacks}, human=drift_text)


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
    if any(s["drifted"] for s in data["stacks"]):
        lines.append(
            "To accept the live state: `python -m automation refresh LAYER`; "
            "to restore the declared one: `python -m automation deploy LAYER`."
        )
    return "\n".join(lines)


@click.command()
@click.argument("layer", default="all")
def drift(layer: str) -> ExitCode:
    """Show resources of LAYER (default `all`) changed outside Pulumi; exit 10 if any."""
    return run_verb("drift", lambda ctx: run_drift(ctx, layer))


COMMANDS = [drift]
