"""A Pulumi dynamic provider that manages a real Docker Swarm service through the Docker SDK.

It lets the real engine drive a real Swarm where the pulumi-docker provider plugin cannot be
installed (see docs/). The engine runs it in a separate process (`pulumi-resource-pulumi-python`),
which reaches the Swarm manager through DOCKER_HOST like the driver does.
"""

from __future__ import annotations

import contextlib
from typing import Any

import pulumi
from pulumi.dynamic import (
    CreateResult,
    DiffResult,
    ReadResult,
    Resource,
    ResourceProvider,
    UpdateResult,
)

# Inputs whose change rolls the service in place; everything else about the service is fixed here.
_UPDATABLE = ("image", "replicas", "env", "labels")
_REPLACE_ON_CHANGE = ("service_name",)
_NANO = 1_000_000_000


def _client() -> Any:
    import docker

    return docker.from_env()


def _healthcheck(props: dict[str, Any]) -> Any:
    from docker.types import Healthcheck

    hc = props.get("healthcheck")
    if not hc:
        return None
    return Healthcheck(
        test=hc["test"],
        interval=int(hc.get("interval_s", 2) * _NANO),
        timeout=int(hc.get("timeout_s", 2) * _NANO),
        start_period=int(hc.get("start_period_s", 2) * _NANO),
        retries=int(hc.get("retries", 2)),
    )


def _service_kwargs(props: dict[str, Any]) -> dict[str, Any]:
    from docker.types import EndpointSpec, RestartPolicy, ServiceMode, UpdateConfig

    update = props.get("update") or {}
    return {
        "image": props["image"],
        "env": [f"{k}={v}" for k, v in sorted((props.get("env") or {}).items())],
        "labels": dict(props.get("labels") or {}),
        "mode": ServiceMode("replicated", replicas=int(props.get("replicas", 1))),
        "healthcheck": _healthcheck(props),
        "update_config": UpdateConfig(
            parallelism=1,
            failure_action="rollback",
            monitor=int(update.get("monitor_s", 15) * _NANO),
            order=update.get("order", "stop-first"),
        ),
        "rollback_config": {"Parallelism": 0, "FailureAction": "pause", "Order": "stop-first"},
        "restart_policy": RestartPolicy(condition="on-failure", max_attempts=5, delay=_NANO),
        "endpoint_spec": EndpointSpec(mode="vip"),
        "log_driver": "json-file",
        "log_driver_options": {"max-size": "5m", "max-file": "5", "compress": "true"},
    }


def _live_props(service: Any) -> dict[str, Any]:
    spec = service.attrs["Spec"]
    container = spec["TaskTemplate"]["ContainerSpec"]
    image = container["Image"].split("@sha256:")[
        0
    ]  # Swarm appends a digest when it can resolve one
    env = dict(item.split("=", 1) for item in container.get("Env") or [])
    replicas = spec.get("Mode", {}).get("Replicated", {}).get("Replicas", 0)
    return {
        "service_name": spec["Name"],
        "image": image,
        "replicas": replicas,
        "env": env,
        "labels": spec.get("Labels") or {},
    }


def _already_live(service: Any, olds: dict[str, Any], news: dict[str, Any]) -> bool:
    """The Swarm service already runs what `news` asks for, e.g. after Swarm's own rollback
    restored the previous spec and a release rollback now asks for that same image.

    docker-py's update always rewrites the task template (it adds StopGracePeriod, DNSConfig,
    Placement and Resources defaults), so an update here would restart every task for nothing.
    Only the live-readable inputs count; any other change (healthcheck, update) is applied.
    """
    changed = {
        key for key in (*_UPDATABLE, "healthcheck", "update") if olds.get(key) != news.get(key)
    }
    if not changed or not changed <= set(_UPDATABLE):
        return False
    live = _live_props(service)
    return all(live[key] == (news.get(key) or type(live[key])()) for key in changed)


class SwarmServiceProvider(ResourceProvider):
    def create(self, props: dict[str, Any]) -> CreateResult:
        service = _client().services.create(name=props["service_name"], **_service_kwargs(props))
        return CreateResult(id_=service.id, outs={**props, "service_id": service.id})

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        changed = [
            key
            for key in (*_UPDATABLE, *_REPLACE_ON_CHANGE, "healthcheck", "update")
            if olds.get(key) != news.get(key)
        ]
        replaces = [key for key in changed if key in _REPLACE_ON_CHANGE]
        return DiffResult(changes=bool(changed), replaces=replaces, delete_before_replace=True)

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        service = _client().services.get(id_)
        if _already_live(service, olds, news):
            return UpdateResult(outs={**news, "service_id": id_})
        kwargs = _service_kwargs(news)
        # fetch_current_spec keeps fields this provider does not manage; version is read by the SDK.
        service.update(fetch_current_spec=True, **kwargs)
        return UpdateResult(outs={**news, "service_id": id_})

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        import docker.errors

        try:
            service = _client().services.get(id_)
        except docker.errors.NotFound:
            return ReadResult(id_="", outs={})
        return ReadResult(id_=id_, outs={**props, **_live_props(service), "service_id": id_})

    def delete(self, id_: str, _props: dict[str, Any]) -> None:
        import docker.errors

        with contextlib.suppress(docker.errors.NotFound):  # already gone: delete is idempotent
            _client().services.get(id_).remove()


class SwarmServiceResource(Resource):
    """A Swarm service: name, image, replicas, env, labels, healthcheck and update settings."""

    service_id: pulumi.Output[str]
    image: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        *,
        service_name: pulumi.Input[str],
        image: pulumi.Input[str],
        replicas: pulumi.Input[int] = 1,
        env: pulumi.Input[dict[str, str]] | None = None,
        labels: pulumi.Input[dict[str, str]] | None = None,
        healthcheck: dict[str, Any] | None = None,
        update: dict[str, Any] | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props = {
            "service_name": service_name,
            "image": image,
            "replicas": replicas,
            "env": env or {},
            "labels": labels or {},
            "healthcheck": healthcheck,
            "update": update or {},
            "service_id": None,
        }
        super().__init__(SwarmServiceProvider(), name, props, opts)
