"""Build the event for a verb's result, redact it, and deliver it (configured in settings).

Event (JSON, `schema` 1):
    {"schema": 1, "id": <operation id>, "verb": "health", "env": "prod", "exit_code": 12,
     "meaning": <exit_codes.MEANINGS>, "host": <hostname>, "time": <UTC ISO>,
     "errors": [{"message", "hint"}], "data": <the verb's JSON data, or a note when large>}
Every string in it has each known secret value (settings' secrets, secret-looking environment
variables) replaced with [secret] before it is signed.
"""

from __future__ import annotations

import os
import socket
import sys
import uuid
from datetime import UTC, datetime
from typing import Any

from automation.exit_codes import MEANINGS, ExitCode
from automation.notify.policy import should_notify
from automation.render import Result

OPERATION_ENV = "SPROCKET_OPERATION_ID"  # set by scripts/cron/run-job: one id per job run
MAX_DATA_CHARS = 16_000


def operation_id(environ: dict[str, str] | None = None) -> str:
    """The current operation's id: the scheduled job's (SPROCKET_OPERATION_ID), else a new
    one (a verb run outside the wrapper is its own operation)."""
    environ = dict(os.environ if environ is None else environ)
    return environ.get(OPERATION_ENV) or f"driver-{uuid.uuid4().hex}"


def build_event(verb: str, env: str, code: ExitCode, op_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "schema": 1,
        "id": op_id,
        "verb": verb,
        "env": env,
        "exit_code": int(code),
        "meaning": MEANINGS.get(code, "unknown exit code"),
        "host": socket.gethostname(),
        "time": datetime.now(UTC).isoformat(timespec="seconds"),
        **extra,
    }


def notify_result(verb: str, result: Result, *, env: str, settings: Any = None) -> bool:
    """Send `result` when the policy wants it and a url is configured; True when sent.

    Never raises: a failed delivery is one line on stderr (the verb's exit code stands).
    """
    if not should_notify(verb, result.exit_code):
        return False
    try:
        data = _bounded(result.data)
    except Exception:  # data that cannot be encoded: the message still goes, without it
        data = {"note": "data left out (not encodable)"}
    event = build_event(
        verb, env, result.exit_code, operation_id(), errors=result.errors, data=data
    )
    return send(event, settings)


def send(event: dict[str, Any], settings: Any = None) -> bool:
    """Redact and deliver an event; settings default to the driver's (load_settings). True
    when sent now; a failed delivery is one `notify:` line on stderr, never raised."""
    status, reason = delivery(event, settings)
    if status == "failed":
        sys.stderr.write(f"notify: {event['verb']} not delivered: {reason}\n")
    return status == "sent"


def delivery(event: dict[str, Any], settings: Any = None) -> tuple[str, str]:
    """Redact and deliver an event. Returns (status, reason): "sent"; "already sent" (this
    operation's claim exists: the driver verb of the same job run sent it); "off" (no webhook
    url configured); "failed" with the reason (the claim is released, so a later run retries).
    Never raises."""
    from automation.notify.sender import DeliveryError, deliver

    try:
        if settings is None:
            from automation.settings import load_settings

            settings = load_settings()
        config = settings.notify
        if not config.url:
            return "off", "no webhook url is configured (SPROCKET_NOTIFY_URL)"
        redacted = _redact(event, settings)
        assert config.secret is not None  # the settings refuse a url without one
        sent = deliver(
            config.url,
            config.secret.get_secret_value().encode(),
            redacted,
            sent_dir=settings.state_dir / "notify",
            attempts=config.attempts,
            timeout_s=config.timeout_s,
        )
    except DeliveryError as exc:
        return "failed", str(exc)
    except Exception as exc:  # settings unreadable, state dir not writable: say so, go on
        return "failed", type(exc).__name__
    return ("sent", "") if sent else ("already sent", "this operation was sent before")


def _bounded(data: dict[str, Any]) -> Any:
    from automation.notify.sender import encode

    size = len(encode({"data": data}))
    if size > MAX_DATA_CHARS:
        return {"note": f"{size} bytes of data left out; see the job's log or --json output"}
    return data


def _redact(event: dict[str, Any], settings: Any) -> dict[str, Any]:
    from automation.stack.report_markdown import (
        Redactor,
        passphrase_values,
        secret_values_from_env,
    )

    values = [*secret_values_from_env(), *passphrase_values(settings)]
    for group in (settings.backup, settings.data, settings.notify):  # every settings group
        for value in group.model_dump().values():
            if hasattr(value, "get_secret_value"):
                values.append(value.get_secret_value())
    redact = Redactor.of(values)

    def walk(item: Any) -> Any:
        if isinstance(item, str):
            return redact(item)
        if isinstance(item, dict):
            return {redact(str(k)): walk(v) for k, v in item.items()}
        if isinstance(item, list | tuple):
            return [walk(v) for v in item]
        return item

    redacted: dict[str, Any] = walk(event)
    return redacted
