"""After Swarm converges, ask each service's public route (through Traefik) whether it answers.

A healthcheck runs inside the container; a route can still be broken (a Traefik label, a
middleware, the app failing behind its health endpoint). The platform exports `routes`
{entry: [hostnames]}; each is fetched through a URL template (``https://{host}/`` by default)
until it answers with a success, within a bounded wait.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from automation.waiting import Clock, WaitTimeout, wait_until

# 401 and 403: the route reached an app that wants a login, which is an answer.
ANSWERED = frozenset({401, 403})


@dataclass(frozen=True)
class ProbeFailure:
    service: str
    url: str
    last: str  # the last status or error seen


def fetch_status(url: str, timeout_s: float) -> str:
    """The HTTP status as text ("200"), or the connection error."""
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"probe URL {url!r} is not http(s)")
    headers = {"User-Agent": "sprocket-rollout"}
    request = urllib.request.Request(url, method="GET", headers=headers)  # noqa: S310 (checked)
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:  # noqa: S310 (checked)
            return str(response.status)
    except urllib.error.HTTPError as exc:
        return str(exc.code)
    except (urllib.error.URLError, OSError) as exc:
        return f"no answer: {getattr(exc, 'reason', exc)}"


def is_success(status: str) -> bool:
    return status.isdigit() and (int(status) < 400 or int(status) in ANSWERED)


def probe_routes(
    routes: Mapping[str, Sequence[str]],
    services: Sequence[str],
    *,
    url_template: str = "https://{host}/",
    timeout_s: float = 30.0,
    fetch: Callable[[str, float], str] = fetch_status,
    clock: Clock | None = None,
) -> list[ProbeFailure]:
    """Every route of ``services`` must answer within ``timeout_s``; returns those that did not."""
    failures = []
    for service in services:
        for host in routes.get(service, ()):
            url = url_template.format(host=host)

            def probe(url: str = url) -> tuple[bool | None, object]:
                status = fetch(url, 5.0)
                return (True if is_success(status) else None), status

            try:
                wait_until(probe, what=f"{url} to answer", timeout_s=timeout_s, interval_s=1.0,
                           clock=clock)  # fmt: skip
            except WaitTimeout as exc:
                failures.append(ProbeFailure(service, url, str(exc.last)))
    return failures
