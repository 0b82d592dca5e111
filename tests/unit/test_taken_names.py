"""Which of a plan's creates the taken-names check looks up (automation/stack/taken.py), from
the preview's step events as the engine sends them (the shape of pulumi.automation.events)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from automation.errors import NamesTaken
from automation.exit_codes import ExitCode
from automation.stack.gate import ChangeCollector
from automation.stack.taken import (
    OTHER_STACK,
    OTHER_STATE,
    THIS_STATE,
    UNLABELLED,
    TakenName,
    names_taken_error,
    ownership,
    planned_creates,
)
from sprocket_common.ownership import PROJECT_LABEL, STACK_LABEL, STATE_LABEL
from sprocket_common.stack_info import StackInfo

STACK = "urn:pulumi:local-layer_2::sprocket-infra::"


def _create(type_: str, name: str, *, retain_on_delete: bool = False) -> Any:
    new = SimpleNamespace(protect=False, retain_on_delete=retain_on_delete, inputs={"name": name})
    metadata = SimpleNamespace(
        urn=f"{STACK}{type_}::{name}",
        type=type_,
        op=SimpleNamespace(value="create"),
        diffs=None,
        old=None,
        new=new,
    )
    return SimpleNamespace(resource_pre_event=SimpleNamespace(metadata=metadata))


def test_every_named_create_is_looked_up_a_kept_volume_too() -> None:
    """Networks, services, configs, secrets and volumes are looked up; a data volume kept on
    destroy (retain_on_delete) too, since its labels now tell another stack's from this one's
    (taken_names lets this stack's and unlabelled ones by)."""
    collector = ChangeCollector()
    for event in (
        _create("docker:index/volume:Volume", "local-redis-data", retain_on_delete=True),
        _create("docker:index/volume:Volume", "traefik-data"),
        _create("docker:index/network:Network", "traefik-ingress"),
        _create("docker:index/service:Service", "redis"),
        _create("docker:index/serviceConfig:ServiceConfig", "redis-conf-1a2b"),
        _create("docker:index/secret:Secret", "redis-password-1a2b"),
        _create("random:index/randomPassword:RandomPassword", "redis-password"),
    ):
        collector(event)
    looked_up = [c.name for c in planned_creates(collector.changes)]
    assert looked_up == [
        "local-redis-data",
        "traefik-data",
        "traefik-ingress",
        "redis",
        "redis-conf-1a2b",
        "redis-password-1a2b",
    ]


STATE = "5d2c4f0e-1111-4222-8333-444455556666"
LOST = "9a8b7c6d-1111-4222-8333-444455556666"


def _owned(stack: str, state: str, project: str = "sprocket-infra") -> dict[str, str]:
    return {PROJECT_LABEL: project, STACK_LABEL: stack, STATE_LABEL: state}


def test_an_object_is_sorted_by_the_owner_its_labels_name() -> None:
    info = StackInfo.parse("local-layer_1")
    assert ownership(_owned("local-layer_1", STATE), info, STATE)[0] == THIS_STATE
    assert ownership(_owned("local-layer_1", LOST), info, STATE) == (
        OTHER_STATE,
        "this stack's, made by another state (9a8b7c6d; this state: 5d2c4f0e)",
    )
    # A first deploy's state has no identity yet: this stack's objects are another state's.
    assert ownership(_owned("local-layer_1", LOST), info, None)[1].endswith("this state: none)")
    assert ownership(_owned("staging-layer_1", STATE), info, STATE) == (
        OTHER_STACK,
        "another stack's (sprocket-infra/staging-layer_1)",
    )
    assert ownership(_owned("local-layer_1", STATE, "other"), info, STATE)[0] == OTHER_STACK
    assert ownership({"com.example": "x"}, info, STATE)[0] == UNLABELLED
    assert ownership(None, info, None)[0] == UNLABELLED


def test_the_choices_offered_are_those_of_the_cases_found() -> None:
    info = StackInfo.parse("local-layer_1")
    other_stack = TakenName("network", "n", "urn:n", "another stack's (x/y)", OTHER_STACK)
    hint = names_taken_error(info, [other_stack]).hint
    assert "another stack's objects are that stack's" in hint and "docker <kind> rm" in hint
    assert "restore" not in hint and "migrate" not in hint
    other_state = TakenName("volume", "v", "urn:v", "this stack's, ...", OTHER_STATE)
    hint = names_taken_error(info, [other_state]).hint
    assert "--env local restore layer_1 --file FILE`" in hint and "migrate" not in hint


def test_the_refusal_is_one_line_per_object_and_names_what_works() -> None:
    info = StackInfo.parse("local-layer_1")
    error = names_taken_error(
        info,
        [
            TakenName(
                "network", "traefik-ingress", "urn:a", "unlabelled / not in this stack's state"
            ),
            TakenName("volume", "traefik-data", "urn:b", "unlabelled / not in this stack's state"),
        ],
    )
    assert isinstance(error, NamesTaken) and error.code == ExitCode.NAME_TAKEN
    assert error.message.splitlines()[1:] == [
        "  network traefik-ingress: unlabelled / not in this stack's state",
        "  volume traefik-data: unlabelled / not in this stack's state",
    ]
    for command in ("restore layer_1 --file FILE", "backup list layer_1", "migrate plan layer_1"):
        assert f"--env local {command}`" in error.hint
