"""Pre/post-operation snapshots for guard.operation.guarded(): RPO of one operation.

A mutating command on a stack gets a verified backup before it starts and after it succeeds
(or after a rollout that failed and was rolled back), when a backup bucket is configured.
Commands nested inside another guarded command on the same stack (rollback runs refresh and
deploy) are covered by the outer one's snapshots.
A failed pre-operation backup stops the command: it never runs without a way back.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

from automation.context import Context
from automation.errors import DriverError
from automation.exit_codes import ExitCode
from sprocket_common.stack_info import StackInfo

_active: set[str] = set()
_guard = threading.Lock()


@contextlib.contextmanager
def snapshots(ctx: Context, info: StackInfo, command: str, op: Any) -> Iterator[None]:
    """Back up before the block and after it succeeds (`op.exit_code` OK or ROLLED_BACK).

    `op` is the guarded command's guard.operation.Operation: ids and hashes go into `op.details`.
    """
    with _guard:
        outer = info.name not in _active and bool(ctx.settings.backup.bucket)
        if outer:
            _active.add(info.name)
    try:
        if outer:
            _snapshot(ctx, info, f"pre-{command}", op.details, "backup_pre")
        yield
        if outer and op.exit_code == ExitCode.OK:
            _snapshot(ctx, info, f"post-{command}", op.details, "backup_post")
        elif outer and op.exit_code == ExitCode.ROLLED_BACK:
            _snapshot_after_rollback(ctx, info, command, op.details)
    finally:
        if outer:
            with _guard:
                _active.discard(info.name)


def _snapshot_after_rollback(
    ctx: Context, info: StackInfo, command: str, details: dict[str, Any]
) -> None:
    """A failed-and-rolled-back release changed the state twice: keep what it ended on.

    A failure here is recorded, not raised: exit 7 must still say what happened to the release.
    """
    try:
        _snapshot(ctx, info, f"post-{command}", details, "backup_post")
    except DriverError as exc:
        details["backup_post"] = {"error": exc.message}


def _snapshot(
    ctx: Context, info: StackInfo, reason: str, details: dict[str, Any], key: str
) -> None:
    from automation.backup.service import take
    from automation.errors import NoSuchStack

    try:
        record = take(ctx.settings, info, reason)
    except NoSuchStack:
        details[key] = None  # nothing deployed yet: nothing to lose
        return
    details[key] = {"id": record.backup_id, "key": record.key, "sha256": record.sha256}
