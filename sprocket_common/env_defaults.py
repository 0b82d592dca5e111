"""What differs between `local`, `staging` and `prod` by default: one table every layer reads.

The layers ask `env_defaults(env).<choice>` instead of comparing the env themselves, so a
choice (what is protected, where certificates come from, where secrets are read) is made in
one place and holds in every layer. Stack config overrides a default where a key exists for it
(e.g. layer_1's `sprocket:protect_stateful`, platform's `sprocket:secrets_source`).
No pulumi import: the driver's start-up path reads it (sprocket_common.required_config).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from sprocket_common.stack_info import Env


@dataclass(frozen=True)
class HealthTimings:
    """Caps on what a service declares (None: as declared). A cap only ever shortens: a service
    (or a test of timing behaviour) that declares shorter timings keeps its own.

    prod and staging keep the runbook's declared values; local work caps them, since a
    declared 60 s start period and a 100 s monitor window make every healthy local rollout wait
    about two minutes. A check that succeeds ends the start period at once, so the cap bounds
    only how long a slow start may fail before it counts: 30 s is ample for the local images
    (and for a real Postgres, Redis, Traefik or Vault on a loaded 2-core machine), and the
    interval of 2 s finds a healthy task within 2 s instead of 10.
    """

    interval_max_s: int | None = None
    start_period_max_s: int | None = None

    def capped(self, interval_s: int, start_period_s: int) -> tuple[int, int]:
        """(interval, start period) after the caps."""
        if self.interval_max_s is not None:
            interval_s = min(interval_s, self.interval_max_s)
        if self.start_period_max_s is not None:
            start_period_s = min(start_period_s, self.start_period_max_s)
        return interval_s, start_period_s


LOCAL_HEALTH = HealthTimings(interval_max_s=2, start_period_max_s=30)


@dataclass(frozen=True)
class EnvDefaults:
    """One environment's defaults."""

    # DigitalOcean resources exist (droplets, DNS, Spaces, the managed Postgres); without them
    # everything runs on the local Docker engine and no cloud account is needed.
    cloud: bool
    # `protect` on what holds data (volumes, buckets, DNS zone, databases, the manager).
    protect_stateful: bool
    # Data volumes outlive `destroy` (retain_on_delete): a stack can be re-created onto them.
    keep_volumes: bool
    # Routers get Let's Encrypt certificates; False: Traefik's default certificate.
    acme_tls: bool
    # Hostnames are `<svc>.<env>.<base>` so environments sharing a domain never collide;
    # False: `<svc>.<base>` (prod).
    env_in_hostnames: bool
    # Where the apps' external secrets are read.
    secrets_source: Literal["config", "vault"]
    # An external secret not set in config gets a random placeholder (so a fresh machine
    # deploys); False: it is required.
    placeholder_secrets: bool
    # The apps log at debug level too.
    debug_logs: bool
    # The Discord bot's command prefix, so bots of different envs in one guild do not clash.
    bot_prefix: str
    # Healthcheck timings: how often a check runs and how long a start may take before a failed
    # check counts. The update monitor window follows from them (house_monitor_s), so they
    # decide how long a healthy rollout waits per task.
    # Services get a virtual IP (Swarm's default); False: a service with no published port is
    # resolved by name to its tasks (dnsrr). A single-node local Swarm gains nothing from a
    # VIP's load balancing, and a VIP routes nowhere where the kernel has no IPVS (as on the
    # build machines: `no route to host`), so local does without.
    service_vips: bool = True
    health: HealthTimings = field(default_factory=HealthTimings)


ENV_DEFAULTS: Mapping[Env, EnvDefaults] = {
    Env.LOCAL: EnvDefaults(
        cloud=False,
        protect_stateful=False,
        keep_volumes=True,
        acme_tls=False,
        env_in_hostnames=True,
        secrets_source="config",
        placeholder_secrets=True,
        debug_logs=True,
        bot_prefix="local.",
        health=LOCAL_HEALTH,
        service_vips=False,
    ),
    Env.STAGING: EnvDefaults(
        cloud=True,
        protect_stateful=True,
        keep_volumes=True,
        acme_tls=True,
        env_in_hostnames=True,
        secrets_source="vault",
        placeholder_secrets=False,
        debug_logs=True,
        bot_prefix="staging.",
    ),
    Env.PROD: EnvDefaults(
        cloud=True,
        protect_stateful=True,
        keep_volumes=True,
        acme_tls=True,
        env_in_hostnames=False,
        secrets_source="vault",
        placeholder_secrets=False,
        debug_logs=False,
        bot_prefix="s.",
    ),
}


def env_defaults(env: Env | str) -> EnvDefaults:
    """The defaults of `env` (an Env or its name; ValueError for an unknown name)."""
    return ENV_DEFAULTS[Env(env)]
