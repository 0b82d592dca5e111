"""The storage-node label (sprocket_common.swarm_node_label) on the real single-node Swarm.

layer_2 declares the `role=storage` label its stateful services are placed by, instead of
assuming an operator made it by hand. Here the real engine creates and destroys such a label
through the dynamic provider. A test-only label key is used so the Swarm's real labels (and
other tests) are never touched.
"""

from __future__ import annotations

import uuid
from typing import Any

import pulumi
import pytest
from pulumi import automation as auto

from sprocket_common.swarm_node_label import NodeLabel, NodeLabelProvider

# Node labels are the whole engine's (one node spec, updated by version: two writers at once get
# "update out of sequence"), and the machine's `make deploy` sets its own: alone, not in a worker.
pytestmark = [pytest.mark.integration, pytest.mark.serial]


def _labels(client: Any, node_id: str) -> dict[str, str]:
    return dict(client.nodes.get(node_id).attrs["Spec"].get("Labels") or {})


def test_the_engine_sets_the_label_and_removes_it_on_destroy(pulumi_env: Any, swarm: Any) -> None:
    key = f"sprockettest.storage-{uuid.uuid4().hex[:8]}"

    def program() -> None:
        label = NodeLabel("storage", node="", key=key, value="storage", config_key="test:node")
        pulumi.export("node_id", label.id)
        pulumi.export("hostname", label.hostname)

    stack = auto.create_stack(
        f"label-{key[-8:]}", "sprocket-infra", program, opts=pulumi_env.workspace_options()
    )
    try:
        up = stack.up(color="never")
        node_id = up.outputs["node_id"].value
        assert _labels(swarm, node_id)[key] == "storage"
        hostname = swarm.nodes.get(node_id).attrs["Description"]["Hostname"]
        assert up.outputs["hostname"].value == hostname
        again = stack.up(color="never")  # nothing to do the second time
        assert again.summary.resource_changes == {"same": 2}
        stack.destroy(color="never")
        assert key not in _labels(swarm, node_id)
    finally:
        for node in swarm.nodes.list():  # never leave the test label behind
            if key in _labels(swarm, node.id):
                NodeLabelProvider().delete(node.id, {"key": key})
        stack.workspace.remove_stack(stack.name)


def test_an_unknown_node_name_is_refused_with_the_config_key_and_the_nodes(swarm: Any) -> None:
    hostname = swarm.nodes.list()[0].attrs["Description"]["Hostname"]
    props = {
        "node": "nope",
        "key": "sprockettest.x",
        "value": "y",
        "config_key": "layer_2:storage_node",
    }
    with pytest.raises(
        ValueError, match=rf"layer_2:storage_node: no Swarm node named 'nope'.*{hostname}"
    ):
        NodeLabelProvider().create(props)
