"""Read Gatus's history over its HTTP API.

- `GET /api/v1/endpoints/statuses?page=N&pageSize=M`: every endpoint (name, group, key, its
  latest results; no events), paged.
- `GET /api/v1/endpoints/{key}/statuses?page=1&pageSize=M`: one endpoint with its events
  (START / HEALTHY / UNHEALTHY, timestamps).
"""

from __future__ import annotations

from typing import Any

import requests

PAGE_SIZE = 100
TIMEOUT_S = 10


def _get(session: requests.Session, url: str, params: dict[str, int]) -> Any:
    answer = session.get(url, params=params, timeout=TIMEOUT_S)
    answer.raise_for_status()
    return answer.json()


def endpoint_list(base_url: str, session: requests.Session) -> list[dict[str, Any]]:
    """Every endpoint Gatus watches (pages until a short one)."""
    endpoints: list[dict[str, Any]] = []
    page = 1
    while True:
        batch = _get(
            session,
            f"{base_url.rstrip('/')}/api/v1/endpoints/statuses",
            {"page": page, "pageSize": PAGE_SIZE},
        )
        if not isinstance(batch, list):
            raise ValueError("endpoints/statuses did not answer a list")
        endpoints += batch
        if len(batch) < PAGE_SIZE:
            return endpoints
        page += 1


def endpoint_events(base_url: str, key: str, session: requests.Session) -> dict[str, Any]:
    """One endpoint's statuses answer, with its events."""
    status = _get(
        session,
        f"{base_url.rstrip('/')}/api/v1/endpoints/{key}/statuses",
        {"page": 1, "pageSize": PAGE_SIZE},
    )
    if not isinstance(status, dict):
        raise ValueError(f"endpoints/{key}/statuses did not answer an object")
    return status
