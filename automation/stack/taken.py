"""Before a deploy's engine run: the Swarm objects the plan would create whose names are taken.

Docker refuses a second network, service, config or secret of the same name (the engine's run
then fails part-way), and *accepts* a second create of a volume, returning the existing one: the
new state would silently hold another state's (or a person's) data. So before the engine runs,
every create of a named Docker object is looked up on the engine; one that exists and whose ID
the stack's state does not hold is sorted by the ownership labels it carries
(sprocket_common/ownership.py), as Helm reads its release labels:

- this stack's, made by this state (the state lost the resource; same identity): let by;
- this stack's, made by another state (this checkout's state was lost, or another checkout
  deploys the stack);
- another stack's (another project, environment or layer);
- unlabelled (made by hand, by the original system, or by a deployment older than the labels).

Every case but the first stops the deploy (``NamesTaken``, exit 16), one line per object with
the owner found, and the choices that work. Nothing on the engine or in the state is changed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from automation.errors import NamesTaken
from automation.hints import driver_command
from automation.stack.gate import PlannedChange
from sprocket_common.ownership import owner_of
from sprocket_common.stack_info import PROJECT_NAME, StackInfo

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


# The cases of an object found on the engine (the module's docstring).
THIS_STATE = "this-state"
OTHER_STATE = "other-state"
OTHER_STACK = "other-stack"
UNLABELLED = "unlabelled"


@dataclass(frozen=True)
class TakenName:
    """One object of the plan whose name is taken on the engine."""

    kind: str  # network, volume, service, config, secret
    name: str
    urn: str
    owner: str  # who the engine's object belongs to, as far as can be told
    case: str = UNLABELLED  # one of the cases above

    def line(self) -> str:
        return f"{self.kind} {self.name}: {self.owner}"


def _short(identity: str) -> str:
    return identity[:8] if identity else "none"


def ownership(
    labels: dict[str, str] | None, info: StackInfo, state_identity: str | None
) -> tuple[str, str]:
    """(case, owner as said) of an object carrying `labels`, for stack `info` whose state's
    identity is `state_identity` (None: the state has none yet, a first deploy)."""
    project, stack, state = owner_of(labels)
    if not project and not stack:
        return UNLABELLED, "unlabelled (made by hand, by the original system, or before labels)"
    if project != PROJECT_NAME or stack != info.name:
        return OTHER_STACK, f"another stack's ({project or '?'}/{stack or '?'})"
    if state_identity and state == state_identity:
        return THIS_STATE, "this stack's, made by this state"
    return OTHER_STATE, (
        f"this stack's, made by another state ({_short(state)}; this state: "
        f"{_short(state_identity or '')})"
    )


def _labels(found: dict[str, Any]) -> dict[str, str]:
    """An engine object's labels: a network's and a volume's at the top, the rest in its Spec."""
    labels = found.get("Labels") or (found.get("Spec") or {}).get("Labels") or {}
    return {str(k): str(v) for k, v in labels.items()}


def _object_id(kind: str, found: dict[str, Any]) -> str:
    """The ID the docker provider keeps in the state for this object (a volume's is its name)."""
    return str(found.get("Name") if kind == "volume" else found.get("ID") or found.get("Id"))


def _object_name(kind: str, found: dict[str, Any]) -> str:
    spec = found.get("Spec") or {}
    return str(found.get("Name") or spec.get("Name") or "")


def taken_names(
    api: Any,
    creates: Iterable[PlannedChange],
    state_ids: set[str],
    info: StackInfo,
    state_identity: str | None = None,
) -> list[TakenName]:
    """The plan's creates of named Docker objects that exist on the engine (`api`, a low-level
    docker client), whose IDs are not among `state_ids` (every resource ID in the stack's
    state) and that are not this state's own (their labels name `state_identity`), in plan
    order. A data volume the program keeps on destroy is taken only when another stack's: a
    stack re-created onto the volumes its destroy kept (unlabelled ones made before the labels,
    or its own from the destroyed state) is by design (sprocket_common/env_defaults.py)."""
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
            case, owner = ownership(_labels(found), info, state_identity)
            if case == THIS_STATE:
                continue
            if _kept_volume(change) and case != OTHER_STACK:
                continue
            taken.append(TakenName(kind, change.name, change.urn, owner, case))
    return taken


def _kept_volume(change: PlannedChange) -> bool:
    return change.kept_on_delete and change.type == "docker:index/volume:Volume"


def planned_creates(changes: Iterable[PlannedChange]) -> list[PlannedChange]:
    """The plan's creates of the object types the check knows."""
    return [c for c in changes if c.op == "create" and c.type in _LOOKUPS]


def names_taken_error(info: StackInfo, taken: list[TakenName]) -> NamesTaken:
    """The refusal: one line per object with its owner, then the choices that work for the
    cases found (adoption into this state is not offered: it is not built yet)."""
    layer = info.layer.value
    lines = "\n".join(f"  {t.line()}" for t in taken)
    cases = {t.case for t in taken}
    choices = []
    if cases & {OTHER_STATE, UNLABELLED}:  # unlabelled: maybe this stack's, older than labels
        choices.append(
            "restore this stack's state from a backup "
            f"({driver_command(info.env, 'restore', layer, '--file', 'FILE')}, or --from ID "
            f"from {driver_command(info.env, 'backup', 'list', layer)}) if they are this "
            "stack's own and its state was lost; if another checkout deploys this stack, "
            "deploy from that one"
        )
    if OTHER_STACK in cases:
        choices.append(
            "another stack's objects are that stack's to change: destroy it, or change its "
            "names, there"
        )
    choices.append(
        "remove them if nothing needs them (`docker <kind> rm NAME`, a volume only once its "
        "data is safe)"
    )
    if UNLABELLED in cases:
        migrate = driver_command(info.env, "migrate", "plan", layer)
        choices.append(f"for the original system's objects, {migrate}")
    return NamesTaken(
        f"{info.name}: {len(taken)} objects the plan would create already exist on the Docker "
        f"engine, and this stack's state does not hold them:\n{lines}\n",
        "nothing was changed. What works: " + "; ".join(choices),
    )
