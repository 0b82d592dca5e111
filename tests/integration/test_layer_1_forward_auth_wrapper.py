"""The forward-auth secret wrapper in a real container (busybox sh, like the Alpine-based image).

`forward_auth_entrypoint` makes layer_1 start the FA image through a shell that exports
CLIENT_SECRET from the mounted secret file; this runs that exact command line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sprocket_common.stack_info import Layer, layer_package

pytestmark = pytest.mark.integration

CANARY = "canary-fa-secret-93d1"


def test_wrapper_exports_the_secret_file_to_the_entrypoint(
    swarm: Any, test_images: dict[str, str], tmp_path: Path
) -> None:
    import importlib

    forward_auth = importlib.import_module(f"{layer_package(Layer.LAYER_1)}.forward_auth")
    secret = tmp_path / "secret"
    secret.write_text(CANARY)
    command = forward_auth.secret_env_wrapper(["/bin/sh", "-c", 'echo "app sees $CLIENT_SECRET"'])
    assert CANARY not in repr(command)  # the spec carries a path, never the value
    output = swarm.containers.run(
        test_images["1"],
        command=command,
        volumes={str(secret): {"bind": "/run/secrets/discord_client_secret", "mode": "ro"}},
        remove=True,
    )
    assert output.decode().strip() == f"app sees {CANARY}"
