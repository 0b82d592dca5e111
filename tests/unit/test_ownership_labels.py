"""Every Swarm object a layer makes says whose it is (issue 35 item 1), under pulumi mocks: the
project, the stack and the identity of the state (its `state-identity` RandomUuid), and the
objects whose labels the docker provider cannot change in place keep them as created."""

from __future__ import annotations

from typing import Any

import pytest

from sprocket_common.declared import MOCK_STATE_IDENTITY
from sprocket_common.ownership import PROJECT_LABEL, STACK_LABEL, STATE_LABEL
from tests.unit.test_layer_2 import LAYER1

pytestmark = pytest.mark.mocked

# The docker provider replaces these when their labels change (ForceNew in pulumi-docker 5.1).
REPLACED_ON_LABEL_CHANGE = (
    "docker:index/network:Network",
    "docker:index/volume:Volume",
    "docker:index/serviceConfig:ServiceConfig",
    "docker:index/secret:Secret",
)
SERVICE = "docker:index/service:Service"


def _labels(record: Any) -> dict[str, str]:
    return {item["label"]: item["value"] for item in record.inputs.get("labels") or []}


@pytest.mark.parametrize(
    ("layer", "stack"), [("layer_1", "local-layer_1"), ("layer_2", "local-layer_2")]
)
def test_every_swarm_object_carries_its_owner_and_only_services_are_relabelled(
    run_layer: Any, layer: str, stack: str
) -> None:
    recorded = run_layer(layer, env="local", upstream={"layer_1": LAYER1})
    objects = [r for r in recorded.resources if r.type in (*REPLACED_ON_LABEL_CHANGE, SERVICE)]
    assert {r.type for r in objects} >= {SERVICE, "docker:index/network:Network"}
    for record in objects:
        labels = _labels(record)
        assert labels.get(PROJECT_LABEL) == "sprocket-infra", (record.name, labels)
        assert labels.get(STACK_LABEL) == stack, (record.name, labels)
        assert labels.get(STATE_LABEL) == MOCK_STATE_IDENTITY, (record.name, labels)
        relabelled = "labels" not in record.ignore_changes
        assert relabelled == (record.type == SERVICE), (record.type, record.name)
    [identity] = [r for r in recorded.resources if r.name == "state-identity"]
    assert identity.type == "random:index/randomUuid:RandomUuid"


def test_a_layer_2_volume_keeps_its_size_label_beside_the_owner(run_layer: Any) -> None:
    recorded = run_layer("layer_2", env="local", upstream={"layer_1": LAYER1})
    volumes = recorded.by_type("docker:index/volume:Volume")
    assert volumes
    for volume in volumes:
        labels = _labels(volume)
        assert labels["sprocket.size-limit-mb"].isdigit() and STATE_LABEL in labels, labels
