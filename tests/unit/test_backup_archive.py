"""Archive packing, hash checks, the manifest's fit checks and secret counting (pure)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from automation.backup.archive import pack, sha256, unpack
from automation.backup.manifest import Manifest, canonical_state, fit_problems
from automation.backup.secrets_check import (
    SECRET_SIG,
    SIG_KEY,
    Tally,
    count_ciphertext_secrets,
    count_decrypted_config,
    count_decrypted_secrets,
    count_secure_config_keys,
)
from automation.errors import BackupCorrupt

STACK, PROJECT = "prod-layer_1", "sprocket-infra"


def secret(kind: str, payload: str) -> dict[str, str]:
    return {SIG_KEY: SECRET_SIG, kind: payload}


def export(stack: str = STACK, project: str = PROJECT, version: int = 3) -> dict[str, Any]:
    return {
        "version": version,
        "deployment": {
            "manifest": {"time": "2026-11-28T12:00:00Z", "version": "v3.274.1"},
            "resources": [
                {
                    "urn": f"urn:pulumi:{stack}::{project}::pulumi:pulumi:Stack::{project}-{stack}",
                    "outputs": {"token": secret("ciphertext", "v1:abc:def")},
                },
                {
                    "urn": f"urn:pulumi:{stack}::{project}::sprocket:x:Y::db",
                    "inputs": {"nested": [{"password": secret("ciphertext", "v1:ghi:jkl")}]},
                },
            ],
        },
    }


def manifest(**overrides: Any) -> Manifest:
    fields: dict[str, Any] = {
        "backup_id": "20261128T120000Z-abcdef",
        "project": PROJECT,
        "stack": STACK,
        "created": "2026-11-28T12:00:00+00:00",
        "reason": "manual",
        "pulumi_version": "v3.274.1",
        "checkpoint_version": 3,
        "resource_count": 2,
        "secret_count": 2,
        "update_version": 4,
        "git_commit": None,
    }
    return Manifest(**{**fields, **overrides})


def test_pack_then_unpack_returns_every_file_and_the_manifest() -> None:
    files = {"state.json": b'{"version": 3}', "Pulumi.prod-layer_1.yaml": b"encryptionsalt: x\n"}
    archive, packed = pack(files, manifest())
    assert packed.files == {name: sha256(data) for name, data in files.items()}
    got_manifest, members = unpack(archive, source="k", expected_sha256=sha256(archive))
    assert members == files
    assert got_manifest == packed


def test_same_inputs_make_the_same_archive_bytes() -> None:
    files = {"state.json": b"{}"}
    assert pack(files, manifest())[0] == pack(files, manifest())[0]


def test_a_flipped_byte_in_the_archive_is_refused_naming_the_object() -> None:
    archive, _ = pack({"state.json": b"{}" * 1000}, manifest())
    flipped = bytearray(archive)
    flipped[len(flipped) // 2] ^= 0x01
    with pytest.raises(BackupCorrupt, match=r"backup archive prefix/x\.tar\.gz fails its SHA-256"):
        unpack(bytes(flipped), source="prefix/x.tar.gz", expected_sha256=sha256(archive))


def test_a_member_that_does_not_match_the_manifest_is_named() -> None:
    _, packed = pack({"state.json": b'{"a": 1}'}, manifest())
    # Rebuild the archive with altered content but the original manifest hashes.
    import gzip
    import io
    import tarfile

    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb") as gz, tarfile.open(fileobj=gz, mode="w") as tar:
        for name, data in {"manifest.json": packed.to_json(), "state.json": b'{"a": 2}'}.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    with pytest.raises(BackupCorrupt, match=r"file state\.json in backup archive k fails"):
        unpack(buffer.getvalue(), source="k", expected_sha256=None)


def test_a_backup_of_this_stack_fits() -> None:
    assert (
        fit_problems(export(), manifest(), stack=STACK, project=PROJECT, cli_version="v3.274.1")
        == []
    )


def test_another_stack_is_refused_naming_both_stacks() -> None:
    problems = fit_problems(
        export(stack="prod-layer_2"),
        manifest(stack="prod-layer_2"),
        stack=STACK,
        project=PROJECT,
        cli_version="v3.274.1",
    )
    assert "backup is of stack 'prod-layer_2', not 'prod-layer_1'" in problems
    assert any("2 of 2 resource URNs are not of stack 'prod-layer_1'" in p for p in problems)


def test_urns_of_another_project_are_refused_even_with_a_matching_manifest() -> None:
    problems = fit_problems(
        export(project="other-proj"),
        manifest(),
        stack=STACK,
        project=PROJECT,
        cli_version="v3.274.1",
    )
    assert len(problems) == 1
    assert "project 'other-proj'" in problems[0]


def test_a_newer_checkpoint_or_cli_is_refused() -> None:
    problems = fit_problems(
        export(version=5),
        manifest(checkpoint_version=5, pulumi_version="v3.300.0"),
        stack=STACK,
        project=PROJECT,
        cli_version="v3.274.1",
    )
    assert any("checkpoint version 5 is not one this CLI (v3.274.1) reads" in p for p in problems)
    assert any("newer than this CLI" in p for p in problems)


def test_unknown_v4_features_are_refused() -> None:
    state = {**export(version=4), "features": ["refreshBeforeUpdate", "teleport"]}
    problems = fit_problems(
        state, manifest(checkpoint_version=4), stack=STACK, project=PROJECT, cli_version="v3.274.1"
    )
    assert problems == ["checkpoint uses features this CLI does not know: ['teleport']"]


def cli_json(data: Any) -> bytes:
    """As the pulumi CLI prints an export: indented JSON."""
    return json.dumps(data, indent=4).encode()


def test_counts_ciphertext_and_non_null_decrypted_envelopes() -> None:
    assert count_ciphertext_secrets(cli_json(export())) == 2
    decrypted = json.loads(json.dumps(export()).replace('"ciphertext"', '"plaintext"'))
    assert count_decrypted_secrets(cli_json(decrypted)) == Tally(2, 0)
    # One secret null, the other a value: the passphrase works, the null one is empty.
    one_null = json.loads(json.dumps(decrypted).replace('"v1:abc:def"', '"null"'))
    assert count_decrypted_secrets(cli_json(one_null)) == Tally(2, 1)
    assert count_decrypted_secrets(json.dumps(one_null).encode()) == Tally(2, 1)  # compact JSON
    # What an old CLI exports with a wrong passphrase: every value null. Not counted as opened.
    all_null = json.loads(json.dumps(one_null).replace('"v1:ghi:jkl"', '"null"'))
    assert count_decrypted_secrets(cli_json(all_null)) == Tally(0, 0)


def test_secret_markers_inside_string_values_are_not_counted() -> None:
    """A property whose *value* mentions the envelope keys is escaped text, not an envelope."""
    sneaky = export()
    sneaky["deployment"]["resources"][1]["inputs"]["doc"] = json.dumps(
        {SIG_KEY: SECRET_SIG, "plaintext": "null"}
    )
    assert count_ciphertext_secrets(cli_json(sneaky)) == 2
    decrypted = json.loads(json.dumps(sneaky).replace('"ciphertext"', '"plaintext"'))
    assert count_decrypted_secrets(cli_json(decrypted)) == Tally(2, 0)


def test_config_secrets_are_counted_per_key() -> None:
    config = {
        "config": {
            "sprocket-infra:canary": {"secure": "v1:aaa"},
            "sprocket-infra:image": "app:1",
            "sprocket-infra:db": {"user": "x", "password": {"secure": "v1:bbb"}},
        }
    }
    assert count_secure_config_keys(config) == 2
    shown = {
        "sprocket-infra:canary": {"value": "c", "secret": True},
        "sprocket-infra:image": {"value": "app:1", "secret": False},
        "sprocket-infra:db": {"value": None, "secret": True},
    }
    assert count_decrypted_config(shown) == 1


def test_canonical_state_masks_ciphertext_and_sorts_keys() -> None:
    a, b = export(), export()
    b["deployment"]["resources"][0]["outputs"]["token"]["ciphertext"] = "v1:other-nonce:zzz"
    assert canonical_state(a) == canonical_state(b)
    assert b"v1:abc:def" not in canonical_state(a)
    b["deployment"]["resources"][1]["urn"] += "2"
    assert canonical_state(a) != canonical_state(b)


def test_a_damaged_archive_given_with_file_is_bad_input_not_a_failed_backup(
    tmp_path: Any,
) -> None:
    """`restore --file` of a driver archive whose manifest lists a file it lacks: the operator's
    input is wrong (64, naming it), not a backup that failed (6)."""
    import gzip
    import io
    import tarfile

    from automation.backup.manifest import MANIFEST_NAME
    from automation.backup.service import read_file
    from automation.errors import BadInput
    from sprocket_common.stack_info import StackInfo

    _archive, packed = pack({"state.json": b"{}"}, manifest())
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb") as gz, tarfile.open(fileobj=gz, mode="w") as tar:
        data = packed.to_json()  # lists state.json, which the archive lacks
        info = tarfile.TarInfo(MANIFEST_NAME)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    path = tmp_path / "nostate.tar.gz"
    path.write_bytes(buffer.getvalue())
    with pytest.raises(BadInput) as refused:
        read_file(path, None, StackInfo.parse(STACK))
    assert str(path) in refused.value.message and "nothing was imported" in refused.value.message
