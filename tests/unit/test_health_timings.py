"""The environment decides healthcheck timings (env_defaults.health): local short, prod as
declared, and a service that declares shorter timings keeps them."""

from __future__ import annotations

import pytest

from sprocket_common.env_defaults import env_defaults
from sprocket_common.service import (
    Healthcheck,
    ServiceConfig,
    house_update_config,
    with_health_timings,
)


def _config(**health: int) -> ServiceConfig:
    return ServiceConfig(
        name="app", image="app:1", healthcheck=Healthcheck(test=["CMD", "true"], **health)
    )


@pytest.mark.parametrize("env", ["prod", "staging"])
def test_prod_and_staging_keep_the_declared_timings(env: str) -> None:
    config = _config(interval_s=10, start_period_s=60, retries=3)
    assert with_health_timings(config, env_defaults(env).health) == config
    assert house_update_config(config.healthcheck, "start-first")["monitor"] == "1m40s"


def test_local_shortens_the_interval_start_period_and_so_the_monitor_window() -> None:
    config = with_health_timings(
        _config(interval_s=10, start_period_s=60, retries=3), env_defaults("local").health
    )
    assert config.healthcheck is not None
    assert (config.healthcheck.interval_s, config.healthcheck.start_period_s) == (2, 30)
    assert config.healthcheck.retries == 3  # how many failures count is not a timing
    assert house_update_config(config.healthcheck, "start-first")["monitor"] == "46s"


def test_local_never_lengthens_what_a_service_declares() -> None:
    config = _config(interval_s=1, start_period_s=2, retries=2)
    assert with_health_timings(config, env_defaults("local").health) == config


def test_a_service_without_a_healthcheck_is_left_alone() -> None:
    config = ServiceConfig(name="app", image="app:1", no_healthcheck_because="FROM scratch")
    assert with_health_timings(config, env_defaults("local").health) == config
