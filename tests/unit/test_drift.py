"""Drift from refresh steps: which ops count, and which property names are reported."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from automation.stack.drift import changed_keys, drift_from_step, drift_text

URN = "urn:pulumi:prod-platform::sprocket-infra::pulumi-python:dynamic:Resource::web"


def _state(**outputs: object) -> SimpleNamespace:
    return SimpleNamespace(outputs=outputs)


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ({"replicas": 1, "image": "a:1"}, {"replicas": 2, "image": "a:1"}, ("replicas",)),
        ({"env": {"A": "1"}}, {"env": {"A": "2"}, "labels": {}}, ("env", "labels")),
        ({"__provider": "x", "image": "a"}, {"__provider": "y", "image": "a"}, ()),
        (None, None, ()),
    ],
)
def test_changed_keys_are_top_level_names_only(
    old: dict[str, object] | None, new: dict[str, object] | None, expected: tuple[str, ...]
) -> None:
    assert changed_keys(old, new) == expected


def test_same_and_refresh_steps_are_not_drift() -> None:
    for op in ("same", "refresh", "read"):
        assert drift_from_step(op, URN, "t", _state(a=1), _state(a=2)) is None


def test_update_and_delete_are_drift() -> None:
    updated = drift_from_step("update", URN, "t", _state(image="a:1"), _state(image="a:2"))
    assert updated is not None and updated.changed == ("image",)
    deleted = drift_from_step("delete", URN, "t", _state(image="a:1"), None)
    assert deleted is not None and (deleted.op, deleted.changed) == ("delete", ())


def test_changed_values_never_reach_the_report() -> None:
    secret = "canary-d41f-never-print"
    found = drift_from_step("update", URN, "t", _state(token="old"), _state(token=secret))
    assert found is not None
    data = {"stacks": [{"stack": "prod-platform", "deployed": True, "drifted": [found.as_json()]}]}
    assert secret not in str(found.as_json()) and secret not in drift_text(data)
    assert "changed: token" in drift_text(data)
