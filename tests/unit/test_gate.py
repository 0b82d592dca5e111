"""The preview gate as a table: each op type against stateful, protected and plain resources."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from automation.stack.gate import (
    ChangeCollector,
    GatePolicy,
    PlannedChange,
    change_counts,
    evaluate,
    plan_fingerprint,
    unmatched_allowances,
)

VOLUME = "urn:pulumi:prod-layer_2::sprocket-infra::docker:index/volume:Volume::redis-data"
SERVICE = "urn:pulumi:prod-platform::sprocket-infra::docker:index/service:Service::web"
PROTECTED = "urn:pulumi:prod-layer_1::sprocket-infra::pulumi-python:dynamic:Resource::traefik"


def change(urn: str, op: str, **kw: Any) -> PlannedChange:
    types = {VOLUME: "docker:index/volume:Volume", SERVICE: "docker:index/service:Service"}
    type_ = types.get(urn, "pulumi-python:dynamic:Resource")
    return PlannedChange(urn, type_, op, stateful=urn == VOLUME, **kw)


NONE = GatePolicy()


@pytest.mark.parametrize(
    ("planned", "policy", "allowed"),
    [
        # plain resources pass whatever happens to them
        (change(SERVICE, "create"), NONE, True),
        (change(SERVICE, "update"), NONE, True),
        (change(SERVICE, "replace"), NONE, True),
        (change(SERVICE, "delete"), NONE, True),
        # stateful: in-place is fine, destruction is blocked until allowed by URN
        (change(VOLUME, "create"), NONE, True),
        (change(VOLUME, "update"), NONE, True),
        (change(VOLUME, "same"), NONE, True),
        (change(VOLUME, "replace"), NONE, False),
        (change(VOLUME, "create-replacement"), NONE, False),
        (change(VOLUME, "delete-replaced"), NONE, False),
        (change(VOLUME, "delete"), NONE, False),
        (change(VOLUME, "replace"), GatePolicy(allow_replace={VOLUME}), True),
        (change(VOLUME, "delete"), GatePolicy(allow_delete={VOLUME}), True),
        # allowing a replace does not allow a delete, and the other way round
        (change(VOLUME, "delete"), GatePolicy(allow_replace={VOLUME}), False),
        (change(VOLUME, "replace"), GatePolicy(allow_delete={VOLUME}), False),
        # a pattern allows what it matches, and only that
        (change(VOLUME, "replace"), GatePolicy(allow_replace={"*::redis-data"}), True),
        (change(VOLUME, "replace"), GatePolicy(allow_replace={"*::influx-data"}), False),
        # protected resources are guarded whatever their type
        (change(PROTECTED, "replace", protected=True), NONE, False),
        (change(PROTECTED, "delete", protected=True), NONE, False),
        (change(PROTECTED, "update", protected=True), NONE, True),
        (change(PROTECTED, "replace", protected=True), GatePolicy(allow_replace={PROTECTED}), True),
        # removing protect is a change of its own, blocked until allowed
        (change(PROTECTED, "same", protected=True, unprotects=True), NONE, False),
        (
            change(PROTECTED, "same", protected=True, unprotects=True),
            GatePolicy(allow_unprotect={PROTECTED}),
            True,
        ),
    ],
)
def test_gate_table(planned: PlannedChange, policy: GatePolicy, allowed: bool) -> None:
    decision = evaluate([planned], policy)
    assert decision.allowed is allowed
    assert len(decision.blocked) == (0 if allowed else 1)


def test_blocked_reason_names_the_option_and_urn() -> None:
    decision = evaluate([change(VOLUME, "replace")], NONE)
    [(blocked, reason)] = decision.blocked
    assert blocked.urn == VOLUME
    assert f"--allow-replace {VOLUME}" in reason
    assert decision.as_dict()["blocked"] == [{"urn": VOLUME, "op": "replace", "reason": reason}]


def test_max_changes_blocks_a_bigger_plan() -> None:
    plan = [change(SERVICE, "update"), change(PROTECTED, "create")]
    assert evaluate(plan, GatePolicy(max_changes=2)).allowed
    decision = evaluate(plan, GatePolicy(max_changes=1))
    assert not decision.allowed and "more than the 1 expected" in decision.blocked[0][1]
    assert "rerun with --max-changes 2" in decision.blocked[0][1]


def test_max_changes_does_not_count_the_stacks_outputs_following_a_change() -> None:
    stack = PlannedChange("urn:pulumi:prod-platform::sprocket-infra::pulumi:pulumi:Stack::x",
                          "pulumi:pulumi:Stack", "update")  # fmt: skip
    assert evaluate([change(SERVICE, "update"), stack], GatePolicy(max_changes=1)).allowed


def test_unmatched_allowances_are_reported() -> None:
    plan = [change(VOLUME, "replace"), change(SERVICE, "delete")]
    policy = GatePolicy(
        allow_replace={VOLUME, SERVICE}, allow_delete={SERVICE}, allow_unprotect={VOLUME}
    )
    assert unmatched_allowances(plan, policy) == [
        ("--allow-replace", SERVICE),
        ("--allow-unprotect", VOLUME),
    ]


def test_fingerprint_changes_with_the_step_set_only() -> None:
    a = [change(SERVICE, "update", diffs=("image",)), change(VOLUME, "same")]
    same_steps_reordered = [change(VOLUME, "same"), change(SERVICE, "update", diffs=("image",))]
    other_keys = [change(SERVICE, "update", diffs=("env",))]
    other_op = [change(SERVICE, "replace", diffs=("image",))]
    assert plan_fingerprint(a) == plan_fingerprint(same_steps_reordered)
    assert plan_fingerprint(a) != plan_fingerprint(other_keys)
    assert plan_fingerprint(a) != plan_fingerprint(other_op)
    assert change_counts(a) == {"update": 1}


def _event(urn: str, op: str, type_: str, **kw: Any) -> Any:
    old = SimpleNamespace(protect=kw["old_protect"]) if "old_protect" in kw else None
    new = SimpleNamespace(protect=kw["new_protect"]) if "new_protect" in kw else None
    metadata = SimpleNamespace(
        urn=urn, type=type_, op=SimpleNamespace(value=op), diffs=kw.get("diffs"), old=old, new=new
    )
    return SimpleNamespace(resource_pre_event=SimpleNamespace(metadata=metadata))


def test_collector_folds_a_replacement_into_one_change() -> None:
    collector = ChangeCollector()
    vol = "docker:index/volume:Volume"
    for op in ("create-replacement", "replace", "delete-replaced"):
        collector(_event(VOLUME, op, vol, diffs=["name"], old_protect=False, new_protect=False))
    collector(_event(SERVICE, "same", "docker:index/service:Service"))
    collector(SimpleNamespace(resource_pre_event=None))  # other events are ignored
    assert collector.changes == [
        PlannedChange(VOLUME, vol, "replace", ("name",), stateful=True),
        PlannedChange(SERVICE, "docker:index/service:Service", "same"),
    ]


def test_collector_sees_protect_being_removed() -> None:
    collector = ChangeCollector()
    collector(_event(PROTECTED, "same", "x:y:Z", old_protect=True, new_protect=False))
    [planned] = collector.changes
    assert planned.protected and planned.unprotects and planned.is_change
    assert not evaluate(collector.changes, NONE).allowed


def test_collector_counts_changed_stack_outputs_as_an_update() -> None:
    stack_urn = "urn:pulumi:local-layer_1::sprocket-infra::pulumi:pulumi:Stack::x"
    collector = ChangeCollector()
    collector(_event(stack_urn, "same", "pulumi:pulumi:Stack"))

    def outputs_event(old: dict[str, Any], new: dict[str, Any]) -> Any:
        meta = SimpleNamespace(
            urn=stack_urn,
            type="pulumi:pulumi:Stack",
            old=SimpleNamespace(outputs=old),
            new=SimpleNamespace(outputs=new),
        )
        return SimpleNamespace(
            resource_pre_event=None, res_outputs_event=SimpleNamespace(metadata=meta)
        )

    collector(outputs_event({"a": "1", "b": "x"}, {"a": "1", "b": "x"}))
    assert not any(c.is_change for c in collector.changes)
    unknown = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"  # computed by a resource being updated
    collector(outputs_event({"a": "1", "b": "x"}, {"a": unknown, "b": {"nested": unknown}}))
    assert not any(c.is_change for c in collector.changes)
    collector(outputs_event({"a": "1", "b": "x"}, {"a": "2", "c": "y"}))
    [change] = collector.changes
    assert (change.op, change.diffs) == ("update", ("a", "b", "c"))
    assert evaluate(collector.changes, NONE).allowed


def test_allow_all_deletes_allows_deletes_only_and_the_text_names_the_pattern() -> None:
    from automation.stack.gate import allow_all_text

    stack = "local-platform"
    urns = [f"urn:pulumi:{stack}::sprocket-infra::docker:index/volume:Volume::v{i}" for i in (1, 2)]
    deletes = [
        PlannedChange(u, "docker:index/volume:Volume", "delete", stateful=True) for u in urns
    ]
    replace = PlannedChange(urns[0] + "r", "docker:index/volume:Volume", "replace", stateful=True)
    blocked = evaluate([*deletes, replace], GatePolicy())
    assert len(blocked.blocked) == 3
    assert allow_all_text(blocked, stack) == (
        f"to allow all 2 blocked deletes of {stack} at once: --allow-delete 'urn:pulumi:{stack}::*'"
    )
    allowed = evaluate([*deletes, replace], GatePolicy(allow_all_deletes=True))
    assert [c.op for c, _ in allowed.blocked] == ["replace"]
    assert allow_all_text(evaluate(deletes[:1], GatePolicy()), stack) == ""  # one URN is as short
