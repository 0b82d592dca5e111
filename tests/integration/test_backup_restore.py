"""Backups and restores through the driver's CLI: real pulumi CLI, file backend, S3 endpoint.

Only the layer program is substituted (driver_toys.substitute_programs): dynamic resources and
a secret config value stand in for a layer whose providers cannot be installed here.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import re
import subprocess
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from driver_toys import check_schema, program_from_spec, substitute_programs

from automation.backup.manifest import canonical_state
from automation.exit_codes import ExitCode

pytestmark = pytest.mark.integration

HERE = Path(__file__).resolve().parent
CANARY = "canary-4b1d-never-in-a-backup"
STACK = "local-layer_1"


def pulumi(pulumi_env: Any, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [f"{pulumi_env.env['SPROCKET_PULUMI_CLI_DIR']}/pulumi", *args],
        cwd=pulumi_env.project_dir,
        env={**os.environ, **pulumi_env.env},
        capture_output=True,
        text=True,
        check=check,
    )


def ciphertext_export(pulumi_env: Any, stack: str = STACK) -> dict[str, Any]:
    exported: dict[str, Any] = json.loads(pulumi(pulumi_env, "stack", "export", "-s", stack).stdout)
    return exported


def decrypted_canonical(pulumi_env: Any, stack: str = STACK) -> bytes:
    """The test's own check that secrets survived: decrypted, in memory only, sorted keys."""
    out = pulumi(pulumi_env, "stack", "export", "--show-secrets", "-s", stack).stdout
    return json.dumps(json.loads(out), sort_keys=True).encode()


def deploy_toys(pulumi_env: Any, layer: str, spec: dict[str, Any]) -> None:
    """Create and deploy a stack through the driver's own engine module (the seam is active)."""
    from pulumi import automation as auto

    from automation.pulumi.workspace import select_stack
    from automation.settings import load_settings
    from sprocket_common.stack_info import Env, Layer, StackInfo

    stack = select_stack(load_settings(), StackInfo(Env.LOCAL, Layer(layer)))
    if spec.get("secret_config"):
        stack.set_config(spec["secret_config"], auto.ConfigValue(CANARY, secret=True))
    stack.up(color="never")


@pytest.fixture
def toys(pulumi_env: Any, s3_endpoint: Any, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Two deployed stand-in stacks (layer_1 with a secret config value, layer_2)."""
    for stale in pulumi_env.project_dir.glob("Pulumi.local-*.yaml"):
        stale.unlink()  # the checkout's stack files carry another passphrase's salt
    monkeypatch.setenv("PYTHONPATH", f"{HERE}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    specs: dict[str, dict[str, Any]] = {
        "layer_1": {
            "toys": [{"name": "web", "value": "v1"}, {"name": "db", "value": {"size": 10}}],
            "secret_config": "canary",
            "exports": {"answer": 42},
        },
        "layer_2": {"toys": [{"name": "cache", "value": "v1"}]},
        "platform": {},
    }
    substitute_programs(
        monkeypatch, {layer: program_from_spec(spec) for layer, spec in specs.items()}
    )
    deploy_toys(pulumi_env, "layer_1", specs["layer_1"])
    deploy_toys(pulumi_env, "layer_2", specs["layer_2"])
    return specs


def bucket_keys(s3: Any) -> list[str]:
    versions = s3.client().list_object_versions(Bucket=s3.bucket)
    return [v["Key"] for v in versions.get("Versions", []) + versions.get("DeleteMarkers", [])]


def take(run_cli: Callable[..., Any], layer: str = "layer_1") -> dict[str, Any]:
    result = run_cli("--json", "backup", layer)
    assert result.exit_code == ExitCode.OK, result.stdout + result.stderr
    [record] = result.json()["data"]["backups"]
    return dict(record)


def test_backup_delete_restore_gives_back_the_same_state(
    toys: Any, pulumi_env: Any, s3_endpoint: Any, run_cli: Callable[..., Any]
) -> None:
    before = ciphertext_export(pulumi_env)
    before_plain = decrypted_canonical(pulumi_env)
    config_before = pulumi_env.stack_file(STACK).read_bytes()

    result = run_cli("--json", "backup", "layer_1")
    assert result.exit_code == ExitCode.OK, result.stderr
    assert CANARY not in result.stdout + result.stderr
    [record] = result.json()["data"]["backups"]
    assert record["stack"] == STACK
    assert record["resource_count"] == len(before["deployment"]["resources"])
    assert record["secret_count"] >= 3  # config value, stack output, the holder's input
    assert record["verified_at"]

    # What is in the bucket: the archive's hash in its metadata, no plaintext secret anywhere.
    s3 = s3_endpoint.client()
    obj = s3.get_object(Bucket=s3_endpoint.bucket, Key=record["key"])
    archive = obj["Body"].read()
    assert obj["Metadata"]["sha256"] == record["sha256"]
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        names = tar.getnames()
        contents = b"".join(tar.extractfile(m).read() for m in tar.getmembers())  # type: ignore[union-attr]
    assert sorted(names) == ["Pulumi.local-layer_1.yaml", "manifest.json", "state.json"]
    assert CANARY.encode() not in contents and CANARY.encode() not in gzip.decompress(archive)

    pulumi(pulumi_env, "stack", "rm", "--yes", "--force", "-s", STACK)
    assert pulumi(pulumi_env, "stack", "export", "-s", STACK, check=False).returncode != 0

    restored = run_cli("--json", "--yes", "restore", "layer_1", "--from", record["backup_id"])
    assert restored.exit_code == ExitCode.OK, restored.stdout + restored.stderr
    data = restored.json()["data"]
    assert data["identical"] is True
    assert data["refresh"] == {"ok": True, "differences": {}}
    assert data["safety_backup"] is None  # the stack had no state to save
    assert CANARY not in restored.stdout

    after = ciphertext_export(pulumi_env)
    assert canonical_state(after) == canonical_state(before)  # sorted keys, ciphertext masked
    assert decrypted_canonical(pulumi_env) == before_plain  # every secret value came back
    assert pulumi_env.stack_file(STACK).read_bytes() == config_before

    # The audit log names both operations and never a secret value.
    from automation.guard import audit
    from automation.settings import load_settings

    records = audit.read(load_settings(), STACK)
    assert [r["command"] for r in records][-2:] == ["backup", "restore"]
    assert CANARY not in audit.audit_path(load_settings()).read_text()


def test_restore_over_existing_state_saves_it_first(
    toys: Any, pulumi_env: Any, s3_endpoint: Any, run_cli: Callable[..., Any]
) -> None:
    first = take(run_cli)
    toys["layer_1"]["toys"].append({"name": "extra", "value": "new"})
    deploy_toys(pulumi_env, "layer_1", toys["layer_1"])

    restored = run_cli("--json", "--yes", "restore", "layer_1", "--version", "1")
    # The stand-in resources exist only in the state, so reality cannot differ from it here
    # (tests/integration/test_backup_swarm.py shows a refresh preview that finds a difference).
    assert restored.exit_code == ExitCode.OK, restored.stdout + restored.stderr
    data = restored.json()["data"]
    assert data["backup_id"] == first["backup_id"]
    assert data["identical"] is True
    assert data["safety_backup"]["id"] != first["backup_id"]
    urns = [r["urn"] for r in ciphertext_export(pulumi_env)["deployment"]["resources"]]
    assert not any(u.endswith("::extra") for u in urns)

    listing = run_cli("--json", "backup", "list", "layer_1").json()["data"]["backups"]
    reasons = {b["backup_id"]: b["reason"] for b in listing}
    assert reasons[data["safety_backup"]["id"]] == "pre-restore"
    assert "post-restore" in reasons.values()


def test_a_secret_that_decrypts_to_null_is_not_a_wrong_passphrase(
    toys: Any, pulumi_env: Any, s3_endpoint: Any, run_cli: Callable[..., Any]
) -> None:
    """Issue 15.1: `Output.secret(None)` made every backup (and every deploy's pre-op backup)
    exit 13 as if the passphrase were wrong."""
    toys["layer_1"]["null_secret"] = True
    deploy_toys(pulumi_env, "layer_1", toys["layer_1"])

    result = run_cli("backup", "layer_1")
    assert result.exit_code == ExitCode.OK, result.stderr
    assert "(1 null)" in result.stdout
    listed = run_cli("--json", "backup", "list", "layer_1")
    [row] = listed.json()["data"]["backups"]
    s3 = s3_endpoint.client()
    archive = s3.get_object(Bucket=s3_endpoint.bucket, Key=row["key"])["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        manifest = json.loads(tar.extractfile("manifest.json").read())  # type: ignore[union-attr]
    assert manifest["null_secret_count"] == 1
    assert manifest["secret_count"] >= 4  # the null one counts as a secret that decrypts

    deployed = run_cli("--yes", "deploy", "layer_1")  # its pre-operation backup passes too
    assert deployed.exit_code == ExitCode.OK, deployed.stdout + deployed.stderr


def test_wrong_passphrase_fails_the_backup_and_stores_nothing(
    toys: Any, s3_endpoint: Any, run_cli: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "not the passphrase")
    result = run_cli("backup", "layer_1")
    assert result.exit_code == ExitCode.CREDENTIALS  # as on every path: a wrong passphrase is 9
    assert "nothing was stored" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1  # one line for cron mail
    assert bucket_keys(s3_endpoint) == []


def test_a_flipped_byte_is_refused_naming_the_file_and_nothing_is_imported(
    toys: Any, pulumi_env: Any, s3_endpoint: Any, run_cli: Callable[..., Any]
) -> None:
    record = take(run_cli)
    s3 = s3_endpoint.client()
    obj = s3.get_object(Bucket=s3_endpoint.bucket, Key=record["key"])
    damaged = bytearray(obj["Body"].read())
    damaged[len(damaged) // 2] ^= 0x01
    s3.put_object(
        Bucket=s3_endpoint.bucket, Key=record["key"], Body=bytes(damaged), Metadata=obj["Metadata"]
    )
    before = ciphertext_export(pulumi_env)

    result = run_cli("--yes", "restore", "layer_1", "--from", record["backup_id"])
    assert result.exit_code == ExitCode.BACKUP_FAILED
    assert f"backup archive {record['key']} fails its SHA-256 check" in result.stderr
    assert ciphertext_export(pulumi_env) == before

    verify = run_cli("--json", "backup", "verify", "layer_1")
    assert verify.exit_code == ExitCode.BACKUP_FAILED
    assert record["key"] in verify.json()["errors"][0]["message"]


def test_a_backup_of_another_stack_is_refused_naming_the_mismatch(
    toys: Any, pulumi_env: Any, run_cli: Callable[..., Any]
) -> None:
    other = take(run_cli, "layer_2")
    before = ciphertext_export(pulumi_env)

    result = run_cli("--yes", "restore", "layer_1", "--from", other["backup_id"])
    assert result.exit_code == ExitCode.BAD_INPUT
    assert "backup is of stack 'local-layer_2', not 'local-layer_1'" in result.stderr
    assert "--force" in result.stderr
    assert ciphertext_export(pulumi_env) == before


def test_a_backup_of_another_project_is_refused_naming_the_project(
    toys: Any, pulumi_env: Any, s3_endpoint: Any, run_cli: Callable[..., Any]
) -> None:
    """A backup made in project `other-proj` (rewritten from a real one, then stored normally)."""
    from dataclasses import replace

    from automation.backup.archive import pack, unpack
    from automation.backup.service import BackupRecord
    from automation.backup.store import BackupStore

    record = take(run_cli)
    store = BackupStore(s3_endpoint.client(), s3_endpoint.bucket, "pulumi-state")
    manifest, members = unpack(
        store.get_bytes(record["key"]), source=record["key"], expected_sha256=record["sha256"]
    )
    members["state.json"] = members["state.json"].replace(b"::sprocket-infra::", b"::other-proj::")
    foreign_id = manifest.backup_id + "-x"
    archive, _manifest = pack(
        members, replace(manifest, project="other-proj", backup_id=foreign_id)
    )
    key = record["key"].replace(manifest.backup_id, foreign_id)
    stored = store.upload_verified(key, archive, {"stack": STACK})
    store.put_record(
        key,
        BackupRecord.from_dict(
            {**record, "backup_id": foreign_id, "key": key, "sha256": stored.sha256}
        ).to_dict(),
    )

    result = run_cli("--yes", "restore", "layer_1", "--from", foreign_id)
    assert result.exit_code == ExitCode.BAD_INPUT
    assert "backup is of project 'other-proj', not 'sprocket-infra'" in result.stderr
    assert "project 'other-proj'" in result.stderr.split("backup is of project")[1]


def test_restore_needs_exactly_one_backup_and_a_confirmation(
    toys: Any, run_cli: Callable[..., Any]
) -> None:
    record = take(run_cli)
    neither = run_cli("--yes", "restore", "layer_1")
    assert neither.exit_code == ExitCode.BAD_INPUT
    assert "name exactly one backup to use: one of --from, --before, --version" in neither.stderr
    unconfirmed = run_cli("restore", "layer_1", "--from", record["backup_id"])
    assert unconfirmed.exit_code == ExitCode.BAD_INPUT
    assert "pass --yes" in unconfirmed.stderr
    too_early = run_cli("--yes", "restore", "layer_1", "--before", "2000-01-01T00:00Z")
    assert too_early.exit_code == ExitCode.BAD_INPUT
    assert "no backup of local-layer_1 taken before 2000-01-01T00:00:00+00:00" in too_early.stderr
    not_a_time = run_cli("--yes", "restore", "layer_1", "--before", "yesterday")
    assert not_a_time.exit_code == ExitCode.BAD_INPUT
    assert "--before 'yesterday' is not an ISO 8601 time" in not_a_time.stderr
    unknown = run_cli("--yes", "restore", "layer_1", "--from", "20990101T000000Z-nope")
    assert unknown.exit_code == ExitCode.BAD_INPUT
    assert "no backup with id '20990101T000000Z-nope'" in unknown.stderr


def test_a_damaged_catalog_record_is_named_and_skipped_by_every_reader(
    toys: Any, pulumi_env: Any, s3_endpoint: Any, run_cli: Callable[..., Any]
) -> None:
    """Issue 15.7: one record cut in half made list, verify, prune and restore crash."""
    damaged, good = take(run_cli), take(run_cli)
    s3 = s3_endpoint.client()
    record_key = damaged["key"].removesuffix(".tar.gz") + ".json"
    body = s3.get_object(Bucket=s3_endpoint.bucket, Key=record_key)["Body"].read()
    s3.put_object(Bucket=s3_endpoint.bucket, Key=record_key, Body=body[: len(body) // 2])
    named = f"catalog record {record_key} cannot be read"

    listed = run_cli("--json", "backup", "list", "layer_1")
    assert listed.exit_code == ExitCode.OK, listed.stdout + listed.stderr
    data = check_schema(listed.json())["data"]
    assert [b["backup_id"] for b in data["backups"]] == [good["backup_id"]]
    assert [(d["backup_id"], d["key"]) for d in data["damaged"]] == [
        (damaged["backup_id"], record_key)
    ]
    assert named in run_cli("backup", "list", "layer_1").stdout

    verified = run_cli("--json", "backup", "verify", "layer_1")
    assert verified.exit_code == ExitCode.BACKUP_FAILED
    document = check_schema(verified.json())
    assert [e["message"].split(" (")[0] for e in document["errors"]] == [named]
    assert document["data"]["checked"] == [
        {"backup_id": good["backup_id"], "stack": STACK, "ok": True}
    ]

    keep_nothing = ["--keep-within-days", "0", "--keep-daily", "0", "--keep-weekly", "0"]
    keep_nothing += ["--keep-monthly", "0"]
    dry = run_cli("--json", "backup", "prune", "layer_1", "--dry-run", *keep_nothing)
    assert dry.exit_code == ExitCode.OK, dry.stdout + dry.stderr
    assert [b["backup_id"] for b in check_schema(dry.json())["data"]["backups"]] == [
        good["backup_id"]
    ]
    pruned = run_cli("--yes", "backup", "prune", "layer_1", *keep_nothing)
    assert pruned.exit_code == ExitCode.OK, pruned.stdout + pruned.stderr
    assert named in pruned.stdout
    current = s3.list_objects_v2(Bucket=s3_endpoint.bucket)["Contents"]
    assert damaged["key"] in [o["Key"] for o in current]  # never deleted on an unreadable record

    restored = run_cli("--yes", "restore", "layer_1", "--from", good["backup_id"])
    assert restored.exit_code == ExitCode.OK, restored.stdout + restored.stderr
    refused = run_cli("--json", "--yes", "restore", "layer_1", "--from", damaged["backup_id"])
    assert refused.exit_code == ExitCode.BACKUP_FAILED
    assert named in check_schema(refused.json())["errors"][0]["message"]


# --- issue 15.3, 15.4, 15.8: what is checked before an import ------------------------------

URN = f"urn:pulumi:{STACK}::sprocket-infra::"
WEB = URN + "pulumi-python:dynamic:Resource::web"
GHOST = URN + "pulumi-python:dynamic:Resource::ghost"


def _resource(state: dict[str, Any], urn: str) -> dict[str, Any]:
    [found] = [r for r in state["deployment"]["resources"] if r["urn"] == urn]
    return dict(found)


def store_altered(s3_endpoint: Any, record: dict[str, Any], alter: Callable[..., None]) -> str:
    """A copy of catalog backup `record` whose state `alter` rewrote, stored with correct hashes
    and record (the driver's hash checks pass); returns its id."""
    from dataclasses import replace

    from automation.backup.archive import pack, unpack
    from automation.backup.service import BackupRecord
    from automation.backup.store import BackupStore

    store = BackupStore(s3_endpoint.client(), s3_endpoint.bucket, "pulumi-state")
    manifest, members = unpack(
        store.get_bytes(record["key"]), source=record["key"], expected_sha256=record["sha256"]
    )
    state = json.loads(members["state.json"])
    alter(state)
    members["state.json"] = json.dumps(state, indent=4).encode()
    altered_id = manifest.backup_id + "-x"
    archive, _manifest = pack(members, replace(manifest, backup_id=altered_id))
    key = record["key"].replace(manifest.backup_id, altered_id)
    stored = store.upload_verified(key, archive, {"stack": STACK})
    altered = {**record, "backup_id": altered_id, "key": key, "sha256": stored.sha256}
    store.put_record(key, BackupRecord.from_dict(altered).to_dict())
    return altered_id


def _missing_parent(state: dict[str, Any]) -> None:
    _find(state, WEB)["parent"] = URN + "pulumi:pulumi:Stack::ghost"


def _duplicate_urn(state: dict[str, Any]) -> None:
    state["deployment"]["resources"].append(_resource(state, WEB))


def _missing_dependency(state: dict[str, Any]) -> None:
    _find(state, WEB)["dependencies"] = [GHOST]


def _bad_magic(state: dict[str, Any]) -> None:
    """A defect only the engine's check knows: its refusal must reach the operator whole."""
    state["deployment"]["manifest"]["magic"] = "0" * 64


def _find(state: dict[str, Any], urn: str) -> dict[str, Any]:
    """The resource itself, to edit in place (`_resource` gives a copy)."""
    [found] = [r for r in state["deployment"]["resources"] if r["urn"] == urn]
    return found  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("alter", "named"),
    [
        (_missing_parent, f"resource {WEB}: its parent {URN}pulumi:pulumi:Stack::ghost is missing"),
        (_duplicate_urn, f"resource {WEB} appears 2 times (not marked for deletion)"),
        (_missing_dependency, f"resource {WEB}: its dependency {GHOST} is missing"),
        (_bad_magic, "magic cookie mismatch; possible tampering/corruption detected"),
    ],
    ids=["missing-parent", "duplicate-urn", "missing-dependency", "engine-only-check"],
)
def test_an_unsound_checkpoint_is_refused_before_import_even_with_force(
    toys: Any,
    pulumi_env: Any,
    s3_endpoint: Any,
    run_cli: Callable[..., Any],
    alter: Callable[..., None],
    named: str,
) -> None:
    """Issue 15.3: hashes right, checkpoint unsound. The engine's refusal was cut to "rerun
    with --force", and --force imported a state every later preview failed on."""
    unsound = store_altered(s3_endpoint, take(run_cli), alter)
    before = ciphertext_export(pulumi_env)
    for force in ([], ["--force"]):
        result = run_cli("--json", "--yes", "restore", "layer_1", "--from", unsound, *force)
        assert result.exit_code == ExitCode.BAD_INPUT, result.stdout + result.stderr
        [error] = check_schema(result.json())["errors"]
        assert named in error["message"]
        assert "rerun with --force" not in error["message"] + error["hint"]
        assert "--force does not import" in error["hint"]
        assert ciphertext_export(pulumi_env) == before
    assert run_cli("preview", "layer_1").exit_code == ExitCode.OK  # the stack still works


def test_pending_operations_in_a_backup_are_named_and_never_dropped_silently(
    toys: Any, pulumi_env: Any, s3_endpoint: Any, run_cli: Callable[..., Any]
) -> None:
    """Issue 15.4: a backup holding a pending `creating` restored with exit 0 and an unexplained
    "identical: NO"; the import had dropped the pending create."""
    half = URN + "pulumi-python:dynamic:Resource::half"

    def interrupted_create(state: dict[str, Any]) -> None:
        creating = {**_resource(state, WEB), "urn": half}
        creating.pop("id", None)
        state["deployment"]["pending_operations"] = [{"resource": creating, "type": "creating"}]

    carrying = store_altered(s3_endpoint, take(run_cli), interrupted_create)
    result = run_cli("--json", "--yes", "restore", "layer_1", "--from", carrying)
    assert result.exit_code == ExitCode.PENDING_OPERATIONS, result.stdout + result.stderr
    document = check_schema(result.json())
    assert document["data"]["identical"] is False
    assert document["data"]["pending_operations"] == [{"type": "creating", "urn": half}]
    [error] = document["errors"]
    assert f"dropped the backup's 1 pending operation(s) (creating {half})" in error["message"]
    assert "check whether those resources exist" in error["hint"]

    human = run_cli("--yes", "restore", "layer_1", "--from", carrying)
    assert human.exit_code == ExitCode.PENDING_OPERATIONS
    assert "the backup carries 1 pending operation(s)" in human.stdout
    assert f"creating {half}" in human.stdout
    assert "identical to the backup: NO: the import dropped" in human.stdout


def test_restore_from_a_runbook_export_file_goes_through_the_same_checks(
    toys: Any,
    pulumi_env: Any,
    run_cli: Callable[..., Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Issue 15.8: the runbook's backups are `pulumi stack export > FILE` (and a tar.gz)."""
    export = pulumi(pulumi_env, "stack", "export", "-s", STACK).stdout
    before = canonical_state(json.loads(export))
    plain = tmp_path / "layer_1-2026-11-28.json"
    plain.write_text(export)
    toys["layer_1"]["toys"].append({"name": "extra", "value": "new"})
    deploy_toys(pulumi_env, "layer_1", toys["layer_1"])

    with_extra = canonical_state(ciphertext_export(pulumi_env))
    with monkeypatch.context() as no_bucket:
        no_bucket.delenv("SPROCKET_BACKUP_BUCKET", raising=False)
        restored = run_cli("--json", "--yes", "restore", "layer_1", "--file", str(plain))
    assert restored.exit_code == ExitCode.OK, restored.stdout + restored.stderr
    assert check_schema(restored.json())["data"]["identical"] is True
    assert canonical_state(ciphertext_export(pulumi_env)) == before
    # No bucket here: the state from before the import was kept in a local file (0600).
    safety = Path(restored.json()["data"]["safety_backup"]["file"])
    assert safety.stat().st_mode & 0o777 == 0o600
    assert canonical_state(json.loads(safety.read_text())) == with_extra

    for hollow in ('{"version": 3, "deployment": {}}',
                   export.replace('"secrets_providers"', '"no_providers"')):  # fmt: skip
        bad = tmp_path / "hollow.json"
        bad.write_text(hollow)
        refused = run_cli("--yes", "restore", "layer_1", "--file", str(bad), "--force")
        assert refused.exit_code == ExitCode.BAD_INPUT, refused.stdout + refused.stderr
        assert "holds no resources" in refused.stderr or "names no secrets provider" in (
            refused.stderr
        )
        assert canonical_state(ciphertext_export(pulumi_env)) == before  # nothing imported

    tarball = tmp_path / "state-2026-11-28.tar.gz"
    with tarfile.open(tarball, "w:gz") as tar:
        tar.add(plain, arcname=plain.name)
        layer_2 = tmp_path / "layer_2-2026-11-28.json"
        layer_2.write_text(pulumi(pulumi_env, "stack", "export", "-s", "local-layer_2").stdout)
        tar.add(layer_2, arcname=layer_2.name)
    which = run_cli("--yes", "restore", "layer_1", "--file", str(tarball))
    assert which.exit_code == ExitCode.BAD_INPUT
    assert "holds 2 JSON exports: name one with --member" in which.stderr
    wrong = run_cli("--yes", "restore", "layer_1", "--file", str(tarball), "--member", layer_2.name)
    assert wrong.exit_code == ExitCode.BAD_INPUT
    assert "backup is of stack 'local-layer_2', not 'local-layer_1'" in wrong.stderr
    member = run_cli("--yes", "restore", "layer_1", "--file", str(tarball), "--member", plain.name)
    assert member.exit_code == ExitCode.OK, member.stdout + member.stderr

    foreign = tmp_path / "other-project.json"
    foreign.write_text(export.replace("::sprocket-infra::", "::other-proj::"))
    refused = run_cli("--yes", "restore", "layer_1", "--file", str(foreign))
    assert refused.exit_code == ExitCode.BAD_INPUT
    assert f"refusing to restore file {foreign} into {STACK}" in refused.stderr
    assert "project 'other-proj'" in refused.stderr

    kms = json.loads(export)
    kms["deployment"]["secrets_providers"] = {"type": "awskms", "state": {"url": "awskms://k"}}
    other_provider = tmp_path / "kms.json"
    other_provider.write_text(json.dumps(kms))
    for force in ([], ["--force"]):
        refused = run_cli("--yes", "restore", "layer_1", "--file", str(other_provider), *force)
        assert refused.exit_code == ExitCode.BAD_INPUT
        assert "encrypted by the 'awskms' secrets provider; this stack uses 'passphrase'" in (
            refused.stderr
        )

    right = os.environ["PULUMI_CONFIG_PASSPHRASE"]
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "not the passphrase")
    locked_out = run_cli("--yes", "restore", "layer_1", "--file", str(plain))
    assert locked_out.exit_code == ExitCode.CREDENTIALS, locked_out.stderr
    assert f"the configured passphrase does not open the secrets of file {plain}" in (
        locked_out.stderr
    )
    assert canonical_state(ciphertext_export(pulumi_env)) == before

    # The right passphrase, one secret damaged: 13, not 9 (the passphrase itself is right).
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", right)
    mixed = tmp_path / "one-damaged-secret.json"
    mixed.write_text(_damage_one_secret(export))
    partial = run_cli("--yes", "restore", "layer_1", "--file", str(mixed))
    assert partial.exit_code == ExitCode.SECRETS_INCOMPLETE, partial.stdout + partial.stderr
    assert "do not decrypt with the configured passphrase" in partial.stderr
    assert canonical_state(ciphertext_export(pulumi_env)) == before


def _damage_one_secret(export: str) -> str:
    """The export with one secret's ciphertext changed (a byte of its sealed part)."""
    found = re.search(r'"ciphertext": "(v1:[^:"]+:)([^"]+)"', export)
    assert found, "the toy stack's state holds no secret"
    sealed = found.group(2)
    damaged = ("B" if sealed[0] != "B" else "C") + sealed[1:]
    return export.replace(found.group(1) + sealed, found.group(1) + damaged, 1)
