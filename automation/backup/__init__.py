"""State backups: ciphertext export + stack config + manifest, verified in an S3 bucket.

`take_backup(ctx, info, reason)` backs up one stack now. `guarded()` (automation/guard) takes
one before and after every mutating command through `guard.snapshots`; the verbs are in
automation/commands/backup.py and restore.py, the format and policy in docs/backups.md. Nothing
heavy is imported here: boto3 and the CLI calls load only when a backup is taken.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from automation.backup.service import BackupRecord
    from automation.context import Context
    from sprocket_common.stack_info import StackInfo


def backups_configured(ctx: Context) -> bool:
    return bool(ctx.settings.backup.bucket)


def take_backup(ctx: Context, info: StackInfo, reason: str) -> BackupRecord:
    """Back up one stack now (export, secret check, upload, read-back); raises on any failure."""
    from automation.backup.service import take

    return take(ctx.settings, info, reason)
