"""Which services a deploy waits for, from the engine's events, and how a failure reads."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from automation.stack.convergence import (
    SERVICE_TYPE,
    Before,
    ServiceResult,
    ServiceSteps,
    failure_text,
    targets,
)
from automation.swarm_watch import Convergence, Phase
from sprocket_common.stack_info import Env

PREFIX = "urn:pulumi:local-platform::sprocket-infra::sprocket:swarm:Service$"


def event(kind: str, name: str, op: str, *, outputs: bool = True, type_: str = SERVICE_TYPE) -> Any:
    state = SimpleNamespace(outputs={"name": name} if outputs else {}, inputs={"name": name})
    meta = SimpleNamespace(urn=f"{PREFIX}{type_}::{name}", type=type_, op=op, new=state, old=state)
    return SimpleNamespace(**{kind: SimpleNamespace(metadata=meta)})


def test_the_apply_events_say_which_services_changed_and_which_are_gone() -> None:
    steps = ServiceSteps()
    for ev in (
        event("resource_pre_event", "local-web", "same"),
        event("resource_pre_event", "local-core", "create", outputs=False),  # name: an input
        event("res_outputs_event", "local-core", "create"),
        event("resource_pre_event", "local-bot", "update"),
        event("res_outputs_event", "local-bot", "same"),  # a later "same" does not undo it
        event("resource_pre_event", "local-old", "same"),
        event("resource_pre_event", "local-old", "delete"),
        event("resource_pre_event", "local-net", "create", type_="docker:index/network:Network"),
    ):
        steps(ev)
    assert {s.name: s.op for s in steps.services()} == {
        "local-web": "same",
        "local-core": "create",
        "local-bot": "update",
    }
    watched = {t.name: t for t in targets(steps, Before(update_status={"local-bot": {"x": 1}}))}
    assert watched["local-bot"].baseline_status == {"x": 1}
    assert watched["local-bot"].stable_s is None  # an update: its monitor window
    assert watched["local-core"].stable_s == 0.0 and watched["local-web"].stable_s == 0.0
    # an unchanged service: judged by its tasks, an earlier update or rollback is not this one
    assert (
        watched["local-web"].ignore_update_status and not watched["local-bot"].ignore_update_status
    )


def test_a_failure_names_running_vs_desired_swarm_words_and_what_to_run() -> None:
    rolled = Convergence(
        Phase.FAILED, 1, 1, "rollback_completed", "Swarm rolled the service back",
        ("task: non-zero exit (1): dockerexec: unhealthy container",),
    )  # fmt: skip
    missing = Convergence(Phase.FAILED, 0, 1, None, "Swarm stopped restarting the tasks",
                          ("No such image: app:9",), stall="gave_up")  # fmt: skip
    nowhere = Convergence(Phase.FAILED, 0, 1, None, "no suitable node",
                          ("no suitable node (scheduling constraints not satisfied)",),
                          stall="unschedulable")  # fmt: skip
    ok = Convergence(Phase.COMPLETED, 1, 1)
    text = failure_text(
        [
            ServiceResult("local-web", "urn:web", "updated", rolled),
            ServiceResult("local-core", "urn:core", "created", missing),
            ServiceResult("local-elo", "urn:elo", "created", nowhere),
            ServiceResult("local-bot", "urn:bot", "unchanged", ok),
        ],
        "platform",
        env=Env.PROD,
    )
    assert text.startswith("3 of 4 services did not converge:")
    assert "no node can take its task" in text and "docker service inspect local-elo" in text
    assert "local-core: 0/1 running; Swarm stopped restarting" in text
    assert "task: No such image: app:9" in text
    assert "`docker service update --force local-core` restarts it" in text
    assert "rolled back by Swarm" in text and "drift platform" in text
    assert "`python -m automation --env prod drift platform`" in text
    assert "local-bot" not in text
    assert ServiceResult("w", "u", "updated", rolled).as_dict()["rolled_back_by_swarm"] is True
