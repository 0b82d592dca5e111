"""The house service spec on a real Swarm: accepted as built, files and secrets in place, and a
failed update rolled back by Swarm itself.

The spec is `service_args(config)` (what pulumi-docker would send), mapped onto the Docker SDK by
`sprocket_common.testing.engine_spec`; the provider plugin itself is not installed here.
"""

from __future__ import annotations

import functools
import uuid
from typing import Any

import pytest
from waiting import wait_until

from sprocket_common.service import (
    FileMount,
    Healthcheck,
    Resources,
    SecretMount,
    ServiceConfig,
    config_object_name,
    house_monitor_s,
    service_args,
)
from sprocket_common.testing.engine_spec import engine_service_kwargs

pytestmark = pytest.mark.integration

CANARY = "canary-house-secret-2b8e"


def _config(name: str, image: str, health_port: int = 8080) -> ServiceConfig:
    return ServiceConfig(
        name=name,
        image=image,
        healthcheck=Healthcheck(
            test=["CMD", "wget", "-q", "-O-", f"http://127.0.0.1:{health_port}/"],
            interval_s=1,
            timeout_s=1,
            start_period_s=2,
            retries=2,
        ),
        resources=Resources(cpu=0.2, memory_mb=64),
        files=[FileMount(name="conf", target="/etc/app.conf", content="house-config\n")],
        secret_mounts=[SecretMount(name="token", target="token")],
        labels={"sprocket.test": "house"},
    )


def _running_container(swarm: Any, service: str) -> Any:
    for task in swarm.api.tasks(filters={"service": service, "desired-state": "running"}):
        status = task["Status"]
        if status["State"] == "running" and status.get("ContainerStatus"):
            container = swarm.containers.get(status["ContainerStatus"]["ContainerID"])
            health = container.attrs["State"].get("Health", {}).get("Status")
            return container if health == "healthy" else None
    return None


def _image(swarm: Any, service: str) -> str:
    spec = swarm.api.inspect_service(service)["Spec"]
    image: str = spec["TaskTemplate"]["ContainerSpec"]["Image"]
    return image.split("@sha256:")[0]


def test_house_spec_runs_and_rolls_back_on_a_real_swarm(
    swarm: Any, test_images: dict[str, str]
) -> None:
    # Not the shared `sprockettest-` prefix: other pytest sessions on this Swarm sweep that
    # prefix when they end, which would remove this service mid-rollback. Cleaned up below.
    service_name = f"sprocket-house-{uuid.uuid4().hex[:8]}"
    config = _config(service_name, test_images["1"])
    conf = swarm.configs.create(
        name=config_object_name(service_name, config.files[0]), data=b"house-config\n"
    )
    secret = swarm.secrets.create(name=f"{service_name}-token-{uuid.uuid4().hex[:6]}", data=CANARY)
    ids = {
        "config_ids": {"conf": conf.id},
        "secret_ids": {"token": secret.id},
        "secret_names": {"token": secret.name},
    }
    try:
        swarm.api.create_service(**engine_service_kwargs(service_args(config, **ids)))
        running = functools.partial(_running_container, swarm, service_name)
        container = wait_until(running, "a healthy task", 90)

        spec = swarm.api.inspect_service(service_name)["Spec"]
        task = spec["TaskTemplate"]
        assert task["LogDriver"] == {
            "Name": "json-file",
            "Options": {"max-size": "5m", "max-file": "5", "compress": "true"},
        }
        assert task["RestartPolicy"]["Condition"] == "on-failure"
        assert task["RestartPolicy"]["MaxAttempts"] == 5
        assert task["Resources"]["Limits"]["MemoryBytes"] == 64 << 20
        assert spec["UpdateConfig"]["FailureAction"] == "rollback"
        assert spec["UpdateConfig"]["Monitor"] == house_monitor_s(config.healthcheck) * 10**9
        assert spec["Labels"] == {"sprocket.test": "house"}
        assert container.exec_run(["cat", "/etc/app.conf"]).output == b"house-config\n"
        assert container.exec_run(["cat", "/run/secrets/token"]).output.decode() == CANARY
        assert CANARY not in str(spec)

        # A release whose healthcheck fails (`:bad` checks a port nothing serves): Swarm must
        # roll the service back on its own.
        bad = _config(service_name, test_images["bad"], health_port=8081)
        version = swarm.api.inspect_service(service_name)["Version"]["Index"]
        swarm.api.update_service(
            service_name, version, **engine_service_kwargs(service_args(bad, **ids))
        )

        def rolled_back() -> Any:
            status = swarm.api.inspect_service(service_name).get("UpdateStatus") or {}
            return status.get("State") == "rollback_completed" and status

        wait_until(rolled_back, "Swarm's automatic rollback", 180)
        assert _image(swarm, service_name) == test_images["1"]
        wait_until(lambda: _running_container(swarm, service_name), "a healthy task again", 90)
    finally:
        swarm.api.remove_service(service_name)
        label = f"com.docker.swarm.service.name={service_name}"
        wait_until(lambda: not swarm.containers.list(filters={"label": label}), "task removal", 60)
        conf.remove()
        secret.remove()


def _started(swarm: Any, service: str) -> Any:
    # "starting" until the image's own HEALTHCHECK passes, which a sleeping task never does.
    for task in swarm.api.tasks(filters={"service": service, "desired-state": "running"}):
        status = task["Status"]
        if status["State"] in ("starting", "running") and status.get("ContainerStatus"):
            return swarm.containers.get(status["ContainerStatus"]["ContainerID"])
    return None


def test_the_fields_layer_2_declares_run_as_declared_on_a_real_swarm(
    swarm: Any, test_images: dict[str, str]
) -> None:
    # Global mode, DNS round-robin, the node's hostname, a user and group, an executable
    # config file and no healthcheck: what layer_2 once patched into the spec from outside.
    service_name = f"sprocket-house-{uuid.uuid4().hex[:8]}"
    script = FileMount(name="init", target="/init.sh", content="#!/bin/sh\n", file_mode=0o555)
    config = ServiceConfig(
        name=service_name,
        image=test_images["1"],
        command=["sleep", "600"],  # the image's server cannot run as this user
        mode="global",
        endpoint_mode="dnsrr",
        hostname="{{.Node.Hostname}}",
        user="65534",
        groups=["105"],
        no_healthcheck_because="the test checks the spec, not the app",
        resources=Resources(cpu=0.2, memory_mb=64),
        files=[script],
    )
    conf = swarm.configs.create(name=config_object_name(service_name, script), data=b"#!/bin/sh\n")
    try:
        swarm.api.create_service(
            **engine_service_kwargs(service_args(config, config_ids={"init": conf.id}))
        )
        started = functools.partial(_started, swarm, service_name)
        container = wait_until(started, "a started task", 90)
        spec = swarm.api.inspect_service(service_name)["Spec"]
        assert "Global" in spec["Mode"] and spec["EndpointSpec"]["Mode"] == "dnsrr"
        assert "Healthcheck" not in spec["TaskTemplate"]["ContainerSpec"]
        probe = "id -u; id -G; hostname; stat -c %a /init.sh"
        lines = container.exec_run(["sh", "-c", probe]).output.decode().split()
        node = swarm.info()["Name"]
        assert lines[0] == "65534" and "105" in lines[1:-2] and lines[-2:] == [node, "555"]
    finally:
        swarm.api.remove_service(service_name)
        label = f"com.docker.swarm.service.name={service_name}"
        wait_until(lambda: not swarm.containers.list(filters={"label": label}), "task removal", 60)
        conf.remove()
