"""The pre-rollout lint names the service and the setting that would let a bad image stay live."""

from __future__ import annotations

from typing import Any

import pytest

from automation.rollout.lint import lint_service
from automation.swarm_watch import NANO


def spec(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "Mode": {"Replicated": {"Replicas": 2}},
        "TaskTemplate": {
            "ContainerSpec": {
                "Image": "app:1",
                "Healthcheck": {
                    "Test": ["CMD", "wget", "-q", "-O-", "http://127.0.0.1:8080/"],
                    "Interval": 2 * NANO,
                    "Timeout": 2 * NANO,
                    "Retries": 2,
                    "StartPeriod": 2 * NANO,
                },
            }
        },
        "UpdateConfig": {"FailureAction": "rollback", "Monitor": 6 * NANO, "Order": "stop-first"},
        "EndpointSpec": {"Mode": "vip"},
    }
    base.update(changes)
    return base


def test_a_service_with_the_house_defaults_passes() -> None:
    assert lint_service("web", spec()) == []


def test_the_monitor_window_may_equal_start_period_plus_interval_times_retries() -> None:
    assert lint_service("web", spec()) == []  # 6 s = 2 + 2 * 2


@pytest.mark.parametrize(
    ("changes", "setting", "words"),
    [
        pytest.param(
            {"TaskTemplate": {"ContainerSpec": {"Image": "app:1"}}},
            "TaskTemplate.ContainerSpec.Healthcheck",
            "no healthcheck",
            id="no-healthcheck",
        ),
        pytest.param(
            {"TaskTemplate": {"ContainerSpec": {"Healthcheck": {"Test": ["NONE"]}}}},
            "TaskTemplate.ContainerSpec.Healthcheck",
            "no healthcheck",
            id="healthcheck-none",
        ),
        pytest.param(
            {"UpdateConfig": {"FailureAction": "pause", "Monitor": 60 * NANO}},
            "UpdateConfig.FailureAction",
            "'pause'; must be 'rollback'",
            id="failure-action-pause",
        ),
        pytest.param(
            {"UpdateConfig": {"Monitor": 60 * NANO}},
            "UpdateConfig.FailureAction",
            "'pause'",
            id="failure-action-docker-default",
        ),
        pytest.param(
            {"UpdateConfig": {"FailureAction": "rollback", "Monitor": 5 * NANO}},
            "UpdateConfig.Monitor",
            "is 5s; must be at least start_period + interval * retries = 2 + 2 * 2 = 6s",
            id="monitor-too-short",
        ),
        pytest.param(
            {
                "UpdateConfig": {
                    "FailureAction": "rollback",
                    "Monitor": 60 * NANO,
                    "Order": "start-first",
                },
                "EndpointSpec": {
                    "Ports": [{"TargetPort": 80, "PublishedPort": 8080, "PublishMode": "host"}]
                },
            },
            "UpdateConfig.Order",
            "start-first with host-mode published port(s) 8080",
            id="start-first-host-port",
        ),
    ],
)
def test_each_rule_names_the_service_and_the_setting(
    changes: dict[str, Any], setting: str, words: str
) -> None:
    violations = lint_service("web", spec(**changes))
    assert [v.setting for v in violations] == [setting]
    assert words in violations[0].problem
    assert str(violations[0]).startswith(f"web: {setting}: ")


def test_start_first_with_ingress_ports_is_fine() -> None:
    ports = {"Ports": [{"TargetPort": 80, "PublishedPort": 8080, "PublishMode": "ingress"}]}
    update = {"FailureAction": "rollback", "Monitor": 6 * NANO, "Order": "start-first"}
    assert lint_service("web", spec(UpdateConfig=update, EndpointSpec=ports)) == []


def test_docker_default_healthcheck_timings_need_a_long_monitor() -> None:
    """A healthcheck with no timings gets Docker's 30 s x 3: the monitor must cover 90 s."""
    health = {"TaskTemplate": {"ContainerSpec": {"Healthcheck": {"Test": ["CMD", "true"]}}}}
    violations = lint_service("web", spec(**health))
    assert [v.setting for v in violations] == ["UpdateConfig.Monitor"]
    assert "= 90s" in violations[0].problem
