#!/bin/sh
# Runs once after InfluxDB's first-boot setup (from /docker-entrypoint-initdb.d), with the
# CLI already configured with the operator token. `metrics` is the setup bucket; this adds
# the application bucket the analytics service and Grafana read, which the original never
# created.
set -eu
influx bucket create --org "$DOCKER_INFLUXDB_INIT_ORG" --name "$SPROCKET_APP_BUCKET" \
  --retention "$SPROCKET_APP_BUCKET_RETENTION"
