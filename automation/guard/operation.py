"""The guard every mutating command wraps its engine call in.

``with guarded(ctx, info, "deploy") as op:`` takes the driver's stack lock, refuses a stack with
pending operations from an interrupted update, traps Ctrl-C so the engine can finish or cancel
cleanly, and writes one audit record on the way out whatever happened (exit code, duration, the
change summary the command put on ``op``). Pre/post backups (issue 7) hook in here too, and
the deploy freeze (guard/freeze.py): a frozen environment refuses every guarded command.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

from automation.context import Context
from automation.errors import DriverError, EngineFailedSilently, Interrupted, PendingOperations
from automation.exit_codes import ExitCode
from automation.guard import audit
from automation.guard.freeze import refuse_if_frozen
from automation.guard.lock import stack_lock
from automation.guard.snapshots import snapshots
from automation.settings import Settings
from sprocket_common.stack_info import Layer, StackInfo


@dataclass
class Operation:
    """What a guarded command reports back for its audit record."""

    command: str
    stack: str
    exit_code: ExitCode = ExitCode.OK
    changes: dict[str, int] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)
    interrupted: bool = False
    in_engine: bool = False  # a first Ctrl-C waits for the engine only while it runs

    @contextlib.contextmanager
    def engine_call(self) -> Iterator[None]:
        """Mark the engine call inside the guard: Ctrl-C elsewhere (a prompt) aborts at once."""
        self.in_engine = True
        try:
            yield
        finally:
            self.in_engine = False
        if self.interrupted:  # the engine stopped cleanly: go no further (no prompt, no apply)
            raise Interrupted(
                f"interrupted: the engine finished or cancelled its step on {self.stack} cleanly",
                f"run {_preview_command(StackInfo.parse(self.stack))} to see where the stack "
                "stands",
            )


@contextlib.contextmanager
def guarded(
    ctx: Context,
    info: StackInfo,
    command: str,
    *,
    wait_s: float = 0,
    allow_pending: bool = False,
    tolerate_pending: frozenset[str] = frozenset(),
) -> Iterator[Operation]:
    """Lock, preflight, trap signals and audit one mutating command on one stack.

    Pending operations are refused (exit 5) unless `allow_pending`, or all of them are of the
    `tolerate_pending` kinds (refresh: the ones it clears)."""
    op = Operation(command=command, stack=info.name)
    started_at = time.time()
    with audit.audited(ctx.settings, command, info.name) as run:
        try:
            refuse_if_frozen(ctx, command, op.details)  # before the lock: nothing is touched
            with stack_lock(ctx.settings, info.name, command, wait_s=wait_s):
                if not allow_pending:
                    refuse_pending_operations(ctx, info, tolerated=tolerate_pending)
                try:
                    # Verified backups before and after, when a backup bucket is configured.
                    with snapshots(ctx, info, command, op), _trap_interrupts(op):
                        yield op
                except DriverError as exc:
                    if op.interrupted and not isinstance(exc, Interrupted):
                        raise _interrupted(info) from exc  # the engine's cancel is no failure
                    raise
                if op.interrupted:
                    raise _interrupted(info)
            run.exit_code = op.exit_code
        except EngineFailedSilently as exc:
            exc.message += "; " + settle_silent_failure(ctx.settings, info, op, since=started_at)
            raise
        finally:  # what the command put on `op`, read as it ends
            run.changes, run.details = op.changes, op.details


# The layer whose live data a data verb reads or replaces: a rotation of that data's login, a
# deploy or a restore holds the same lock, so none of them runs under a backup.
DATA_LAYERS = {"db": Layer.LAYER_2, "vault": Layer.LAYER_1}


@contextlib.contextmanager
def data_guarded(ctx: Context, kind: str, command: str) -> Iterator[audit.AuditedRun]:
    """The guard's data mode (backup|restore db|vault): the lock of the layer holding the data,
    then the data's own catalog lock (`local-db`), and one audit record whatever happens.

    No pending-operation refusal and no state snapshots: the data verbs change no stack."""
    from automation.backup.data import data_stack

    data_name = data_stack(ctx.env, kind)
    with (
        audit.audited(ctx.settings, command, data_name) as run,
        stack_lock(ctx.settings, ctx.stack(DATA_LAYERS[kind]).name, command),
        stack_lock(ctx.settings, data_name, command),
    ):
        if not command.startswith("backup"):  # a restore replaces live data; backups still run
            refuse_if_frozen(ctx, command, run.details)
        yield run


def _preview_command(info: StackInfo) -> str:
    from automation.hints import driver_command

    return driver_command(info.env, "preview", info.layer.value)


def _interrupted(info: StackInfo) -> Interrupted:
    return Interrupted(
        "interrupted: the engine finished or cancelled its current step cleanly",
        f"run {_preview_command(info)} to see where the stack stands",
    )


# --- an engine failure without a reason ---------------------------------------------------


def settle_silent_failure(settings: Settings, info: StackInfo, op: Operation, since: float) -> str:
    """After the engine failed without a reason: what did it do? Read from the stack's history
    (the updates started since `since`) and state (pending operations); put on `op` for the
    audit record, and said in one sentence for the operator."""
    from automation.pulumi.cli import run_pulumi_json

    args = ["stack", "history", "--json", "--show-secrets=false"]
    try:
        history = run_pulumi_json(settings, info, args) or []
        pending = pending_operations(settings, info)
    except DriverError as exc:
        op.details["engine_result"] = "unknown"
        return f"what it did is unknown: the stack's history cannot be read ({exc.message})"
    ours = [u for u in history if _epoch(u.get("startTime")) >= int(since)]
    op.details["pending_operations"] = pending
    if not ours:
        op.changes, op.details["engine_result"], op.details["applied"] = {}, "no update", False
        return "the stack's history records no update since the command began: nothing applied" + (
            f"; the state holds {len(pending)} pending operation(s) (an update that was cut off)"
            if pending
            else ""
        )
    newest = ours[0]
    changes = {k: n for k, n in (newest.get("resourceChanges") or {}).items() if k != "same" and n}
    op.changes = changes
    op.details.update(engine_result=newest.get("result"), applied=bool(changes))
    done = ", ".join(f"{kind} {n}" for kind, n in sorted(changes.items()))
    return f"the stack's history records this {newest.get('kind')} as {newest.get('result')!r}" + (
        f" after {done}: those changes are in the state" if done else ", with nothing changed"
    )


def _epoch(text: Any) -> float:
    from automation.times import parse_time

    try:
        return parse_time(str(text)).timestamp()
    except ValueError:
        return 0.0


# --- pending operations -------------------------------------------------------------------


def pending_operations(settings: Settings, info: StackInfo) -> list[dict[str, str]]:
    """The stack's pending operations, read from a ciphertext `stack export` (no secrets shown):
    each its kind (`type`: creating, updating, deleting, reading), `urn` and `resource_type`."""
    from automation.errors import NoSuchStack
    from automation.pulumi.cli import run_pulumi_json

    try:
        exported = run_pulumi_json(settings, info, ["stack", "export"])
    except NoSuchStack:
        return []  # first deploy: nothing can be pending
    deployment = (exported or {}).get("deployment") or {}
    return [
        {
            "type": pending.get("type", "?"),
            "urn": (pending.get("resource") or {}).get("urn", "?"),
            "resource_type": (pending.get("resource") or {}).get("type", ""),
        }
        for pending in deployment.get("pending_operations") or []
    ]


# Pulumi's names of pending operations (resource/deploy/snapshot: OperationType). A refresh
# drops every one but `creating` (pulumi/pulumi#8435): a delete, update or read cut off leaves
# nothing outside the state. A cut-off create may have made a resource the state does not
# hold, so only `--clear-pending-creates` drops it, once the operator has looked (#10394).
CREATING = "creating"
REFRESH_CLEARS = frozenset({"deleting", "updating", "reading"})


def refuse_pending_operations(
    ctx: Context, info: StackInfo, *, tolerated: frozenset[str] = frozenset()
) -> None:
    """PendingOperations (exit 5) naming each pending operation by its kind and the repair
    that works for those kinds; `tolerated` kinds (the ones the verb itself clears) pass."""
    pending = pending_operations(ctx.settings, info)
    if not pending or all(p["type"] in tolerated for p in pending):
        return
    kinds: dict[str, int] = {}
    for op in pending:
        kinds[op["type"]] = kinds.get(op["type"], 0) + 1
    counted = ", ".join(f"{n} {kind}" for kind, n in sorted(kinds.items()))
    listed = "; ".join(f"{p['type']} {p['urn']}" for p in pending[:3])
    more = f" and {len(pending) - 3} more" if len(pending) > 3 else ""
    raise PendingOperations(
        f"stack {info.name} has {len(pending)} pending operation(s) from an interrupted update "
        f"({counted}): {listed}{more}",
        pending_repair_hint(ctx, info, pending),
    )


def pending_repair_hint(
    ctx: Context, info: StackInfo, pending: list[dict[str, str]] | None = None
) -> str:
    """The repair for these pending operations, as commands to run in this order: Pulumi's
    lock first if it is still held (refresh would meet it and exit 4), then the refresh that
    drops them: a plain one for deletes, updates and reads, with
    `--clear-pending-creates` once creates are among them (checked by hand first)."""
    from automation.guard.lock import engine_lock_files
    from automation.hints import driver_command
    from automation.stack.gate import is_stateful_type

    env, layer, yes = info.env, info.layer.value, ctx.assume_yes
    pending = pending_operations(ctx.settings, info) if pending is None else pending
    creates = [p for p in pending if p["type"] not in REFRESH_CLEARS]
    steps = [step for path in engine_lock_files(ctx.settings, info.name)
             if (step := _engine_lock_step(path, info, yes=yes))]  # fmt: skip
    refresh = ["refresh", layer, *(["--clear-pending-creates"] if creates else [])]
    steps.append(driver_command(env, *refresh, yes=yes))
    if creates:
        text = (
            "check whether the resources of the pending creates exist (one that was created is "
            "left outside the state: remove it by hand), then run " + ", then ".join(steps)
        )
    else:
        text = (
            "a pending delete, update or read leaves no resource outside the state, and a "
            "refresh clears it: run " + ", then ".join(steps)
        )
    gone = [
        p["urn"]
        for p in pending
        if p["type"] == "deleting" and is_stateful_type(p.get("resource_type", ""))
    ]
    if gone:
        allow = driver_command(
            env, *refresh, *[a for urn in gone for a in ("--allow-delete", urn)], yes=yes
        )
        text += (
            f"; if that refresh is blocked as a delete of the stateful {', '.join(gone)} (the "
            f"killed update had already deleted it, so the refresh drops it), run {allow}"
        )
    return text


def _engine_lock_step(path: Path, info: StackInfo, *, yes: bool) -> str:
    """What to do about Pulumi's lock on the stack before the refresh. A dead one on this host
    is already gone: the driver removes it when it takes its own lock (guard/lock.py
    _clear_gone_engine_locks), so what is left is a lock from another host or a live one here."""
    from automation.guard.lock import Liveness, engine_lock
    from automation.hints import driver_command

    held = engine_lock(path)
    unlock = ["unlock", info.layer.value]
    if held.liveness is Liveness.ALIVE_HERE:
        return (
            f"wait until the pulumi holding the stack's lock ends ({held.holder}, running on "
            "this host: no unlock removes it)"
        )
    if held.liveness is Liveness.ELSEWHERE:
        return (
            f"{driver_command(info.env, *unlock, '--force', yes=yes)} once you know the pulumi "
            f"holding the stack's lock is gone ({held.holder}, another host: the driver cannot "
            "check it from here)"
        )
    return f"{driver_command(info.env, *unlock, yes=yes)} (Pulumi's lock: {held.holder})"


# --- Ctrl-C -------------------------------------------------------------------------------


@contextlib.contextmanager
def _trap_interrupts(op: Operation) -> Iterator[None]:
    """First Ctrl-C/SIGTERM: let the engine finish cleanly and exit 130 after; second: abort.

    On a terminal, Ctrl-C reaches the pulumi CLI too (same process group), which then cancels
    gracefully: finishes in-flight steps and writes its state. A SIGTERM (CI cancelling a job)
    reaches only this process, so it is passed on to the engine as the CLI's graceful SIGINT.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handle(signum: int, _frame: FrameType | None) -> None:
        if op.interrupted and op.in_engine:
            # Abort now: the CLI exits at once and its provider plugins would live on,
            # re-parented to init; the state's pending operations say what was cut off.
            _signal_descendants(signal.SIGTERM)
        if op.interrupted or not op.in_engine:
            raise KeyboardInterrupt
        op.interrupted = True
        sys.stderr.write(
            "interrupt received: letting the engine finish its current step cleanly "
            "(interrupt again to abort now)\n"
        )
        if signum == signal.SIGTERM:
            _signal_children(signal.SIGINT)

    previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextlib.contextmanager
def sigterm_interrupts() -> Iterator[None]:
    """SIGTERM (`systemctl stop`, `kill`, a CI cancel) acts as Ctrl-C outside an engine call
    (a data restore, `exec`): its default kills the driver without clean-up, leaving a scratch
    database on the server, a scratch Vault running unsealed, or no audit record. Use as a
    decorator or a `with`; only the main thread gets signals. (Inside an engine call the
    guard's own trap above passes SIGTERM on to the engine instead.)"""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(_signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _signal_children(sig: signal.Signals) -> None:
    """Send `sig` to this process's direct children (the pulumi CLI), Linux /proc only."""
    for pid in _children(os.getpid()):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


def _signal_descendants(sig: signal.Signals) -> None:
    """Send `sig` to every process below this one (the CLI and the plugins it started), all
    found first: a parent that exits re-parents its children out of reach."""
    found, todo = [], _children(os.getpid())
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo += _children(pid)
    for pid in found:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


def _children(pid: int) -> list[int]:
    """`pid`'s child processes from /proc (Linux); [] once it is gone."""
    children: list[int] = []
    for listing in Path(f"/proc/{pid}/task").glob("*/children"):
        with contextlib.suppress(OSError):
            children += [int(child) for child in listing.read_text().split()]
    return children


def ignore_further_interrupts() -> None:
    """Once the driver ends on an interrupt, a second Ctrl-C must not cut its exit short: a
    KeyboardInterrupt raised during exit is unhandled, and CPython then ends the process by
    the signal itself (status -2, not 130, and nothing after it flushed)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
