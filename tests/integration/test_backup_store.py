"""The backup bucket on a real S3 endpoint (moto's server): multipart uploads and prune."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from automation.backup.store import BackupStore
from automation.exit_codes import ExitCode

pytestmark = pytest.mark.integration

MiB = 1024 * 1024


class _DropsAfterParts:
    """The real boto3 client, except that the connection dies after `parts` uploaded parts."""

    def __init__(self, client: Any, parts: int, error: BaseException) -> None:
        self._client, self._left, self._error = client, parts, error

    def upload_part(self, **kwargs: Any) -> Any:
        if self._left == 0:
            raise self._error
        self._left -= 1
        return self._client.upload_part(**kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


def _nothing_left(s3: Any) -> None:
    client = s3.client()
    versions = client.list_object_versions(Bucket=s3.bucket)
    assert versions.get("Versions", []) == [] and versions.get("DeleteMarkers", []) == []
    assert client.list_multipart_uploads(Bucket=s3.bucket).get("Uploads", []) == []


@pytest.mark.parametrize("error", [KeyboardInterrupt(), ConnectionResetError("peer gone")])
def test_an_upload_interrupted_midway_leaves_no_object(s3_endpoint: Any, error: Exception) -> None:
    client = _DropsAfterParts(s3_endpoint.client(), parts=1, error=error)
    store = BackupStore(client, s3_endpoint.bucket, "pulumi-state", part_size=5 * MiB)
    with pytest.raises(type(error)):
        store.upload_verified("pulumi-state/p/s/big.tar.gz", os.urandom(12 * MiB), {"stack": "s"})
    _nothing_left(s3_endpoint)


def test_a_multipart_upload_is_read_back_and_carries_its_hash(s3_endpoint: Any) -> None:
    import hashlib

    store = BackupStore(s3_endpoint.client(), s3_endpoint.bucket, "x", part_size=5 * MiB)
    data = os.urandom(11 * MiB + 17)
    stored = store.upload_verified("x/p/s/a.tar.gz", data, {"stack": "s"})
    assert stored.sha256 == hashlib.sha256(data).hexdigest() and stored.size == len(data)
    assert store.metadata("x/p/s/a.tar.gz")["sha256"] == stored.sha256
    assert store.get_bytes("x/p/s/a.tar.gz") == data


# --- prune under a simulated clock -------------------------------------------------------

NOW = datetime(2026, 3, 31, 12, 0, tzinfo=UTC)  # a Tuesday
STACK = "local-layer_1"


def _fake_catalog(s3: Any, days: int) -> dict[str, str]:
    """Backups at 03:00 on each of `days` days before NOW, plus one unverified an hour ago.

    The objects are real; the archives are placeholders: prune reads only the catalog.
    Returns {label: backup_id}, labels d0 (newest) .. d<days-1>, and "unverified".
    """
    store = BackupStore(s3.client(), s3.bucket, "pulumi-state")
    ids: dict[str, str] = {}
    entries = [(f"d{n}", NOW.replace(hour=3) - timedelta(days=n), True) for n in range(days)]
    entries.append(("unverified", NOW - timedelta(hours=1), False))
    for label, created, verified in entries:
        backup_id = f"{created:%Y%m%dT%H%M%SZ}-{label}"
        key = store.archive_key("sprocket-infra", STACK, backup_id)
        stored = store.upload_verified(key, label.encode(), {"stack": STACK})
        record = {
            "backup_id": backup_id,
            "stack": STACK,
            "key": key,
            "created": created.isoformat(),
            "size": stored.size,
            "sha256": stored.sha256,
            "verified_at": created.isoformat() if verified else None,
        }
        if verified:
            store.put_record(key, record)
        ids[label] = backup_id
    return ids


def _remaining(s3: Any) -> set[str]:
    keys = s3.client().list_objects_v2(Bucket=s3.bucket).get("Contents", [])
    return {k["Key"].rsplit("/", 1)[-1].split(".")[0] for k in keys}


def test_prune_keeps_the_gfs_set_under_a_simulated_clock(
    pulumi_env: Any, s3_endpoint: Any, run_cli: Callable[..., Any]
) -> None:
    ids = _fake_catalog(s3_endpoint, days=30)
    policy = ["--keep-within-days", "2", "--keep-daily", "5", "--keep-weekly", "3"]
    policy += ["--keep-monthly", "2", "--now", NOW.isoformat()]

    dry = run_cli("--json", "backup", "prune", "layer_1", "--dry-run", *policy)
    assert dry.exit_code == ExitCode.OK, dry.stderr
    assert _remaining(s3_endpoint) == set(ids.values())  # nothing deleted
    plan = {b["backup_id"]: b for b in dry.json()["data"]["backups"]}

    # within 2 days: unverified (1 h old), d0, d1; daily: d0-d4; weekly by ISO week: d0 (week
    # of Mon Mar 30), d2 (Sun Mar 29), d9 (Sun Mar 22); monthly: d0 (all 30 days are March's).
    expected = {ids[k] for k in ("unverified", "d0", "d1", "d2", "d3", "d4", "d9")}
    assert {i for i, b in plan.items() if b["keep"]} == expected
    assert "weekly" in plan[ids["d9"]]["reasons"]
    assert plan[ids["d0"]]["reasons"][:2] == ["within 2 days", "newest verified"]

    unconfirmed = run_cli("backup", "prune", "layer_1", *policy)
    assert unconfirmed.exit_code == ExitCode.BAD_INPUT
    assert "--dry-run" in unconfirmed.stderr and "--yes" in unconfirmed.stderr

    pruned = run_cli("--json", "--yes", "backup", "prune", "layer_1", *policy)
    assert pruned.exit_code == ExitCode.OK, pruned.stderr
    assert pruned.json()["data"]["deleted"] == 30 - 6
    assert _remaining(s3_endpoint) == expected


def test_prune_never_deletes_the_newest_verified_backup(
    pulumi_env: Any, s3_endpoint: Any, run_cli: Callable[..., Any]
) -> None:
    ids = _fake_catalog(s3_endpoint, days=3)
    far_future = (NOW + timedelta(days=3650)).isoformat()
    zero = ["--keep-within-days", "0", "--keep-daily", "0", "--keep-weekly", "0"]
    result = run_cli(
        "--json",
        "--yes",
        "backup",
        "prune",
        "all",
        *zero,
        "--keep-monthly",
        "0",
        "--now",
        far_future,
    )
    assert result.exit_code == ExitCode.OK, result.stderr
    assert _remaining(s3_endpoint) == {ids["d0"]}
    assert json.loads(result.stdout)["data"]["deleted"] == 3
