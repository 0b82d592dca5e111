"""The checks before a `stack import`, on checkpoints laid out as `pulumi stack export` (v3)."""

from __future__ import annotations

import copy
from typing import Any

from automation.backup.checks import explain_difference, integrity_defects
from automation.backup.pulumi_state import _only_foreign_urns
from automation.pulumi.errors import engine_reason

BASE = "urn:pulumi:local-layer_1::sprocket-infra::"
STACK = BASE + "pulumi:pulumi:Stack::sprocket-infra-local-layer_1"
PROVIDER = BASE + "pulumi:providers:pulumi-python::default"
WEB = BASE + "pulumi-python:dynamic:Resource::web"


def checkpoint() -> dict[str, Any]:
    return {
        "version": 3,
        "deployment": {
            "resources": [
                {"urn": STACK, "type": "pulumi:pulumi:Stack", "custom": False},
                {"urn": PROVIDER, "type": "pulumi:providers:pulumi-python", "custom": True,
                 "id": "4a1f"},
                {"urn": WEB, "type": "pulumi-python:dynamic:Resource", "custom": True, "id": "w",
                 "parent": STACK, "provider": PROVIDER + "::4a1f", "dependencies": [],
                 "propertyDependencies": {"value": []}},
            ]
        },
    }  # fmt: skip


def test_a_sound_checkpoint_has_no_defects() -> None:
    assert integrity_defects(checkpoint()) == []


def test_each_defect_names_the_resource_and_what_is_wrong() -> None:
    state = checkpoint()
    web = state["deployment"]["resources"][2]
    web["provider"] = PROVIDER + "::other-id"
    web["propertyDependencies"] = {"value": [BASE + "x::later"]}
    state["deployment"]["resources"].append({"urn": BASE + "x::later", "type": "x"})
    state["deployment"]["resources"].append(copy.deepcopy(web))
    state["deployment"]["pending_operations"] = [{"type": "frobbing", "resource": {"urn": WEB}}]
    assert integrity_defects(state) == [
        f"resource {WEB} refers to unknown provider {PROVIDER}::other-id",
        f"resource {WEB}: its property dependency (from value) {BASE}x::later comes after it",
        f"resource {WEB} refers to unknown provider {PROVIDER}::other-id",
        f"resource {WEB} appears 2 times (not marked for deletion)",
        "pending operation 0 has unknown type 'frobbing'",
    ]


def test_a_duplicate_marked_for_deletion_is_what_a_replacement_leaves() -> None:
    state = checkpoint()
    state["deployment"]["resources"].append({**state["deployment"]["resources"][2], "delete": True})
    assert integrity_defects(state) == []


def test_a_checkpoint_without_a_deployment_is_named() -> None:
    assert integrity_defects({"version": 3}) == [
        "the checkpoint has no `deployment` object: not a `pulumi stack export`"
    ]


def test_dropped_pending_operations_are_named_as_the_difference() -> None:
    backup = checkpoint()
    backup["deployment"]["pending_operations"] = [{"type": "creating", "resource": {"urn": WEB}}]
    reason, only_pending = explain_difference(checkpoint(), backup)
    assert only_pending is True
    assert f"dropped the backup's 1 pending operation(s) (creating {WEB})" in reason
    changed = checkpoint()
    changed["deployment"]["resources"].pop()
    reason, only_pending = explain_difference(changed, checkpoint())
    assert (reason, only_pending) == (
        f"the imported state differs from the backup: missing {WEB}",
        False,
    )


def test_the_engines_whole_reason_is_kept_without_its_force_advice() -> None:
    refusal = (
        "error: 2 errors occurred:\n"
        "    1) state file contains errors: magic cookie mismatch; possible tampering\n"
        "    2) importing this file could be dangerous; rerun with --force to proceed anyway\n"
    )
    assert engine_reason(refusal) == (
        "state file contains errors: magic cookie mismatch; possible tampering"
    )
    assert not _only_foreign_urns(refusal)
    foreign = refusal.replace(
        "state file contains errors: magic cookie mismatch; possible tampering",
        "resource 'urn:pulumi:a::p::t::n' is from a different stack (a != b)",
    )
    assert _only_foreign_urns(foreign)
    assert engine_reason("") == "no reason given (empty stderr)"
