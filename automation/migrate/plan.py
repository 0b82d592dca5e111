"""The take-over plan: each old object matched to this program's resource, and what to do.

Actions (issue 18): `adopt` (the live object already has the program's name: import it in
place), `move data` (a volume under another name: copy its contents into the program's volume
while its services are stopped), `cut over` (a service: start the program's, stop the old),
`leave` (not the program's to manage, or replaced by an object the program creates).

`steps()` turns a plan into the ordered steps apply runs and rollback undoes in reverse.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from automation.errors import BadInput
from automation.migrate.inventory import OldObject

ADOPT, MOVE, CUT_OVER, LEAVE = "adopt", "move data", "cut over", "leave"
PROJECT = "sprocket-infra"  # this program's Pulumi project (Pulumi.yaml)
VOLUME_TYPE = "docker:index/volume:Volume"


class Rule(BaseModel):
    """One mapping entry: old objects of `kind` whose logical-name stem is one of `stems` are
    the program's `target` (a Swarm name); `role`: the program's resource name of a volume."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: Literal["service", "volume", "network", "config", "secret"]
    stems: tuple[str, ...]
    target: str
    role: str = ""

    def matches(self, obj: OldObject) -> bool:
        """By logical-name stem, or by carrying the program's name already (then adopted)."""
        return obj.kind == self.kind and (
            obj.logical_name in self.stems or obj.live_name == self.target
        )


class Original(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    project: str
    stack: str


class LayerMapping(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    original: Original
    rules: tuple[Rule, ...] = ()


def load_mapping(layer: str, override: Path | None = None) -> LayerMapping:
    """The mapping of `layer`: mapping.yaml's, replaced by `override`'s entry when it has one.

    Raises BadInput naming the file for a malformed mapping."""
    text = resources.files("automation.migrate").joinpath("mapping.yaml").read_text()
    entry = _layer_entry(yaml.safe_load(text), layer, "mapping.yaml")
    source = "mapping.yaml"
    if override is not None:
        data = _read_override(override)
        if layer in data:
            entry, source = _layer_entry(data, layer, str(override)), str(override)
    try:
        return LayerMapping.model_validate(entry)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise BadInput(
            f"mapping for {layer} in {source}: {where}: {first['msg']}",
            "see automation/migrate/mapping.yaml",
        ) from None


LAYERS = ("layer_1", "layer_2", "platform")


def _read_override(path: Path) -> dict[str, Any]:
    """The layers of a --mapping file. One line for a file that is not YAML, not a mapping of
    layers, or names a layer that does not exist (a typo would silently use the default)."""
    hint = "pass a YAML file shaped like automation/migrate/mapping.yaml"
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise BadInput(f"cannot read mapping {path}: {exc.strerror}", hint) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(exc, "problem", None) or type(exc).__name__
        raise BadInput(f"mapping {path} is not YAML{where}: {problem}", hint) from None
    except UnicodeDecodeError:
        raise BadInput(f"mapping {path} is not YAML: not UTF-8 text", hint) from None
    if not isinstance(data, dict) or not data:
        raise BadInput(f"mapping {path} is not a mapping of layers ({', '.join(LAYERS)})", hint)
    unknown = sorted(str(k) for k in data if k not in LAYERS)
    if unknown:
        raise BadInput(
            f"mapping {path} names unknown layer {', '.join(unknown)}",
            f"use {', '.join(LAYERS)}",
        )
    return data


def _layer_entry(data: Any, layer: str, source: str) -> Any:
    if not isinstance(data, dict) or layer not in data:
        raise BadInput(f"{source} has no entry for {layer}", "add one (see mapping.yaml)")
    return data[layer]


@dataclass(frozen=True)
class Item:
    """The plan for one old object."""

    action: str
    obj: OldObject
    target: str = ""
    role: str = ""
    reason: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            **self.obj.as_dict(),
            "target": self.target or None,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class Plan:
    layer: str
    stack: str
    items: tuple[Item, ...]
    notes: tuple[str, ...] = field(default=())

    def by_action(self, action: str) -> list[Item]:
        return [i for i in self.items if i.action == action]

    def as_dict(self) -> dict[str, Any]:
        counts = {a: len(self.by_action(a)) for a in (ADOPT, MOVE, CUT_OVER, LEAVE)}
        return {
            "layer": self.layer,
            "stack": self.stack,
            "counts": counts,
            "items": [i.as_dict() for i in self.items],
            "steps": [s.as_dict() for s in steps(self)],
            "notes": list(self.notes),
        }


def make_plan(
    layer: str,
    stack: str,
    objects: Iterable[OldObject],
    mapping: LayerMapping,
    *,
    owned: frozenset[str] = frozenset(),
) -> Plan:
    """Decide per object. `owned`: live names this program's stack already manages (skipped).

    Raises BadInput for an object two rules match, or two volumes bound for one target."""
    items = []
    for obj in objects:
        if obj.live_name in owned:
            continue
        rules = [r for r in mapping.rules if r.matches(obj)]
        if len(rules) > 1:
            raise BadInput(
                f"{obj.kind} {obj.live_name} is matched twice by the mapping: targets "
                f"{' and '.join(r.target for r in rules)}",
                "narrow the stems in the mapping (--mapping FILE) so one rule matches it",
            )
        if rules:
            items.append(_decide(obj, rules[0]))
        elif obj.suffixed:  # an old stack's object nothing here manages
            items.append(Item(LEAVE, obj, reason="not managed by this program"))
    _refuse_shared_targets(items)
    return Plan(layer, stack, tuple(items))


def _decide(obj: OldObject, rule: Rule) -> Item:
    same = obj.live_name == rule.target
    if obj.kind == "service":
        why = "same name: the old service is removed before the program's starts" if same else ""
        return Item(CUT_OVER, obj, rule.target, reason=why or "start the program's, stop the old")
    if same:
        return Item(ADOPT, obj, rule.target, rule.role, "already has the program's name")
    if obj.kind == "volume":
        return Item(MOVE, obj, rule.target, rule.role, "copy into the program's volume")
    return Item(LEAVE, obj, rule.target, reason=f"replaced by the program's {rule.target}")


def _refuse_shared_targets(items: list[Item]) -> None:
    """Two objects cannot both become one volume (or be adopted as one object)."""
    seen: dict[str, Item] = {}
    for item in items:
        if item.action not in (MOVE, ADOPT):
            continue
        other = seen.get(item.target)
        if other is not None:
            raise BadInput(
                f"{item.obj.kind}s {other.obj.live_name} and {item.obj.live_name} are both matched "
                f"to {item.target}",
                "map one of them elsewhere (--mapping FILE), or merge their data by hand first",
            )
        seen[item.target] = item


# --- steps ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """One unit of apply. `id` is stable across runs (the journal keys on it)."""

    kind: str  # adopt | volumes | stop | copy | remove | deploy | settle
    subject: str
    args: Mapping[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return f"{self.kind}:{self.subject}"

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "subject": self.subject, "args": dict(self.args)}


def volume_urn(stack: str, role: str) -> str:
    return f"urn:pulumi:{stack}::{PROJECT}::{VOLUME_TYPE}::{role}"


def steps(plan: Plan) -> list[Step]:
    """Apply's steps in order: adopt; create the program's volumes; per moved volume stop its
    services and copy; remove old services whose name the program takes; deploy the layer
    (waits for convergence); then stop the old stateless services (zero downtime for them)."""
    out = [
        Step("adopt", i.target, {"kind": i.obj.kind, "role": i.role, "id": i.obj.live_name})
        for i in plan.by_action(ADOPT)
    ]
    moves = plan.by_action(MOVE)
    services = {i.obj.live_name: i for i in plan.by_action(CUT_OVER)}
    old_services = [i.obj for i in plan.items if i.obj.kind == "service"]
    if moves:
        urns = [volume_urn(plan.stack, i.role) for i in moves]
        out.append(Step("volumes", plan.layer, {"targets": urns}))
    stopped: set[str] = set()

    def stop(name: str) -> None:
        if name not in stopped:
            stopped.add(name)
            out.append(Step("stop", name))

    for move in moves:
        for svc in old_services:
            if move.obj.live_name in svc.mounts:
                stop(svc.live_name)
        out.append(Step("copy", move.obj.live_name, {"target": move.target}))
    for name, item in services.items():
        if name == item.target:
            stop(name)
            out.append(Step("remove", name))
    if services or moves or out:
        out.append(Step("deploy", plan.layer))
    # The program's services run now: stop the rest together, then wait once for all of them.
    after = [name for name in services if name not in stopped]
    out += [Step("stop", name, {"wait": False}) for name in after]
    if after:
        out.append(Step("settle", plan.layer, {"services": after}))
    return out


def plan_text(data: Mapping[str, Any]) -> str:
    """The human view of a plan (Plan.as_dict())."""
    lines = [f"migration plan for {data['stack']} ({data['layer']}):"]
    width = max((len(i["live_name"]) for i in data["items"]), default=10)
    for item in data["items"]:
        target = f" -> {item['target']}" if item["target"] else ""
        lines.append(
            f"  {item['action']:<9} {item['kind']:<8} {item['live_name']:<{width}}{target}"
            f"  ({item['reason']})"
        )
    counts = ", ".join(f"{n} {a}" for a, n in data["counts"].items())
    lines.append(f"{counts}; {len(data['steps'])} step(s) for the apply:")
    lines += [f"  {n}. {s['id']}" for n, s in enumerate(data["steps"], 1)]
    lines += [f"note: {n}" for n in data.get("notes", [])]
    return "\n".join(lines)
