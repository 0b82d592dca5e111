"""Each piece of plumbing has one home, and nothing outside it re-builds it (REVIEW.md §2, §4).

Read from the source (AST, not text): a second home would re-grow the defects the copies had.
"""

from __future__ import annotations

import ast
import inspect
import textwrap
from pathlib import Path
from typing import Any

import pytest

from automation.settings import Settings
from sprocket_common.stack_info import Env, Layer, StackInfo

AUTOMATION = Path(__file__).resolve().parents[2] / "automation"


def _modules() -> list[tuple[str, ast.AST]]:
    return [
        (str(path.relative_to(AUTOMATION)), ast.parse(path.read_text()))
        for path in sorted(AUTOMATION.rglob("*.py"))
    ]


def _names(tree: ast.AST) -> set[str]:
    return {n.attr if isinstance(n, ast.Attribute) else n.id
            for n in ast.walk(tree) if isinstance(n, ast.Attribute | ast.Name)}  # fmt: skip


def test_only_the_workspace_asks_whether_a_stack_exists() -> None:
    """pulumi/workspace.existing_stack is the one place StackNotFoundError is caught."""
    users = [where for where, tree in _modules() if "StackNotFoundError" in _names(tree)]
    assert users == ["pulumi/workspace.py"]


def test_nothing_reads_the_plaintext_state() -> None:
    """export_stack() is `stack export --show-secrets`; state is read as ciphertext."""
    users = [where for where, tree in _modules() if "export_stack" in _names(tree)]
    assert users == []


def test_only_the_bounded_wait_computes_a_deadline_from_the_clock() -> None:
    """`deadline = time.monotonic() + ...` loops are automation/waiting.wait_until's job."""
    loops = []
    for where, tree in _modules():
        for node in ast.walk(tree):
            if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
                call = node.left
                if isinstance(call, ast.Call) and getattr(call.func, "attr", "") == "monotonic":
                    loops.append(f"{where}:{node.lineno}")
    assert loops == []


def test_deploy_and_rollout_share_the_swarm_watcher_without_importing_each_other() -> None:
    """The update watcher both use is automation/swarm_watch.py: stack/ (deploy) reaches no
    module of rollout/, so the two packages do not import each other (REVIEW.md §10)."""
    reaches = []
    for where, tree in _modules():
        if not where.startswith("stack/"):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
                "automation.rollout"
            ):
                reaches.append(f"{where}:{node.lineno} {node.module}")
    assert reaches == []


def test_existing_stack_is_none_for_a_stack_never_deployed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pulumi.automation import errors as auto_errors
    from pulumi.automation._cmd import CommandResult

    from automation.pulumi import workspace

    def missing(*_args: object, **_kwargs: object) -> object:
        raise auto_errors.StackNotFoundError(
            CommandResult("", "no stack named 'local-layer_1' found", 255)
        )

    monkeypatch.setattr(workspace, "select_stack", missing)
    settings = Settings(project_dir=tmp_path, state_dir=tmp_path)
    assert workspace.existing_stack(settings, StackInfo(Env.LOCAL, Layer.LAYER_1)) is None


def test_only_the_context_asks_for_confirmation() -> None:
    """Context.confirm is the one prompt (six verbs had their own copy)."""
    askers = []
    for where, tree in _modules():
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and node.attr == "confirm"
                and isinstance(node.value, ast.Name)
                and node.value.id == "click"
            ):
                askers.append(where)
    assert askers == ["context.py"]


def test_the_confirmation_never_asks_with_yes_refuses_off_a_terminal_and_names_a_no(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import click

    from automation.context import Context
    from automation.errors import BadInput

    asked: list[str] = []
    monkeypatch.setattr(click, "confirm", lambda q, **_k: asked.append(q) or False)
    Context(Settings(), Env.PROD, assume_yes=True).confirm("go?", action="destroy x")
    with pytest.raises(BadInput) as refused:
        Context(Settings(), Env.PROD).confirm("go?", action="destroy x", hint="pass --yes")
    assert refused.value.message == "refusing to destroy x without confirmation: not on a terminal"
    assert refused.value.hint == "pass --yes" and asked == []
    with pytest.raises(BadInput) as declined:
        Context(Settings(), Env.PROD, interactive=True).confirm("go?", action="destroy x")
    assert asked == ["go?"] and declined.value.message == "destroy x: declined at the prompt"


def test_one_gatus_client() -> None:
    """health and report sla read Gatus through automation/gatus.py (each had its own)."""
    readers = []
    for where, tree in _modules():
        docstrings = {id(node.value) for node in ast.walk(tree) if isinstance(node, ast.Expr)}
        readers += [
            where
            for node in ast.walk(tree)
            if isinstance(node, ast.Constant)
            and id(node) not in docstrings
            and isinstance(node.value, str)
            and "/api/v1/endpoints" in node.value
            and where != "gatus.py"
        ]
    assert readers == []


def test_durable_writes_have_one_home() -> None:
    """guard/records.py is the one module that syncs a record to disk or renames a scratch file
    over one (five atomic writes and two appenders had their own rules)."""
    writers = [
        where
        for where, tree in _modules()
        if {"fsync", "mkstemp"} & _names(tree) and where != "guard/records.py"
    ]
    assert writers == []


@pytest.mark.parametrize(("stack", "kind"), [("prod-db", "data"), ("prod-vault", "data"),
                                             ("prod-layer_2", "state")])  # fmt: skip
def test_backup_verify_picks_the_check_by_the_records_kind(
    stack: str, kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """backup/service.verify_backup is where `backup verify` decides (the command did)."""
    from types import SimpleNamespace

    from automation.backup import data, service

    monkeypatch.setattr(data, "verify", lambda _s, r: (r, "data"))
    monkeypatch.setattr(service, "verify", lambda _s, r: (r, "state"))
    record: Any = SimpleNamespace(stack=stack)
    assert service.verify_backup(None, record) == (record, kind)  # type: ignore[arg-type]


def test_health_counts_replicas_by_the_rule_deploy_waits_for() -> None:
    """A task still `running` on a node that is Down is not coming back: deploy's watcher does
    not count it, and health (which counted every task desired running) now agrees."""
    from automation.health.checks import Level, check_replicas
    from automation.health.collect import service_snapshot

    attrs = {"Spec": {"Name": "prod-web", "Mode": {"Replicated": {"Replicas": 2}}}}
    status = {"State": "running", "Timestamp": "2026-12-07T08:00:00Z"}
    tasks = [
        {"Slot": 1, "NodeID": "up", "DesiredState": "running", "Status": status},
        {"Slot": 2, "NodeID": "gone", "DesiredState": "running", "Status": status},
    ]
    nodes = {"up": {"ID": "up", "Status": {"State": "ready"}}}  # active_nodes() omits Down ones
    snapshot = service_snapshot(attrs, tasks, nodes)
    assert snapshot.counts == (1, 2)
    finding = check_replicas(snapshot)
    assert (finding.observed, finding.level) == ("1/2", Level.WARNING)


def test_every_driver_error_is_declared_in_the_errors_module() -> None:
    """One exception tree (automation/errors.py): a class declares its exit code there, and a
    room raising it imports it (ten lived in eight modules)."""
    import automation.errors

    tree_names = {
        name
        for name, value in vars(automation.errors).items()
        if isinstance(value, type) and issubclass(value, automation.errors.DriverError)
    }
    strays = [
        f"{where}: {node.name}"
        for where, tree in _modules()
        if where != "errors.py"
        for node in ast.walk(tree)
        if isinstance(node, ast.ClassDef)
        and {getattr(b, "id", "") for b in node.bases} & tree_names
    ]
    assert strays == []


def test_one_time_parser() -> None:
    """automation/times.py parses every timestamp the driver reads (six parsers before)."""
    from datetime import UTC, datetime

    from automation.times import parse_time

    callers = [
        where
        for where, tree in _modules()
        if "fromisoformat" in _names(tree) and where != "times.py"
    ]
    assert callers == []
    want = datetime(2026, 11, 28, 10, 0, 0, 123456, tzinfo=UTC)
    for text in (
        "2026-11-28T10:00:00.123456789Z",  # Docker, Gatus: nanoseconds
        "2026-11-28T11:00:00.123456+01:00",  # docker info's SystemTime: the daemon's zone
        "2026-11-28 10:00:00.123456",  # a backup record, no zone: UTC
    ):
        assert parse_time(text) == want
    assert parse_time("2026-11-28") == datetime(2026, 11, 28, tzinfo=UTC)
    assert parse_time("2026-11-28T11:00:00+01:00").isoformat() == "2026-11-28T11:00:00+01:00"
    with pytest.raises(ValueError, match="not an RFC 3339 time: 'yesterday'"):
        parse_time("yesterday")


def test_signal_handling_has_one_home_in_the_guard() -> None:
    """The Ctrl-C trap and SIGTERM-as-Ctrl-C (data restores, exec) live in guard/operation.py:
    no other module installs a signal handler (a second home was backup/data.py)."""
    homes = []
    for where, tree in _modules():
        for node in ast.walk(tree):
            func = node.func if isinstance(node, ast.Call) else None
            if isinstance(func, ast.Attribute) and func.attr == "signal":  # signal.signal(...)
                homes.append(where)
    assert sorted(set(homes)) == ["guard/operation.py"]


def test_dataclass_views_are_dataclasses_asdict() -> None:
    """A dataclass's dict view lists its fields by hand only when it adds or changes one."""
    from automation.backup.service import DamagedRecord
    from automation.cluster.investigate import LogLine

    line = LogLine("2026-12-08T01:00:00Z", "abc", "node-1", "text")
    assert line.as_dict() == {"timestamp": line.timestamp, "task": "abc", "node": "node-1",
                              "text": "text"}  # fmt: skip
    problem = DamagedRecord("p/sprocket-infra/local-layer_1/ID.json", "p/x.tar.gz", "bad")
    assert list(problem.to_dict()) == ["backup_id", "stack", "key", "archive_key", "problem"]
    for cls, method in ((LogLine, "as_dict"), (DamagedRecord, "to_dict")):
        source = ast.parse(textwrap.dedent(inspect.getsource(getattr(cls, method))))
        assert "asdict" in _names(source), f"{cls.__name__}.{method} lists its fields by hand"
