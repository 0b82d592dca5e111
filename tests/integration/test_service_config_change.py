"""A running service's file changes: the next deploy moves it onto the new Swarm config.

The real engine and docker provider with the house SwarmService (sprocket_common/swarm_service.py).
A config's name is its content hash, and the provider bridge asks for delete-before-replace when
a name is given; Swarm refuses to delete a config a service uses, so every deploy that changed a
file of a running stack failed (found on `make deploy` of the local environment).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from pulumi import automation as auto
from rotate_consumer import plugins_home

pytestmark = pytest.mark.integration


@pytest.fixture
def stack(pulumi_env: Any, swarm: Any) -> Iterator[Any]:
    plugins_home(pulumi_env.root / "pulumi-home")
    (pulumi_env.project_dir / "Pulumi.local-layer_1.yaml").unlink(missing_ok=True)
    made = auto.create_stack(
        "local-layer_1", "sprocket-infra", lambda: None, opts=pulumi_env.workspace_options()
    )
    try:
        yield made
    finally:
        made.workspace.program = lambda: None
        made.up(color="never")  # nothing declared: the service and its config are removed


def _program(name: str, image: str, content: str) -> Any:
    def program() -> None:
        from sprocket_common.service import FileMount, ServiceConfig
        from sprocket_common.swarm_service import SwarmService

        files = [FileMount(name="motd", target="/etc/motd", content=content)]
        config = ServiceConfig(
            name=name, image=image, files=files,
            no_healthcheck_because="the test image's own HEALTHCHECK is used",
        )  # fmt: skip
        SwarmService(name, config, {})

    return program


def test_a_changed_file_of_a_running_service_deploys(
    stack: Any, swarm: Any, test_images: dict[str, str], service_name: str
) -> None:
    stack.workspace.program = _program(service_name, test_images["1"], "first\n")
    stack.up(color="never")
    stack.workspace.program = _program(service_name, test_images["1"], "second\n")
    result = stack.up(color="never")  # raised "config ... is in use by ... service" before
    assert result.summary.result == "succeeded"
    mounted = swarm.services.get(service_name).attrs["Spec"]["TaskTemplate"]["ContainerSpec"]
    [config] = mounted["Configs"]
    assert swarm.configs.get(config["ConfigID"]).attrs["Spec"]["Data"]  # the new one exists
    names = {c.name for c in swarm.configs.list() if c.name.startswith(service_name)}
    assert names == {config["ConfigName"]}, names  # and the old one is gone
