"""`scale`: replica counts into the platform stack's config, then a gated deploy that waits.

The count is declared (`sprocket:replicas` in the platform stack's config file, which the
platform program reads), never set on the live service: `docker service scale` would leave the
state behind and the next deploy would undo it. The deploy's gate allows at most one change per
named service, so unrelated drift or pending edits are never applied under a scale's name; a
blocked or failed deploy puts the previous config back.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from automation.errors import BadInput, GateBlocked

REPLICAS_KEY = "sprocket:replicas"
MAX_REPLICAS = 50  # a typo (`web=300`) would otherwise fill the nodes
_REQUEST = re.compile(r"^([a-z0-9][a-z0-9-]*)=(\d+)$")


@dataclass(frozen=True)
class ScaleRequest:
    service: str  # catalog name
    replicas: int


def parse_requests(args: Sequence[str]) -> list[ScaleRequest]:
    """`SERVICE=N` arguments; BadInput naming the first malformed or repeated one."""
    if not args:
        raise BadInput("scale needs at least one SERVICE=N", "e.g. web=3 core=2 (one per service)")
    requests: dict[str, ScaleRequest] = {}
    for arg in args:
        match = _REQUEST.match(arg)
        if not match:
            raise BadInput(f"{arg!r} is not SERVICE=N", "e.g. web=3 (a catalog name, a count)")
        name, count = match.group(1), int(match.group(2))
        if count > MAX_REPLICAS:
            raise BadInput(f"{arg}: more than {MAX_REPLICAS} replicas", "is it a typo?")
        if name in requests:
            raise BadInput(f"{name} is named twice", "give each service once")
        requests[name] = ScaleRequest(name, count)
    return list(requests.values())


def check_scalable(requests: Sequence[ScaleRequest], env: str) -> dict[str, int]:
    """Each service's catalog replicas; BadInput for a name the catalog does not enable in
    `env`, GateBlocked with the catalog's reason for a stateful one. Nothing is changed."""
    from sprocket_common.stack_info import Env, Layer, layer_package

    layer_package(Layer.PLATFORM)
    from sprocket_platform.catalog import load_catalog

    catalog = load_catalog()
    enabled = catalog.enabled(Env(env))
    refusals = [r for r in (catalog.scale_refusal(q.service) for q in requests) if r]
    if refusals:
        raise GateBlocked(
            "; ".join(refusals), "nothing was changed: scale the stateless services only"
        )
    unknown = [q.service for q in requests if q.service not in enabled]
    if unknown:
        raise BadInput(
            f"no platform service {', '.join(unknown)} in {env}",
            f"catalog names: {', '.join(enabled)}",
        )
    return {q.service: enabled[q.service].replicas for q in requests}


def replicas_config(raw: str | None) -> dict[str, int]:
    """The current `sprocket:replicas` value ({} when unset); BadInput if it is not an object
    of counts (a hand edit gone wrong: the platform program would refuse it too)."""
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = None
    if not isinstance(value, dict) or not all(isinstance(v, int) for v in value.values()):
        raise BadInput(
            f"{REPLICAS_KEY} in the platform stack config is not an object of counts: {raw!r}",
            'fix it in Pulumi.<env>-platform.yaml (e.g. {"web": 3})',
        )
    return {str(k): int(v) for k, v in value.items()}


def target_config(
    current: Mapping[str, int], defaults: Mapping[str, int], requests: Sequence[ScaleRequest]
) -> dict[str, int]:
    """The new `sprocket:replicas`: a count equal to the catalog's is dropped (the catalog
    says it), the others kept or set."""
    target = dict(current)
    for request in requests:
        if request.replicas == defaults[request.service]:
            target.pop(request.service, None)
        else:
            target[request.service] = request.replicas
    return dict(sorted(target.items()))


def moves(
    current: Mapping[str, int], defaults: Mapping[str, int], requests: Sequence[ScaleRequest]
) -> list[dict[str, Any]]:
    """Per named service: replicas before and after, as declared."""
    return [
        {
            "service": q.service,
            "from": current.get(q.service, defaults[q.service]),
            "to": q.replicas,
        }
        for q in requests
    ]
