"""The order pytest-xdist workers hand out modules in: those marked `long` first.

Workers take whole modules (--dist loadfile, scripts/test-integration.sh, with
--no-loadscope-reorder so this order is kept), so a module of many minutes handed out last
would run alone at the end while the other workers idle. tests/conftest.py imports the hook.
"""

from __future__ import annotations

import os

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """In a pytest-xdist worker: the items of `long` modules first, otherwise the collection
    order (a stable sort, the same in every worker). A session without workers keeps it all."""
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return
    items.sort(key=lambda item: item.get_closest_marker("long") is None)
