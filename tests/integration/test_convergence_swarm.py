"""Deploy's wait for convergence (automation/stack/convergence.py) on a real Swarm."""

from __future__ import annotations

import time
from typing import Any

import docker
import pytest

from automation.stack.convergence import Before, ServiceStep, ServiceSteps, watch
from automation.swarm_watch import WatchStopped

pytestmark = pytest.mark.integration


def test_ctrl_c_during_the_wait_keeps_what_was_seen_of_each_service(
    swarm: Any, test_images: dict[str, str], service_name: str
) -> None:
    """Stopped (as by Ctrl-C) while one service can never be placed: the result still says the
    other converged and which one was waiting, instead of losing both."""
    healthy, nowhere = f"{service_name}-ok", f"{service_name}-nowhere"
    swarm.services.create(test_images["1"], name=healthy)
    swarm.services.create(
        test_images["1"], name=nowhere, constraints=["node.labels.sprocket.nowhere==true"]
    )
    steps = ServiceSteps()
    for name in (healthy, nowhere):
        steps.by_urn[f"urn:{name}"] = ServiceStep(f"urn:{name}", name, "create")
    api = docker.APIClient()
    started, running_since = time.monotonic(), None

    def stop() -> bool:
        """Ctrl-C a few watch rounds after the healthy service runs (60 s at most)."""
        nonlocal running_since
        tasks = api.tasks({"service": healthy})
        if running_since is None and any(t["Status"]["State"] == "running" for t in tasks):
            running_since = time.monotonic()
        ran_a_while = running_since is not None and time.monotonic() - running_since > 5
        return ran_a_while or time.monotonic() - started > 60

    with pytest.raises(WatchStopped) as stopped:
        watch(api, "sprockettest-stack", steps, Before(), stop=stop, live=False)
    partial = {result.service: result for result in stopped.value.partial}
    assert set(partial) == {healthy, nowhere}
    assert partial[healthy].converged, partial[healthy].as_dict()
    assert not partial[nowhere].converged
    assert (partial[nowhere].convergence.running, partial[nowhere].convergence.desired) == (0, 1)
