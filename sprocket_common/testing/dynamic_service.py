"""Test-only: a Pulumi dynamic resource that runs a house Swarm service through the Docker SDK.

The driver's tests need the real engine to drive a real Swarm where the pulumi-docker provider
plugin is not installed. The resource's few inputs become a `ServiceConfig`, and its spec is
`service_args` mapped by `engine_spec`: the same house defaults as every layer's services, kept
in one place. The engine runs the provider in a separate process
(`pulumi-resource-pulumi-python`), which reaches the Swarm manager through DOCKER_HOST.
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
NO_HEALTHCHECK = "a test service declared without one"


def _client() -> Any:
    import docker

    return docker.from_env()


def service_config(props: dict[str, Any]) -> Any:
    """The house `ServiceConfig` of the resource's inputs (pydantic.ValidationError if invalid).

    `healthcheck` is a `Healthcheck` as a dict (None: none, with NO_HEALTHCHECK as the reason);
    `update` may set `order` ("start-first", the house default, or "stop-first").
    """
    from sprocket_common.service import Healthcheck, ServiceConfig

    hc = props.get("healthcheck")
    return ServiceConfig(
        name=props["service_name"],
        image=props["image"],
        replicas=int(props.get("replicas", 1)),
        env=dict(props.get("env") or {}),
        labels=dict(props.get("labels") or {}),
        healthcheck=Healthcheck.model_validate(hc) if hc else None,
        no_healthcheck_because="" if hc else NO_HEALTHCHECK,
        update_order=(props.get("update") or {}).get("order", "start-first"),
    )


def _service_kwargs(props: dict[str, Any]) -> dict[str, Any]:
    from sprocket_common.service import service_args
    from sprocket_common.testing.engine_spec import engine_service_kwargs

    return engine_service_kwargs(service_args(service_config(props)))


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
        created = _client().api.create_service(**_service_kwargs(props))
        return CreateResult(id_=created["ID"], outs={**props, "service_id": created["ID"]})

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
        # The whole house spec, as the docker provider would send it.
        version = service.attrs["Version"]["Index"]
        _client().api.update_service(id_, version, **_service_kwargs(news))
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
    """A house Swarm service from a few inputs: name, image, replicas, env, labels, healthcheck
    (a `Healthcheck` as a dict, or None) and update settings (`{"order": ...}`)."""

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
