"""The checks before a `stack import`, on checkpoints laid out as `pulumi stack export` (v3)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from automation.backup.checks import explain_difference, integrity_defects
from automation.backup.manifest import fit_problems
from automation.backup.pulumi_state import _only_foreign_urns
from automation.backup.restoring import refusal, unimportable
from automation.backup.service import read_file
from automation.pulumi.errors import engine_reason
from sprocket_common.stack_info import PROJECT_NAME, Env, Layer, StackInfo

BASE = "urn:pulumi:local-layer_1::sprocket-infra::"
STACK = BASE + "pulumi:pulumi:Stack::sprocket-infra-local-layer_1"
PROVIDER = BASE + "pulumi:providers:pulumi-python::default"
WEB = BASE + "pulumi-python:dynamic:Resource::web"


def checkpoint() -> dict[str, Any]:
    return {
        "version": 3,
        "deployment": {
            "resources": [
                {"urn": STACK, "type": "pulumi:pulumi:Stack", "custom": False},
                {"urn": PROVIDER, "type": "pulumi:providers:pulumi-python", "custom": True,
                 "id": "4a1f"},
                {"urn": WEB, "type": "pulumi-python:dynamic:Resource", "custom": True, "id": "w",
                 "parent": STACK, "provider": PROVIDER + "::4a1f", "dependencies": [],
                 "propertyDependencies": {"value": []}},
            ]
        },
    }  # fmt: skip


def test_a_sound_checkpoint_has_no_defects() -> None:
    assert integrity_defects(checkpoint()) == []


def test_each_defect_names_the_resource_and_what_is_wrong() -> None:
    state = checkpoint()
    web = state["deployment"]["resources"][2]
    web["provider"] = PROVIDER + "::other-id"
    web["propertyDependencies"] = {"value": [BASE + "x::later"]}
    state["deployment"]["resources"].append({"urn": BASE + "x::later", "type": "x"})
    state["deployment"]["resources"].append(copy.deepcopy(web))
    state["deployment"]["pending_operations"] = [{"type": "frobbing", "resource": {"urn": WEB}}]
    assert integrity_defects(state) == [
        f"resource {WEB} refers to unknown provider {PROVIDER}::other-id",
        f"resource {WEB}: its property dependency (from value) {BASE}x::later comes after it",
        f"resource {WEB} refers to unknown provider {PROVIDER}::other-id",
        f"resource {WEB} appears 2 times (not marked for deletion)",
        "pending operation 0 has unknown type 'frobbing'",
    ]


def test_a_duplicate_marked_for_deletion_is_what_a_replacement_leaves() -> None:
    state = checkpoint()
    state["deployment"]["resources"].append({**state["deployment"]["resources"][2], "delete": True})
    assert integrity_defects(state) == []


def test_a_checkpoint_without_a_deployment_is_named() -> None:
    assert integrity_defects({"version": 3}) == [
        "the checkpoint has no `deployment` object: not a `pulumi stack export`"
    ]


def test_dropped_pending_operations_are_named_as_the_difference() -> None:
    backup = checkpoint()
    backup["deployment"]["pending_operations"] = [{"type": "creating", "resource": {"urn": WEB}}]
    reason, only_pending = explain_difference(checkpoint(), backup)
    assert only_pending is True
    assert f"dropped the backup's 1 pending operation(s) (creating {WEB})" in reason
    changed = checkpoint()
    changed["deployment"]["resources"].pop()
    reason, only_pending = explain_difference(changed, checkpoint())
    assert (reason, only_pending) == (
        f"the imported state differs from the backup: missing {WEB}",
        False,
    )


def test_the_engines_whole_reason_is_kept_without_its_force_advice() -> None:
    refusal = (
        "error: 2 errors occurred:\n"
        "    1) state file contains errors: magic cookie mismatch; possible tampering\n"
        "    2) importing this file could be dangerous; rerun with --force to proceed anyway\n"
    )
    assert engine_reason(refusal) == (
        "state file contains errors: magic cookie mismatch; possible tampering"
    )
    assert not _only_foreign_urns(refusal)
    foreign = refusal.replace(
        "state file contains errors: magic cookie mismatch; possible tampering",
        "resource 'urn:pulumi:a::p::t::n' is from a different stack (a != b)",
    )
    assert _only_foreign_urns(foreign)
    assert engine_reason("") == "no reason given (empty stderr)"


# --- `restore LAYER --file` of another project's checkpoint: one refusal, a hint that works ---

OTHER = "urn:pulumi:layer_2::sprocket-original::"


def _other_projects_export(tmp_path: Path, provider: str = "service") -> tuple[Path, dict]:
    """The original system's `layer_2/stack.json`: its project and stack, its secrets provider."""
    state = checkpoint()
    for res in state["deployment"]["resources"]:
        for key in ("urn", "parent"):
            if key in res:
                res[key] = res[key].replace(BASE, OTHER).replace("local-layer_1", "layer_2")
        if "provider" in res:
            res["provider"] = res["provider"].replace(BASE, OTHER)
    state["deployment"]["resources"][1]["urn"] = OTHER + "pulumi:providers:pulumi-python::default"
    state["deployment"]["secrets_providers"] = {"type": provider, "state": {"url": "https://x"}}
    path = tmp_path / "stack.json"
    path.write_text(json.dumps(state))
    return path, state


def test_another_projects_checkpoint_is_refused_naming_every_reason_at_once(
    run_cli: Any, tmp_path: Path
) -> None:
    path, _ = _other_projects_export(tmp_path)
    for force in ([], ["--force"]):
        result = run_cli("--yes", "restore", "layer_2", "--file", str(path), *force)
        assert result.exit_code == 64, result.stderr
        assert "project 'sprocket-original', not 'sprocket-infra'" in result.stderr
        assert "stack 'layer_2', not 'local-layer_2'" in result.stderr
        assert "'service' secrets provider" in result.stderr
        # --force would not import it: the hint must not say it does
        assert "--force imports it anyway" not in result.stderr
        assert "--force does not import it" in result.stderr
        assert "python -m automation --env local backup list layer_2" in result.stderr


def test_only_when_force_would_import_it_does_the_hint_offer_force(tmp_path: Path) -> None:
    path, export = _other_projects_export(tmp_path, provider="passphrase")
    info = StackInfo(Env.LOCAL, Layer.LAYER_2)
    fetched = read_file(path, None, info)
    problems = fit_problems(
        export, fetched.manifest, stack=info.name, project=PROJECT_NAME, cli_version="v3.274.1"
    )
    refused = refusal(fetched.label, info, problems, unimportable(export), force=False)
    assert refused is not None and "--force imports it anyway" in refused.hint
    assert "project 'sprocket-original'" in refused.message
    assert refusal(fetched.label, info, problems, unimportable(export), force=True) is None


def test_a_passphrase_that_does_not_open_it_is_named_with_the_rest_and_no_bare_force(
    run_cli: Any, tmp_path: Path
) -> None:
    # Made with passphrase "pw1" (the vectors of test_backup_crypter), not this machine's.
    salt = "v1:JOcbyRh+0mI=:v1:97JTwz5/32++Em3d:1RxWiXUn7qVmzR4i32MNXBisb48JbA=="
    secret = "v1:/xDK8NP8xI4lFbSp:bgCCj0a44zup7IuL/3fmI+MaDLpG92ApQXHtMA=="
    path, export = _other_projects_export(tmp_path, provider="passphrase")
    export["deployment"]["secrets_providers"] = {"type": "passphrase", "state": {"salt": salt}}
    envelope = {"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270"}
    export["deployment"]["resources"][2]["outputs"] = {"key": {**envelope, "ciphertext": secret}}
    path.write_text(json.dumps(export))
    result = run_cli("--yes", "restore", "layer_2", "--file", str(path))
    assert result.exit_code == 64, result.stderr
    assert "project 'sprocket-original', not 'sprocket-infra'" in result.stderr
    assert "the configured passphrase does not open the secrets" in result.stderr
    assert "--force imports it anyway" not in result.stderr
    assert "set PULUMI_CONFIG_PASSPHRASE (or _FILE)" in result.stderr


# --- the backup is checked before the operator is asked -----------------------------------


def test_a_bad_file_is_refused_naming_it_before_any_confirmation(
    run_cli: Any, tmp_path: Path
) -> None:
    """No --yes and no terminal: the question would refuse ("without confirmation"), hiding
    that the file could never be restored; the file's own refusal comes first."""
    damaged = tmp_path / "damaged.json"
    damaged.write_text('{"version": 3, "deploy')
    foreign, _ = _other_projects_export(tmp_path)
    for path, reason in (
        (tmp_path / "missing.json", "cannot be read"),
        (damaged, "is not a `pulumi stack export` JSON document"),
        (foreign, "project 'sprocket-original', not 'sprocket-infra'"),
    ):
        result = run_cli("restore", "layer_2", "--file", str(path))
        assert result.exit_code == 64, result.stderr
        assert str(path) in result.stderr and reason in result.stderr, result.stderr
        assert "without confirmation" not in result.stderr


def test_a_rollback_checks_its_backup_before_asking_too(
    run_cli: Any, monkeypatch: Any, tmp_path: Path
) -> None:
    for var in ("SPROCKET_BACKUP_BUCKET", "SPROCKET_SETTINGS"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("SPROCKET_STATE_DIR", str(tmp_path))
    result = run_cli("rollback", "layer_2", "--to", "20261201T000000Z-abc")
    assert result.exit_code == 64, result.stderr
    assert "no backup bucket is configured" in result.stderr
    assert "without confirmation" not in result.stderr


def test_a_checkpoint_from_a_newer_pulumi_is_refused_without_offering_force(
    run_cli: Any, tmp_path: Path
) -> None:
    """Version 99 (or a feature this CLI does not know): the engine refuses `stack import
    --force` too, so the hint offers a newer driver, not --force."""
    state = checkpoint()
    # made with passphrase "pw1" (test_backup_crypter's vectors), not this machine's
    salt = "v1:JOcbyRh+0mI=:v1:97JTwz5/32++Em3d:1RxWiXUn7qVmzR4i32MNXBisb48JbA=="
    state["deployment"]["secrets_providers"] = {"type": "passphrase", "state": {"salt": salt}}
    future = {**state, "version": 99}
    features = {**state, "version": 4, "features": ["teleport"]}
    for state, reason in (
        (future, "checkpoint version 99 is not one this CLI"),
        (features, "features this CLI does not know: ['teleport']"),
    ):
        path = tmp_path / "stack.json"
        path.write_text(json.dumps(state))
        for force in ([], ["--force"]):
            result = run_cli("--yes", "restore", "layer_1", "--file", str(path), *force)
            assert result.exit_code == 64, result.stderr
            assert reason in result.stderr and str(path) in result.stderr
            assert "--force imports it" not in result.stderr
            assert "--force does not import it" in result.stderr
            assert "newer driver" in result.stderr
