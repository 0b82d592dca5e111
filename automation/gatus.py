"""The driver's one Gatus client: its HTTP API (Gatus v5, api/endpoint_status.go), read by
`health` (each endpoint's newest result) and `report sla` (each endpoint's events).

- `GET /api/v1/endpoints/statuses`: every endpoint (name, group, key) with its latest
  results; `page`/`pageSize` page the results, not the endpoints; no events.
- `GET /api/v1/endpoints/{key}/statuses`: one endpoint with every event Gatus kept
  (START / HEALTHY / UNHEALTHY; at most `maximum-number-of-events`, 50 by default).
`report sla` needs only the events, so it asks for one result per endpoint.
"""

from __future__ import annotations

from typing import Any

import requests

TIMEOUT_S = 10
ONE_RESULT = {"page": 1, "pageSize": 1}


def _get(
    session: requests.Session | None,
    url: str,
    *,
    params: dict[str, int] | None = ONE_RESULT,
    timeout: float = TIMEOUT_S,
) -> Any:
    answer = (session or requests).get(url, params=params, timeout=timeout)
    answer.raise_for_status()
    return answer.json()


def endpoint_list(
    base_url: str,
    session: requests.Session | None = None,
    *,
    all_results: bool = False,
    timeout: float = TIMEOUT_S,
) -> list[dict[str, Any]]:
    """Every endpoint Gatus watches, with its newest result (all it keeps with all_results)."""
    endpoints = _get(
        session,
        f"{base_url.rstrip('/')}/api/v1/endpoints/statuses",
        params=None if all_results else ONE_RESULT,
        timeout=timeout,
    )
    if not isinstance(endpoints, list):
        raise ValueError("endpoints/statuses did not answer a list")
    return endpoints


def endpoint_events(base_url: str, key: str, session: requests.Session) -> dict[str, Any]:
    """One endpoint's statuses answer, with its events. The key is percent-encoded as one path
    segment: Gatus keeps `#`, `+`, `(` and the like in keys (TwiN/gatus#880), and an unencoded
    `#` cuts the URL short (the rest is a fragment: a 404 for another path)."""
    from urllib.parse import quote

    segment = quote(key, safe="")
    status = _get(session, f"{base_url.rstrip('/')}/api/v1/endpoints/{segment}/statuses")
    if not isinstance(status, dict):
        raise ValueError(f"endpoints/{key}/statuses did not answer an object")
    return status
