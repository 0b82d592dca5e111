"""The runbook's availability targets, by what a Gatus endpoint watches.

Three tiers (the runbook's 99.9 / 99.5 / 99.99 %):
- the datastores everything depends on (Postgres, Redis, RabbitMQ, checked from inside the
  Swarm, Gatus group `internal`): 99.99 %;
- what players use: the website (the apex) and the API: 99.9 %;
- everything else (dashboards, tools, the other public routes of the catalog): 99.5 %.
Only the `critical` (down) and `internal` groups count: `warning` is slowness, not downtime.
"""

from __future__ import annotations

DATASTORES = {"postgres", "redis", "rabbitmq"}
PLAYER_FACING_LABELS = {"api"}  # host labels under the apex (platform/catalog.yaml routes)
DATASTORE_PCT, PLAYER_PCT, OTHER_PCT = 99.99, 99.9, 99.5
COUNTED_GROUPS = {"critical", "internal"}


def target_pct(group: str, name: str, apex: str | None) -> float:
    """The target for the endpoint `name` of `group`; `apex` is the env's apex hostname
    (None: any name whose first label is not a known one is a tool)."""
    if group == "internal":
        return DATASTORE_PCT if name in DATASTORES else OTHER_PCT
    label = name.split(".", 1)[0]
    if name == apex or label in PLAYER_FACING_LABELS:
        return PLAYER_PCT
    return OTHER_PCT
