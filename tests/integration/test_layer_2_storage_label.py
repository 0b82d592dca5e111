"""layer_2's storage-node label provider against the real single-node Swarm.

The provider is what replaces the original's hand-made `role=storage` label; here it labels
and unlabels a real node through the Docker API. A test-only label key is used so the
Swarm's real labels (and other tests) are never touched.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from sprocket_common.stack_info import Layer, layer_package

pytestmark = pytest.mark.integration


def _storage_module() -> Any:
    import importlib

    return importlib.import_module(f"{layer_package(Layer.LAYER_2)}.storage")


def _labels(client: Any, node_id: str) -> dict[str, str]:
    return dict(client.nodes.get(node_id).attrs["Spec"].get("Labels") or {})


def test_label_is_set_on_the_only_node_and_removed_on_delete(swarm: Any) -> None:
    storage = _storage_module()
    provider = storage.NodeLabelProvider()
    key = f"sprockettest.storage-{uuid.uuid4().hex[:8]}"
    created = provider.create({"node": "", "key": key, "value": "storage"})
    try:
        assert _labels(swarm, created.id)[key] == "storage"
        assert (
            created.outs["hostname"] == swarm.nodes.get(created.id).attrs["Description"]["Hostname"]
        )
    finally:
        provider.delete(created.id, created.outs)
    assert key not in _labels(swarm, created.id)


def test_an_unknown_node_name_is_refused_with_the_config_key_and_the_nodes(swarm: Any) -> None:
    storage = _storage_module()
    hostname = swarm.nodes.list()[0].attrs["Description"]["Hostname"]
    with pytest.raises(
        ValueError, match=rf"layer_2:storage_node: no Swarm node named 'nope'.*{hostname}"
    ):
        storage.NodeLabelProvider().create({"node": "nope", "key": "sprockettest.x", "value": "y"})
