"""The Docker socket proxy's HAProxy config: the project's own, in the manner of
tecnativa/docker-socket-proxy 0.3.0 (which layer_1 pins and configures by environment).

Each API section is allowed only where its environment variable is `1` (layer_1/traefik.py
sets CONTAINERS, SERVICES, SWARM, NETWORKS, TASKS, NODES, EVENTS, PING, VERSION); anything not
GET/HEAD is refused with 403 unless POST=1 (never set here), and so is every other path.
"""

from __future__ import annotations

# Tecnativa's sections, in its order: (environment variable, path regex after /v1.xx).
SECTIONS = (
    ("EVENTS", "events"), ("PING", "_ping"), ("VERSION", "version"), ("AUTH", "auth"),
    ("SECRETS", "secrets"), ("BUILD", "build"), ("COMMIT", "commit"), ("CONFIGS", "configs"),
    ("CONTAINERS", "containers"), ("DISTRIBUTION", "distribution"), ("EXEC", "exec"),
    ("IMAGES", "images"), ("INFO", "info"), ("NETWORKS", "networks"), ("NODES", "nodes"),
    ("PLUGINS", "plugins"), ("SERVICES", "services"), ("SESSION", "session"), ("SWARM", "swarm"),
    ("SYSTEM", "system"), ("TASKS", "tasks"), ("VOLUMES", "volumes"),
)  # fmt: skip
CONFIG_PATH = "/usr/local/etc/haproxy/haproxy.cfg"
PORT = 2375


def haproxy_cfg() -> str:
    allow = [
        f"    http-request allow if {{ path,url_dec -m reg -i ^(/v[\\d\\.]+)?/{path} }}"
        f" {{ env({variable}) -m bool }}"
        for variable, path in SECTIONS
    ]
    return "\n".join(
        [
            "# The Docker socket proxy (automation/images/socket_proxy.py): read-only by default.",
            "global",
            "    log stdout format raw local0",
            "    maxconn 4000",
            "",
            "defaults",
            "    mode http",
            "    log global",
            "    option httplog",
            "    option dontlognull",
            "    timeout connect 10s",
            "    timeout client 10m",  # Traefik's /events stream stays open
            "    timeout server 10m",
            "",
            "backend dockerbackend",
            "    server dockersocket /var/run/docker.sock",
            "",
            "frontend dockerfrontend",
            f"    bind :{PORT}",
            "    http-request deny unless METH_GET || { env(POST) -m bool }",
            *allow,
            "    http-request deny",
            "    default_backend dockerbackend",
            "",
        ]
    )
