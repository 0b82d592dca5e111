"""`run_layer`: run a layer's `program()` under `pulumi.runtime.set_mocks` and record it.

The recorder is sprocket_common/declared.py (automation/local_images.py uses it too).

    def test_x(run_layer):
        rec = run_layer("layer_1", env="prod", config={"base_domain": "example.gg"},
                        secrets={"discord_client_secret": "canary"})
        services = rec.by_type("docker:index/service:Service")
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest

from sprocket_common.declared import (  # noqa: F401 - re-exported for the tests
    Record,
    Recorded,
    RecordingMocks,
    run_layer_program,
    run_mocked,
)


@pytest.fixture(scope="module")
def _recordings() -> dict[str, Recorded]:
    """The layer recordings this module took, by their arguments: a layer program run under
    mocks is most of the unit layer's time, and many tests of a module ask for the same one."""
    return {}


@pytest.fixture
def run_layer(
    request: pytest.FixtureRequest, _recordings: dict[str, Recorded]
) -> Callable[..., Recorded]:
    """`run_layer(layer, env="local", config={...}, secrets={...}, upstream={...})`.

    A recording with the same arguments is taken once per module and each test gets its own
    copy. A test that monkeypatches (what the program reads may differ) always runs it afresh.
    """
    if "monkeypatch" in request.fixturenames:
        return run_layer_program

    def run(layer: str, env: str = "local", **kwargs: Any) -> Recorded:
        try:
            key = json.dumps([layer, env, kwargs], sort_keys=True)
        except TypeError:  # an argument that is not plain data: no safe key
            return run_layer_program(layer, env, **kwargs)
        if key not in _recordings:
            _recordings[key] = run_layer_program(layer, env, **kwargs)
        return copy.deepcopy(_recordings[key])

    run.__module__ = run_layer_program.__module__  # tests find the recorder's module by it
    return run


@pytest.fixture
def run_program() -> Callable[..., Recorded]:
    """`run_program(fn, stack="local-layer_1", config=..., secrets=..., upstream=...)`."""
    return run_mocked
