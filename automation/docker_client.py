"""The one way the driver reaches the Docker engine of the Swarm manager (DOCKER_HOST, e.g.
ssh:// in prod): rollout, health, convergence and the preflight all use it."""

from __future__ import annotations

import os
from typing import Any

from automation.errors import DriverError


def docker_client(docker_host: str | None) -> Any:
    """A docker.DockerClient for `docker_host` (None: DOCKER_HOST or the local socket); ssh://
    goes through the system ssh client, so ~/.ssh/config and agents apply."""
    import docker

    environment = {**os.environ, **({"DOCKER_HOST": docker_host} if docker_host else {})}
    host = environment.get("DOCKER_HOST", "")
    return docker.from_env(environment=environment, use_ssh_client=host.startswith("ssh://"))


def docker_api(docker_host: str | None) -> Any:
    """The low-level client (plain dicts in and out) of an engine that answers a ping; raises
    DriverError naming the host and what to do when it does not."""
    import docker

    try:
        client = docker_client(docker_host)
        client.ping()
    except docker.errors.DockerException as exc:
        raise DriverError(
            f"cannot reach the Docker engine at {docker_host or 'the default socket'}: {exc}",
            "set DOCKER_HOST to the Swarm manager (ssh://user@host in prod)",
        ) from None
    return client.api
