"""Where the driver keeps its own records (locks, audit log) next to the Pulumi state.

File backend (``file:///dir``): ``/dir/.sprocket/`` beside Pulumi's ``/dir/.pulumi/``, so the
records travel with the state they describe and every machine sharing the backend sees them.

Other backends (``s3://`` Spaces, Pulumi Cloud): the records live under ``<state_dir>/driver/``
on the machine running the driver. An S3 version would keep ``.sprocket/locks/<stack>.json``
(created with a conditional ``If-None-Match: *`` put, which Spaces is not verified to honour)
and one ``.sprocket/audit/<time>-<host>-<pid>.json`` object per record in the versioned bucket;
it is not built yet, so a shared S3 backend gets per-machine locks only.
"""

from __future__ import annotations

import getpass
import os
import socket
from pathlib import Path

from automation.settings import Settings


def driver_dir(settings: Settings) -> Path:
    url = settings.resolved_backend_url
    if url.startswith("file://"):
        base = Path(url.removeprefix("file://")).expanduser() / ".sprocket"
    else:
        base = settings.state_dir / "driver"
    base.mkdir(parents=True, exist_ok=True)
    return base


def current_user() -> str:
    try:
        return os.environ.get("SPROCKET_ACTOR") or getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (containers)
        return f"uid{os.getuid()}"


def current_host() -> str:
    return socket.gethostname()
