"""layer_2's own stack config (`layer_2:*`), validated, with errors that name the key.

Everything has a default that works in `local`; the prod/staging example stack files set the
few values that differ (Postgres cluster size and region, platform hostnames to check,
the storage node).
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from sprocket_common.env_config import docker_socket_path

NAMESPACE = "layer_2"
_DB_IDENT = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Images(_Model):
    """Pinned images (no floating tags: a tag that moves changes prod without a deploy)."""

    redis: str = "redislabs/rejson:2.0.7"  # RedisJSON + RediSearch, which the apps use
    rabbitmq: str = "rabbitmq:3.13.7-management-alpine"
    influx: str = "influxdb:2.7.10-alpine"
    loki: str = "grafana/loki:2.9.8"
    fluentd: str = "grafana/fluent-plugin-loki:2.9.8"  # fluentd with the Loki plugin baked in
    telegraf: str = "telegraf:1.32.3-alpine"
    grafana: str = "grafana/grafana:11.2.2"
    gatus: str = "twinproduction/gatus:v5.12.1"
    postgres: str = "postgres:16.4-alpine"  # local only; prod uses the managed cluster


class PostgresCluster(_Model):
    """The DigitalOcean managed cluster (prod and staging)."""

    name: str = "sprocket-pg"
    region: str = "nyc3"
    size: str = "db-s-1vcpu-1gb"
    version: str = "16"
    node_count: int = Field(default=1, ge=1, le=3)


class PublicCheck(_Model):
    """A public URL served by another layer that Gatus should watch."""

    name: str
    url: str
    max_response_ms: int = Field(default=500, gt=0)
    # False where a healthy answer is a redirect or 401 (auth) or 400 (GraphQL GET).
    expect_ok: bool = True

    @field_validator("url")
    @classmethod
    def _https(cls, value: str) -> str:
        if not value.startswith("https://"):
            raise ValueError(f"{value!r} must be an https:// URL (certificate expiry is checked)")
        return value


class AlertSettings(_Model):
    """Non-secret parts of the alert channels (the runbook's Slack/PagerDuty/email routing).

    The secrets are `layer_2:` stack secrets: ALERT_SLACK_WEBHOOK, ALERT_PAGERDUTY_KEY,
    ALERT_SMTP_PASSWORD. A channel is on when its secret (and, for email, `email_to` and
    `smtp_host`) is set.
    """

    email_to: str = ""  # `;`-separated addresses
    smtp_host: str = ""  # host:port
    smtp_user: str = ""
    smtp_from: str = ""

    @model_validator(mode="after")
    def _complete_email(self) -> AlertSettings:
        # Gatus refuses to start with an email provider lacking a server or a sender.
        if self.email_to and not (self.smtp_host and (self.smtp_from or self.smtp_user)):
            raise ValueError("email_to needs smtp_host and smtp_from (or smtp_user)")
        return self


class Layer2Settings(_Model):
    images: Images = Field(default_factory=Images)
    # The Swarm node that carries `role=storage` (declared by this layer). Empty: the swarm
    # must have exactly one node, which gets the label.
    storage_node: str = ""
    # layer_1's data volume (its output `data_mount`, e.g. /mnt/sprocket_prod_data). Set: Influx,
    # Loki and RabbitMQ keep their data in its subdirectories. Empty: named volumes.
    data_mount: str = ""
    # Pass `size` to the local volume driver. Only where Docker's data root is XFS mounted with
    # pquota (prod's block volume); elsewhere volume creation would fail, so the limit is only
    # recorded as a label for the health check (spec §9).
    volume_quota: bool = False
    postgres: PostgresCluster = Field(default_factory=PostgresCluster)
    # The DigitalOcean tag on this env's droplets (layer_1 tags them `sprocket-<env>`); the
    # database firewall admits it.
    droplet_tag: str = ""
    app_db_user: str = "sprocket_app"
    app_db_name: str = "sprocket_main"
    influx_metrics_retention: str = "7d"
    influx_app_retention: str = "30d"
    # Extra (or replacement, by name) public checks; the defaults cover this layer's routes
    # and the hostnames layer_1 publishes in DNS (gatus.other_layers_targets).
    public_checks: list[PublicCheck] = Field(default_factory=list)
    # Gatus checks public hostnames from inside the Swarm.
    check_public_hostnames: bool = True
    # Where Gatus connects for the public checks, as host[:port] ("" = each check's own
    # hostname), sending the check's hostname as the Host header (and the check's path). Local
    # sets `tasks.traefik`: the *.local.localhost names resolve nowhere inside the Swarm, and
    # Docker's DNS gives Traefik's task address on Gatus's ingress network (its virtual IP does
    # not route where the kernel has no IPVS).
    public_checks_via: str = ""
    # How often Gatus checks each endpoint (a Go duration: 30s, 1m, 1h).
    check_interval: str = "1m"
    # local serves Traefik's default certificate, which a certificate check would flag.
    check_certificates: bool = True
    # Group id owning /var/run/docker.sock on the nodes (Telegraf's docker input joins it).
    docker_socket_gid: int = Field(default=999, ge=0)
    # The Docker socket Telegraf's docker input reads, as a host path on the nodes: another
    # where the engine listens elsewhere (rootless Docker, a test's own engine).
    docker_socket: str = "/var/run/docker.sock"
    alerts: AlertSettings = Field(default_factory=AlertSettings)

    _absolute_socket = field_validator("docker_socket")(docker_socket_path)

    @field_validator("public_checks_via")
    @classmethod
    def _host_port(cls, value: str) -> str:
        if value and not re.fullmatch(r"[A-Za-z0-9.-]+(:[0-9]{1,5})?", value):
            raise ValueError(
                f"{value!r} is not host[:port] (e.g. traefik or traefik:443): no scheme or path"
            )
        return value

    @field_validator("check_interval")
    @classmethod
    def _go_duration(cls, value: str) -> str:
        if not re.fullmatch(r"[1-9][0-9]*(s|m|h)", value):
            raise ValueError(f"{value!r} is not a duration Gatus reads: a number and s, m or h")
        return value

    @field_validator("data_mount")
    @classmethod
    def _absolute(cls, value: str) -> str:
        if value and not value.startswith("/"):
            raise ValueError(
                f"{value!r} must be an absolute path on the nodes (layer_1 data_mount)"
            )
        return value

    @field_validator("app_db_user", "app_db_name")
    @classmethod
    def _identifier(cls, value: str) -> str:
        if not _DB_IDENT.match(value):
            raise ValueError(f"{value!r} must be lowercase letters, digits or '_'")
        return value

    @field_validator("app_db_user")
    @classmethod
    def _not_admin(cls, value: str) -> str:
        if value in {"doadmin", "postgres", "admin", "root"}:
            raise ValueError(f"{value!r} is an admin role; apps get their own unprivileged role")
        return value


# `layer_2:` secrets, read with get_secret where they are used (never plain settings).
GATUS_DISCORD_WEBHOOK = "gatus_discord_webhook"
ALERT_SLACK_WEBHOOK = "alert_slack_webhook"
ALERT_PAGERDUTY_KEY = "alert_pagerduty_key"
ALERT_SMTP_PASSWORD = "alert_smtp_password"  # noqa: S105 (a key name)
SECRET_KEYS = (GATUS_DISCORD_WEBHOOK, ALERT_SLACK_WEBHOOK, ALERT_PAGERDUTY_KEY, ALERT_SMTP_PASSWORD)


def load_settings() -> Layer2Settings:
    """The `layer_2:*` settings; ConfigError names an invalid key, or one this layer does not
    read (in `layer_2:` or `sprocket:`)."""
    from sprocket_common import env_config

    env_config.check_unknown_keys(
        {
            env_config.NAMESPACE: {*env_config.EnvConfig.model_fields, *env_config.SHARED_KEYS},
            NAMESPACE: {*Layer2Settings.model_fields, *SECRET_KEYS},
        }
    )
    return env_config.read_config(Layer2Settings, namespace=NAMESPACE)
