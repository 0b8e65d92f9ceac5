"""S3 adapter: content-addressed writes and verified reads."""

from __future__ import annotations

import hashlib
import io
import os
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from mlcore.catalog import Artifact
from mlcore.errors import ArtifactIntegrityError, DependencyError, NotFoundError

if TYPE_CHECKING:
    from collections.abc import Callable

    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import ObjectIdentifierTypeDef


@dataclass(frozen=True)
class StoredObject:
    key: str
    last_modified: datetime
    size: int


@dataclass(frozen=True)
class S3Uri:
    bucket: str
    key: str

    @classmethod
    def parse(cls, uri: str) -> S3Uri:
        if not uri.startswith("s3://") or "/" not in uri[5:]:
            raise ValueError(f"not an s3:// URI with a key: {uri!r}")
        bucket, key = uri[5:].split("/", 1)
        return cls(bucket, key)

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


DELETE_BATCH = 1000  # S3's DeleteObjects takes at most this many keys a call


class RangedObject(io.RawIOBase):
    """An object as a seekable, read-only file whose every read is a ranged GET: reading a Parquet file's footer
    fetches the footer, not the file."""

    def __init__(self, client: S3Client, bucket: str, key: str) -> None:
        super().__init__()
        self.client, self.bucket, self.key = client, bucket, key
        self.size: int = client.head_object(Bucket=bucket, Key=key)["ContentLength"]
        self.position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.position, io.SEEK_END: self.size}[whence]
        self.position = max(0, base + offset)
        return self.position

    def readinto(self, buffer: Any) -> int:
        if self.position >= self.size or not len(buffer):
            return 0
        last = min(self.position + len(buffer), self.size) - 1
        answer = self.client.get_object(Bucket=self.bucket, Key=self.key, Range=f"bytes={self.position}-{last}")
        chunk = answer["Body"].read()
        buffer[: len(chunk)] = chunk
        self.position += len(chunk)
        return len(chunk)


class ObjectStore:
    """Reads and writes objects in one bucket; refuses to read artifacts outside it."""

    def __init__(self, bucket: str, client: S3Client) -> None:
        self.bucket = bucket
        self.client = client

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def put(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> Artifact:
        """Write `data` and return its URI and SHA-256 (also stored as object metadata)."""
        digest = sha256_hex(data)
        self.client.put_object(
            Bucket=self.bucket, Key=key, Body=data, ContentType=content_type, Metadata={"sha256": digest}
        )
        return Artifact(uri=self.uri(key), sha256=digest, size=len(data))

    def open(self, key: str) -> RangedObject:
        """The object as a seekable file read by ranged GETs (a file's footer without its body)."""
        try:
            return RangedObject(self.client, self.bucket, key)
        except self.client.exceptions.ClientError as exc:
            raise NotFoundError(f"no object at {self.uri(key)}") from exc

    def get(self, key: str) -> bytes:
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=key)
        except self.client.exceptions.NoSuchKey as exc:
            raise NotFoundError(f"no object at {self.uri(key)}") from exc
        body: bytes = response["Body"].read()
        return body

    def get_verified(self, artifact: Artifact) -> bytes:
        """Read an artifact, proving it lies in this bucket and matches its recorded SHA-256.

        Raises
        ------
        ArtifactIntegrityError
            If the URI is outside this bucket or the bytes do not match.
        """
        record = artifact
        location = S3Uri.parse(record.uri)
        if location.bucket != self.bucket:
            raise ArtifactIntegrityError(f"artifact {record.uri} is outside the registry bucket {self.bucket}")
        data = self.get(location.key)
        actual = sha256_hex(data)
        if actual != record.sha256:
            raise ArtifactIntegrityError(
                f"artifact {record.uri} has SHA-256 {actual[:12]}…, the registry recorded {record.sha256[:12]}…"
            )
        return data

    def list_keys(self, prefix: str) -> list[str]:
        return [item.key for item in self.list_objects(prefix)]

    def list_objects(self, prefix: str) -> list[StoredObject]:
        """The objects under a prefix, with when each was last written."""
        found: list[StoredObject] = []
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            found.extend(
                StoredObject(item["Key"], item["LastModified"], item["Size"]) for item in page.get("Contents", [])
            )
        return found

    def download(self, key: str, path: str) -> str:
        """Stream an object to a local file (a chunk at a time: memory stays small); its SHA-256."""
        try:
            body = self.client.get_object(Bucket=self.bucket, Key=key)["Body"]
        except self.client.exceptions.NoSuchKey as exc:
            raise NotFoundError(f"no object at {self.uri(key)}") from exc
        digest = hashlib.sha256()
        with open(path, "wb") as sink:
            for chunk in iter(lambda: body.read(1 << 20), b""):
                digest.update(chunk)
                sink.write(chunk)
        return digest.hexdigest()

    def upload(
        self,
        key: str,
        path: str,
        sha256: str | None = None,
        content_type: str = "application/octet-stream",
        progress: Callable[[int], None] | None = None,
    ) -> Artifact:
        """Write a local file (in parts when large); its URI, SHA-256 (computed when not given) and size.
        `progress` is called with each number of bytes sent (from the transfer's threads)."""
        if sha256 is None:
            digest = hashlib.sha256()
            with open(path, "rb") as source:
                for chunk in iter(lambda: source.read(1 << 20), b""):
                    digest.update(chunk)
            sha256 = digest.hexdigest()
        extra = {"Metadata": {"sha256": sha256}, "ContentType": content_type}
        self.client.upload_file(path, self.bucket, key, ExtraArgs=extra, Callback=progress)
        return Artifact(uri=self.uri(key), sha256=sha256, size=os.path.getsize(path))

    def delete_under(self, prefix: str) -> int:
        """Delete the objects under a prefix (in a versioned bucket, a delete marker each: versions stay); how many.

        Raises
        ------
        DependencyError
            When S3 did not delete one, naming it.
        """
        keys = self.list_keys(prefix)
        for start in range(0, len(keys), DELETE_BATCH):
            batch: list[ObjectIdentifierTypeDef] = [{"Key": key} for key in keys[start : start + DELETE_BATCH]]
            errors = self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True}).get(
                "Errors", []
            )
            if errors:
                first = errors[0]
                raise DependencyError(f"S3 did not delete {self.uri(first['Key'])}: {first.get('Message', '')}")
        return len(keys)

    def copy(self, source_key: str, key: str) -> None:
        """Copy an object inside the bucket, by S3 itself (in parts when large)."""
        self.client.copy({"Bucket": self.bucket, "Key": source_key}, self.bucket, key)

    def sha256_of(self, key: str) -> str:
        """The SHA-256 of an object's bytes: recorded at upload by `put`, else computed as it streams by."""
        try:
            head = self.client.head_object(Bucket=self.bucket, Key=key)
        except self.client.exceptions.ClientError as exc:
            raise NotFoundError(f"no object at {self.uri(key)}") from exc
        recorded = head.get("Metadata", {}).get("sha256")
        if recorded:
            return str(recorded)
        digest = hashlib.sha256()
        body = self.client.get_object(Bucket=self.bucket, Key=key)["Body"]
        for chunk in iter(lambda: body.read(1 << 20), b""):
            digest.update(chunk)
        return digest.hexdigest()
