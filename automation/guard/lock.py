"""The driver's own lock per stack, taken around every mutating command.

Pulumi locks a stack only for the length of one engine call; the driver's lock covers a whole
command (preflight, backup, preview, confirm, apply, backup), so a cron backup cannot slip in
between a deploy's preview and its apply. The lock is a JSON file created with O_EXCL in the
driver directory next to the state (see automation/guard/driver_state.py), holding who took it and a
heartbeat the holder renews. It is stale, and taken over, when its pid is dead on this host, or,
for a holder on another host, when its lease expired without a heartbeat (`liveness`: the same
rule `unlock` applies to it and to Pulumi's own lock). It is released in ``finally``, so also
on Ctrl-C.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, TypeAdapter

from automation.errors import StackLocked, unreadable
from automation.guard.driver_state import current_host, current_user, driver_dir
from automation.guard.records import write_atomic
from automation.settings import Settings

LEASE_S = 120.0  # a holder that stops renewing for this long is gone (crashed on another host)
POLL_S = 0.5

# Stacks this process holds, with a depth count: a command that calls another guarded command
# (rollback -> deploy) re-enters its own lock instead of deadlocking on it.
_held: dict[tuple[str, str], int] = {}
_held_guard = threading.Lock()


class Liveness(StrEnum):
    """What can be known from here about whoever holds a lock."""

    ALIVE_HERE = "running on this host"  # never removed, not even with --force
    GONE = "gone"  # its pid is dead on this host, or its heartbeat expired: stale
    ELSEWHERE = "on another host, cannot be checked from here"  # only with --force
    DAMAGED = "unreadable"  # a lock file that cannot be read: removable, named


def liveness(host: str, pid: int, started: float, fresh_until: float | None) -> Liveness:
    """The one rule for every lock (the driver's and Pulumi's own).

    On this host the pid decides: a live process that was already running when the lock was
    taken holds it, however old the heartbeat. On another host only an expired heartbeat
    (`fresh_until`) proves the holder gone; a lock without one (Pulumi's) never expires.
    """
    if host == current_host():
        return Liveness.ALIVE_HERE if _process_alive_since(pid, started) else Liveness.GONE
    if fresh_until is not None and time.time() > fresh_until:
        return Liveness.GONE
    return Liveness.ELSEWHERE


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

    def liveness(self) -> Liveness:
        return liveness(self.host, self.pid, self.started, self.heartbeat + self.lease_s)

    def is_stale(self) -> bool:
        return self.liveness() is Liveness.GONE

    def describe(self, now: float | None = None) -> str:
        return (
            f"{self.user}@{self.host} pid {self.pid} running `{self.command}` "
            f"for {format_age(self.age_s(now))}"
        )


_HOLDER = TypeAdapter(LockHolder)


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


def _process_alive_since(pid: int, since: float) -> bool:
    """`pid` runs and already ran at `since`: a pid reused by a newer process does not count,
    nor does a zombie (a killed process nobody reaped, as under a container's init)."""
    if not _pid_alive(pid):
        return False
    state, started = _process_state(pid)
    if state in ("Z", "X"):
        return False
    return started is None or started <= since + 2.0  # boot time has whole seconds


def _process_state(pid: int) -> tuple[str, float | None]:
    """(state letter, start time) of `pid` from Linux /proc; ("", None) where unreadable."""
    try:
        after_name = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        boot = next(
            float(line.split()[1])
            for line in Path("/proc/stat").read_text().splitlines()
            if line.startswith("btime ")
        )
        return after_name[0], boot + int(after_name[19]) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError, StopIteration):
        return "", None


def lock_path(settings: Settings, stack: str) -> Path:
    directory = driver_dir(settings) / "locks"
    directory.mkdir(parents=True, exist_ok=True)
    return directory / f"{stack}.json"


def read_holder(settings: Settings, stack: str) -> LockHolder | None:
    """The current holder of the stack's lock, or None (also for a half-written file)."""
    try:
        return _HOLDER.validate_json(lock_path(settings, stack).read_bytes())
    except (FileNotFoundError, ValueError):
        return None


@dataclass(frozen=True)
class HeldLock:
    """A lock file as `stacks` and `unlock` see it: whose, and what can be known about it."""

    kind: str  # "driver lock" or "pulumi lock"
    path: Path
    holder: str  # who holds it, or why the file cannot be read
    liveness: Liveness

    def describe(self) -> str:
        return f"{self.kind}: {self.holder}"


def driver_lock(settings: Settings, stack: str) -> HeldLock | None:
    """The driver's lock on `stack`, a damaged lock file included, or None."""
    path = lock_path(settings, stack)
    try:
        holder = _HOLDER.validate_json(path.read_bytes())
    except FileNotFoundError:
        return None
    except ValueError as exc:  # pydantic's ValidationError included
        return HeldLock("driver lock", path, _damaged(path, exc), Liveness.DAMAGED)
    return HeldLock("driver lock", path, holder.describe(), holder.liveness())


class _EngineLock(BaseModel):
    """Pulumi's file-backend lock (pkg/backend/diy/lock.go lockContent): no heartbeat."""

    pid: int
    username: str
    hostname: str
    timestamp: datetime


def engine_lock(path: Path) -> HeldLock:
    """One of Pulumi's own lock files (a `pulumi up` holds it; a killed one leaves it)."""
    try:
        held = _EngineLock.model_validate_json(path.read_bytes())
    except (OSError, ValueError) as exc:
        return HeldLock("pulumi lock", path, _damaged(path, exc), Liveness.DAMAGED)
    started = held.timestamp.timestamp()
    who = (
        f"{held.username}@{held.hostname} pid {held.pid} (pulumi, "
        f"for {format_age(time.time() - started)}, file {path.name})"
    )
    return HeldLock("pulumi lock", path, who, liveness(held.hostname, held.pid, started, None))


def _damaged(path: Path, exc: Exception) -> str:
    return f"lock file {path} cannot be read ({unreadable(exc)})"


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
    _clear_gone_engine_locks(settings, stack)
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


def _clear_gone_engine_locks(settings: Settings, stack: str) -> None:
    """Remove Pulumi's lock files on `stack` whose holder is provably gone (its pid dead on
    this host), saying so on stderr. A driver run killed in an update leaves one (Pulumi's file
    backend has no stale-lock check), and the next run would stop at "locked by another
    update" although nobody holds it. Only under the driver's own lock, so no driver is
    mid-update; a live `pulumi up` run by hand is ALIVE_HERE or ELSEWHERE and is kept. Said
    only to a terminal: a scheduled job's log holds both streams as one JSON document."""
    for path in engine_lock_files(settings, stack):
        held = engine_lock(path)
        if held.liveness is Liveness.GONE:
            path.unlink(missing_ok=True)
            if sys.stderr.isatty():
                print(f"removed a stale {held.describe()}: not running", file=sys.stderr)


def _acquire(path: Path, stack: str, command: str, wait_s: float) -> LockHolder:
    from automation.waiting import WaitTimeout, wait_until

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

    def probe() -> tuple[LockHolder | None, LockHolder | None]:
        while not _try_create(path, mine):
            other = _read(path)
            if other is not None and not other.is_stale():
                return None, other
            _take_over(path, other)  # stale or half-written: take it over, try again at once
        return mine, None

    try:
        return wait_until(probe, what=f"the lock on {stack}", timeout_s=wait_s, interval_s=POLL_S)
    except WaitTimeout as exc:
        other = exc.last
        assert isinstance(other, LockHolder)
        raise StackLocked(
            f"stack {stack} is locked by {other.describe()}",
            "wait for it (--lock-wait SECONDS), or if that process is gone: "
            + _unlock_command(stack),
        ) from None


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
        return _HOLDER.validate_json(path.read_bytes())
    except FileNotFoundError:
        return None
    except ValueError:
        # Half-written by a creator this instant, or corrupt: look once more, then call it stale.
        time.sleep(0.05)
        try:
            return _HOLDER.validate_json(path.read_bytes())
        except (FileNotFoundError, ValueError):
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
        write_atomic(path, json.dumps(renewed), mode=0o644)


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
