"""Before a deploy's engine run: the Swarm objects the plan would create whose names are taken.

Docker refuses a second network, service, config or secret of the same name (the engine's run
then fails part-way), and *accepts* a second create of a volume, returning the existing one: the
new state would silently hold another state's (or a person's) data. So before the engine runs,
every create of a named Docker object is looked up on the engine; one that exists and whose ID
the stack's state does not hold stops the deploy (``NamesTaken``, exit 16), one line per object,
with the choices that work. Nothing on the engine or in the state is changed by the check.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from automation.errors import NamesTaken
from automation.hints import driver_command
from automation.stack.gate import PlannedChange
from sprocket_common.stack_info import StackInfo

# The Docker objects a layer creates by name, per provider type: (kind, lookup on the low-level
# client returning the engine's objects whose name *contains* the name: Docker's name filter).
Lookup = Callable[[Any, str], list[dict[str, Any]]]

_LOOKUPS: dict[str, tuple[str, Lookup]] = {
    "docker:index/network:Network": ("network", lambda api, n: api.networks(names=[n])),
    "docker:index/volume:Volume": (
        "volume",
        lambda api, n: api.volumes(filters={"name": n}).get("Volumes") or [],
    ),
    "docker:index/service:Service": ("service", lambda api, n: api.services({"name": n})),
    "docker:index/serviceConfig:ServiceConfig": (
        "config",
        lambda api, n: api.configs({"name": n}),
    ),
    "docker:index/secret:Secret": ("secret", lambda api, n: api.secrets({"name": n})),
}


@dataclass(frozen=True)
class TakenName:
    """One object of the plan whose name is taken on the engine."""

    kind: str  # network, volume, service, config, secret
    name: str
    urn: str
    owner: str  # who the engine's object belongs to, as far as can be told

    def line(self) -> str:
        return f"{self.kind} {self.name}: {self.owner}"


def _object_id(kind: str, found: dict[str, Any]) -> str:
    """The ID the docker provider keeps in the state for this object (a volume's is its name)."""
    return str(found.get("Name") if kind == "volume" else found.get("ID") or found.get("Id"))


def _object_name(kind: str, found: dict[str, Any]) -> str:
    spec = found.get("Spec") or {}
    return str(found.get("Name") or spec.get("Name") or "")


def taken_names(api: Any, creates: Iterable[PlannedChange], state_ids: set[str]) -> list[TakenName]:
    """The plan's creates of named Docker objects that exist on the engine (`api`, a low-level
    docker client) and whose IDs are not among `state_ids` (every resource ID in the stack's
    state), in plan order."""
    taken: list[TakenName] = []
    for change in creates:
        kind, lookup = _LOOKUPS.get(change.type, ("", None))
        if lookup is None or not change.name:
            continue
        for found in lookup(api, change.name):
            if _object_name(kind, found) != change.name:
                continue  # Docker's filter matches a part of the name
            if _object_id(kind, found) in state_ids:
                continue
            taken.append(
                TakenName(kind, change.name, change.urn, "unlabelled / not in this stack's state")
            )
    return taken


def planned_creates(changes: Iterable[PlannedChange]) -> list[PlannedChange]:
    """The plan's creates of the object types the check knows, but a data volume the program
    keeps on destroy (`retain_on_delete`): re-creating a stack onto the volumes its destroy
    left is by design (sprocket_common/env_defaults.py, keep_volumes); without ownership
    labels a kept volume of this stack cannot be told from another state's, so it is let by."""
    return [
        c
        for c in changes
        if c.op == "create"
        and c.type in _LOOKUPS
        and not (c.kept_on_delete and c.type == "docker:index/volume:Volume")
    ]


def names_taken_error(info: StackInfo, taken: list[TakenName]) -> NamesTaken:
    layer = info.layer.value
    lines = "\n".join(f"  {t.line()}" for t in taken)
    return NamesTaken(
        f"{info.name}: {len(taken)} objects the plan would create already exist on the Docker "
        f"engine, and this stack's state does not hold them:\n{lines}\n",
        "nothing was changed. What works: restore this stack's state from a backup "
        f"({driver_command(info.env, 'restore', layer, '--file', 'FILE')}, or --from ID from "
        f"{driver_command(info.env, 'backup', 'list', layer)}) if they are this stack's own "
        "and its state was lost; remove them if nothing needs them (`docker <kind> rm NAME`, "
        "a volume only once its data is safe); or, for the original system's objects, "
        f"{driver_command(info.env, 'migrate', 'plan', layer)}",
    )
