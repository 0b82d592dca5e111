"""Postgres roles for Grafana, Telegraf and the apps (none of them the admin user).

prod/staging: a DigitalOcean managed cluster (protected), its databases and one user per
role, reachable only from the droplets (database firewall). local: a Postgres service on the
Swarm with the same roles, created by files/postgres/init-roles.sh.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_digitalocean as do

from sprocket_common.outputs import Layer1Outputs
from sprocket_common.rotation import db_credentials
from sprocket_common.service import (
    FileMount,
    Healthcheck,
    Resources,
    SecretMount,
    ServiceConfig,
    VolumeMount,
)

from . import files, names
from .credentials import password
from .settings import Layer2Settings

GRAFANA_ROLE = "grafana"
TELEGRAF_ROLE = "telegraf"
GRAFANA_DB = "grafana"


@dataclass(frozen=True)
class Postgres:
    """Where Postgres is and the credentials of each role (passwords are secret Outputs)."""

    host: pulumi.Output[str]
    port: pulumi.Output[int]
    database: str
    app_user: str
    app_password: pulumi.Output[str]
    grafana_password: pulumi.Output[str]
    telegraf_password: pulumi.Output[str]
    ssl_mode: str
    # What Grafana and Telegraf wait for: the local service, or the managed users and databases.
    created: tuple[pulumi.Resource, ...] = ()
    # prod/staging: the admin connection for the grants job.
    admin_env: pulumi.Output[str] | None = None

    def grafana_url(self) -> pulumi.Output[str]:
        return pulumi.Output.secret(
            pulumi.Output.format(
                "postgres://{0}:{1}@{2}:{3}/{4}",
                GRAFANA_ROLE,
                self.grafana_password,
                self.host,
                self.port,
                GRAFANA_DB,
            )
        )

    def telegraf_dsn(self) -> pulumi.Output[str]:
        return pulumi.Output.secret(
            pulumi.Output.format(
                "host={0} port={1} user={2} password={3} dbname={4} sslmode={5}",
                self.host,
                self.port,
                TELEGRAF_ROLE,
                self.telegraf_password,
                self.database,
                self.ssl_mode,
            )
        )


def managed(settings: Layer2Settings, env: str, layer1: Layer1Outputs) -> Postgres:
    """The DigitalOcean cluster; `protect` so no deploy can delete the database."""
    cfg = settings.postgres
    cluster = do.DatabaseCluster(
        "postgres",
        name=f"{cfg.name}-{env}",
        engine="pg",
        version=cfg.version,
        size=cfg.size,
        region=cfg.region,
        node_count=cfg.node_count,
        opts=pulumi.ResourceOptions(protect=True),
    )
    child = pulumi.ResourceOptions(parent=cluster)
    dbs = [
        do.DatabaseDb(f"postgres-db-{db}", cluster_id=cluster.id, name=db, opts=child)
        for db in (GRAFANA_DB, settings.app_db_name)
    ]
    users = {
        role: do.DatabaseUser(f"postgres-user-{role}", cluster_id=cluster.id, name=role, opts=child)
        for role in (GRAFANA_ROLE, TELEGRAF_ROLE, settings.app_db_user)
    }
    # Only the droplets reach the cluster: by tag (covers VPC traffic to the private host and
    # droplets added later) and by their public addresses.
    tag = settings.droplet_tag or f"sprocket-{env}"
    do.DatabaseFirewall(
        "postgres-firewall",
        cluster_id=cluster.id,
        rules=layer1.droplet_ips.apply(
            lambda ips: [
                do.DatabaseFirewallRuleArgs(type="tag", value=tag),
                *(do.DatabaseFirewallRuleArgs(type="ip_addr", value=ip) for ip in ips),
            ]
        ),
        opts=child,
    )
    admin_env = pulumi.Output.format(
        "export PGHOST='{0}' PGPORT='{1}' PGUSER='{2}' PGPASSWORD='{3}' PGSSLMODE=require\n",
        cluster.private_host,
        cluster.port,
        cluster.user,
        cluster.password,
    )
    app_user, app_password = _app_login(
        settings, pulumi.Output.secret(users[settings.app_db_user].password)
    )
    return Postgres(
        host=cluster.private_host,
        port=cluster.port,
        database=settings.app_db_name,
        app_user=app_user,
        app_password=app_password,
        grafana_password=pulumi.Output.secret(users[GRAFANA_ROLE].password),
        telegraf_password=pulumi.Output.secret(users[TELEGRAF_ROLE].password),
        ssl_mode="require",
        admin_env=pulumi.Output.secret(admin_env),
        created=(*dbs, *users.values()),
    )


def grants_job_config(settings: Layer2Settings) -> ServiceConfig:
    """The one-shot task that grants the managed roles their schemas (files/postgres/)."""
    return ServiceConfig(
        name="postgres-grants",
        image=settings.images.postgres,
        command=["sh", "/grants.sh"],
        env={
            "SPROCKET_APP_DB_USER": settings.app_db_user,
            "SPROCKET_APP_DB": settings.app_db_name,
        },
        # The task exits when done (restart on failure only, at most 5 times); there is no
        # long-running process to probe, so the check only confirms the container started.
        healthcheck=Healthcheck(test=["CMD", "true"], start_period_s=0),
        resources=Resources(cpu=0.1, memory_mb=64),
        files=[
            FileMount(
                name="grants",
                target="/grants.sh",
                content=files.read("postgres/grants-managed.sh"),
                file_mode=0o555,
            )
        ],
        secret_mounts=[SecretMount(name="pg-admin-env", target="pg_admin_env")],
        # For the health check: a completed task is this service's normal state.
        labels={"sprocket.job": "true"},
        logging="fluentd",
    )


def local_config(settings: Layer2Settings, volume: str) -> ServiceConfig:
    return ServiceConfig(
        name=names.POSTGRES,
        image=settings.images.postgres,
        env={
            "POSTGRES_USER": "postgres",
            "POSTGRES_PASSWORD_FILE": "/run/secrets/pg_admin_password",
            "POSTGRES_DB": "postgres",
            "SPROCKET_APP_DB_USER": settings.app_db_user,
            "SPROCKET_APP_DB": settings.app_db_name,
        },
        healthcheck=Healthcheck(test=["CMD", "pg_isready", "-U", "postgres"]),
        resources=Resources(cpu=0.5, memory_mb=512),
        update_order="stop-first",
        networks=[names.DATA_NETWORK, names.MONITORING_NETWORK],
        files=[
            FileMount(
                name="postgres-init",
                target="/docker-entrypoint-initdb.d/10-roles.sh",
                content=files.read("postgres/init-roles.sh"),
                file_mode=0o555,
            )
        ],
        secret_mounts=[
            SecretMount(name="pg-admin-password", target="pg_admin_password"),
            SecretMount(name="pg-grafana-password", target="pg_grafana_password"),
            SecretMount(name="pg-telegraf-password", target="pg_telegraf_password"),
            SecretMount(name="pg-app-password", target="pg_app_password"),
        ],
        volumes=[
            VolumeMount(
                volume=volume,
                target="/var/lib/postgresql/data",
                size_limit_mb=names.VOLUME_LIMITS_MB["postgres-data"],
            )
        ],
        placement=[names.STORAGE_CONSTRAINT],
        logging="fluentd",
    )


@dataclass(frozen=True)
class LocalPasswords:
    admin: pulumi.Output[str]
    grafana: pulumi.Output[str]
    telegraf: pulumi.Output[str]
    app: pulumi.Output[str]

    def secrets(self) -> dict[str, pulumi.Input[str]]:
        return {
            "pg-admin-password": self.admin,
            "pg-grafana-password": self.grafana,
            "pg-telegraf-password": self.telegraf,
            "pg-app-password": self.app,
        }


def local_passwords() -> LocalPasswords:
    return LocalPasswords(
        admin=password("postgres-admin-password"),
        grafana=password("postgres-grafana-password"),
        telegraf=password("postgres-telegraf-password"),
        app=password("postgres-app-password"),
    )


def _app_login(
    settings: Layer2Settings, initial: pulumi.Output[str]
) -> tuple[str, pulumi.Output[str]]:
    """The app's login role and password: `rotate db-password`'s (stack config), else the
    initial one. Only the consumers take a rotated value; the local server's own secret mounts
    keep the initial one (init-roles.sh reads them once), so a rotation never restarts Postgres.
    """
    return db_credentials(settings.app_db_user) or (settings.app_db_user, initial)


def local(settings: Layer2Settings, passwords: LocalPasswords, server: pulumi.Resource) -> Postgres:
    app_user, app_password = _app_login(settings, passwords.app)
    return Postgres(
        host=pulumi.Output.from_input(names.POSTGRES),
        port=pulumi.Output.from_input(names.POSTGRES_PORT),
        database=settings.app_db_name,
        app_user=app_user,
        app_password=app_password,
        grafana_password=passwords.grafana,
        telegraf_password=passwords.telegraf,
        ssl_mode="disable",  # the local image has no TLS listener; traffic stays on the overlay
        created=(server,),
    )
