"""Which of a plan's creates the taken-names check looks up (automation/stack/taken.py), from
the preview's step events as the engine sends them (the shape of pulumi.automation.events)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from automation.errors import NamesTaken
from automation.exit_codes import ExitCode
from automation.stack.gate import ChangeCollector
from automation.stack.taken import TakenName, names_taken_error, planned_creates
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


def test_a_kept_data_volume_is_let_by_and_every_other_named_create_is_looked_up() -> None:
    """Re-creating a stack onto the volumes its destroy kept (retain_on_delete) is by design;
    a volume without it (layer_1's traefik-data) and networks, services, configs, secrets are
    checked."""
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
        "traefik-data",
        "traefik-ingress",
        "redis",
        "redis-conf-1a2b",
        "redis-password-1a2b",
    ]


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
