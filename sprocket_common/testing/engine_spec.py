"""Test-only: the house service spec (`service_args`) as Docker Engine API arguments.

`service_args` builds the `pulumi_docker.ServiceArgs` that the pulumi-docker provider sends to
Swarm. This module maps the same object onto `docker.APIClient.create_service` keyword
arguments, so a Docker-SDK backend (the tests' dynamic resource, or a test against a real
Swarm) runs exactly the spec the provider would. Only the fields `service_args` sets are mapped.
"""

from __future__ import annotations

import re
from typing import Any

_DURATION = re.compile(r"^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")
_NANO = 1_000_000_000


def _ns(duration: str | None) -> int | None:
    """`"10s"`, `"1m30s"`, `"1h"` -> nanoseconds (the forms `swarm_duration` writes)."""
    if duration is None:
        return None
    match = _DURATION.match(duration)
    if not duration or not match:
        raise ValueError(f"unsupported duration {duration!r}: expected e.g. '10s', '1m30s', '1h'")
    hours, minutes, seconds = (int(part or 0) for part in match.groups())
    return (hours * 3600 + minutes * 60 + seconds) * _NANO


def _update(config: Any, kind: Any) -> Any:
    return kind(
        parallelism=config.parallelism,
        delay=_ns(config.delay),
        failure_action=config.failure_action,
        monitor=_ns(config.monitor),
        max_failure_ratio=float(config.max_failure_ratio or 0),
        order=config.order,
    )


def _healthcheck(hc: Any) -> Any:
    from docker import types

    if hc is None:
        return None
    return types.Healthcheck(
        test=list(hc.tests),
        interval=_ns(hc.interval),
        timeout=_ns(hc.timeout),
        start_period=_ns(hc.start_period),
        retries=hc.retries,
    )


def _config_reference(config: Any) -> Any:
    from docker import types

    mode = {} if config.file_mode is None else {"mode": config.file_mode}  # else Docker's 0444
    return types.ConfigReference(
        config.config_id, config.config_name, filename=config.file_name, **mode
    )


def _container(spec: Any) -> Any:
    from docker import types

    return types.ContainerSpec(
        image=spec.image,
        command=spec.commands,
        args=spec.args,
        env=dict(spec.env or {}),
        hostname=spec.hostname,
        user=spec.user,
        groups=list(spec.groups) if spec.groups else None,
        healthcheck=_healthcheck(spec.healthcheck),
        configs=[_config_reference(c) for c in spec.configs or []] or None,
        secrets=[
            types.SecretReference(
                s.secret_id, s.secret_name, filename=s.file_name, mode=s.file_mode
            )
            for s in spec.secrets or []
        ]
        or None,
        mounts=[
            types.Mount(m.target, m.source, type=m.type, read_only=bool(m.read_only))
            for m in spec.mounts or []
        ]
        or None,
    )


def _task(task: Any) -> Any:
    from docker import types

    limits, reservation = task.resources.limits, task.resources.reservation
    restart = task.restart_policy
    return types.TaskTemplate(
        container_spec=_container(task.container_spec),
        resources=types.Resources(
            cpu_limit=limits.nano_cpus,
            mem_limit=limits.memory_bytes,
            cpu_reservation=reservation.nano_cpus if reservation else None,
            mem_reservation=reservation.memory_bytes if reservation else None,
        ),
        restart_policy=types.RestartPolicy(
            condition=restart.condition,
            delay=_ns(restart.delay) or 0,
            max_attempts=restart.max_attempts,
            window=_ns(restart.window) or 0,
        ),
        log_driver=types.DriverConfig(task.log_driver.name, dict(task.log_driver.options or {})),
        placement=types.Placement(constraints=list(task.placement.constraints))
        if task.placement
        else None,
        networks=[n.id for n in task.networks_advanceds or []] or None,
    )


def _mode(mode: Any) -> Any:
    from docker import types

    if mode.global_:
        return types.ServiceMode("global")
    return types.ServiceMode("replicated", replicas=mode.replicated.replicas)


def _endpoint_spec(spec: Any) -> Any:
    from docker import types

    if spec is None:
        return None
    ports = [
        {
            "Protocol": p.protocol,
            "TargetPort": p.target_port,
            "PublishedPort": p.published_port,
            "PublishMode": p.publish_mode,
        }
        for p in spec.ports or []
    ]
    return types.EndpointSpec(mode=spec.mode, ports=ports or None)


def engine_service_kwargs(args: Any) -> dict[str, Any]:
    """`docker.APIClient.create_service(**kwargs)` (or `update_service`) for a
    `pulumi_docker.ServiceArgs` from `service_args` (all values plain: resolve Outputs first)."""
    from docker import types

    return {
        "name": args.name,
        "task_template": _task(args.task_spec),
        "labels": {label.label: label.value for label in args.labels or []},
        "mode": _mode(args.mode),
        "update_config": _update(args.update_config, types.UpdateConfig),
        "rollback_config": _update(args.rollback_config, types.RollbackConfig),
        "endpoint_spec": _endpoint_spec(args.endpoint_spec),
    }
