#!/bin/sh
# prod/staging only: a one-shot task (service postgres-grants) run as the cluster admin after
# layer_2 creates the DigitalOcean users and databases. DigitalOcean grants them nothing but
# CONNECT, and since Postgres 15 the public schema is not writable by other roles, so Grafana
# could not create its tables and the apps could not migrate. Idempotent: re-running is safe.
# Connection settings (PGHOST, PGPASSWORD, ...) come from a Swarm secret, never the env.
set -eu
# SECRETS_DIR only differs in the tests, which run this script against a real Postgres.
. "${SECRETS_DIR:-/run/secrets}/pg_admin_env"

run() { psql -v ON_ERROR_STOP=1 --no-psqlrc -q "$@"; }

run -d grafana -c 'GRANT ALL ON SCHEMA public TO grafana'
run -d "$SPROCKET_APP_DB" -c "GRANT ALL ON SCHEMA public TO \"$SPROCKET_APP_DB_USER\""
# Telegraf's postgresql input reads pg_stat_* views; pg_monitor shows every database's rows.
# Not fatal: without it Telegraf still sees the statistics of its own connections.
run -d "$SPROCKET_APP_DB" -c 'GRANT pg_monitor TO telegraf' \
  || echo "warning: could not grant pg_monitor to telegraf; Telegraf sees partial statistics"
echo "postgres roles granted"
