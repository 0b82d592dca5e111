"""The backup bucket (DigitalOcean Spaces in prod, any S3 endpoint) through boto3.

Layout under `<prefix>/<project>/<stack>/`:
- `<id>.tar.gz`: the archive, with `x-amz-meta-sha256` (and stack, project, id) in its metadata;
- `<id>.json`: its catalog record (the manifest plus archive hash, size and when it was last
  verified), written only after the archive was read back and its SHA-256 matched.
An archive without a record is an unfinished backup: listed as unverified, pruned like one.

Uploads of more than one part are multipart; any failure or Ctrl-C midway aborts the upload, so
no partial object ever becomes visible.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from automation.errors import BackupFailed, BadInput, CredentialsError
from automation.settings import BackupSettings

PART_SIZE = 8 * 1024 * 1024  # S3 minimum is 5 MiB except for the last part
ARCHIVE_SUFFIX = ".tar.gz"
DUMP_SUFFIX = ".dump"  # a database dump (pg_dump -F c), stored as pg_dump wrote it
ARCHIVE_SUFFIXES = (ARCHIVE_SUFFIX, DUMP_SUFFIX)
RECORD_SUFFIX = ".json"


def make_client(backup: BackupSettings) -> Any:
    import boto3
    from botocore.config import Config

    if not backup.bucket:
        raise BadInput(
            "no backup bucket is configured",
            "set SPROCKET_BACKUP_BUCKET (and _ENDPOINT_URL, _ACCESS_KEY_ID, _SECRET_ACCESS_KEY) "
            "or [backup] bucket in sprocket.toml",
        )
    return boto3.client(
        "s3",
        endpoint_url=backup.endpoint_url,
        region_name=backup.region,
        aws_access_key_id=_reveal(backup.access_key_id),
        aws_secret_access_key=_reveal(backup.secret_access_key),
        # Spaces and other S3-compatible stores reject the newer default CRC checksums.
        config=Config(
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
            retries={"max_attempts": 5, "mode": "standard"},
        ),
    )


def _reveal(value: Any) -> str | None:
    return value.get_secret_value() if value is not None else None


@dataclass(frozen=True)
class StoredObject:
    key: str
    size: int
    sha256: str
    version_id: str | None


class BackupStore:
    def __init__(
        self, client: Any, bucket: str, prefix: str, *, part_size: int = PART_SIZE
    ) -> None:
        self.client, self.bucket, self.part_size = client, bucket, part_size
        self.prefix = prefix.strip("/")

    @classmethod
    def from_settings(cls, backup: BackupSettings) -> BackupStore:
        client = make_client(backup)
        assert backup.bucket is not None
        return cls(client, backup.bucket, backup.prefix)

    # --- keys -----------------------------------------------------------------------------

    def stack_prefix(self, project: str, stack: str | None = None) -> str:
        parts = [p for p in (self.prefix, project, stack) if p]
        return "/".join(parts) + "/"

    def archive_key(
        self, project: str, stack: str, backup_id: str, suffix: str = ARCHIVE_SUFFIX
    ) -> str:
        return f"{self.stack_prefix(project, stack)}{backup_id}{suffix}"

    @staticmethod
    def record_key_for(archive_key: str) -> str:
        return _strip_suffix(archive_key) + RECORD_SUFFIX

    # --- upload with read-back ------------------------------------------------------------

    def upload_verified(self, key: str, data: bytes, metadata: dict[str, str]) -> StoredObject:
        """Upload, read back, compare SHA-256; a mismatch deletes the object and fails."""
        digest = hashlib.sha256(data).hexdigest()
        meta = {**metadata, "sha256": digest}
        with self._errors(f"upload of {key}"):
            if len(data) <= self.part_size:
                response = self.client.put_object(
                    Bucket=self.bucket, Key=key, Body=data, Metadata=meta
                )
            else:
                response = self._multipart(key, data, meta)
            version_id = response.get("VersionId")
            stored = self.read_back_sha256(key, version_id)
        if stored != (digest, len(data)):
            self._delete_version(key, version_id)
            raise BackupFailed(
                f"read-back of {key} does not match what was uploaded "
                f"(SHA-256 {stored[0][:16]}... size {stored[1]}, sent {digest[:16]}... "
                f"size {len(data)}); the object was removed",
                "check the storage endpoint, then run the backup again",
            )
        return StoredObject(key, len(data), digest, version_id)

    def _multipart(self, key: str, data: bytes, metadata: dict[str, str]) -> dict[str, Any]:
        upload = self.client.create_multipart_upload(Bucket=self.bucket, Key=key, Metadata=metadata)
        upload_id = upload["UploadId"]
        try:
            parts = []
            for number, start in enumerate(range(0, len(data), self.part_size), start=1):
                part = self.client.upload_part(
                    Bucket=self.bucket,
                    Key=key,
                    UploadId=upload_id,
                    PartNumber=number,
                    Body=data[start : start + self.part_size],
                )
                parts.append({"ETag": part["ETag"], "PartNumber": number})
            response: dict[str, Any] = self.client.complete_multipart_upload(
                Bucket=self.bucket,
                Key=key,
                UploadId=upload_id,
                MultipartUpload={"Parts": parts},
            )
            return response
        except BaseException:
            # Failure, Ctrl-C or a kill signal turned exception: never leave parts or an object.
            self.client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
            raise

    def upload_stream_verified(
        self, key: str, chunks: Iterator[bytes], metadata: dict[str, str]
    ) -> StoredObject:
        """Upload a stream of unknown length in parts (memory: one part), then read it back.

        The SHA-256 is computed on the way up and compared with a streamed read-back; it goes
        into the catalog record (object metadata is fixed before the first part is sent). Any
        failure midway, the producer's included (`chunks` raising), aborts the upload: no
        object, no record.
        """
        digest, size = hashlib.sha256(), 0
        with self._errors(f"upload of {key}"):
            upload = self.client.create_multipart_upload(
                Bucket=self.bucket, Key=key, Metadata=metadata
            )
            upload_id = upload["UploadId"]
            try:
                parts = []
                for number, part in enumerate(_parts(chunks, self.part_size), start=1):
                    digest.update(part)
                    size += len(part)
                    sent = self.client.upload_part(
                        Bucket=self.bucket, Key=key, UploadId=upload_id, PartNumber=number,
                        Body=part,
                    )  # fmt: skip
                    parts.append({"ETag": sent["ETag"], "PartNumber": number})
                if not parts:  # S3 needs one part at least: an empty stream is one empty part
                    sent = self.client.upload_part(
                        Bucket=self.bucket, Key=key, UploadId=upload_id, PartNumber=1, Body=b""
                    )
                    parts.append({"ETag": sent["ETag"], "PartNumber": 1})
                response = self.client.complete_multipart_upload(
                    Bucket=self.bucket, Key=key, UploadId=upload_id,
                    MultipartUpload={"Parts": parts},
                )  # fmt: skip
            except BaseException:
                self.client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
                raise
            version_id = response.get("VersionId")
            stored = self.stream_sha256(key, version_id)
        if stored != (digest.hexdigest(), size):
            self._delete_version(key, version_id)
            raise BackupFailed(
                f"read-back of {key} does not match what was uploaded (size {stored[1]}, sent "
                f"{size}); the object was removed",
                "check the storage endpoint, then run the backup again",
            )
        return StoredObject(key, size, digest.hexdigest(), version_id)

    def stream_sha256(self, key: str, version_id: str | None = None) -> tuple[str, int]:
        """(SHA-256, size) of a stored object, read in chunks (never whole in memory)."""
        digest, size = hashlib.sha256(), 0
        for chunk in self.iter_object(key, version_id):
            digest.update(chunk)
            size += len(chunk)
        return digest.hexdigest(), size

    def iter_object(self, key: str, version_id: str | None = None) -> Iterator[bytes]:
        extra = {"VersionId": version_id} if version_id else {}
        with self._errors(f"download of {key}"):
            body = self.client.get_object(Bucket=self.bucket, Key=key, **extra)["Body"]
            yield from body.iter_chunks(1024 * 1024)

    def download_to(self, key: str, path: Path) -> tuple[str, int]:
        """Write the object to `path` (a file path); returns its (SHA-256, size)."""
        digest, size = hashlib.sha256(), 0
        with path.open("wb") as out:
            for chunk in self.iter_object(key):
                digest.update(chunk)
                size += len(chunk)
                out.write(chunk)
        return digest.hexdigest(), size

    def read_back_sha256(self, key: str, version_id: str | None = None) -> tuple[str, int]:
        body = self.get_bytes(key, version_id)
        return hashlib.sha256(body).hexdigest(), len(body)

    # --- reading --------------------------------------------------------------------------

    def get_bytes(self, key: str, version_id: str | None = None) -> bytes:
        extra = {"VersionId": version_id} if version_id else {}
        with self._errors(f"download of {key}"):
            response = self.client.get_object(Bucket=self.bucket, Key=key, **extra)
            data: bytes = response["Body"].read()
        return data

    def metadata(self, key: str) -> dict[str, str]:
        with self._errors(f"reading metadata of {key}"):
            meta: dict[str, str] = self.client.head_object(Bucket=self.bucket, Key=key)["Metadata"]
        return meta

    def keys(self, prefix: str) -> Iterator[tuple[str, int]]:
        with self._errors(f"listing {prefix}"):
            paginator = self.client.get_paginator("list_objects_v2")
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
                for item in page.get("Contents") or []:
                    yield item["Key"], item["Size"]

    # --- catalog records ------------------------------------------------------------------

    def put_record(self, archive_key: str, record: dict[str, Any]) -> None:
        body = json.dumps(record, indent=2, sort_keys=True).encode()
        with self._errors(f"writing the catalog record of {archive_key}"):
            self.client.put_object(
                Bucket=self.bucket,
                Key=self.record_key_for(archive_key),
                Body=body,
                ContentType="application/json",
            )

    def catalog(self, project: str, stack: str | None = None) -> CatalogListing:
        """Every backup under the project (or one stack): record bodies, plus bare archives.

        Record bodies are returned as stored, unparsed: reading them is the caller's, so one
        damaged record is named and skipped there instead of stopping the listing.
        """
        archives: dict[str, int] = {}
        record_keys: list[str] = []
        for key, size in self.keys(self.stack_prefix(project, stack)):
            if key.endswith(ARCHIVE_SUFFIXES):
                archives[key] = size
            elif key.endswith(RECORD_SUFFIX):
                record_keys.append(key)
        records = {key: self.get_bytes(key) for key in record_keys}
        return CatalogListing(records, archives)

    def delete_backup(self, archive_key: str) -> None:
        with self._errors(f"deleting {archive_key}"):
            for key in (archive_key, self.record_key_for(archive_key)):
                self.client.delete_object(Bucket=self.bucket, Key=key)

    def _delete_version(self, key: str, version_id: str | None) -> None:
        extra = {"VersionId": version_id} if version_id else {}
        self.client.delete_object(Bucket=self.bucket, Key=key, **extra)

    def _errors(self, what: str) -> Any:
        return _StorageErrors(what, self.bucket)


@dataclass(frozen=True)
class CatalogListing:
    records: dict[str, bytes]  # record key -> its body, unparsed
    archives: dict[str, int]  # archive key -> size

    def archive_of(self, record_key: str) -> str:
        base = record_key.removesuffix(RECORD_SUFFIX)
        for suffix in ARCHIVE_SUFFIXES:
            if base + suffix in self.archives:
                return base + suffix
        return base + ARCHIVE_SUFFIX


def _strip_suffix(key: str) -> str:
    for suffix in ARCHIVE_SUFFIXES:
        if key.endswith(suffix):
            return key.removesuffix(suffix)
    return key


def _parts(chunks: Iterator[bytes], size: int) -> Iterator[bytes]:
    """Regroup a stream into parts of `size` bytes (the last one shorter)."""
    buffer = bytearray()
    for chunk in chunks:
        buffer += chunk
        while len(buffer) >= size:
            yield bytes(buffer[:size])
            del buffer[:size]
    if buffer:
        yield bytes(buffer)


def bare_entry(key: str, size: int) -> dict[str, Any]:
    backup_id = _strip_suffix(key.rsplit("/", 1)[-1])
    stack = key.rsplit("/", 2)[-2]
    created = _created_from_id(backup_id)
    return {
        "backup_id": backup_id,
        "stack": stack,
        "key": key,
        "size": size,
        "created": created,
        "verified_at": None,
        "unfinished": True,
    }


def _created_from_id(backup_id: str) -> str:
    """IDs start with a UTC timestamp, `20261128T135500Z-...`."""
    stamp = backup_id.split("-", 1)[0]
    if len(stamp) == 16 and stamp.endswith("Z"):
        date, time = stamp[:8], stamp[9:15]
        return f"{date[:4]}-{date[4:6]}-{date[6:]}T{time[:2]}:{time[2:4]}:{time[4:]}+00:00"
    return "1970-01-01T00:00:00+00:00"


class _StorageErrors:
    """Turn boto errors into one-line driver errors naming the operation and bucket."""

    def __init__(self, what: str, bucket: str, setting: str = "SPROCKET_BACKUP_BUCKET") -> None:
        self.what, self.bucket, self.setting = what, bucket, setting  # setting: names the bucket

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: Any, exc: BaseException | None, _tb: Any) -> Literal[False]:
        if exc is None:
            return False
        from botocore.exceptions import BotoCoreError, ClientError

        if isinstance(exc, ClientError):
            code = exc.response.get("Error", {}).get("Code", "")
            message = f"{self.what} in bucket {self.bucket} failed: {code or exc}"
            if code in ("AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch"):
                raise CredentialsError(message, "check the SPROCKET_BACKUP_* credentials") from exc
            if code == "NoSuchBucket":
                raise BadInput(message, f"create the bucket or fix {self.setting}") from exc
            raise BackupFailed(message, "check the storage endpoint and try again") from exc
        if isinstance(exc, BotoCoreError):
            raise BackupFailed(
                f"{self.what} in bucket {self.bucket} failed: {exc}",
                "check SPROCKET_BACKUP_ENDPOINT_URL and the network",
            ) from exc
        return False
