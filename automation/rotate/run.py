"""One shape for every rotation: check, new value, store, roll, verify, retire; journalled.

    check    the value the stack holds now still works (else: refuse, nothing changed)
    prepare  the new value is made valid beside the old one (a second login, a new token)
    store    the stack's secret config takes the new value
    roll     each stack holding consumers is deployed: new versioned Swarm secret, rolling
             update of every consumer, watched until converged (automation/swarm_watch.py)
    verify   the new value works where the consumers use it
    retire   the old value stops working, last

Any failure before retire puts the old value back in the config, rolls the consumers back to
it and withdraws the new one; the old value was never touched, so it still works. A killed
run leaves the journal (journal.py); the next run of the same rotation finishes it first.

Under the driver's lock of every stack involved, a state backup of each before (when a backup
bucket is configured), one audit record. Values never reach a log, the output or the record.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from automation.context import Context
from automation.errors import DriverError, RotationRefused, RotationRolledBack
from automation.exit_codes import ExitCode
from automation.guard import audit
from automation.guard.freeze import refuse_if_frozen
from automation.guard.lock import stack_lock
from automation.hints import driver_command
from automation.rotate import journal, stacks
from automation.rotate.journal import PREPARED, ROLLED, STORED, Entry
from sprocket_common.stack_info import Layer


@dataclass(frozen=True)
class Current:
    ref: str  # whose value: a login role, a token accessor; shown, never secret
    value: str
    from_config: bool  # False: the stack's initial value (generated), no rotation config yet


class Credential(Protocol):
    """One kind of secret. Implementations: dbpassword.DbPassword, vault.VaultToken."""

    kind: str
    target: str
    store_layer: Layer  # the stack whose config holds the value
    roll_layers: tuple[Layer, ...]  # stacks with consumers, in deploy order
    mounts: tuple[str, ...]  # secret mount names that carry the value

    def current(self, ctx: Context) -> Current: ...
    def check(self, ctx: Context) -> None:
        """BadInput for a target the deployed stacks cannot rotate; the dry run calls it too,
        so it refuses what --apply would refuse."""
        ...

    def works(self, ref: str, value: str) -> bool: ...
    def next_ref(self, current: Current) -> str:
        """The new value's ref if known before prepare (else ""), so a kill inside prepare
        can still be rolled back."""
        ...

    def prepare(self, current: Current, value: str) -> tuple[str, str]:
        """Make `value` valid beside the old one; returns (its ref, the value to store: the
        same, or one the issuer generated, like a Vault token)."""
        ...

    def store(self, stack: Any, ref: str, value: str) -> None: ...
    def restore(self, stack: Any, current: Current) -> None: ...
    def retire(self, ref: str) -> None: ...


def plan(ctx: Context, cred: Credential) -> dict[str, Any]:
    """The dry run: the consumers each stack would roll, the stacks not deployed here (nothing
    to roll there), and any unfinished rotation. BadInput for a target --apply would refuse."""
    cred.check(ctx)
    consumers: dict[str, list[str]] = {}
    not_deployed: list[str] = []
    for layer in cred.roll_layers:
        info = ctx.stack(layer)
        stack = stacks.existing(ctx, info)
        consumers[info.name] = stacks.consumers(ctx, info, cred.mounts) if stack else []
        if stack is None:
            not_deployed.append(info.name)
    pending = journal.read(ctx.settings, cred.kind, cred.target)
    if pending is not None:
        pending = _as_found(ctx, cred, pending)
    return {
        "rotation": cred.kind,
        "target": cred.target,
        "applied": False,
        "consumers": consumers,
        "not_deployed": not_deployed,
        "unfinished": _describe(pending) if pending else None,
    }


def rotate(ctx: Context, cred: Credential, new_value: str) -> dict[str, Any]:
    """Finish an unfinished rotation of this kind and target if there is one, else rotate."""
    command = f"rotate {cred.kind}"
    names = [ctx.stack(layer).name for layer in _layers(cred)]
    with audit.audited(ctx.settings, command, ",".join(names), target=cred.target) as run:
        refuse_if_frozen(ctx, command, run.details)
        with _locked_and_backed_up(ctx, cred, command, run.details):
            pending = journal.read(ctx.settings, cred.kind, cred.target)
            if pending is not None:
                data = _resume(ctx, cred, pending)
            else:
                data = _rotate(ctx, cred, new_value)
        run.details.update(outcome=data["outcome"], consumers=data["consumers"])
        return data


def _layers(cred: Credential) -> list[Layer]:
    return list(dict.fromkeys([cred.store_layer, *cred.roll_layers]))


@contextlib.contextmanager
def _locked_and_backed_up(
    ctx: Context, cred: Credential, command: str, details: dict[str, Any]
) -> Iterator[None]:
    """Every stack's lock for the whole rotation (the deploys inside re-enter it), and a state
    backup of each before anything changes (guard/snapshots.py; skipped without a bucket)."""
    from automation.guard.operation import Operation
    from automation.guard.snapshots import snapshots

    with contextlib.ExitStack() as held:
        for layer in _layers(cred):
            info = ctx.stack(layer)
            held.enter_context(stack_lock(ctx.settings, info.name, command))
            op = Operation(command="rotate", stack=info.name)
            held.enter_context(snapshots(ctx, info, "rotate", op))
            details.update({f"{info.name}_{k}": v for k, v in op.details.items()})
        yield


def _store_stack(ctx: Context, cred: Credential) -> Any:
    info = ctx.stack(cred.store_layer)
    stack = stacks.existing(ctx, info)
    if stack is None:
        raise RotationRefused(
            f"{info.name} was never deployed here: there is no stack secret to rotate",
            f"deploy it first: {driver_command(info.env, 'deploy', info.layer.value)}",
        )
    return stack


def _rotate(ctx: Context, cred: Credential, new_value: str) -> dict[str, Any]:
    current = cred.current(ctx)
    if not cred.works(current.ref, current.value):
        raise RotationRefused(
            f"{cred.kind} {cred.target}: the value the stack holds for {current.ref} is refused; "
            "nothing was changed",
            "the stack's secret and the live credential disagree: fix that first",
        )
    stack = _store_stack(ctx, cred)
    entry = Entry(cred.kind, cred.target, current.ref, cred.next_ref(current))
    journal.write(ctx.settings, entry)  # before prepare: a kill inside it is rolled back
    try:
        new_ref, new_value = cred.prepare(current, new_value)
    except DriverError:
        _withdraw(ctx, cred, entry)  # nothing stored: no consumer can be using it
        raise
    entry = Entry(cred.kind, cred.target, current.ref, new_ref)
    journal.write(ctx.settings, entry)
    try:
        cred.store(stack, entry.new_ref, new_value)
        journal.write(ctx.settings, entry := entry.at(STORED))
        consumers = _roll_all(ctx, cred)
        if not cred.works(entry.new_ref, new_value):
            raise DriverError(f"the new value for {entry.new_ref} is refused after the roll")
        journal.write(ctx.settings, entry := entry.at(ROLLED))
    except BaseException as exc:
        _roll_back(ctx, cred, stack, current, entry, exc)
        raise
    cred.retire(current.ref)
    journal.clear(ctx.settings, entry)
    return _done(cred, "rotated", entry, consumers)


def _withdraw(ctx: Context, cred: Credential, entry: Entry) -> None:
    """A failed prepare: take back whatever it made valid; the journal stays if that fails."""
    with contextlib.suppress(DriverError):
        if entry.new_ref:
            cred.retire(entry.new_ref)
        journal.clear(ctx.settings, entry)


def _roll_all(ctx: Context, cred: Credential) -> dict[str, list[str]]:
    """Deploy each stack that exists; any stack that does not converge fails the rotation."""
    rolled: dict[str, list[str]] = {}
    for layer in cred.roll_layers:
        info = ctx.stack(layer)
        stack = stacks.existing(ctx, info)
        if stack is None:
            continue
        code = stacks.roll(ctx, info, cred.mounts)
        if code != ExitCode.OK:
            raise DriverError(f"{info.name}: the consumers did not roll ({code.name})", code=code)
        rolled[info.name] = stacks.consumers(ctx, info, cred.mounts)
    return rolled


def _roll_back(
    ctx: Context,
    cred: Credential,
    stack: Any,
    current: Current,
    entry: Entry,
    cause: BaseException,
) -> None:
    """The old value back in the config and on the consumers; the new one withdrawn."""
    if isinstance(cause, KeyboardInterrupt):
        return  # the journal stays: the next run finishes or rolls back from where it stood
    try:
        if entry.value_stored:
            cred.restore(stack, current)
            _roll_all(ctx, cred)
        if entry.new_ref:
            cred.retire(entry.new_ref)
        journal.clear(ctx.settings, entry)
    except DriverError as again:
        raise DriverError(
            f"rotation failed ({_reason(cause)}) and so did its rollback ({again.message})",
            "the journal is kept: run the same rotate command again to finish it",
            code=ExitCode.ROLLBACK_FAILED,
        ) from None
    raise RotationRolledBack(
        f"rotation failed ({_reason(cause)}); consumers are back on {current.ref}'s value, "
        "which still works",
        "fix the cause and rotate again",
    ) from None


def _reason(exc: BaseException) -> str:
    return exc.message if isinstance(exc, DriverError) else type(exc).__name__


def _resume(ctx: Context, cred: Credential, entry: Entry) -> dict[str, Any]:
    """A killed run's journal: complete it once the value is stored, else withdraw it."""
    entry = _as_found(ctx, cred, entry)
    if entry.damaged or not entry.value_stored:
        if entry.new_ref:
            cred.retire(entry.new_ref)  # never in the config: no consumer uses it
        journal.clear(ctx.settings, entry)
        data = _done(cred, "rolled back an interrupted rotation", entry, {}, entry.damaged)
        data["next"] = "nothing was rotated: run the same command again to rotate"
        return data
    current = cred.current(ctx)
    if current.ref != entry.new_ref or not cred.works(current.ref, current.value):
        raise DriverError(
            f"the journal says {entry.new_ref} is stored, but the stack holds {current.ref}",
            f"inspect {journal.path(ctx.settings, cred.kind, cred.target)} and the stack config",
        )
    consumers = _roll_all(ctx, cred)
    journal.write(ctx.settings, entry := entry.at(ROLLED))
    cred.retire(entry.old_ref)
    journal.clear(ctx.settings, entry)
    return _done(cred, "completed an interrupted rotation", entry, consumers)


def _as_found(ctx: Context, cred: Credential, entry: Entry) -> Entry:
    """The journal's step, corrected when the run was killed after the config took the new
    value but before the journal said so: the config decides, since the next deploy uses it."""
    if entry.damaged or entry.value_stored or entry.new_ref in ("", entry.old_ref):
        return entry
    return entry.at(STORED) if cred.current(ctx).ref == entry.new_ref else entry


def _done(
    cred: Credential, outcome: str, entry: Entry, consumers: dict[str, list[str]], note: str = ""
) -> dict[str, Any]:
    return {
        "rotation": cred.kind,
        "target": cred.target,
        "applied": True,
        "outcome": outcome,
        "from": entry.old_ref,
        "to": entry.new_ref,
        "consumers": consumers,
        **({"note": note} if note else {}),
    }


def _describe(entry: Entry) -> dict[str, Any]:
    if entry.damaged:
        return {"damaged": entry.damaged, "next_run": "rolls back"}
    return {
        "from": entry.old_ref,
        "to": entry.new_ref,
        "step": entry.step,
        "started_at": entry.started_at,
        "next_run": "completes" if entry.value_stored else "rolls back",
    }


__all__ = ["PREPARED", "Credential", "Current", "plan", "rotate"]
