"""layer_2: datastores (Redis, RabbitMQ, Postgres roles) and monitoring (InfluxDB, Loki,
FluentD, Telegraf, Grafana, Gatus) on the Swarm, and the output contract the platform reads.

Order (spec §15): networks, the storage label and volumes; FluentD (every service that logs
through it depends on it); then the datastores and the rest of the monitoring stack.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pulumi

from sprocket_common.env_config import EnvConfig, load_env_config
from sprocket_common.outputs import (
    LAYER2_KEYS,
    LAYER2_SECRET_KEYS,
    Layer1Outputs,
    export_contract,
    read_layer1,
)
from sprocket_common.service import ServiceConfig, SwarmService
from sprocket_common.swarm_service import overlay_network

from . import alerting, datastores, gatus, monitoring, names, postgres, storage
from .credentials import password
from .routing import route_labels
from .settings import (
    ALERT_PAGERDUTY_KEY,
    ALERT_SLACK_WEBHOOK,
    ALERT_SMTP_PASSWORD,
    GATUS_DISCORD_WEBHOOK,
    NAMESPACE,
    Layer2Settings,
    load_settings,
)

# layer_2 stack secret -> alert channel (alerting.CHANNEL_SECRETS names its Swarm secret).
CHANNEL_KEYS = {
    alerting.SLACK: ALERT_SLACK_WEBHOOK,
    alerting.PAGERDUTY: ALERT_PAGERDUTY_KEY,
    alerting.EMAIL: ALERT_SMTP_PASSWORD,
}


class Layer2:
    """Declares the layer; one method per group of resources, so the order reads top-down."""

    def __init__(self, env: EnvConfig, settings: Layer2Settings, layer1: Layer1Outputs) -> None:
        self.env = env
        self.settings = settings
        self.layer1 = layer1
        self.base: list[pulumi.Resource] = []  # what every service waits for
        self.services: dict[str, SwarmService] = {}
        self.configs: dict[str, ServiceConfig] = {}

    # --- foundations ----------------------------------------------------------------------

    def foundations(self) -> None:
        """The two overlay networks and the storage node label."""
        for name in (names.DATA_NETWORK, names.MONITORING_NETWORK):
            self.base.append(overlay_network(name, name))
        self.label = storage.storage_label(self.settings.storage_node)

    def volume(self, role: str) -> tuple[str, tuple[pulumi.Resource, ...]]:
        """Where a service keeps its data, and the resources to wait for: a directory of
        layer_1's data volume (`layer_2:data_mount`, prod) or a named volume."""
        bind = storage.bind_path(self.settings.data_mount, role)
        if bind:
            return bind, ()
        volume = storage.data_volume(
            role, quota=self.settings.volume_quota, defaults=self.env.defaults
        )
        return storage.volume_name(role), (volume,)

    def declare(
        self,
        config: ServiceConfig,
        secrets: dict[str, pulumi.Input[str]] | None = None,
        *,
        waits_for: tuple[pulumi.Resource, ...] = (),
    ) -> SwarmService:
        """The house service for `config`, waiting for what its spec names by string: this
        layer's networks, `waits_for` (volumes, upstream services), the storage label, FluentD.
        """
        depends: list[pulumi.Resource] = [*self.base, *waits_for]
        if names.STORAGE_CONSTRAINT in config.placement:
            depends.append(self.label)
        if config.logging == "fluentd":
            depends.append(self.services[names.FLUENTD])
        # Label values may be Outputs (the layer_1 network and middleware names).
        labels = route_labels(config, self.env, self.layer1)
        opts = pulumi.ResourceOptions(depends_on=depends)
        svc = SwarmService(config.name, config, secrets or {}, opts, extra_labels=labels)
        self.services[config.name] = svc
        self.configs[config.name] = config
        return svc

    # --- logs first: everything else logs through FluentD ---------------------------------

    def logging(self) -> None:
        source, made = self.volume("loki-data")
        loki = self.declare(monitoring.loki_config(self.settings, source), waits_for=made)
        self.declare(monitoring.fluentd_config(self.settings), waits_for=(loki,))

    # --- datastores -----------------------------------------------------------------------

    def datastores(self) -> None:
        self.redis_password = password("redis-password")
        self.rabbitmq_password = password("rabbitmq-password")
        source, made = self.volume("redis-data")
        self.declare(
            datastores.redis_config(self.settings, source),
            datastores.redis_secrets(self.redis_password),
            waits_for=made,
        )
        source, made = self.volume("rabbitmq-data")
        self.declare(
            datastores.rabbitmq_config(self.settings, source, self.env.hostname("rabbitmq")),
            datastores.rabbitmq_secrets(self.rabbitmq_password),
            waits_for=made,
        )

    def database(self) -> None:
        if not self.env.defaults.cloud:
            passwords = postgres.local_passwords()
            source, made = self.volume("postgres-data")
            server = self.declare(
                postgres.local_config(self.settings, source), passwords.secrets(), waits_for=made
            )
            self.pg = postgres.local(self.settings, passwords, server)
        else:
            self.pg = postgres.managed(self.settings, self.env.env.value, self.layer1)
            assert self.pg.admin_env is not None  # set by managed()
            grants = self.declare(
                postgres.grants_job_config(self.settings),
                {"pg-admin-env": self.pg.admin_env},
                waits_for=self.pg.created,
            )
            # Grafana and Telegraf also wait for the grants (Grafana migrates at start).
            self.pg = dataclasses.replace(self.pg, created=(*self.pg.created, grants))

    # --- metrics and dashboards -----------------------------------------------------------

    def monitoring(self) -> None:
        self.influx_token = password("influx-token")
        source, made = self.volume("influx-data")
        influx = self.declare(
            monitoring.influx_config(self.settings, source, self.env.hostname("influx")),
            {
                "influx-admin-password": password("influx-admin-password"),
                "influx-token": self.influx_token,
            },
            waits_for=made,
        )
        self.declare(
            monitoring.telegraf_config(self.settings),
            {
                "influx-token": self.influx_token,
                "redis-password": self.redis_password,
                "rabbitmq-user": names.RABBITMQ_USER,
                "rabbitmq-password": self.rabbitmq_password,
                "postgres-dsn": self.pg.telegraf_dsn(),
            },
            waits_for=(influx, *self.pg.created),
        )
        channels = self.alert_channels()
        grafana_channels = alerting.Channels.configured(
            slack=alerting.SLACK in channels,
            pagerduty=alerting.PAGERDUTY in channels,
            smtp_password=alerting.EMAIL in channels,
            email_to=self.settings.alerts.email_to,
            smtp_host=self.settings.alerts.smtp_host,
        )
        channel_secrets = {
            alerting.CHANNEL_SECRETS[name][0]: channels[name] for name in grafana_channels.enabled()
        }
        self.declare(
            monitoring.grafana_config(
                self.settings,
                self.env.hostname("grafana"),
                self.pg.ssl_mode,
                monitoring.DEFAULT_GRAFANA_PLUGINS,
                alerting_yaml=alerting.render(grafana_channels),
                channels=grafana_channels.enabled(),
                alerts=self.settings.alerts,
            ),
            {
                "grafana-admin-password": password("grafana-admin-password"),
                "grafana-db-url": self.pg.grafana_url(),
                "influx-token": self.influx_token,
                **channel_secrets,
            },
            waits_for=(influx, self.services[names.LOKI], *self.pg.created),
        )

    def alert_channels(self) -> dict[str, pulumi.Output[str]]:
        """The alert channels' secrets that are set in the stack (`layer_2:alert_*`)."""
        config = pulumi.Config(NAMESPACE)
        found = {name: config.get_secret(key) for name, key in CHANNEL_KEYS.items()}
        return {name: value for name, value in found.items() if value is not None}

    def status(self) -> None:
        source, made = self.volume("gatus-data")
        config = gatus.service_config(self.settings, source, self.env.hostname("status"))
        targets = self.public_targets(config) if self.settings.check_public_hostnames else []
        stack = pulumi.Config(NAMESPACE)
        secrets = [stack.get_secret(key) for key in (GATUS_DISCORD_WEBHOOK, *CHANNEL_KEYS.values())]
        alerts = self.settings.alerts

        def channels(values: list[Any]) -> gatus.AlertChannels:
            discord, slack, pagerduty, smtp = values
            return gatus.AlertChannels(
                discord, slack, pagerduty, smtp,
                email_to=alerts.email_to,
                smtp_host=alerts.smtp_host,
                smtp_user=alerts.smtp_user,
                smtp_from=alerts.smtp_from,
            )  # fmt: skip

        rendered = pulumi.Output.all(self.pg.host, self.pg.port, *secrets).apply(
            lambda v: gatus.render(
                targets,
                gatus.internal_checks(str(v[0]), int(v[1]), self.settings.check_interval),
                check_certificates=self.settings.check_certificates,
                channels=channels(v[2:]),
                via=self.settings.public_checks_via,
                interval=self.settings.check_interval,
            )
        )
        self.declare(
            config,
            {"gatus-config": pulumi.Output.secret(rendered)},
            waits_for=made,
        )

    def public_targets(self, gatus_config: ServiceConfig) -> list[gatus.Target]:
        routed = [c for c in self.configs.values() if c.routes] + [gatus_config]
        configured = [gatus.Target(**check.model_dump()) for check in self.settings.public_checks]
        defaults = gatus.route_targets(routed) + gatus.other_layers_targets(self.env)
        return gatus.merge(defaults, configured)

    # --- the contract ---------------------------------------------------------------------

    def export(self) -> None:
        export_contract(
            LAYER2_KEYS,
            {
                "redis_host": names.REDIS,
                "redis_port": names.REDIS_PORT,
                "redis_password": self.redis_password,
                "rabbitmq_host": names.RABBITMQ,
                "rabbitmq_port": names.AMQP_PORT,
                "rabbitmq_user": names.RABBITMQ_USER,
                "rabbitmq_password": self.rabbitmq_password,
                "influx_url": f"http://{names.INFLUX}:{names.INFLUX_PORT}",
                "influx_token": self.influx_token,
                "influx_org": names.INFLUX_ORG,
                "postgres_host": self.pg.host,
                "postgres_port": self.pg.port,
                "postgres_database": self.pg.database,
                "app_db_user": self.pg.app_user,
                "app_db_password": self.pg.app_password,
                "monitoring_network": names.MONITORING_NETWORK,
                "data_network": names.DATA_NETWORK,
                # Beyond the contract: for operators and the platform's analytics service.
                "influx_app_bucket": names.INFLUX_APP_BUCKET,
                "postgres_ssl_mode": self.pg.ssl_mode,
                "grafana_url": f"https://{self.env.hostname('grafana')}",
                "status_url": f"https://{self.env.hostname('status')}",
                "rabbitmq_management_url": f"https://{self.env.hostname('rabbitmq')}",
            },
            LAYER2_SECRET_KEYS,
        )


def program() -> None:
    env = load_env_config()
    settings = load_settings()
    layer = Layer2(env, settings, read_layer1(env.env))
    layer.foundations()
    layer.logging()
    layer.datastores()
    layer.database()
    layer.monitoring()
    layer.status()
    layer.export()
