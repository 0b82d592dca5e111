"""The driver's stack lock and audit log on a real directory, with real processes as holders."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from automation.errors import StackLocked
from automation.guard import audit
from automation.guard.lock import (
    Liveness,
    driver_lock,
    liveness,
    lock_path,
    read_holder,
    stack_lock,
)
from automation.settings import Settings


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(project_dir=tmp_path, state_dir=tmp_path / "state")


def _plant_lock(settings: Settings, stack: str, **overrides: object) -> None:
    now = time.time()
    holder = {
        "stack": stack,
        "user": "alice",
        "host": "ops-laptop",
        "pid": 4242,
        "command": "deploy layer_1",
        "started": now - 300,
        "heartbeat": now,
        "lease_s": 120.0,
        "token": "t0",
        **overrides,
    }
    lock_path(settings, stack).write_text(json.dumps(holder))


def test_lock_lives_beside_the_file_backend_and_is_released(settings: Settings) -> None:
    with stack_lock(settings, "local-layer_1", "deploy layer_1") as holder:
        path = lock_path(settings, "local-layer_1")
        assert path.parent == settings.state_dir / "backend" / ".sprocket" / "locks"
        assert read_holder(settings, "local-layer_1") == holder
        assert holder.pid == os.getpid() and holder.command == "deploy layer_1"
    assert not path.exists()


def test_lock_released_when_the_block_raises_keyboard_interrupt(settings: Settings) -> None:
    with pytest.raises(KeyboardInterrupt), stack_lock(settings, "local-layer_1", "deploy"):
        raise KeyboardInterrupt
    assert read_holder(settings, "local-layer_1") is None


def test_live_holder_on_another_host_refuses_with_who_and_age(settings: Settings) -> None:
    _plant_lock(settings, "prod-layer_1")
    with pytest.raises(StackLocked) as info, stack_lock(settings, "prod-layer_1", "backup"):
        pass
    message = info.value.message
    assert "alice@ops-laptop pid 4242" in message and "`deploy layer_1`" in message
    assert "5m00s" in message or "5m01s" in message
    assert "`python -m automation --env prod unlock layer_1`" in info.value.hint
    assert read_holder(settings, "prod-layer_1") is not None  # someone else's lock stays


def test_waiting_gives_up_after_the_wait(settings: Settings) -> None:
    _plant_lock(settings, "prod-layer_1")
    started = time.monotonic()
    with pytest.raises(StackLocked), stack_lock(settings, "prod-layer_1", "deploy", wait_s=1.0):
        pass
    assert 1.0 <= time.monotonic() - started < 3


def test_waiting_gets_the_lock_when_the_holder_exits(settings: Settings) -> None:
    """A real second process holds the lock for 1.5 s; we wait for it instead of failing."""
    code = (
        "import time, sys\n"
        "from automation.guard.lock import stack_lock\n"
        "from automation.settings import Settings\n"
        "from pathlib import Path\n"
        f"s = Settings(project_dir=Path({str(settings.project_dir)!r}), "
        f"state_dir=Path({str(settings.state_dir)!r}))\n"
        "with stack_lock(s, 'local-platform', 'deploy platform'):\n"
        "    print('held', flush=True); time.sleep(1.5)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
        with pytest.raises(StackLocked), stack_lock(settings, "local-platform", "backup"):
            pass
        with stack_lock(settings, "local-platform", "backup", wait_s=10) as holder:
            assert holder.pid == os.getpid()
    finally:
        proc.wait(timeout=10)


def test_dead_pid_on_this_host_is_stale_and_taken_over(settings: Settings) -> None:
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    import socket

    _plant_lock(settings, "local-layer_2", host=socket.gethostname(), pid=int(dead.stdout))
    with stack_lock(settings, "local-layer_2", "deploy") as holder:
        assert holder.pid == os.getpid()


def _plant_engine_lock(settings: Settings, stack: str, host: str, pid: int) -> Path:
    """Pulumi's file-backend lock (pkg/backend/diy/lock.go), as a killed `pulumi up` leaves it."""
    url = settings.resolved_backend_url.removeprefix("file://")
    locks = Path(url) / ".pulumi" / "locks" / "organization" / "sprocket" / stack
    locks.mkdir(parents=True, exist_ok=True)
    path = locks / f"{pid}-{host}.json"
    when = "2026-12-07T10:00:00Z"
    path.write_text(json.dumps({"pid": pid, "username": "a", "hostname": host, "timestamp": when}))
    return path


def test_a_pulumi_lock_of_a_killed_run_here_goes_when_the_driver_takes_the_lock(
    settings: Settings,
) -> None:
    """A driver run killed mid-update leaves Pulumi's lock: the next run must not stop at it,
    but a lock held from another host (it may be running) stays for `unlock --force`."""
    import socket

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    killed = _plant_engine_lock(settings, "local-layer_2", socket.gethostname(), int(dead.stdout))
    other = _plant_engine_lock(settings, "local-layer_2", "ops-laptop", 4242)
    with stack_lock(settings, "local-layer_2", "rotate db-password"):
        assert not killed.exists()
        assert other.exists()


def test_expired_lease_is_stale_even_on_another_host(settings: Settings) -> None:
    _plant_lock(settings, "prod-layer_2", heartbeat=time.time() - 600)
    with stack_lock(settings, "prod-layer_2", "deploy") as holder:
        assert holder.user != "alice" or holder.pid == os.getpid()


def test_reentrant_in_one_process(settings: Settings) -> None:
    with (
        stack_lock(settings, "local-layer_1", "rollback"),
        stack_lock(settings, "local-layer_1", "deploy"),
    ):
        assert read_holder(settings, "local-layer_1") is not None
    assert read_holder(settings, "local-layer_1") is None


def test_a_lock_held_elsewhere_cannot_be_checked_and_a_damaged_one_is_named(
    settings: Settings,
) -> None:
    _plant_lock(settings, "prod-layer_1")
    held = driver_lock(settings, "prod-layer_1")
    assert held is not None and held.liveness is Liveness.ELSEWHERE
    assert held.holder.startswith("alice@ops-laptop pid 4242")
    lock_path(settings, "prod-layer_1").write_text('{"stack": "prod-lay')
    damaged = driver_lock(settings, "prod-layer_1")
    assert damaged is not None and damaged.liveness is Liveness.DAMAGED
    assert damaged.holder.startswith(f"lock file {lock_path(settings, 'prod-layer_1')} cannot")


def test_a_pid_reused_by_a_newer_process_does_not_hold_the_lock(settings: Settings) -> None:
    import socket

    later = time.time() - 3600  # the lock was taken an hour before this pid's process started
    assert liveness(socket.gethostname(), os.getpid(), later, None) is Liveness.GONE
    assert liveness(socket.gethostname(), os.getpid(), time.time(), None) is Liveness.ALIVE_HERE


def test_audit_appends_and_filters_by_stack(settings: Settings) -> None:
    audit.record(settings, {"command": "deploy", "stack": "local-layer_1", "exit_code": 0})
    audit.record(settings, {"command": "backup", "stack": "local-layer_2", "exit_code": 6})
    first = audit.read(settings)[0]
    assert {"time", "user", "host", "pid"} <= first.keys()
    assert [r["command"] for r in audit.read(settings)] == ["deploy", "backup"]
    assert [r["exit_code"] for r in audit.read(settings, "local-layer_2")] == [6]
    lines = audit.audit_path(settings).read_text().splitlines()
    assert len(lines) == 2  # one line per record, appended


def test_audit_skips_a_torn_last_line(settings: Settings) -> None:
    audit.record(settings, {"command": "deploy", "stack": "s"})
    with audit.audit_path(settings).open("a") as handle:
        handle.write('{"command": "dep')
    assert len(audit.read(settings)) == 1
