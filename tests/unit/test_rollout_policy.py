"""The rollout gate lets image changes of the named services through, and nothing else."""

from __future__ import annotations

from typing import Any

import pytest

from automation.rollout.policy import PlannedStep, changed_paths, evaluate_rollout

SERVICES = {"web": "prod-web", "core": "prod-core"}
PROVIDER = "__provider"


def dyn(name: str, image: str, **extra: Any) -> dict[str, Any]:
    return {PROVIDER: "pickled", "service_name": SERVICES[name], "image": image, **extra}


def docker_service(name: str, image: str, env: str = "A=1") -> dict[str, Any]:
    return {"name": SERVICES[name], "taskSpec": {"containerSpec": {"image": image, "env": [env]}}}


def update(old: dict[str, Any], new: dict[str, Any], urn: str = "urn:web") -> PlannedStep:
    return PlannedStep(urn, "pulumi-python:dynamic:Resource", "update", old, new)


def test_changed_paths_are_dotted_leaves_without_sdk_keys() -> None:
    old = {"__provider": "a", "image": "x", "env": {"A": "1", "B": "2"}}
    new = {"__provider": "b", "image": "y", "env": {"A": "1", "B": "3", "C": "4"}}
    assert changed_paths(old, new) == {"image", "env.B", "env.C"}


def test_image_changes_on_named_services_pass_and_are_listed() -> None:
    steps = [
        update(dyn("web", "app:1"), dyn("web", "app:2")),
        update(docker_service("core", "app:1"), docker_service("core", "app:2"), "urn:core"),
        PlannedStep("urn:stack", "pulumi:pulumi:Stack", "update"),
        PlannedStep("urn:prov", "pulumi:providers:pulumi-python", "update", {"a": 1}, {"a": 2}),
        PlannedStep("urn:same", "x", "same"),
    ]
    gate = evaluate_rollout(steps, SERVICES, {"web", "core"})
    assert gate.allowed
    assert {(c.service, c.old_image, c.new_image) for c in gate.images} == {
        ("web", "app:1", "app:2"),
        ("core", "app:1", "app:2"),
    }


@pytest.mark.parametrize(
    ("step", "reason"),
    [
        pytest.param(
            update(dyn("web", "app:1", replicas=1), dyn("web", "app:2", replicas=3)),
            "changes more than the image of 'web': replicas",
            id="image-and-replicas",
        ),
        pytest.param(
            update(
                docker_service("web", "app:1", "A=1"),
                docker_service("web", "app:1", "A=2"),
            ),
            "updates service 'web' without changing its image: taskSpec.containerSpec.env",
            id="env-only",
        ),
        pytest.param(
            update(dyn("web", "app:1", token="[secret]"), dyn("web", "app:1", token="[secret]")),
            "without changing its image: (no input changes)",
            id="maybe-a-secret",
        ),
        pytest.param(
            update(dyn("core", "app:1"), dyn("core", "app:2"), "urn:core"),
            "changes service 'core', which is not in this rollout: image",
            id="service-not-named",
        ),
        pytest.param(
            PlannedStep("urn:vol", "docker:index/volume:Volume", "replace"),
            "replace is not an image change",
            id="replace",
        ),
        pytest.param(
            PlannedStep("urn:new", "docker:index/service:Service", "create"),
            "create is not an image change",
            id="create",
        ),
        pytest.param(
            PlannedStep("urn:net", "docker:index/network:Network", "update", {"a": 1}, {"a": 2}),
            "updates a resource that is not a platform service: a",
            id="other-resource",
        ),
        pytest.param(
            PlannedStep("urn:prov", "pulumi:providers:docker", "replace"),
            "replace is not an image change",
            id="provider-replace",
        ),
    ],
)
def test_everything_else_is_blocked_with_a_reason(step: PlannedStep, reason: str) -> None:
    gate = evaluate_rollout([step], SERVICES, {"web"})
    assert not gate.allowed
    assert reason in gate.blocked[0].reason
    assert gate.as_dict()["blocked"][0]["urn"] == step.urn


def test_allow_other_changes_lets_the_rest_through_but_still_lists_images() -> None:
    steps = [
        update(dyn("web", "app:1", replicas=1), dyn("web", "app:2", replicas=3)),
        PlannedStep("urn:new", "docker:index/service:Service", "create"),
    ]
    gate = evaluate_rollout(steps, SERVICES, {"web"}, allow_other_changes=True)
    assert gate.allowed
    assert [c.service for c in gate.images] == ["web"]


def test_reasons_never_carry_input_values() -> None:
    step = update(dyn("web", "app:1", env={"TOKEN": "canary-123"}), dyn("web", "app:1", env={}))
    gate = evaluate_rollout([step], SERVICES, {"web"})
    assert "canary-123" not in repr(gate.as_dict())
