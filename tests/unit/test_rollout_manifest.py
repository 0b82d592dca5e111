"""Release records: the image config a rollout sets, and the store that keeps every release."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from automation.errors import BadInput
from automation.rollout.manifest import (
    IMAGE_DIGESTS,
    IMAGE_TAG,
    IMAGE_TAGS,
    Release,
    ReleaseStore,
    RollbackPoint,
    ServiceRecord,
    check_tag,
    config_delta,
    image_config_for_tag,
    new_release_id,
    spec_hash,
)
from sprocket_common.stack_info import Env

CURRENT = {
    IMAGE_TAG: "1",
    IMAGE_TAGS: json.dumps({"web": "0.9"}),
    IMAGE_DIGESTS: json.dumps({"web": "sha256:aa", "core": "sha256:bb"}),
}


def test_rolling_every_app_sets_the_default_tag_and_drops_the_overrides() -> None:
    target = image_config_for_tag(CURRENT, "2", None)
    assert target == {IMAGE_TAG: "2", IMAGE_TAGS: None, IMAGE_DIGESTS: None}
    assert config_delta(CURRENT, target) == ({IMAGE_TAG: "2"}, [IMAGE_TAGS, IMAGE_DIGESTS])


def test_rolling_named_apps_pins_them_and_unpins_their_digests_only() -> None:
    target = image_config_for_tag(CURRENT, "2", ["web"])
    assert target[IMAGE_TAG] == "1"
    assert json.loads(target[IMAGE_TAGS] or "") == {"web": "2"}
    assert json.loads(target[IMAGE_DIGESTS] or "") == {"core": "sha256:bb"}


def test_tags_stay_strings_even_when_they_look_like_numbers() -> None:
    target = image_config_for_tag({IMAGE_TAGS: '{"web": 1.10}'}, "1.10", ["core"])
    assert json.loads(target[IMAGE_TAGS] or "") == {"core": "1.10", "web": "1.1"}


def test_restoring_a_rollback_point_is_the_reverse_delta() -> None:
    target = image_config_for_tag(CURRENT, "2", None)
    assert config_delta(target, CURRENT) == (dict(CURRENT), [])


@pytest.mark.parametrize("tag", ["", "-x", ".x", "a b", "x" * 129, "a:b"])
def test_bad_tags_are_refused_naming_the_tag(tag: str) -> None:
    with pytest.raises(BadInput, match="is not a valid Docker tag"):
        check_tag(tag)


def test_the_spec_hash_ignores_key_order() -> None:
    assert spec_hash({"a": 1, "b": {"c": 2}}) == spec_hash({"b": {"c": 2}, "a": 1})
    assert spec_hash({"a": 1}) != spec_hash({"a": 2})


def release(release_id: str) -> Release:
    record = ServiceRecord(name="web", service_name="s-web", image="app:1", spec_hash="sha256:x")
    return Release(
        id=release_id,
        stack="local-platform",
        created="2026-11-28T10:00:00+00:00",
        user="ops",
        host="laptop",
        services=["web"],
        tag="2",
        rollback_point=RollbackPoint(config={IMAGE_TAG: "1"}, services={"web": record}),
        target_config={IMAGE_TAG: "2"},
    )


def test_the_store_keeps_every_release_in_time_order_and_finds_them_by_prefix(
    tmp_path: Path,
) -> None:
    store = ReleaseStore(tmp_path / "releases", env=Env.LOCAL)
    first, second = release("20261128T100000Z-aaaa"), release("20261128T110000Z-bbbb")
    store.save(second)
    store.save(first)
    store.save(second.finish("succeeded", ["ok"], converged_s=12.5))
    assert [r.id for r in store.all()] == [first.id, second.id]
    found = store.get("20261128T11")
    assert (found.result, found.messages, found.timings) == (
        "succeeded",
        ["ok"],
        {"converged_s": 12.5},
    )
    assert found.rollback_point.services["web"].image == "app:1"
    with pytest.raises(BadInput, match="matches several releases"):
        store.get("20261128T")
    with pytest.raises(BadInput, match="is not a release of this stack"):
        store.get("nope")


def test_release_ids_sort_by_time() -> None:
    assert new_release_id() > "20260101T000000Z"
