"""stacks, history, destroy and the secret canary, on the real engine with stand-in programs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from driver_toys import (
    check_schema,
    specs_fixture,  # noqa: F401 - provides the `specs` fixture
)
from pulumi import automation as auto

from automation.exit_codes import ExitCode
from automation.guard import audit
from automation.guard.audit import audit_path
from automation.settings import load_settings

pytestmark = pytest.mark.integration

CANARY = "canary-5b1e-never-print-me"
TOY = "pulumi-python:dynamic:Resource"


def test_secret_canary_never_appears_in_any_output(
    specs: Any, run_cli: Callable[..., Any], pulumi_env: Any
) -> None:
    stack = auto.create_stack(
        "local-layer_1", "sprocket-infra", lambda: None, opts=pulumi_env.workspace_options()
    )
    stack.set_config("canary", auto.ConfigValue(CANARY, secret=True))
    specs["layer_1"].update(secret_config="canary", toys=[{"name": "web"}])

    runs = [
        run_cli(*flags, *verb)
        for flags in ([], ["--json"])
        for verb in (
            ["preview", "layer_1"],
            ["--yes", "deploy", "layer_1"],
            ["preview", "layer_1"],
            ["stacks"],
            ["history", "layer_1"],
        )
    ]
    assert runs[1].exit_code == ExitCode.OK, runs[1].stderr
    assert stack.outputs()["token"].value == CANARY  # the secret really flowed through
    for run in runs:
        assert CANARY not in run.stdout + run.stderr
    for run in runs[5:]:
        check_schema(run.json())
    assert CANARY not in audit_path(load_settings()).read_text()

    # A program error that quotes the decrypted secret is redacted before it is shown.
    specs["layer_1"]["fail_with_config"] = "canary"
    for flags in ([], ["--json"]):
        failed = run_cli(*flags, "preview", "layer_1")
        assert failed.exit_code == ExitCode.ERROR
        assert "cannot use [secret]" in failed.stdout + failed.stderr
        assert CANARY not in failed.stdout + failed.stderr
    assert CANARY not in audit_path(load_settings()).read_text()


def test_stacks_and_history_merge_engine_updates_with_the_audit_log(
    specs: Any, run_cli: Callable[..., Any]
) -> None:
    specs["layer_1"]["toys"] = [{"name": "web"}, {"name": "api"}]
    assert run_cli("--yes", "deploy", "layer_1").exit_code == ExitCode.OK

    listed = run_cli("--json", "stacks")
    assert listed.exit_code == ExitCode.OK, listed.stderr
    rows = {row["stack"]: row for row in check_schema(listed.json())["data"]["stacks"]}
    assert rows["local-layer_1"]["deployed"] is True
    assert rows["local-layer_1"]["resource_count"] == 4  # stack, provider, web, api
    assert rows["local-layer_1"]["lock"] is None
    assert rows["local-platform"]["deployed"] is False
    human = run_cli("stacks")
    assert "local-platform" in human.stdout and "not deployed" in human.stdout

    history = run_cli("--json", "history", "layer_1")
    assert history.exit_code == ExitCode.OK, history.stderr
    entries = check_schema(history.json())["data"]["entries"]
    engine = [e for e in entries if e["source"] == "pulumi"]
    driver = [e for e in entries if e["source"] == "driver"]
    assert [(e["what"], e["result"]) for e in engine] == [("update", "succeeded")]
    assert engine[0]["changes"] == {"create": 3}  # the engine does not count providers
    assert engine[0]["user"] == driver[0]["user"]  # who ran it, on the engine's entry too
    assert [e["what"] for e in driver] == ["deploy"]
    assert driver[0]["exit_code"] == 0 and driver[0]["changes"]
    times = [e["time"] for e in entries]
    assert times == sorted(times, reverse=True) or len(times) == 2


def test_destroy_keeps_protected_resources_unless_named(
    specs: Any, run_cli: Callable[..., Any]
) -> None:
    db = f"urn:pulumi:local-layer_1::sprocket-infra::{TOY}::db"
    specs["layer_1"]["toys"] = [{"name": "db", "protect": True}, {"name": "web"}]
    assert run_cli("--yes", "deploy", "layer_1").exit_code == ExitCode.OK

    refused = run_cli("--json", "--yes", "destroy", "layer_1")
    assert refused.exit_code == ExitCode.GATE_BLOCKED, refused.stdout
    [stack] = check_schema(refused.json())["data"]["stacks"]
    assert [b["urn"] for b in stack["gate"]["blocked"]] == [db]
    assert stack["applied"] is False

    never = run_cli("--yes", "refresh", "layer_2")
    assert (
        never.exit_code == ExitCode.BAD_INPUT and "local-layer_2 was never deployed" in never.stderr
    )
    done = run_cli("--yes", "destroy", "layer_1", "--allow-delete", db)
    assert done.exit_code == ExitCode.OK, done.stderr + done.stdout
    rows = {row["stack"]: row for row in run_cli("--json", "stacks").json()["data"]["stacks"]}
    assert rows["local-layer_1"]["resource_count"] == 0
    assert rows["local-layer_2"]["deployed"] is False  # refresh and destroy never create a stack
    everything = run_cli("--json", "--yes", "destroy", "all")
    assert everything.exit_code == ExitCode.OK, everything.stderr
    order = [(s["stack"], s["status"]) for s in everything.json()["data"]["stacks"]]
    assert order == [
        ("local-platform", "unchanged"),
        ("local-layer_2", "unchanged"),
        ("local-layer_1", "unchanged"),
    ]


def test_unlock_refuses_a_live_holder_without_force_and_records_the_removal(
    specs: Any, run_cli: Callable[..., Any]
) -> None:
    import json
    import time

    from automation.guard.lock import lock_path, read_holder

    settings = load_settings()
    now = time.time()
    holder = {
        "stack": "local-layer_1",
        "user": "alice",
        "host": "ops-laptop",  # another host: its pid cannot be checked, its lease is fresh
        "pid": 4242,
        "command": "deploy",
        "started": now - 90,
        "heartbeat": now,
        "lease_s": 120.0,
        "token": "t0",
    }
    lock_path(settings, "local-layer_1").write_text(json.dumps(holder))

    refused = run_cli("--yes", "unlock", "layer_1")
    assert refused.exit_code == ExitCode.LOCKED
    assert "alice@ops-laptop pid 4242" in refused.stderr and "--force" in refused.stderr

    no_answer = run_cli("unlock", "layer_1", "--force")  # off a terminal, without --yes
    assert no_answer.exit_code == ExitCode.BAD_INPUT and "--yes" in no_answer.stderr
    assert read_holder(settings, "local-layer_1") is not None

    forced = run_cli("--json", "--yes", "unlock", "layer_1", "--force")
    assert forced.exit_code == ExitCode.OK, forced.stderr
    [removed] = check_schema(forced.json())["data"]["removed"]
    assert removed.startswith("driver lock: alice@ops-laptop pid 4242 running `deploy` for 1m3")
    assert read_holder(settings, "local-layer_1") is None
    unlocks = [r for r in audit.read(settings, "local-layer_1") if r["command"] == "unlock"]
    declined, record = unlocks  # the refusal at the confirmation is recorded too (exit 64)
    assert (declined["exit_code"], declined["removed"]) == (ExitCode.BAD_INPUT, [])
    assert record["exit_code"] == ExitCode.OK
    assert record["removed"] == forced.json()["data"]["removed"]
    assert record["forced"] is True  # a holder on another host: removed on the operator's word
    assert run_cli("unlock", "layer_1").stdout.strip() == "local-layer_1: not locked"


def test_unlock_never_removes_the_lock_of_a_process_running_on_this_host(
    specs: Any, run_cli: Callable[..., Any], pulumi_env: Any
) -> None:
    """Issue 15.2: with a plain `pulumi up` running here (its lock's pid alive), `unlock --yes`
    deleted Pulumi's lock. The same rule holds for the driver's own lock, whose heartbeat here
    has expired: the pid, alive on this host, decides."""
    import json
    import socket
    import subprocess
    import time
    import uuid
    from datetime import UTC, datetime

    from automation.guard.lock import lock_path

    settings, host = load_settings(), socket.gethostname()
    running = subprocess.Popen(["sleep", "300"])  # stands for the running `pulumi up`
    try:
        engine_dir = pulumi_env.backend_dir / ".pulumi" / "locks" / "organization"
        engine_lock = engine_dir / "sprocket-infra" / "local-layer_1" / f"{uuid.uuid4()}.json"
        engine_lock.parent.mkdir(parents=True)
        started = datetime.now(UTC).isoformat()
        engine_lock.write_text(
            json.dumps(
                {"pid": running.pid, "username": "bob", "hostname": host, "timestamp": started}
            )
        )
        now = time.time()
        driver = {"stack": "local-layer_1", "user": "bob", "host": host, "pid": running.pid}
        driver |= {"command": "deploy", "started": now, "heartbeat": now, "lease_s": 0.01}
        lock_path(settings, "local-layer_1").write_text(json.dumps({**driver, "token": "t1"}))
        time.sleep(0.1)  # the driver lock's lease has expired; its process has not

        for force in ([], ["--force"]):
            refused = run_cli("--yes", "unlock", "layer_1", *force)
            assert refused.exit_code == ExitCode.LOCKED, refused.stdout + refused.stderr
            assert "running on this host" in refused.stderr
            assert f"pulumi lock: bob@{host} pid {running.pid}" in refused.stderr
            assert f"driver lock: bob@{host} pid {running.pid}" in refused.stderr
            assert engine_lock.exists() and lock_path(settings, "local-layer_1").exists()
        deploy = run_cli("--yes", "deploy", "layer_1")  # nor does a driver command take it over
        assert deploy.exit_code == ExitCode.LOCKED, deploy.stdout + deploy.stderr
    finally:
        running.kill()
        running.wait()

    unlocked = run_cli("--yes", "unlock", "layer_1")  # its process is gone: stale, no --force
    assert unlocked.exit_code == ExitCode.OK, unlocked.stderr
    assert f"removed pulumi lock: bob@{host}" in unlocked.stdout
    assert not engine_lock.exists() and not lock_path(settings, "local-layer_1").exists()
    [record] = [r for r in audit.read(settings, "local-layer_1") if r["command"] == "unlock"]
    assert record["forced"] is False and len(record["removed"]) == 2


def test_damaged_lock_audit_and_release_files_are_named_and_skipped(
    specs: Any, run_cli: Callable[..., Any]
) -> None:
    """Issue 15.7: every file the driver reads back; one damaged record never stops the rest."""
    from automation.guard.driver_state import driver_dir
    from automation.guard.lock import lock_path

    settings = load_settings()
    lock = lock_path(settings, "local-layer_1")
    lock.write_text('{"stack": "local-la')
    audit.record(settings, {"command": "deploy", "stack": "local-layer_1", "exit_code": 0})
    with audit_path(settings).open("a") as handle:
        handle.write('{"command": "dep\n[1, 2]\n')
    audit.record(settings, {"command": "backup", "stack": "local-layer_1", "exit_code": 0})
    releases = driver_dir(settings) / "releases" / "local-platform"
    releases.mkdir(parents=True)
    (releases / "20261130T000000Z-abcd.json").write_text('{"id": "20261130T0')

    listed = run_cli("--json", "stacks")
    assert listed.exit_code == ExitCode.OK, listed.stdout + listed.stderr
    [row] = [r for r in check_schema(listed.json())["data"]["stacks"] if r["stack"] == lock.stem]
    assert row["lock"].startswith(f"lock file {lock} cannot be read")

    history = run_cli("--json", "history", "layer_1")
    assert history.exit_code == ExitCode.OK, history.stdout + history.stderr
    data = check_schema(history.json())["data"]
    assert sorted(e["what"] for e in data["entries"]) == ["backup", "deploy"]
    assert [line.split(" cannot")[0] for line in data["damaged"]] == [
        f"audit log {audit_path(settings)} line 2",
        f"audit log {audit_path(settings)} line 3",
    ]

    shown = run_cli("--json", "releases")
    assert shown.exit_code == ExitCode.OK, shown.stdout + shown.stderr
    [damaged] = check_schema(shown.json())["data"]["damaged"]
    assert damaged.startswith(f"release record {releases / '20261130T000000Z-abcd.json'} cannot")

    unlocked = run_cli("--yes", "unlock", "layer_1")
    assert unlocked.exit_code == ExitCode.OK, unlocked.stderr
    assert f"removed driver lock: lock file {lock} cannot be read" in unlocked.stdout
    assert not lock.exists()
