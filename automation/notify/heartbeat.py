"""A scheduled job's heartbeat for an outside checker (Healthchecks.io-style), so a host that is
down entirely, whose jobs cannot record or notify anything, is noticed too.

Per job, ``SPROCKET_HEARTBEAT_URL_<JOB>`` (the job's name upper-cased, ``-`` as ``_``: e.g.
``SPROCKET_HEARTBEAT_URL_BACKUP_DB``) is the check's ping URL; after each run
``POST <url>/<exit code>`` is sent (Healthchecks' "exit status" endpoint: 0 is a success ping,
anything else a failure), with an empty body: the job's output stays on the host. Unset: nothing
is sent. A ping that fails is reported in the result, never fails the job: a missing ping is
exactly what the checker alarms on. The URL is never printed (it is the check's credential).
"""

from __future__ import annotations

import os

import requests

TIMEOUT_S = 10.0


def heartbeat_variable(job: str) -> str:
    return "SPROCKET_HEARTBEAT_URL_" + job.upper().replace("-", "_")


def ping(job: str, exit_code: int, environ: dict[str, str] | None = None) -> str:
    """ "" when no URL is set for `job`; "sent", or "failed (why)" after one attempt."""
    url = (environ if environ is not None else os.environ).get(heartbeat_variable(job), "")
    if not url.strip():
        return ""
    try:
        response = requests.post(f"{url.rstrip('/')}/{int(exit_code)}", data=b"", timeout=TIMEOUT_S)
        response.raise_for_status()
    except requests.RequestException as exc:
        status = getattr(exc.response, "status_code", None)
        return f"failed ({f'HTTP {status}' if status else type(exc).__name__})"
    return "sent"
