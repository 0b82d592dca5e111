"""Traefik routing labels for a house service (Traefik v2, Docker provider in Swarm mode).

Labels go on the Swarm SERVICE spec: Traefik's swarm mode reads service labels, not container
labels. Router names are `<service>-<i>` and service names `<service>-<port>`, so names are
unique per Swarm as long as service names are (two routes of one service never collide).
"""

from __future__ import annotations

from sprocket_common.service import Route, ServiceConfig

# The attachable overlay every routed service joins; layer_1 creates it with exactly this name
# (the original's `traefik-ingress`, kept so state and habits carry over).
INGRESS_NETWORK = "traefik-ingress"
WEB_ENTRYPOINT = "web"
SECURE_ENTRYPOINT = "websecure"


def router_rule(route: Route) -> str:
    rule = f"Host(`{route.hostname}`)"
    if route.path_prefix:
        rule += f" && PathPrefix(`{route.path_prefix}`)"
    return rule


def route_middlewares(route: Route, forward_auth_middleware: str) -> list[str]:
    """Forward auth first (reject before anything else runs), then the route's own."""
    chain = [forward_auth_middleware] if route.forward_auth else []
    return chain + [m for m in route.middlewares if m not in chain]


def traefik_labels(
    config: ServiceConfig,
    tls_resolver: str,
    forward_auth_middleware: str,
    *,
    ingress_network: str = INGRESS_NETWORK,
) -> dict[str, str]:
    """One router per route, one load-balancer service per distinct port.

    An empty `tls_resolver` serves TLS with Traefik's default certificate (local: no ACME).
    A service without routes gets no labels at all (Traefik ignores it: exposedByDefault off).
    """
    if not config.routes:
        return {}
    if any(r.forward_auth for r in config.routes) and not forward_auth_middleware:
        raise ValueError(f"service {config.name}: a route asks for forward auth but none is set")
    labels = {"traefik.enable": "true", "traefik.docker.network": ingress_network}
    for port in sorted({r.port for r in config.routes}):
        labels[f"traefik.http.services.{config.name}-{port}.loadbalancer.server.port"] = str(port)
    for i, route in enumerate(config.routes):
        router = f"traefik.http.routers.{config.name}-{i}"
        labels[f"{router}.rule"] = router_rule(route)
        labels[f"{router}.entrypoints"] = SECURE_ENTRYPOINT
        labels[f"{router}.service"] = f"{config.name}-{route.port}"
        labels[f"{router}.tls"] = "true"
        if tls_resolver:
            labels[f"{router}.tls.certresolver"] = tls_resolver
        middlewares = route_middlewares(route, forward_auth_middleware)
        if middlewares:
            labels[f"{router}.middlewares"] = ",".join(middlewares)
    return labels
