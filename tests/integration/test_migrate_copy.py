"""The migration's volume copy (automation/migrate/steps.py copy_volume) on the machine's engine,
with volumes of this session's prefix: verified copy, a resumed copy, a program volume that
already holds other data (refused, both sides untouched), a copy cut off earlier (redone)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import SESSION_PREFIX
from migrate_helper import make_helper_image

from automation.errors import DriverError
from automation.migrate import steps

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def helper(swarm: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    ref = f"{SESSION_PREFIX}-migrate-helper:1"
    yield make_helper_image("unix:///var/run/docker.sock", ref, tmp_path_factory.mktemp("h"))
    swarm.images.remove(ref, force=True)


@pytest.fixture
def volumes(swarm: Any, helper: str) -> Iterator[tuple[str, str]]:
    """(source holding three files, one nested and one hidden; an empty target)."""
    source, target = (f"{SESSION_PREFIX}-{side}-{uuid.uuid4().hex[:6]}" for side in "st")
    for name in (source, target):
        swarm.volumes.create(name)
    _sh(
        swarm, helper, "mkdir -p /v/d && echo a > /v/a && echo b > /v/d/b && echo c > /v/.c", source
    )
    yield source, target
    for name in (source, target):
        swarm.volumes.get(name).remove(force=True)


def _sh(client: Any, image: str, script: str, volume: str) -> str:
    binds = {volume: {"bind": "/v", "mode": "rw"}}
    return bytes(
        client.containers.run(image, ["sh", "-c", script], volumes=binds, remove=True)
    ).decode()


def _listing(client: Any, image: str, volume: str) -> str:
    return _sh(client, image, "cd /v && find . | sort && cat $(find . -type f | sort)", volume)


def test_a_copy_is_verified_and_a_second_run_copies_nothing(
    swarm: Any, helper: str, volumes: tuple[str, str]
) -> None:
    source, target = volumes
    first = steps.copy_volume(swarm, helper, source, target)
    assert (first["files"], first["copied"]) == (3, True)
    assert _listing(swarm, helper, target) == _listing(swarm, helper, source)
    again = steps.copy_volume(swarm, helper, source, target)
    assert again == {**first, "copied": False}


def test_a_target_holding_other_data_is_refused_and_left_as_it_was(
    swarm: Any, helper: str, volumes: tuple[str, str]
) -> None:
    source, target = volumes
    _sh(swarm, helper, "echo precious > /v/keep", target)
    with pytest.raises(DriverError) as refused:
        steps.copy_volume(swarm, helper, source, target)
    assert refused.value.message == (
        f"the program's volume {target} already holds other data (1 file(s)); "
        f"{source} was not copied"
    )
    assert _listing(swarm, helper, target) == ".\n./keep\nprecious\n"


def test_a_copy_cut_off_earlier_is_redone_from_an_emptied_target(
    swarm: Any, helper: str, volumes: tuple[str, str]
) -> None:
    source, target = volumes
    _sh(swarm, helper, "mkdir -p /v/d && echo a > /v/a && echo half > /v/.partial", target)
    done = steps.copy_volume(swarm, helper, source, target, redo=True)
    assert (done["files"], done["copied"]) == (3, True)
    assert _listing(swarm, helper, target) == _listing(swarm, helper, source)


def test_a_missing_helper_image_is_named(swarm: Any, volumes: tuple[str, str]) -> None:
    source, target = volumes
    with pytest.raises(DriverError, match=r"^the helper image sprockettest-nothing:0 is not on"):
        steps.copy_volume(swarm, "sprockettest-nothing:0", source, target)


def test_the_digest_covers_a_file_whose_name_holds_a_newline(
    swarm: Any, helper: str, volumes: tuple[str, str]
) -> None:
    """`find | while read` split such a name: its content was in neither side's digest, so a
    copy differing only there verified (found by hand with a file named "nl<newline>name")."""
    source, target = volumes
    _sh(
        swarm, helper, "mkdir -p /v/d && echo a > /v/a && echo b > /v/d/b && echo c > /v/.c", target
    )
    for volume, content in ((source, "one"), (target, "two")):
        _sh(swarm, helper, f'printf {content} > "/v/$(printf "nl\\nname")"', volume)
    assert steps.tree(swarm, helper, source).sha256 != steps.tree(swarm, helper, target).sha256
