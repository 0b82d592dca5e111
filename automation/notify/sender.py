"""Deliver one event: sign it (HMAC-SHA256 over the exact body), send it at most once per
operation id (a claim file under the state dir), retry with exponential backoff.

Receivers verify `X-Sprocket-Signature: sha256=<hex>` by recomputing the HMAC of the raw body
with the shared secret, and may deduplicate on `X-Sprocket-Delivery` (the operation id).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
from pathlib import Path
from typing import Any

import requests
import tenacity

SIGNATURE_HEADER = "X-Sprocket-Signature"
DELIVERY_HEADER = "X-Sprocket-Delivery"
EVENT_HEADER = "X-Sprocket-Event"
_RETRY_STATUS = {408, 425, 429, 500, 502, 503, 504}


class DeliveryError(Exception):
    """The receiver refused the event or could not be reached after every attempt."""


class _Retryable(Exception):
    pass


def sign(secret: bytes, body: bytes) -> str:
    """The signature header's value for `body`: `sha256=` and the hex HMAC-SHA256."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def encode(event: dict[str, Any]) -> bytes:
    """The exact bytes that are signed and sent (sorted keys: reproducible)."""
    return json.dumps(event, sort_keys=True, separators=(",", ":"), default=str).encode()


def deliver(
    url: str,
    secret: bytes,
    event: dict[str, Any],
    *,
    sent_dir: Path,
    attempts: int = 5,
    timeout_s: float = 10.0,
    backoff_s: float = 0.5,
) -> bool:
    """Send `event` (which has an `id`) unless it was sent before; True when sent now, False
    when a delivery of the same id already happened. Raises DeliveryError after the last
    attempt (the claim is released, so a later call may try again)."""
    claim = _claim(sent_dir, str(event["id"]))
    if claim is None:
        return False
    body = encode(event)
    headers = {
        "Content-Type": "application/json",
        SIGNATURE_HEADER: sign(secret, body),
        DELIVERY_HEADER: str(event["id"]),
        EVENT_HEADER: str(event.get("verb", "")),
    }
    retrying = tenacity.Retrying(
        stop=tenacity.stop_after_attempt(attempts),
        wait=tenacity.wait_exponential(multiplier=backoff_s, max=30),
        retry=tenacity.retry_if_exception_type(_Retryable),
        reraise=True,
    )
    try:
        retrying(_post, url, body, headers, timeout_s)
    except (_Retryable, DeliveryError) as exc:
        claim.unlink(missing_ok=True)
        raise DeliveryError(f"{_where(url)}: {exc} (after {attempts} attempts at most)") from None
    return True


def _post(url: str, body: bytes, headers: dict[str, str], timeout_s: float) -> None:
    try:
        # stream: the status line is the answer; reading a body sent slowly would wait far
        # longer than timeout_s (it bounds each read, not the whole answer).
        # No redirect is followed: requests re-sends a POST answered 301/302/303 as a GET
        # without its body (psf/requests#5494), which the receiver never sees as the event, and
        # would hand the signed event to wherever Location points. A redirect is not a delivery.
        with requests.post(
            url, data=body, headers=headers, timeout=timeout_s, stream=True, allow_redirects=False
        ) as r:
            status, location = r.status_code, r.headers.get("Location", "")
    except requests.RequestException as exc:
        raise _Retryable(type(exc).__name__) from None  # the text may hold the URL's secrets
    if status in _RETRY_STATUS:
        raise _Retryable(f"HTTP {status}")
    if 300 <= status < 400:
        target = f" to {_where(location)}" if "://" in location else ""
        raise DeliveryError(
            f"HTTP {status} redirect{target}, not followed: not delivered (set the notify url "
            "to where it points)"
        )
    if status >= 300:
        raise DeliveryError(f"HTTP {status}")


def _claim(sent_dir: Path, event_id: str) -> Path | None:
    """Create the operation's marker, or None if it exists (sent, or being sent)."""
    sent_dir.mkdir(parents=True, exist_ok=True)
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in event_id)[:120]
    path = sent_dir / f"{safe}.sent"
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        return None
    return path


def _where(url: str) -> str:
    """The URL without path or query (webhook URLs often carry their token in the path)."""
    with contextlib.suppress(Exception):
        scheme, rest = url.split("://", 1)
        return f"{scheme}://{rest.split('/', 1)[0].rsplit('@', 1)[-1]}"
    return "the notify url"
