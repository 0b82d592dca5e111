"""The exit-code table: documented in --help, distinct, and each code proven by a named test."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from automation.exit_codes import MEANINGS, ExitCode, exit_status_help

TESTS = Path(__file__).resolve().parent.parent

# The driver's codes (issue 6) and the test that makes the real CLI exit with each.
PROVEN_BY = {
    ExitCode.OK: "integration/test_driver_deploy.py::test_preview_exit_codes_no_changes_vs_changes",
    ExitCode.CHANGES_PRESENT: (
        "integration/test_driver_deploy.py::test_preview_exit_codes_no_changes_vs_changes"
    ),
    ExitCode.ERROR: "integration/test_driver_deploy.py::test_engine_or_program_error_is_exit_1",
    ExitCode.GATE_BLOCKED: (
        "integration/test_driver_deploy.py::"
        "test_gate_blocks_replacing_a_protected_resource_until_allowed"
    ),
    ExitCode.LOCKED: (
        "integration/test_driver_safety.py::"
        "test_second_deploy_refused_while_the_first_holds_the_lock_then_waits"
    ),
    ExitCode.PENDING_OPERATIONS: (
        "integration/test_driver_safety.py::"
        "test_pending_operations_from_a_killed_update_are_refused_then_repaired"
    ),
    ExitCode.BAD_INPUT: (
        "integration/test_driver_deploy.py::test_allowance_that_matches_nothing_is_bad_input"
    ),
    ExitCode.INTERRUPTED: (
        "integration/test_driver_safety.py::test_ctrl_c_lets_the_engine_finish_and_leaves_no_lock"
    ),
    ExitCode.CREDENTIALS: (
        "unit/test_cli_input.py::test_missing_passphrase_for_prod_names_the_variable"
    ),
    ExitCode.NOT_CONVERGED: (
        "integration/test_real_stacks.py::"
        "test_deploy_names_each_service_that_does_not_converge_in_swarms_words"
    ),
    ExitCode.NAME_TAKEN: (
        "integration/test_ownership_swarm.py::"
        "test_a_second_state_deploying_onto_the_firsts_objects_stops_before_the_engine_runs"
    ),
    ExitCode.BACKUP_FAILED: (
        "integration/test_backup_restore.py::"
        "test_a_flipped_byte_is_refused_naming_the_file_and_nothing_is_imported"
    ),
    ExitCode.ROLLED_BACK: (
        "integration/test_real_stacks.py::"
        "test_rollout_of_a_healthy_tag_succeeds_and_a_failing_one_is_rolled_back"
    ),
    ExitCode.ROLLBACK_FAILED: (
        "integration/test_rollout_swarm.py::test_a_rollback_point_that_fails_too_exits_8_for_a_person"
    ),
    ExitCode.DRIFT_DETECTED: (
        "integration/test_drift_swarm.py::test_service_scaled_by_hand_is_drift_naming_the_property"
    ),
    ExitCode.HEALTH_WARNING: (
        "integration/test_health_swarm.py::test_more_than_50_error_lines_in_the_logs_is_a_warning"
    ),
    ExitCode.HEALTH_CRITICAL: (
        "integration/test_health_swarm.py::test_service_whose_image_exits_is_critical_at_0_of_1"
    ),
    ExitCode.FROZEN: (
        "unit/test_freeze.py::test_a_frozen_deploy_is_refused_with_the_message_who_and_when"
    ),
    ExitCode.SECRETS_INCOMPLETE: (
        "integration/test_backup_restore.py::"
        "test_restore_from_a_runbook_export_file_goes_through_the_same_checks"
    ),
}


def test_every_code_of_the_table_is_proven() -> None:
    assert set(PROVEN_BY) == set(ExitCode)


def test_codes_are_distinct_and_changes_is_not_failure() -> None:
    values = [int(code) for code in ExitCode]
    assert len(values) == len(set(values))
    assert ExitCode.CHANGES_PRESENT not in (ExitCode.ERROR, ExitCode.OK)
    assert ExitCode.BAD_INPUT != 2  # click's usage-error code would read as "changes present"


def test_every_code_is_documented_in_help() -> None:
    text = exit_status_help()
    for code in ExitCode:
        assert f"{int(code):>3}  {MEANINGS[code]}" in text


@pytest.mark.parametrize(("code", "test_id"), sorted(PROVEN_BY.items()))
def test_each_driver_code_has_a_test_that_exits_with_it(code: ExitCode, test_id: str) -> None:
    path, name = test_id.split("::")
    tree = ast.parse((TESTS / path).read_text())
    functions = {node.name: node for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)}
    assert name in functions, f"{test_id} is gone: prove exit {int(code)} elsewhere"
    source = ast.unparse(functions[name])
    assert f"ExitCode.{code.name}" in source, f"{test_id} no longer checks exit {int(code)}"


def test_the_json_schema_allows_every_exit_code_and_stack_status() -> None:
    """automation/schema/result.schema.json pins the envelope scripts parse: a code or a
    stack status the driver can give must be in it (14 and 'not converged' were not). The
    statuses are StackStatus, which mypy holds every assignment in the driver to."""
    import json

    from automation.stack.run import STACK_STATUSES

    schema_path = TESTS.parent / "automation" / "schema" / "result.schema.json"
    schema = json.loads(schema_path.read_text())
    assert schema["properties"]["exit_code"]["enum"] == sorted(int(code) for code in ExitCode)
    statuses = schema["$defs"]["stack_outcome"]["properties"]["status"]["enum"]
    assert sorted(statuses) == sorted(STACK_STATUSES)


# What the docs say a named failure exits with, read against the table (issue 29 case 15: the
# backup docs said a wrong passphrase exits 13, the code and this table say 9).
DOCUMENTED_FAILURES = {
    "wrong passphrase": ExitCode.CREDENTIALS,
    "wrong shares": ExitCode.CREDENTIALS,
}
DOCS = TESTS.parent / "docs"


def test_the_docs_give_the_tables_exit_code_for_each_named_failure() -> None:
    import re

    seen, wrong = 0, []
    for doc in sorted(DOCS.glob("*.md")):
        text = " ".join(doc.read_text().split())  # a sentence may break across lines
        for phrase, code in DOCUMENTED_FAILURES.items():
            for found in re.finditer(rf"{phrase}\b[^.;|]{{0,40}}?\bexits? (\d+)", text, re.I):
                seen += 1
                if int(found.group(1)) != code:
                    wrong.append(f"{doc.name}: {found.group(0)!r} (the table: {int(code)})")
    assert seen >= 2, "the docs' sentences changed shape: update this test's pattern"
    assert wrong == []


def test_every_exit_code_the_docs_name_is_in_the_table() -> None:
    import re

    codes = {int(code) for code in ExitCode}
    for doc in [*sorted(DOCS.glob("*.md")), TESTS.parent / "README.md"]:
        named = {int(n) for n in re.findall(r"\bexits? (\d+)\b", " ".join(doc.read_text().split()))}
        assert named <= codes, f"{doc.name} names exit codes not in the table: {named - codes}"
