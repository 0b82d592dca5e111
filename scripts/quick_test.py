#!/usr/bin/env python3
"""Quick test after a deploy: the driver's health check, then an HTTP probe of every public route.

Routes come from the Swarm services' Traefik labels (Host and Path/PathPrefix rules), so nothing
is hard-coded: https when the router terminates TLS, else http. Verdicts, as the old
quick-test.sh had them: 2xx/3xx normal, 404 a warning (Traefik matched no router), anything else
or no answer critical.

--via URL sends every probe to that address with the route's Host header (e.g. a manager's
Traefik from inside the network, --via https://127.0.0.1 --insecure), like the old script's
`curl -H 'Host: ...' localhost`. Changes nothing, so it has no --dry-run.

Exit status: 0 all normal, 11 warnings, 12 critical (as `python -m automation health`),
1 the health check itself failed to run, 64 bad arguments.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

PROJECT_ROOT = Path(__file__).resolve().parent.parent
if str(PROJECT_ROOT) not in sys.path:  # run from a checkout without `pip install -e .`
    sys.path.append(str(PROJECT_ROOT))

OK, WARNING, CRITICAL = 0, 11, 12


@dataclass(frozen=True)
class Probe:
    url: str
    router: str
    status: int | None
    verdict: str  # normal, warning, critical
    detail: str = ""


def judge(status: int | None) -> str:
    if status is None:
        return "critical"
    if 200 <= status < 400:
        return "normal"
    return "warning" if status == 404 else "critical"


def probe(route: Any, *, via: str | None, timeout: float, verify: bool) -> Probe:
    import requests

    url, headers = route.url, {}
    if via:
        base = urlsplit(via)
        url = f"{base.scheme}://{base.netloc}{route.path}"
        headers["Host"] = route.host
    try:
        response = requests.get(
            url, headers=headers, timeout=timeout, verify=verify, allow_redirects=False
        )
    except requests.RequestException as exc:
        return Probe(route.url, route.router, None, "critical", type(exc).__name__)
    detail = "route not matched" if response.status_code == 404 else ""
    return Probe(route.url, route.router, response.status_code, judge(response.status_code), detail)


def routes_of_swarm(services_prefix: str | None) -> list[Any]:
    from automation.docker_client import docker_client
    from automation.health import collect
    from automation.settings import load_settings

    client = docker_client(load_settings().docker_host)
    try:
        routes = {
            route
            for service in collect.list_services(client, services_prefix)
            for route in collect.public_routes(service.attrs["Spec"].get("Labels") or {})
        }
    finally:
        client.close()
    return sorted(routes, key=lambda r: (r.host, r.path))


def run_health(args: argparse.Namespace) -> tuple[int, dict[str, Any] | None]:
    command = [sys.executable, "-m", "automation", "--env", args.env, "--json", "health"]
    if args.services:
        command += ["--services", args.services]
    if args.no_tls:
        command.append("--no-tls")
    done = subprocess.run(command, capture_output=True, text=True, cwd=PROJECT_ROOT, check=False)
    try:
        return done.returncode, json.loads(done.stdout)
    except ValueError:
        sys.stderr.write(done.stderr)
        return done.returncode, None


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    doc = __doc__ or ""
    parser = argparse.ArgumentParser(
        prog="quick_test.py",
        description=doc.split("\n\n")[0],
        epilog=doc.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--env", default="local", help="local, staging or prod (default local)")
    parser.add_argument("--services", metavar="PREFIX", help="only services named PREFIX*")
    parser.add_argument("--via", metavar="URL", help="send probes here, with the route's Host")
    parser.add_argument("--insecure", action="store_true", help="do not verify TLS on probes")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds per probe (10)")
    parser.add_argument("--no-tls", action="store_true", help="health: skip certificate checks")
    parser.add_argument("--skip-health", action="store_true", help="only probe the routes")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    args = parser.parse_args(argv)
    if args.via and urlsplit(args.via).scheme not in ("http", "https"):
        parser.error(f"--via {args.via!r}: use http://HOST[:PORT] or https://HOST[:PORT]")
    return args


def main(argv: list[str] | None = None) -> int:
    try:
        args = parse_args(argv)
    except SystemExit as exc:
        return 64 if exc.code == 2 else int(exc.code or 0)
    health_code, health = (OK, None) if args.skip_health else run_health(args)
    if health_code not in (OK, WARNING, CRITICAL):
        print(f"error: the health check failed to run (exit {health_code})", file=sys.stderr)
        return 1
    probes = [
        probe(route, via=args.via, timeout=args.timeout, verify=not args.insecure)
        for route in routes_of_swarm(args.services)
    ]
    worst = max([health_code, *(_code(p.verdict) for p in probes)])
    if args.json:
        print(
            json.dumps(
                {"exit_code": worst, "health": health, "probes": [asdict(p) for p in probes]}
            )
        )
        return worst
    if health:
        print(f"health: {health['data']['verdict']} (python -m automation health for the table)")
    for p in probes:
        status = p.status if p.status is not None else "no answer"
        print(f"{p.verdict:<9} {status!s:<10} {p.url}  {p.detail}".rstrip())
    if not probes:
        print("no public routes found (no Traefik Host rules on the services)")
    print({OK: "OK", WARNING: "WARNING", CRITICAL: "CRITICAL"}[worst])
    return worst


def _code(verdict: str) -> int:
    return {"normal": OK, "warning": WARNING}.get(verdict, CRITICAL)


if __name__ == "__main__":
    sys.exit(main())
