#!/bin/sh
# Local Postgres only (prod uses the DigitalOcean cluster, whose users layer_2 declares).
# Runs once, from /docker-entrypoint-initdb.d, on an empty data directory. It creates the same
# roles prod has: grafana, telegraf and the app role; none is a superuser, and the app owns
# only its database. Passwords are read from Swarm secrets, never from env or this file.
set -eu

# SECRETS_DIR only differs in the tests, which run this script against a real Postgres.
secret() { cat "${SECRETS_DIR:-/run/secrets}/$1"; }

psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
  -v grafana_pw="$(secret pg_grafana_password)" \
  -v telegraf_pw="$(secret pg_telegraf_password)" \
  -v app_pw="$(secret pg_app_password)" \
  -v app_user="$SPROCKET_APP_DB_USER" \
  -v app_db="$SPROCKET_APP_DB" <<'SQL'
CREATE ROLE grafana LOGIN PASSWORD :'grafana_pw' NOSUPERUSER NOCREATEDB NOCREATEROLE;
CREATE ROLE telegraf LOGIN PASSWORD :'telegraf_pw' NOSUPERUSER NOCREATEDB NOCREATEROLE;
CREATE ROLE :"app_user" LOGIN PASSWORD :'app_pw' NOSUPERUSER NOCREATEDB NOCREATEROLE;
GRANT pg_monitor TO telegraf;
CREATE DATABASE grafana OWNER grafana;
CREATE DATABASE :"app_db" OWNER :"app_user";
REVOKE ALL ON DATABASE grafana FROM PUBLIC;
REVOKE ALL ON DATABASE :"app_db" FROM PUBLIC;
GRANT CONNECT ON DATABASE :"app_db" TO telegraf;
SQL
