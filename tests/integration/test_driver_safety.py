"""Locks, pending operations and Ctrl-C with a second, real driver process.

The second process is `python -m driver_toys SPEC ARGS`: the driver's own CLI with the layer
program swapped for a dynamic resource whose create sleeps, so it can be caught midway.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from driver_toys import specs_fixture  # noqa: F401 - provides the `specs` fixture
from waiting import wait_until

from automation.exit_codes import ExitCode
from automation.guard import audit
from automation.guard.lock import engine_lock_files, lock_path, read_holder
from automation.guard.operation import pending_operations
from automation.settings import load_settings
from sprocket_common.stack_info import Env, Layer, StackInfo

pytestmark = pytest.mark.integration

HERE = Path(__file__).resolve().parent
LAYER_1 = StackInfo(Env.LOCAL, Layer.LAYER_1)
HINTED_COMMAND = re.compile(r"`(python -m automation [^`]+)`")


@pytest.fixture
def second_driver(specs: Any) -> Iterator[Callable[..., subprocess.Popen[str]]]:
    """Start `python -m automation ARGS` in another process (own session) with the toy specs."""
    started: list[subprocess.Popen[str]] = []

    def start(*args: str, stdin: Any = None) -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            [sys.executable, "-m", "driver_toys", json.dumps(specs), *args],
            cwd=HERE,
            env=dict(os.environ),
            stdin=stdin,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        started.append(proc)
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        _kill_session(proc.pid)


def _kill_session(sid: int) -> None:
    """Kill what a SIGKILLed driver leaves: the engine starts plugins (the dynamic provider) in
    their own process groups, and those outlive their killed engine, but stay in its session."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == sid:  # after "pid (comm)": state ppid pgrp session
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(stat.parent.name), signal.SIGKILL)


def _create_in_progress() -> bool:
    return bool(pending_operations(load_settings(), LAYER_1))


def test_second_deploy_refused_while_the_first_holds_the_lock_then_waits(
    specs: Any, second_driver: Any, run_cli: Callable[..., Any]
) -> None:
    specs["layer_1"]["toys"] = [{"name": "slow", "sleep_s": 6}]
    first = second_driver("--yes", "deploy", "layer_1")
    holder = wait_until(lambda: read_holder(load_settings(), LAYER_1.name), "the first's lock")
    assert holder.pid == first.pid

    refused = run_cli("--yes", "deploy", "layer_1")
    assert refused.exit_code == ExitCode.LOCKED, refused.stderr
    assert f"pid {first.pid}" in refused.stderr and "`deploy`" in refused.stderr
    assert refused.stderr.count("\n") == 1  # one line: holder, host, pid, command, age

    waited = run_cli("--yes", "deploy", "layer_1", "--lock-wait", "60")
    assert waited.exit_code == ExitCode.OK, waited.stderr
    assert first.wait(timeout=60) == ExitCode.OK
    assert "no changes" in waited.stdout  # it saw the first deploy's result, not a stale plan


def test_pending_operations_from_a_killed_update_are_refused_then_repaired(
    specs: Any, second_driver: Any, run_cli: Callable[..., Any]
) -> None:
    specs["layer_1"]["toys"] = [{"name": "slow", "sleep_s": 30}]
    victim = second_driver("--yes", "deploy", "layer_1")
    wait_until(_create_in_progress, "the create to start")
    os.killpg(victim.pid, signal.SIGKILL)  # the driver and its pulumi CLI, mid-create
    victim.wait(timeout=30)

    refused = run_cli("--yes", "deploy", "layer_1")
    assert refused.exit_code == ExitCode.PENDING_OPERATIONS, refused.stderr
    assert "pending operation" in refused.stderr and "slow" in refused.stderr
    # The killed driver's lock had a dead pid: taken over and released, not left behind; and
    # Pulumi's lock of the killed update went with it (its pid is dead on this host too).
    assert read_holder(load_settings(), LAYER_1.name) is None
    assert engine_lock_files(load_settings(), LAYER_1.name) == []

    # The repair exactly as the hint words it: only the creates are left to clear.
    hinted = HINTED_COMMAND.findall(refused.stderr)
    assert len(hinted) == 1, hinted
    assert hinted[0].endswith("refresh layer_1 --clear-pending-creates"), hinted
    for command in hinted:
        ran = run_cli(*shlex.split(command)[3:])  # after `python -m automation`
        assert ran.exit_code == ExitCode.OK, f"{command}: {ran.stderr}"
    assert not _create_in_progress()
    assert "the 1 pending create(s) were cleared" in ran.stdout and "slow" in ran.stdout, ran

    specs["layer_1"]["toys"] = [{"name": "slow", "sleep_s": 0}]
    assert run_cli("--yes", "deploy", "layer_1").exit_code == ExitCode.OK
    assert run_cli("preview", "layer_1").exit_code == ExitCode.OK  # clean: nothing left to do


def _leave_pending(info: StackInfo, kind: str, urn: str) -> None:
    """The stack's checkpoint as a run killed inside the engine's `kind` step of `urn` leaves
    it (the engine writes the pending operation before the step; `stack import` drops them)."""
    backend = Path(load_settings().resolved_backend_url.removeprefix("file://"))
    [path] = (backend / ".pulumi" / "stacks").glob(f"**/{info.name}.json")
    checkpoint = json.loads(path.read_text())
    latest = checkpoint["checkpoint"]["latest"]
    [resource] = [r for r in latest["resources"] if r["urn"] == urn]
    latest["pending_operations"] = [{"resource": resource, "type": kind}]
    path.write_text(json.dumps(checkpoint))


def test_a_pending_delete_is_named_as_such_and_the_hinted_refresh_clears_it(
    specs: Any, run_cli: Callable[..., Any]
) -> None:
    """Issue 29: a run killed while deleting left a pending *delete*; the refusal offered the
    pending-creates repair. A cut-off delete leaves nothing outside the state and Pulumi's
    refresh drops it (pulumi/pulumi#8435): the hint is a plain refresh, which must work."""
    specs["layer_1"]["toys"] = [{"name": "old"}]
    assert run_cli("--yes", "deploy", "layer_1").exit_code == ExitCode.OK
    old = "urn:pulumi:local-layer_1::sprocket-infra::pulumi-python:dynamic:Resource::old"
    _leave_pending(LAYER_1, "deleting", old)

    refused = run_cli("--yes", "deploy", "layer_1")
    assert refused.exit_code == ExitCode.PENDING_OPERATIONS, refused.stderr
    assert f"(1 deleting): deleting {old}" in refused.stderr
    hinted = HINTED_COMMAND.findall(refused.stderr)
    assert [h.split("--yes ")[-1] for h in hinted] == ["refresh layer_1"], hinted
    ran = run_cli(*shlex.split(hinted[0])[3:])  # after `python -m automation`
    assert ran.exit_code == ExitCode.OK, ran.stdout + ran.stderr
    assert (
        f"the refresh cleared the 1 pending operation(s) of the interrupted update (deleting {old})"
        in ran.stdout
    )
    assert pending_operations(load_settings(), LAYER_1) == []
    assert run_cli("--yes", "deploy", "layer_1").exit_code == ExitCode.OK


def test_ctrl_c_lets_the_engine_finish_and_leaves_no_lock(
    specs: Any, second_driver: Any, run_cli: Callable[..., Any]
) -> None:
    specs["layer_1"]["toys"] = [{"name": "slow", "sleep_s": 4}]
    proc = second_driver("--yes", "deploy", "layer_1")
    wait_until(_create_in_progress, "the create to start")
    os.kill(proc.pid, signal.SIGINT)  # the driver only, as `kill -INT` would

    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == ExitCode.INTERRUPTED, stderr
    assert "letting the engine finish" in stderr
    settings = load_settings()
    assert not lock_path(settings, LAYER_1.name).exists()
    assert not _create_in_progress()  # finished cleanly: nothing left pending
    [record] = [r for r in audit.read(settings, LAYER_1.name) if r["command"] == "deploy"]
    assert (record["exit_code"], record["outcome"]) == (130, "interrupted")
    specs["layer_1"]["toys"][0]["sleep_s"] = 4
    assert run_cli("preview", "layer_1").exit_code == ExitCode.OK  # the create was completed


def _descendants(pid: int) -> set[int]:
    found, todo = set(), [pid]
    while todo:
        for listing in Path(f"/proc/{todo.pop()}/task").glob("*/children"):
            with contextlib.suppress(OSError):
                children = {int(child) for child in listing.read_text().split()}
                found |= children
                todo += children
    return found


def test_a_second_ctrl_c_aborts_and_leaves_no_engine_or_plugin_process(
    specs: Any, second_driver: Any, run_cli: Callable[..., Any]
) -> None:
    """Ctrl-C twice on a terminal (the whole process group, as a terminal sends it): the driver
    exits at once, and neither the CLI nor a provider plugin lives on re-parented to init."""
    specs["layer_1"]["toys"] = [{"name": "slow", "sleep_s": 60}]
    proc = second_driver("--yes", "deploy", "layer_1")
    wait_until(_create_in_progress, "the create to start")
    below = _descendants(proc.pid)
    assert below, "the engine and its plugins run below the driver"
    os.killpg(proc.pid, signal.SIGINT)
    time.sleep(1)
    os.killpg(proc.pid, signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == ExitCode.INTERRUPTED, stderr

    def alive(pid: int) -> bool:
        try:
            return "(zombie)" not in Path(f"/proc/{pid}/status").read_text()
        except OSError:
            return False

    wait_until(lambda: not {pid for pid in below if alive(pid)}, "the engine's end", timeout=15)
    # What the abort cut off is in the state, with the repair named.
    refused = run_cli("--yes", "deploy", "layer_1")
    assert refused.exit_code in (ExitCode.PENDING_OPERATIONS, ExitCode.OK), refused.stderr


@pytest.mark.parametrize(("answer", "code"), [("y", ExitCode.OK), ("n", ExitCode.BAD_INPUT)])
def test_interactive_deploy_shows_the_gated_plan_and_asks(
    specs: Any, second_driver: Any, run_cli: Callable[..., Any], answer: str, code: ExitCode
) -> None:
    """On a terminal (a real pty as stdin) deploy shows the plan, asks, and obeys the answer."""
    specs["layer_1"]["toys"] = [{"name": "web"}]
    controller, terminal = os.openpty()
    try:
        proc = second_driver("deploy", "layer_1", stdin=terminal)
        prompt = ""
        assert proc.stderr is not None
        while not prompt.endswith("? [y/N]: "):  # no newline after it: read char by char
            char = proc.stderr.read(1)
            assert char, f"the driver exited without asking: {prompt}"
            prompt += char
        os.write(controller, f"{answer}\n".encode())
        _, rest = proc.communicate(timeout=120)
    finally:
        os.close(controller)
        os.close(terminal)
    assert "create   web" in prompt and "deploy these changes to local-layer_1?" in prompt
    assert proc.returncode == code, prompt + rest
    expected_preview = ExitCode.OK if answer == "y" else ExitCode.CHANGES_PRESENT
    assert run_cli("preview", "layer_1").exit_code == expected_preview


def test_sigterm_cancels_the_engine_gracefully_and_leaves_no_lock(
    specs: Any, second_driver: Any, run_cli: Callable[..., Any], pulumi_env: Any
) -> None:
    """CI cancelling a job sends SIGTERM to the driver only: it asks the engine to cancel."""
    specs["layer_1"]["toys"] = [
        {"name": "slow", "sleep_s": 4},
        {"name": "later", "depends_on": ["slow"]},
    ]
    proc = second_driver("--yes", "deploy", "layer_1")
    wait_until(_create_in_progress, "the create to start")
    os.kill(proc.pid, signal.SIGTERM)

    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == ExitCode.INTERRUPTED, stderr
    settings = load_settings()
    assert not lock_path(settings, LAYER_1.name).exists()
    assert not _create_in_progress()  # no step left half-done
    engine_locks = list((pulumi_env.backend_dir / ".pulumi" / "locks").glob("**/*.json"))
    assert engine_locks == []  # the engine exited cleanly and released its own lock
    preview = run_cli("--json", "preview", "layer_1")
    [stack] = preview.json()["data"]["stacks"]
    # cancelled, not finished: `later` (waiting on `slow`) was never started; `slow` itself was
    # either finished or cancelled in the provider, depending on timing, never left half-made
    assert ("create", "later") in [(s["op"], s["urn"].rsplit("::", 1)[1]) for s in stack["steps"]]
    assert run_cli("--yes", "deploy", "layer_1").exit_code == ExitCode.OK  # nothing to repair


def test_ctrl_c_at_the_prompt_aborts_at_once_without_a_lock(
    specs: Any, second_driver: Any, run_cli: Callable[..., Any]
) -> None:
    """Nothing runs while the driver waits for an answer: Ctrl-C there ends it immediately."""
    specs["layer_1"]["toys"] = [{"name": "web"}]
    controller, terminal = os.openpty()
    try:
        proc = second_driver("deploy", "layer_1", stdin=terminal)
        prompt = ""
        assert proc.stderr is not None
        while not prompt.endswith("? [y/N]: "):
            char = proc.stderr.read(1)
            assert char, f"the driver exited without asking: {prompt}"
            prompt += char
        # The prompt is written just before the read starts: a SIGINT landing in between stays
        # pending until the read returns (CPython's handler runs between bytecodes), which a
        # person typing Ctrl-C never hits. So Ctrl-C is repeated until the driver is gone; a
        # driver that thought an engine was running would say so at the first one.
        err = _interrupt_until_exit(proc, prompt)
    finally:
        os.close(controller)
        os.close(terminal)
    assert "interrupt received" not in err  # aborted, not waiting for an engine
    assert proc.returncode == ExitCode.INTERRUPTED
    assert not lock_path(load_settings(), LAYER_1.name).exists()
    assert run_cli("preview", "layer_1").exit_code == ExitCode.CHANGES_PRESENT  # nothing applied


def _interrupt_until_exit(proc: subprocess.Popen[str], prompt: str) -> str:
    """Send SIGINT every half second for up to 30 s; the driver's stderr after the prompt."""
    for _ in range(60):
        os.kill(proc.pid, signal.SIGINT)
        try:
            return proc.communicate(timeout=0.5)[1]
        except subprocess.TimeoutExpired:
            continue
    os.kill(proc.pid, signal.SIGUSR1)  # faulthandler: where it is stuck
    time.sleep(1)
    os.killpg(proc.pid, signal.SIGKILL)
    err = proc.communicate()[1]
    raise AssertionError(f"still running 30 s after Ctrl-C: {prompt}\n{err}")


def test_refresh_clearing_pending_creates_is_gated_like_every_refresh(
    specs: Any, run_cli: Callable[..., Any], tmp_path: Path
) -> None:
    """Issue 15.6: `refresh --clear-pending-creates` skipped the gated refresh preview, so a
    protected resource whose read said "gone" was dropped from the state with exit 0."""
    gone = tmp_path / "vault-gone"
    specs["layer_1"]["toys"] = [{"name": "vault", "protect": True, "gone_if": str(gone)}]
    assert run_cli("--yes", "deploy", "layer_1").exit_code == ExitCode.OK
    vault = "urn:pulumi:local-layer_1::sprocket-infra::pulumi-python:dynamic:Resource::vault"
    gone.touch()  # deleted outside Pulumi

    blocked = run_cli("--json", "--yes", "refresh", "layer_1", "--clear-pending-creates")
    assert blocked.exit_code == ExitCode.GATE_BLOCKED, blocked.stdout + blocked.stderr
    [stack] = blocked.json()["data"]["stacks"]
    assert [(b["urn"], b["op"]) for b in stack["gate"]["blocked"]] == [(vault, "delete")]
    assert "--allow-delete" in stack["gate"]["blocked"][0]["reason"]
    # There were none to clear: it must not say it cleared some.
    assert stack["message"] == (
        "the state held no pending creates, so none were cleared; the refresh was not run"
    )
    urns = [r["urn"] for r in pulumi_export(LAYER_1)["deployment"]["resources"]]
    assert vault in urns
    [record] = [r for r in audit.read(load_settings(), LAYER_1.name) if r["command"] == "refresh"]
    assert record["exit_code"] == ExitCode.GATE_BLOCKED and record["blocked"] == [vault]

    allowed = run_cli(
        "--yes", "refresh", "layer_1", "--clear-pending-creates", "--allow-delete", vault
    )
    assert allowed.exit_code == ExitCode.OK, allowed.stdout + allowed.stderr
    assert vault not in [r["urn"] for r in pulumi_export(LAYER_1)["deployment"]["resources"]]
    # Applied too, it says none were cleared (it printed only "[refreshed]" before).
    assert "the state held no pending creates, so none were cleared" in allowed.stdout


def pulumi_export(info: StackInfo) -> Any:
    from automation.pulumi.cli import run_pulumi_json

    return run_pulumi_json(load_settings(), info, ["stack", "export"])


def test_an_engine_failure_without_a_reason_says_so_and_what_was_applied(
    specs: Any, run_cli: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 15.5: a stack output holding a resource makes `up --plan` exit 1 with an empty
    stderr after creating the resources; the driver printed " stderr:" and the audit "error"."""
    import pulumi
    from driver_toys import Toy, substitute_programs

    def program() -> None:
        pulumi.export("web", Toy("web", key="web", value="v1"))

    substitute_programs(monkeypatch, {"layer_1": program})
    failed = run_cli("--json", "--yes", "deploy", "layer_1")
    assert failed.exit_code == ExitCode.ERROR, failed.stdout + failed.stderr
    [stack] = failed.json()["data"]["stacks"]
    message = stack["message"]
    assert message.startswith("the Pulumi engine exited 1 without giving a reason"), message
    applied = "the stack's history records this update as 'failed' after create 2"
    assert f"{applied}: those changes are in the state" in message
    assert "stderr:" not in message

    [record] = [r for r in audit.read(load_settings(), LAYER_1.name) if r["command"] == "deploy"]
    assert record["engine_result"] == "failed" and record["applied"] is True
    assert record["changes"] == {"create": 2} and record["pending_operations"] == []
    urns = [r["urn"] for r in pulumi_export(LAYER_1)["deployment"]["resources"]]
    assert any(urn.endswith("::web") for urn in urns)
