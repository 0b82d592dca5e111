"""The driver's own lock per stack, taken around every mutating command.

Pulumi locks a stack only for the length of one engine call; the driver's lock covers a whole
command (preflight, backup, preview, confirm, apply, backup), so a cron backup cannot slip in
between a deploy's preview and its apply. The lock is a JSON file created with O_EXCL in the
driver directory next to the state (see automation/driver_state.py), holding who took it and a
heartbeat the holder renews. It is stale, and taken over, when its pid is dead on this host or
its lease expired without a heartbeat. It is released in ``finally``, so also on Ctrl-C.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from automation.driver_state import current_host, current_user, driver_dir
from automation.errors import StackLocked
from automation.settings import Settings

LEASE_S = 120.0  # a holder that stops renewing for this long is gone (crashed on another host)
POLL_S = 0.5

# Stacks this process holds, with a depth count: a command that calls another guarded command
# (rollback -> deploy) re-enters its own lock instead of deadlocking on it.
_held: dict[tuple[str, str], int] = {}
_held_guard = threading.Lock()


@dataclass(frozen=True)
class LockHolder:
    stack: str
    user: str
    host: str
    pid: int
    command: str
    started: float
    heartbeat: float
    lease_s: float
    token: str

    def age_s(self, now: float | None = None) -> float:
        return (now or time.time()) - self.started

    def is_stale(self, now: float | None = None) -> bool:
        now = now or time.time()
        if now - self.heartbeat > self.lease_s:
            return True
        return self.host == current_host() and not _pid_alive(self.pid)

    def describe(self, now: float | None = None) -> str:
        return (
            f"{self.user}@{self.host} pid {self.pid} running `{self.command}` "
            f"for {format_age(self.age_s(now))}"
        )


def format_age(seconds: float) -> str:
    seconds = max(0, int(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by someone else
        return True
    return True


def lock_path(settings: Settings, stack: str) -> Path:
    directory = driver_dir(settings) / "locks"
    directory.mkdir(parents=True, exist_ok=True)
    return directory / f"{stack}.json"


def read_holder(settings: Settings, stack: str) -> LockHolder | None:
    """The current holder of the stack's lock, or None (also for a half-written file)."""
    try:
        data = json.loads(lock_path(settings, stack).read_text())
        return LockHolder(**data)
    except (FileNotFoundError, json.JSONDecodeError, TypeError):
        return None


def force_unlock(settings: Settings, stack: str) -> LockHolder | None:
    """Remove the lock whoever holds it; returns who held it."""
    holder = read_holder(settings, stack)
    with contextlib.suppress(FileNotFoundError):
        lock_path(settings, stack).unlink()
    return holder


@contextlib.contextmanager
def stack_lock(
    settings: Settings, stack: str, command: str, *, wait_s: float = 0
) -> Iterator[LockHolder]:
    """Hold the driver's lock on `stack` for the block; StackLocked if a live holder has it."""
    path = lock_path(settings, stack)
    key = (str(path), stack)
    with _held_guard:
        if _held.get(key):
            _held[key] += 1
            reentered = True
        else:
            reentered = False
    if reentered:
        try:
            holder = read_holder(settings, stack)
            assert holder is not None
            yield holder
        finally:
            with _held_guard:
                _held[key] -= 1
        return

    holder = _acquire(path, stack, command, wait_s)
    with _held_guard:
        _held[key] = 1
    stop = threading.Event()
    beat = threading.Thread(target=_heartbeat, args=(path, holder, stop), daemon=True)
    beat.start()
    try:
        yield holder
    finally:
        stop.set()
        beat.join(timeout=5)
        _release(path, holder)
        with _held_guard:
            _held.pop(key, None)


def _acquire(path: Path, stack: str, command: str, wait_s: float) -> LockHolder:
    deadline = time.monotonic() + wait_s
    now = time.time()
    mine = LockHolder(
        stack=stack,
        user=current_user(),
        host=current_host(),
        pid=os.getpid(),
        command=command,
        started=now,
        heartbeat=now,
        lease_s=LEASE_S,
        token=uuid.uuid4().hex,
    )
    while True:
        if _try_create(path, mine):
            return mine
        other = _read(path)
        if other is None or other.is_stale():
            _take_over(path, other)
            continue
        if time.monotonic() >= deadline:
            raise StackLocked(
                f"stack {stack} is locked by {other.describe()}",
                "wait for it (--lock-wait SECONDS), or if that process is gone: "
                + _unlock_command(stack),
            )
        time.sleep(POLL_S)


def _unlock_command(stack: str) -> str:
    from automation.hints import driver_command
    from sprocket_common.stack_info import StackInfo

    info = StackInfo.parse(stack)
    return driver_command(info.env, "unlock", info.layer.value)


def _try_create(path: Path, holder: LockHolder) -> bool:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w") as handle:
        json.dump(asdict(holder), handle)
    return True


def _read(path: Path) -> LockHolder | None:
    try:
        return LockHolder(**json.loads(path.read_text()))
    except FileNotFoundError:
        return None
    except (json.JSONDecodeError, TypeError):
        # Half-written by a creator this instant, or corrupt: look once more, then call it stale.
        time.sleep(0.05)
        try:
            return LockHolder(**json.loads(path.read_text()))
        except (FileNotFoundError, json.JSONDecodeError, TypeError):
            return None


def _take_over(path: Path, stale: LockHolder | None) -> None:
    """Move a stale lock aside atomically; of two processes racing to take over, one wins."""
    aside = path.with_name(f"{path.name}.stale-{uuid.uuid4().hex}")
    try:
        path.rename(aside)
    except FileNotFoundError:
        return
    # Between our read and the rename another process may have taken over and made a live lock:
    # put that one back (link fails if a third process created one meanwhile) and try again.
    moved = _read(aside)
    live = moved is not None and not moved.is_stale()
    if live and stale is not None and moved is not None and moved.token != stale.token:
        with contextlib.suppress(FileExistsError):
            os.link(aside, path)
    aside.unlink(missing_ok=True)


def _heartbeat(path: Path, holder: LockHolder, stop: threading.Event) -> None:
    while not stop.wait(holder.lease_s / 4):
        current = _read(path)
        if current is None or current.token != holder.token:
            return  # taken over (forced unlock): nothing of ours to renew
        renewed = {**asdict(holder), "heartbeat": time.time()}
        tmp = path.with_name(f"{path.name}.{holder.token}.tmp")
        tmp.write_text(json.dumps(renewed))
        tmp.replace(path)


def _release(path: Path, holder: LockHolder) -> None:
    current = _read(path)
    if current is not None and current.token == holder.token:
        path.unlink(missing_ok=True)


def engine_lock_files(settings: Settings, stack: str) -> list[Path]:
    """Pulumi's own lock files for `stack` on a file backend (a killed `pulumi up` leaves one)."""
    url = settings.resolved_backend_url
    if not url.startswith("file://"):
        return []
    locks = Path(url.removeprefix("file://")).expanduser() / ".pulumi" / "locks"
    return sorted(p for p in locks.glob(f"**/{stack}/*.json") if p.is_file())
