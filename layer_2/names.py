"""Fixed names of layer_2's services and networks.

Other services address these by DNS name, so they are explicit (never auto-named); `influx`
and `loki` are also hard-wired in config files (spec §1.1), and the Redis and RabbitMQ names
are the runbook's.
"""

from __future__ import annotations

REDIS = "layer2redis-redis-primary"
RABBITMQ = "rabbitmq-service"
INFLUX = "influx"
LOKI = "loki"
GRAFANA = "grafana"
FLUENTD = "fluentd"
TELEGRAF = "telegraf"
GATUS = "gatus"
POSTGRES = "postgres"  # local only

REDIS_PORT = 6379
AMQP_PORT = 5672
RABBITMQ_UI_PORT = 15672
INFLUX_PORT = 8086
LOKI_PORT = 3100
GRAFANA_PORT = 3000
GATUS_PORT = 8080
FLUENTD_PORT = 24224
POSTGRES_PORT = 5432

DATA_NETWORK = "sprocket-data"  # Redis, RabbitMQ, local Postgres and their clients
MONITORING_NETWORK = "sprocket-monitoring"  # Influx, Loki, Grafana, Telegraf, FluentD, Gatus

RABBITMQ_USER = "sprocket"
INFLUX_ADMIN = "admin"
# Fixed, like the service names: telegraf.conf and grafana-datasources.yaml name them too.
INFLUX_ORG = "sprocket"
INFLUX_METRICS_BUCKET = "metrics"
INFLUX_APP_BUCKET = "sprocket_main"  # the apps' bucket, which the original never created

# Placement of stateful services: the node this layer labels (spec: Influx and Loki need it;
# Redis, RabbitMQ and local Postgres too, since their named volumes live on one node).
STORAGE_LABEL_KEY = "role"
STORAGE_LABEL_VALUE = "storage"
STORAGE_CONSTRAINT = f"node.labels.{STORAGE_LABEL_KEY}=={STORAGE_LABEL_VALUE}"

# Volume size limits from the runbook (MB).
VOLUME_LIMITS_MB = {
    "redis-data": 2048,
    "influx-data": 5120,
    "loki-data": 5120,
    "rabbitmq-data": 2048,
    "postgres-data": 5120,
    "gatus-data": 256,
}
