"""The pre-rollout lint: a service may roll only if Swarm can tell a bad image and undo it.

Pure: it reads a service's Swarm spec (the Docker API's ``Spec``, durations in nanoseconds).
Rules (anchors.md pain point 13):
- the spec sets a healthcheck (an image's own HEALTHCHECK changes with the image, so it does not
  count);
- ``update_config.failure_action`` is ``rollback``;
- ``update_config.monitor`` is at least ``start_period + interval * retries``: failures after the
  monitor window are not counted, so a shorter window lets an unhealthy task pass;
- no ``start-first`` order with host-mode published ports (the new task cannot bind the port
  while the old one holds it, so it can never start).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from automation.swarm_watch import NANO, Timing


@dataclass(frozen=True)
class Violation:
    service: str  # catalog name
    setting: str  # as the Docker API names it, e.g. "UpdateConfig.FailureAction"
    problem: str

    def __str__(self) -> str:
        return f"{self.service}: {self.setting}: {self.problem}"


def lint_service(name: str, spec: Mapping[str, Any]) -> list[Violation]:
    return [
        *_healthcheck(name, spec),
        *_failure_action(name, spec),
        *_monitor_window(name, spec),
        *_start_first_host_ports(name, spec),
    ]


def _healthcheck(name: str, spec: Mapping[str, Any]) -> list[Violation]:
    health = spec.get("TaskTemplate", {}).get("ContainerSpec", {}).get("Healthcheck") or {}
    test = health.get("Test") or []
    if not test or test[0] == "NONE":
        return [
            Violation(
                name,
                "TaskTemplate.ContainerSpec.Healthcheck",
                "no healthcheck: Swarm cannot tell a bad image from a good one",
            )
        ]
    return []


def _failure_action(name: str, spec: Mapping[str, Any]) -> list[Violation]:
    action = (spec.get("UpdateConfig") or {}).get("FailureAction", "pause")
    if action != "rollback":
        return [
            Violation(
                name,
                "UpdateConfig.FailureAction",
                f"is {action!r}; must be 'rollback' so a failed update is undone",
            )
        ]
    return []


def _monitor_window(name: str, spec: Mapping[str, Any]) -> list[Violation]:
    if _healthcheck(name, spec):
        return []  # no healthcheck, no window to cover: that rule already fired
    timing = Timing.from_spec(spec)
    needed = timing.start_period_s + timing.health_interval_s * timing.health_retries
    if timing.monitor_s + 1 / NANO < needed:
        return [
            Violation(
                name,
                "UpdateConfig.Monitor",
                f"is {timing.monitor_s:g}s; must be at least start_period + interval * retries "
                f"= {timing.start_period_s:g} + {timing.health_interval_s:g} * "
                f"{timing.health_retries} = {needed:g}s, or failures after it go unnoticed",
            )
        ]
    return []


def _start_first_host_ports(name: str, spec: Mapping[str, Any]) -> list[Violation]:
    order = (spec.get("UpdateConfig") or {}).get("Order", "stop-first")
    ports = (spec.get("EndpointSpec") or {}).get("Ports") or []
    host_ports = [str(p.get("PublishedPort")) for p in ports if p.get("PublishMode") == "host"]
    if order == "start-first" and host_ports:
        return [
            Violation(
                name,
                "UpdateConfig.Order",
                f"start-first with host-mode published port(s) {', '.join(host_ports)}: the new "
                "task cannot bind them while the old one runs; use stop-first",
            )
        ]
    return []
