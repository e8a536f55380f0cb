"""Where a cluster keeps what must outlive any node: an S3 bucket, or a local directory.

``ObjectStore`` is the seam: four calls, keys are ``/``-separated text, values
bytes. ``put_new`` is the one that makes a log out of a bucket: it creates a
key only if no one has (S3's conditional ``PutObject`` with ``If-None-Match: *``,
an exclusive create on a directory), so two writers can never both claim the
same log position. Nothing here caches: every call reads or writes the store.

- ``S3Store`` — any S3-compatible service through boto3 (AWS, MinIO, moto's
  server in the tests); ``s3://bucket/prefix``, the endpoint from
  ``endpoint_url`` or ``AWS_ENDPOINT_URL``.
- ``DirectoryStore`` — a directory every node can see (the default on one
  machine); writes are atomic (temp file, fsync, rename).
"""

from __future__ import annotations

import abc
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from embedb.errors import InvalidArgumentError, StorageError


class ObjectStore(abc.ABC):
    """Bytes under text keys, durable once a call returns."""

    url: str

    @abc.abstractmethod
    def put_new(self, key: str, body: bytes) -> bool:
        """Create ``key``; False (and nothing written) if it exists already."""

    @abc.abstractmethod
    def put(self, key: str, body: bytes) -> None:
        """Create or replace ``key``."""

    @abc.abstractmethod
    def get(self, key: str) -> bytes | None:
        """The value of ``key``, or None if there is none."""

    @abc.abstractmethod
    def keys(self, prefix: str, *, after: str | None = None) -> list[str]:
        """Every key that starts with ``prefix`` (and sorts after ``after``), in sorted order."""

    @abc.abstractmethod
    def delete(self, keys: list[str]) -> None:
        """Remove ``keys`` (a key that is not there is skipped)."""

    def remove_abandoned(self, prefix: str, older_than_s: float) -> int:
        """Remove what writes cut short left under ``prefix`` (older than ``older_than_s``); how many.
        Nothing by default: an S3 put is whole or absent."""
        return 0

    @abc.abstractmethod
    def close(self) -> None:
        """Release connections (an S3 client's pool); the store's contents stay."""


class DirectoryStore(ObjectStore):
    """Keys as files under one directory."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self.url = str(self.root)

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root):
            raise InvalidArgumentError(f"object key {key!r} leaves the store")
        return path

    def _write(self, key: str, body: bytes, *, exclusive: bool) -> bool:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".put-")
        try:
            with os.fdopen(handle, "wb") as file:
                file.write(body)
                file.flush()
                os.fsync(file.fileno())
            if exclusive:
                try:
                    os.link(temporary, path)  # fails if the key exists: the exclusive create
                except FileExistsError:
                    return False
            else:
                os.replace(temporary, path)
        finally:
            if os.path.exists(temporary):
                os.unlink(temporary)
        directory = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
        return True

    def close(self) -> None:
        return None  # files hold no connection

    def put_new(self, key: str, body: bytes) -> bool:
        return self._write(key, body, exclusive=True)

    def put(self, key: str, body: bytes) -> None:
        self._write(key, body, exclusive=False)

    def get(self, key: str) -> bytes | None:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            return None

    def delete(self, keys: list[str]) -> None:
        for key in keys:
            self._path(key).unlink(missing_ok=True)

    def remove_abandoned(self, prefix: str, older_than_s: float) -> int:
        """The temporary files of puts whose writer was killed before renaming them (``.put-*``)."""
        folder = self._path(prefix.rpartition("/")[0]) if "/" in prefix else self.root
        if not folder.is_dir():
            return 0
        removed = 0
        for path in folder.glob(".put-*"):
            try:
                if time.time() - path.stat().st_mtime > older_than_s:
                    path.unlink()
                    removed += 1
            except FileNotFoundError:
                continue  # its writer renamed or removed it meanwhile
        return removed

    def keys(self, prefix: str, *, after: str | None = None) -> list[str]:
        folder = prefix.rpartition("/")[0]
        base = self._path(folder) if folder else self.root
        if not base.is_dir():
            return []
        found = []
        for path in base.rglob("*"):
            if path.is_file() and not path.name.startswith(".put-"):
                key = path.relative_to(self.root).as_posix()
                if key.startswith(prefix) and (after is None or key > after):
                    found.append(key)
        return sorted(found)


S3_DELETE_BATCH = 1000  # the most keys one DeleteObjects request takes


class S3Store(ObjectStore):
    """Keys as objects under ``prefix`` in one S3 bucket (created if missing)."""

    def __init__(self, bucket: str, prefix: str = "", *, endpoint_url: str | None = None) -> None:
        try:
            import boto3
            from botocore.config import Config
        except ImportError as error:
            raise InvalidArgumentError("s3:// storage needs boto3: pip install 'embedb[distributed]'") from error
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.url = f"s3://{bucket}/{self.prefix}"
        endpoint = endpoint_url or os.environ.get("AWS_ENDPOINT_URL")
        self._client: Any = boto3.client(
            "s3", endpoint_url=endpoint, config=Config(retries={"max_attempts": 5, "mode": "standard"})
        )
        self._errors = __import__("botocore.exceptions", fromlist=["ClientError"])
        try:
            self._client.head_bucket(Bucket=bucket)
        except self._errors.ClientError:
            self._client.create_bucket(Bucket=bucket)
        except self._errors.EndpointConnectionError as error:
            raise StorageError(f"cannot reach the object store for {self.url}: {error}") from error

    def put_new(self, key: str, body: bytes) -> bool:
        try:
            self._client.put_object(Bucket=self.bucket, Key=self.prefix + key, Body=body, IfNoneMatch="*")
        except self._errors.ClientError as error:
            if error.response.get("Error", {}).get("Code") in (
                "PreconditionFailed",
                "412",
                "ConditionalRequestConflict",
            ):
                return False
            raise StorageError(f"cannot write {key!r} to {self.url}: {error}") from error
        return True

    def put(self, key: str, body: bytes) -> None:
        try:
            self._client.put_object(Bucket=self.bucket, Key=self.prefix + key, Body=body)
        except self._errors.ClientError as error:
            raise StorageError(f"cannot write {key!r} to {self.url}: {error}") from error

    def get(self, key: str) -> bytes | None:
        try:
            answer = self._client.get_object(Bucket=self.bucket, Key=self.prefix + key)
        except self._errors.ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            raise StorageError(f"cannot read {key!r} from {self.url}: {error}") from error
        body: bytes = answer["Body"].read()
        return body

    def delete(self, keys: list[str]) -> None:
        for start in range(0, len(keys), S3_DELETE_BATCH):
            batch = [{"Key": self.prefix + key} for key in keys[start : start + S3_DELETE_BATCH]]
            try:
                answer = self._client.delete_objects(Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True})
            except self._errors.ClientError as error:
                raise StorageError(f"cannot delete {len(batch)} objects from {self.url}: {error}") from error
            if answer.get("Errors"):
                first = answer["Errors"][0]
                raise StorageError(
                    f"cannot delete {len(answer['Errors'])} objects from {self.url}: {first.get('Key')}: "
                    f"{first.get('Message')}"
                )

    def close(self) -> None:
        self._client.close()

    def keys(self, prefix: str, *, after: str | None = None) -> list[str]:
        found: list[str] = []
        arguments: dict[str, Any] = {"Bucket": self.bucket, "Prefix": self.prefix + prefix}
        if after is not None:
            arguments["StartAfter"] = self.prefix + after
        for page in self._client.get_paginator("list_objects_v2").paginate(**arguments):
            found.extend(item["Key"][len(self.prefix) :] for item in page.get("Contents", ()))
        return sorted(found)


def open_object_store(url: str | os.PathLike[str], *, endpoint_url: str | None = None) -> ObjectStore:
    """The store a URL names: ``s3://bucket/prefix`` or a directory path."""
    text = os.fspath(url)
    if text.startswith("s3://"):
        bucket, _, prefix = text[len("s3://") :].partition("/")
        if not bucket:
            raise InvalidArgumentError(f"storage URL {text!r} names no bucket (s3://bucket/prefix)")
        return S3Store(bucket, prefix, endpoint_url=endpoint_url)
    if "://" in text:
        raise InvalidArgumentError(f"storage must be s3://bucket/prefix or a directory, got {text!r}")
    return DirectoryStore(text)
