"""Read Gatus's history over its HTTP API (Gatus v5, api/endpoint_status.go).

- `GET /api/v1/endpoints/statuses`: every endpoint (name, group, key) with its latest
  results; `page`/`pageSize` page the results, not the endpoints; no events.
- `GET /api/v1/endpoints/{key}/statuses`: one endpoint with every event Gatus kept
  (START / HEALTHY / UNHEALTHY; at most `maximum-number-of-events`, 50 by default).
Only the events are needed, so both ask for one result per endpoint.
"""

from __future__ import annotations

from typing import Any

import requests

TIMEOUT_S = 10
ONE_RESULT = {"page": 1, "pageSize": 1}


def _get(session: requests.Session, url: str) -> Any:
    answer = session.get(url, params=ONE_RESULT, timeout=TIMEOUT_S)
    answer.raise_for_status()
    return answer.json()


def endpoint_list(base_url: str, session: requests.Session) -> list[dict[str, Any]]:
    """Every endpoint Gatus watches."""
    endpoints = _get(session, f"{base_url.rstrip('/')}/api/v1/endpoints/statuses")
    if not isinstance(endpoints, list):
        raise ValueError("endpoints/statuses did not answer a list")
    return endpoints


def endpoint_events(base_url: str, key: str, session: requests.Session) -> dict[str, Any]:
    """One endpoint's statuses answer, with its events."""
    status = _get(session, f"{base_url.rstrip('/')}/api/v1/endpoints/{key}/statuses")
    if not isinstance(status, dict):
        raise ValueError(f"endpoints/{key}/statuses did not answer an object")
    return status
