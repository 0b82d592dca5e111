"""`run_layer`: run a layer's `program()` under `pulumi.runtime.set_mocks` and record it.

The recorder is sprocket_common/declared.py (automation/local_images.py uses it too).

    def test_x(run_layer):
        rec = run_layer("layer_1", env="prod", config={"base_domain": "example.gg"},
                        secrets={"discord_client_secret": "canary"})
        services = rec.by_type("docker:index/service:Service")
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from sprocket_common.declared import (  # noqa: F401 - re-exported for the tests
    Record,
    Recorded,
    RecordingMocks,
    run_layer_program,
    run_mocked,
)


@pytest.fixture
def run_layer() -> Callable[..., Recorded]:
    """`run_layer(layer, env="local", config={...}, secrets={...}, upstream={...})`."""
    return run_layer_program


@pytest.fixture
def run_program() -> Callable[..., Recorded]:
    """`run_program(fn, stack="local-layer_1", config=..., secrets=..., upstream=...)`."""
    return run_mocked
