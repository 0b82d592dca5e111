"""The monitoring services: InfluxDB, Loki, FluentD, Telegraf and Grafana (spec §3.3, §7).

Each function returns the house ServiceConfig of one service; program.py declares them.
"""

from __future__ import annotations

from sprocket_common.service import (
    FileMount,
    Healthcheck,
    Resources,
    Route,
    SecretMount,
    ServiceConfig,
    VolumeMount,
)
from sprocket_common.traefik import INGRESS_NETWORK

from . import alerting, files, names
from .settings import AlertSettings, Layer2Settings

SECRETS = "/run/secrets"
DEFAULT_GRAFANA_PLUGINS = (
    "grafana-github-datasource,redis-datasource,grafana-polystat-panel,"
    "marcusolsson-treemap-panel,fifemon-graphql-datasource"
)


def influx_config(settings: Layer2Settings, volume: str, hostname: str) -> ServiceConfig:
    return ServiceConfig(
        name=names.INFLUX,
        image=settings.images.influx,
        env={
            "DOCKER_INFLUXDB_INIT_MODE": "setup",
            "DOCKER_INFLUXDB_INIT_USERNAME": names.INFLUX_ADMIN,
            "DOCKER_INFLUXDB_INIT_PASSWORD_FILE": f"{SECRETS}/influx_admin_password",
            "DOCKER_INFLUXDB_INIT_ADMIN_TOKEN_FILE": f"{SECRETS}/influx_token",
            "DOCKER_INFLUXDB_INIT_ORG": names.INFLUX_ORG,
            "DOCKER_INFLUXDB_INIT_BUCKET": names.INFLUX_METRICS_BUCKET,
            "DOCKER_INFLUXDB_INIT_RETENTION": settings.influx_metrics_retention,
            # Read by files/influx-buckets.sh: the app bucket the original never created.
            "SPROCKET_APP_BUCKET": names.INFLUX_APP_BUCKET,
            "SPROCKET_APP_BUCKET_RETENTION": settings.influx_app_retention,
            "INFLUXD_LOG_LEVEL": "warn",
            "INFLUXD_REPORTING_DISABLED": "true",
        },
        healthcheck=Healthcheck(test=["CMD", "influx", "ping"]),
        resources=Resources(cpu=1.0, memory_mb=1024),
        update_order="stop-first",
        routes=[Route(hostname=hostname, port=names.INFLUX_PORT, forward_auth=True)],
        networks=[names.MONITORING_NETWORK, INGRESS_NETWORK],
        files=[
            FileMount(
                name="influx-buckets",
                target="/docker-entrypoint-initdb.d/10-buckets.sh",
                content=files.read("influx-buckets.sh"),
                file_mode=0o555,
            )
        ],
        secret_mounts=[
            SecretMount(name="influx-admin-password", target="influx_admin_password"),
            SecretMount(name="influx-token", target="influx_token"),
        ],
        volumes=[
            VolumeMount(
                volume=volume,
                target="/var/lib/influxdb2",
                size_limit_mb=names.VOLUME_LIMITS_MB["influx-data"],
            )
        ],
        placement=[names.STORAGE_CONSTRAINT],
        logging="fluentd",
    )


def loki_config(settings: Layer2Settings, volume: str) -> ServiceConfig:
    return ServiceConfig(
        name=names.LOKI,
        image=settings.images.loki,
        # Loki runs as uid 10001, which cannot write a root-owned host directory (the original
        # ran it as root for the same reason); a named volume takes the image's ownership.
        user="0" if volume.startswith("/") else None,
        args=["-config.file=/etc/loki/sprocket.yaml"],
        healthcheck=Healthcheck(
            test=["CMD", "wget", "-q", "--spider", f"http://127.0.0.1:{names.LOKI_PORT}/ready"],
            start_period_s=60,
        ),
        resources=Resources(cpu=1.0, memory_mb=1024),
        update_order="stop-first",
        networks=[names.MONITORING_NETWORK],
        files=[
            FileMount(
                name="loki-conf", target="/etc/loki/sprocket.yaml", content=files.read("loki.yaml")
            )
        ],
        volumes=[
            VolumeMount(
                volume=volume, target="/loki", size_limit_mb=names.VOLUME_LIMITS_MB["loki-data"]
            )
        ],
        placement=[names.STORAGE_CONSTRAINT],
        # Loki must not log through FluentD into itself: rotated json-file.
        logging="json-file",
    )


def fluentd_config(settings: Layer2Settings) -> ServiceConfig:
    return ServiceConfig(
        name=names.FLUENTD,
        image=settings.images.fluentd,
        mode="global",  # every node's log drivers send to their own node's port
        command=["fluentd", "-c", "/fluentd/etc/sprocket.conf", "-p", "/fluentd/plugins"],
        env={"FLUENTD_HOSTNAME": "{{.Node.Hostname}}"},
        healthcheck=Healthcheck(
            test=[
                "CMD",
                "ruby",
                "-rnet/http",
                "-e",
                "exit Net::HTTP.get_response(URI('http://127.0.0.1:24220/api/plugins.json'))"
                ".is_a?(Net::HTTPSuccess)",
            ]
        ),
        resources=Resources(cpu=0.25, memory_mb=256),
        # Host-mode port 24224 on every node (the log drivers' target): stop-first.
        update_order="stop-first",
        publish_host_ports=[names.FLUENTD_PORT],
        networks=[names.MONITORING_NETWORK],
        files=[
            FileMount(
                name="fluentd-conf",
                target="/fluentd/etc/sprocket.conf",
                content=files.read("fluentd.conf"),
            )
        ],
        logging="json-file",
    )


def telegraf_config(settings: Layer2Settings) -> ServiceConfig:
    return ServiceConfig(
        name=names.TELEGRAF,
        image=settings.images.telegraf,
        mode="global",  # host metrics of every node
        user="telegraf",
        # The group owning /var/run/docker.sock on the nodes (the docker input reads it).
        groups=[str(settings.docker_socket_gid)],
        env={
            "TELEGRAF_NODE": "{{.Node.Hostname}}",
            # Host metrics come from the node's filesystems, mounted read-only under /hostfs.
            "HOST_PROC": "/hostfs/proc",
            "HOST_SYS": "/hostfs/sys",
            "HOST_ETC": "/hostfs/etc",
            "HOST_MOUNT_PREFIX": "/hostfs",
        },
        healthcheck=Healthcheck(
            test=["CMD", "wget", "-q", "-O-", "http://127.0.0.1:8888"], start_period_s=30
        ),
        resources=Resources(cpu=0.25, memory_mb=256),
        # The ingress network: Traefik's metrics entrypoint (alerting.py's error-rate rule).
        networks=[names.MONITORING_NETWORK, names.DATA_NETWORK, INGRESS_NETWORK],
        files=[
            FileMount(
                name="telegraf-conf",
                target="/etc/telegraf/telegraf.conf",
                content=files.read("telegraf.conf"),
            )
        ],
        secret_mounts=[
            SecretMount(name="influx-token", target="influx_token"),
            SecretMount(name="redis-password", target="redis_password"),
            SecretMount(name="rabbitmq-user", target="rabbitmq_user"),
            SecretMount(name="rabbitmq-password", target="rabbitmq_password"),
            SecretMount(name="postgres-dsn", target="postgres_dsn"),
        ],
        volumes=[
            VolumeMount(
                volume=settings.docker_socket, target="/var/run/docker.sock", read_only=True
            ),
            VolumeMount(volume="/", target="/hostfs", read_only=True),
        ],
        logging="fluentd",
    )


def _smtp_env(alerts: AlertSettings) -> dict[str, str]:
    """Grafana's SMTP (the email contact point); the password from its secret file."""
    return {
        "GF_SMTP_ENABLED": "true",
        "GF_SMTP_HOST": alerts.smtp_host,
        "GF_SMTP_USER": alerts.smtp_user,
        "GF_SMTP_FROM_ADDRESS": alerts.smtp_from or alerts.smtp_user,
        "GF_SMTP_PASSWORD__FILE": f"{SECRETS}/{alerting.CHANNEL_SECRETS[alerting.EMAIL][1]}",
    }


def grafana_config(
    settings: Layer2Settings,
    hostname: str,
    db_ssl_mode: str,
    plugins: str,
    *,
    alerting_yaml: str,
    channels: tuple[str, ...] = (),
    alerts: AlertSettings | None = None,
) -> ServiceConfig:
    """Grafana; `alerting_yaml` is alerting.render()'s provisioning file, `channels` the alert
    channels whose secret files it references (each mounted from its Swarm secret)."""
    env = {
        "GF_SERVER_ROOT_URL": f"https://{hostname}",
        "GF_DATABASE_SSL_MODE": db_ssl_mode,
        "GF_INSTALL_PLUGINS": plugins,
    }
    if alerting.EMAIL in channels and alerts is not None:
        env.update(_smtp_env(alerts))
    return ServiceConfig(
        name=names.GRAFANA,
        image=settings.images.grafana,
        env=env,
        healthcheck=Healthcheck(
            test=[
                "CMD",
                "wget",
                "-q",
                "--spider",
                f"http://127.0.0.1:{names.GRAFANA_PORT}/api/health",
            ],
            start_period_s=60,
        ),
        resources=Resources(cpu=0.5, memory_mb=512),
        routes=[Route(hostname=hostname, port=names.GRAFANA_PORT, forward_auth=True)],
        networks=[names.MONITORING_NETWORK, INGRESS_NETWORK],
        files=[
            FileMount(
                name="grafana-ini",
                target="/etc/grafana/grafana.ini",
                content=files.read("grafana.ini"),
            ),
            FileMount(
                name="grafana-datasources",
                target="/etc/grafana/provisioning/datasources/sprocket.yaml",
                content=files.read("grafana-datasources.yaml"),
            ),
            FileMount(
                name="grafana-alerting",
                target="/etc/grafana/provisioning/alerting/sprocket.yaml",
                content=alerting_yaml,
            ),
        ],
        secret_mounts=[
            SecretMount(name="grafana-admin-password", target="grafana_admin_password"),
            SecretMount(name="grafana-db-url", target="grafana_db_url"),
            SecretMount(name="influx-token", target="influx_token"),
            *(
                SecretMount(
                    name=alerting.CHANNEL_SECRETS[c][0], target=alerting.CHANNEL_SECRETS[c][1]
                )
                for c in channels
            ),
        ],
        logging="fluentd",
    )
