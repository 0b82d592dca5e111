"""The preview gate: per-resource engine events in, a decision out.

`ChangeCollector` is the `on_event` callback of a preview: it reduces each resource_pre_event's
step metadata to one `PlannedChange` per URN. `evaluate` is a pure function of those changes and
a `GatePolicy`: a delete or replace of a stateful or protected resource, or a step that removes
`protect`, is blocked unless the operator named that URN. The summary counts are never used:
they cannot say *which* resource is replaced.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any

from automation.errors import BadInput
from sprocket_common.stack_info import StackInfo

# Resource types whose delete or replace loses data or breaks everything behind them.
DEFAULT_STATEFUL_TYPES: tuple[str, ...] = (
    "docker:index/volume:Volume",
    "docker:index/secret:Secret",
    "docker:index/config:Config",
    "digitalocean:index/volume:Volume",
    "digitalocean:index/volumeAttachment:VolumeAttachment",
    "digitalocean:index/spacesBucket:SpacesBucket",
    "digitalocean:index/databaseCluster:DatabaseCluster",
    "digitalocean:index/databaseDb:DatabaseDb",
    "digitalocean:index/dnsRecord:DnsRecord",
    "digitalocean:index/domain:Domain",
    "digitalocean:index/droplet:Droplet",
    "digitalocean:index/reservedIp:ReservedIp",
    "vault:*",
    "postgresql:*",
    "sprocket:data:*",
)

REPLACE_OPS = frozenset({"replace", "create-replacement", "delete-replaced"})
DELETE_OPS = frozenset({"delete"})
# `refresh`: the read of the live resource a refreshing preview does before its real step.
NO_CHANGE_OPS = frozenset({"same", "read", "refresh"})
# A delete of a resource with `retain_on_delete`: the engine forgets it, the object stays (data
# volumes). Not a loss, so never blocked; shown as what it is, never as a delete.
RETAIN_OP = "retain"
STACK_TYPE = "pulumi:pulumi:Stack"


@dataclass(frozen=True)
class PlannedChange:
    """One resource's step in a plan. A replacement's three engine steps are one change."""

    urn: str
    type: str
    op: str
    diffs: tuple[str, ...] = ()
    stateful: bool = False
    protected: bool = False
    unprotects: bool = False  # the plan turns `protect` off on this resource
    name: str = ""  # the object's own name (its `name` input), where it has one
    kept_on_delete: bool = False  # `retain_on_delete` in the plan: a destroy leaves the object

    @property
    def is_change(self) -> bool:
        return self.op not in NO_CHANGE_OPS or self.unprotects

    def step(self) -> dict[str, Any]:
        return {"urn": self.urn, "type": self.type, "op": self.op, "diffs": list(self.diffs)}


@dataclass(frozen=True)
class GatePolicy:
    """What the operator allowed. Patterns are URNs, `*` matches within a URN."""

    allow_replace: Collection[str] = frozenset()
    allow_delete: Collection[str] = frozenset()
    allow_unprotect: Collection[str] = frozenset()
    # `destroy --allow-delete-all` (local only): every delete allowed, however many.
    allow_all_deletes: bool = False
    stateful_types: tuple[str, ...] = DEFAULT_STATEFUL_TYPES
    # `--max-changes N`: a plan bigger than the operator expects is blocked whole (ARCHITECTURE.md).
    max_changes: int | None = None
    # An operator's allowance that matches nothing is a typo (refused); a verb's own standing
    # allowance (rotate: "the rotated secrets may be replaced") may have nothing to match.
    unmatched_ok: bool = False


@dataclass(frozen=True)
class GateDecision:
    allowed: bool
    blocked: list[tuple[PlannedChange, str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "allowed": self.allowed,
            "blocked": [{"urn": c.urn, "op": c.op, "reason": r} for c, r in self.blocked],
        }


def is_stateful_type(type_token: str, patterns: Iterable[str] = DEFAULT_STATEFUL_TYPES) -> bool:
    return any(fnmatchcase(type_token, pattern) for pattern in patterns)


def matches(urn: str, patterns: Iterable[str]) -> bool:
    return any(fnmatchcase(urn, pattern) for pattern in patterns)


def evaluate(changes: Iterable[PlannedChange], policy: GatePolicy) -> GateDecision:
    """Block every change the policy does not allow; pure, so it is tested as a table."""
    real = [change for change in changes if change.is_change]
    blocked = [(c, reason) for c in real if (reason := _block_reason(c, policy))]
    # The Stack's outputs follow from the resources' steps: they are not a change of their own.
    counted = [c for c in real if not (c.type == STACK_TYPE and c.op == "update")]
    if policy.max_changes is not None and len(counted) > policy.max_changes:
        reason = (
            f"the plan has {len(counted)} changes, more than the {policy.max_changes} expected; "
            f"if they are all intended, rerun with --max-changes {len(counted)}"
        )
        blocked += [(c, reason) for c in counted if not any(c is b for b, _ in blocked)]
    return GateDecision(allowed=not blocked, blocked=blocked)


def _block_reason(change: PlannedChange, policy: GatePolicy) -> str | None:
    if change.type == STACK_TYPE and change.op == "update":
        return None  # only stack outputs changed: they follow from the resources' steps
    guarded = change.protected or is_stateful_type(change.type, policy.stateful_types)
    what = "protected resource" if change.protected else f"stateful resource ({change.type})"
    if change.op in REPLACE_OPS and guarded and not matches(change.urn, policy.allow_replace):
        return f"replace of a {what}; allow it with --allow-replace {change.urn}"
    allowed_delete = policy.allow_all_deletes or matches(change.urn, policy.allow_delete)
    if change.op in DELETE_OPS and guarded and not allowed_delete:
        return f"delete of a {what}; allow it with --allow-delete {change.urn}"
    if change.unprotects and not matches(change.urn, policy.allow_unprotect):
        return f"the plan removes `protect`; allow it with --allow-unprotect {change.urn}"
    return None


def allow_all_text(decision: GateDecision, stack: str) -> str:
    """For a stack with several blocked deletes, the one pattern that allows them all
    (`--allow-delete 'urn:pulumi:local-platform::*'`); empty when one URN is as short."""
    deletes = sum(1 for change, _ in decision.blocked if change.op in DELETE_OPS)
    if deletes < 2:
        return ""
    return (
        f"to allow all {deletes} blocked deletes of {stack} at once: "
        f"--allow-delete 'urn:pulumi:{stack}::*'"
    )


def unmatched_allowances(
    changes: Iterable[PlannedChange], policy: GatePolicy
) -> list[tuple[str, str]]:
    """(option, pattern) pairs that match no step of the kind they allow: a typo or a stale URN."""
    changes = list(changes)
    wanted = (
        ("--allow-replace", policy.allow_replace, lambda c: c.op in REPLACE_OPS),
        ("--allow-delete", policy.allow_delete, lambda c: c.op in DELETE_OPS),
        ("--allow-unprotect", policy.allow_unprotect, lambda c: c.unprotects),
    )
    unmatched = []
    for option, patterns, kind in wanted:
        for pattern in patterns:
            if not any(kind(c) and fnmatchcase(c.urn, pattern) for c in changes):
                unmatched.append((option, pattern))
    return unmatched


def plan_fingerprint(changes: Iterable[PlannedChange]) -> str:
    """A hash of the step set (URN, op, changed keys, protect removal); `same` steps are ignored."""
    steps = sorted((c.urn, c.op, sorted(c.diffs), c.unprotects) for c in changes if c.is_change)
    return hashlib.sha256(json.dumps(steps).encode()).hexdigest()


def change_counts(changes: Iterable[PlannedChange]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for change in changes:
        if change.is_change:
            counts[change.op] = counts.get(change.op, 0) + 1
    return counts


class ChangeCollector:
    """`on_event` callback: one PlannedChange per URN from resource_pre_event metadata."""

    def __init__(self, stateful_types: tuple[str, ...] = DEFAULT_STATEFUL_TYPES) -> None:
        self._stateful_types = stateful_types
        self._by_urn: dict[str, PlannedChange] = {}

    def __call__(self, event: Any) -> None:
        pre = getattr(event, "resource_pre_event", None)
        if pre is not None and pre.metadata is not None:
            self.add_step(_step_fields(pre.metadata))
            return
        outputs = getattr(event, "res_outputs_event", None)
        if outputs is not None and outputs.metadata is not None:
            self._stack_outputs(outputs.metadata)

    def _stack_outputs(self, metadata: Any) -> None:
        """Stack outputs that change are a change (downstream layers read them), though the
        engine calls the stack's step `same`: recorded as an update naming the outputs."""
        if metadata.type != STACK_TYPE or metadata.old is None or metadata.new is None:
            return
        old, new = metadata.old.outputs or {}, metadata.new.outputs or {}
        changed = sorted(
            key
            for key in set(old) | set(new)
            if old.get(key) != new.get(key) and not _unknown(new.get(key))
        )
        previous = self._by_urn.get(metadata.urn)
        if changed and (previous is None or previous.op == "same"):
            self.add_step(
                {"urn": metadata.urn, "type": metadata.type, "op": "update", "diffs": changed}
            )

    def add_step(self, step: dict[str, Any]) -> None:
        """Fold one step (already plain data) into the change for its URN."""
        urn, op = step["urn"], step["op"]
        if op in REPLACE_OPS:
            op = "replace"
        if op in DELETE_OPS and step.get("retained"):
            op = RETAIN_OP
        if op == "refresh" and urn in self._by_urn:
            return  # the resource's real step is already recorded
        previous = self._by_urn.get(urn)
        change = PlannedChange(
            urn=urn,
            type=step["type"],
            op=op,
            diffs=tuple(
                sorted(set(step.get("diffs") or ()) | set(previous.diffs if previous else ()))
            ),
            stateful=is_stateful_type(step["type"], self._stateful_types),
            protected=bool(step.get("old_protect") or step.get("new_protect"))
            or bool(previous and previous.protected),
            unprotects=bool(step.get("old_protect")) and step.get("new_protect") is False,
            name=str(step.get("name") or ""),
            kept_on_delete=bool(step.get("kept_on_delete")),
        )
        if previous and previous.op == "replace":
            change = PlannedChange(**{**change.__dict__, "op": "replace"})
        self._by_urn[urn] = change

    @property
    def changes(self) -> list[PlannedChange]:
        """Every resource seen, `same` included, in the engine's order."""
        return list(self._by_urn.values())


# The engine's placeholder for a value not known until apply (pulumi.runtime.rpc.UNKNOWN).
_UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"


def _unknown(value: Any) -> bool:
    """An output computed by a resource that is itself changing: that step already counts."""
    return _UNKNOWN in json.dumps(value, default=str)


def _step_fields(metadata: Any) -> dict[str, Any]:
    op = metadata.op
    return {
        "urn": metadata.urn,
        "type": metadata.type,
        "op": getattr(op, "value", op),
        "diffs": list(metadata.diffs or ()),
        "old_protect": bool(metadata.old.protect) if metadata.old else None,
        "new_protect": bool(metadata.new.protect) if metadata.new else None,
        "retained": bool(getattr(metadata.old, "retain_on_delete", False)),
        "kept_on_delete": bool(getattr(metadata.new, "retain_on_delete", False)),
        "name": _own_name(metadata.old or metadata.new),
    }


def _own_name(state: Any) -> str:
    for values in (getattr(state, "outputs", None), getattr(state, "inputs", None)):
        if isinstance(values, dict) and isinstance(values.get("name"), str):
            return str(values["name"])
    return ""


# --- the operator's allowances, per stack ---------------------------------------------

URN_PREFIX = "urn:pulumi:"


def check_allowances(policy: GatePolicy, stacks: Sequence[StackInfo]) -> None:
    """Every --allow-* is a URN (`*` allowed) of one of the stacks this command covers."""
    names = [info.name for info in stacks]
    for option, patterns in (
        ("--allow-replace", policy.allow_replace),
        ("--allow-delete", policy.allow_delete),
        ("--allow-unprotect", policy.allow_unprotect),
    ):
        for pattern in patterns:
            if urn_stack(pattern) not in names:
                raise BadInput(
                    f"{option} {pattern!r} is not a URN of a stack this command covers",
                    f"valid: urn:pulumi:<stack>::sprocket-infra::<type>::<name> with <stack> one "
                    f"of {', '.join(names)} (copy it from `preview`)",
                )


def urn_stack(urn: str) -> str:
    if not urn.startswith(URN_PREFIX):
        return ""
    return urn.removeprefix(URN_PREFIX).split("::", 1)[0]


def policy_for(policy: GatePolicy, info: StackInfo) -> GatePolicy:
    """The allowances that name this stack (a URN names its stack)."""

    def mine(patterns: Any) -> frozenset[str]:
        return frozenset(p for p in patterns if urn_stack(p) == info.name)

    return GatePolicy(
        allow_replace=mine(policy.allow_replace),
        allow_delete=mine(policy.allow_delete),
        allow_unprotect=mine(policy.allow_unprotect),
        allow_all_deletes=policy.allow_all_deletes,
        stateful_types=policy.stateful_types,
        max_changes=policy.max_changes,
        unmatched_ok=policy.unmatched_ok,
    )


def refuse_unmatched(changes: list[PlannedChange], policy: GatePolicy, info: StackInfo) -> None:
    unmatched = [] if policy.unmatched_ok else unmatched_allowances(changes, policy)
    if unmatched:
        option, pattern = unmatched[0]
        kind = option.removeprefix("--allow-")
        candidates = [c.urn for c in changes if c.is_change and c.op != "create"][:5]
        raise BadInput(
            f"{option} {pattern} matches no {kind} step in the plan of {info.name}",
            "steps in the plan: " + (", ".join(candidates) or "none that need approval"),
        )
