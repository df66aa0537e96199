"""The S3 object store: `ObjectStore` over one bucket (and key prefix) through boto3."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import botocore.exceptions
from boto3.exceptions import Boto3Error
from botocore.config import Config

from deploy_platform.storage.base import (
    ObjectInfo,
    ObjectStore,
    ObjectStoreError,
    check_key,
    guess_content_type,
)
from deploy_platform.storage.s3.bodies import BodyChunks
from deploy_platform.storage.s3.client import (
    CONNECT_TIMEOUT_SECONDS,
    MAX_ATTEMPTS,
    READ_TIMEOUT_SECONDS,
    check_addressing_style,
    check_bucket,
    check_credentials,
    check_prefix,
    new_client,
    parse_s3_url,
    transfer_config,
)
from deploy_platform.storage.s3.faults import (
    BAD_RANGE,
    NOT_FOUND,
    error_code,
    riding_out_outages,
    store_error,
)

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import ListObjectsV2RequestTypeDef

__all__ = ["S3ObjectStore"]

_MAX_PAGE = 1000  # the most keys ListObjectsV2 returns per request
_T = TypeVar("_T")
# What a managed transfer (s3transfer, through boto3) raises besides botocore's own.
_TRANSFER_ERRORS = (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError, Boto3Error)


class S3ObjectStore(ObjectStore):
    """An S3-compatible bucket, optionally under a key prefix."""

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
        addressing_style: str | None = None,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        connect_timeout: float = CONNECT_TIMEOUT_SECONDS,
        read_timeout: float = READ_TIMEOUT_SECONDS,
        max_attempts: int = MAX_ATTEMPTS,
        outage_seconds: float = 0.0,
        max_workers: int = 16,
    ) -> None:
        check_bucket(bucket)
        prefix = check_prefix(prefix, bucket)
        style = check_addressing_style(addressing_style, endpoint_url)
        check_credentials(access_key_id, secret_access_key)
        self.bucket = bucket
        self.prefix = prefix
        self.outage_seconds = max(0.0, outage_seconds)
        self.endpoint_url = endpoint_url
        self.region = region
        self._max_workers = max(1, max_workers)
        where = endpoint_url or "AWS"
        self.description = (
            f"S3 bucket {bucket}" + (f" under {prefix}/" if prefix else "") + f" at {where}"
        )
        #: What an infrastructure error names: `s3://bucket/prefix at <endpoint>`.
        self.target = f"s3://{bucket}" + (f"/{prefix}" if prefix else "") + f" at {where}"
        config = Config(
            region_name=region,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            retries={"total_max_attempts": max_attempts, "mode": "standard"},
            s3={"addressing_style": style},
            # Upload threads, missing() HEADs and edge-origin readers share the pool.
            max_pool_connections=max(10, self._max_workers * 2),
            # R2 and SeaweedFS reject or mis-handle the CRC32 trailers that newer
            # botocore adds by default; only send checksums where S3 requires them.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        self._client: S3Client = new_client(
            endpoint_url=endpoint_url,
            region=region,
            access_key_id=access_key_id or None,
            secret_access_key=secret_access_key or None,
            config=config,
        )
        self._transfer = transfer_config()

    @classmethod
    def from_url(
        cls,
        url: str,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        outage_seconds: float = 0.0,
    ) -> S3ObjectStore:
        """Open `s3://bucket[/prefix]?endpoint_url=...&region=...&addressing_style=...`."""
        where = parse_s3_url(url)
        return cls(
            where.bucket,
            where.prefix,
            endpoint_url=where.endpoint_url,
            region=where.region,
            addressing_style=where.addressing_style,
            access_key_id=access_key_id,
            secret_access_key=secret_access_key,
            outage_seconds=outage_seconds,
        )

    # -- helpers --------------------------------------------------------------

    def _full(self, key: str) -> str:
        check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def _relative(self, full_key: str) -> str:
        return full_key[len(self.prefix) + 1 :] if self.prefix else full_key

    def _error(self, exc: BaseException, action: str, key: str | None = None) -> ObjectStoreError:
        """A clear ObjectStoreError for a boto3/botocore failure (never with secrets);
        `StoreUnavailable` when the store did not answer after the client's retries."""
        return store_error(
            exc,
            action,
            key,
            where=f"s3://{self.bucket}/{self._full(key) if key else self.prefix}",
            bucket=self.bucket,
            endpoint_url=self.endpoint_url,
            target=self.target,
        )

    def _unless_missing(self, action: str, key: str, call: Callable[[], _T]) -> _T | None:
        """`call()`'s answer, or None when the store says the object does not exist."""
        try:
            return call()
        except botocore.exceptions.ClientError as exc:
            if error_code(exc) in NOT_FOUND:
                return None
            raise self._error(exc, action, key) from None
        except botocore.exceptions.BotoCoreError as exc:
            raise self._error(exc, action, key) from None

    @staticmethod
    def _content_type(key: str, content_type: str | None) -> str:
        # Like the local store: without an explicit type, guess from the name.
        return content_type or guess_content_type(key) or "application/octet-stream"

    # -- the interface --------------------------------------------------------

    @riding_out_outages
    def check(self) -> None:
        try:
            self._client.head_bucket(Bucket=self.bucket)
        except botocore.exceptions.ClientError as exc:
            if error_code(exc) in NOT_FOUND | {"NoSuchBucket"}:
                raise ObjectStoreError(
                    f"bucket {self.bucket!r} does not exist"
                    + (f" at {self.endpoint_url}" if self.endpoint_url else "")
                    + ": create it first"
                ) from None
            raise self._error(exc, "use bucket") from None
        except (botocore.exceptions.BotoCoreError, Boto3Error) as exc:
            raise self._error(exc, "use bucket") from None

    @riding_out_outages
    def put_bytes(self, key: str, data: bytes, content_type: str | None = None) -> None:
        full = self._full(key)
        try:
            self._client.put_object(
                Bucket=self.bucket,
                Key=full,
                Body=data,
                ContentType=self._content_type(key, content_type),
            )
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
            raise self._error(exc, "write", key) from None

    @riding_out_outages
    def put_file(self, key: str, path: Path, content_type: str | None = None) -> None:
        full = self._full(key)
        # Fail like the local store (FileNotFoundError) rather than deep in s3transfer.
        if not Path(path).is_file():
            raise FileNotFoundError(f"no file to upload at {path}")
        try:
            # Managed upload: multipart (in parallel) above the threshold.
            self._client.upload_file(
                str(path),
                self.bucket,
                full,
                ExtraArgs={"ContentType": self._content_type(key, content_type)},
                Config=self._transfer,
            )
        except _TRANSFER_ERRORS as exc:
            raise self._error(exc, "write", key) from None

    @riding_out_outages
    def get_bytes(self, key: str) -> bytes:
        full = self._full(key)
        try:
            response = self._client.get_object(Bucket=self.bucket, Key=full)
            body = response["Body"]
            try:
                return body.read()
            finally:
                body.close()
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
            raise self._error(exc, "read", key) from None

    @riding_out_outages
    def download_file(self, key: str, path: Path) -> None:
        full = self._full(key)
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        # Readers of `path` never see half a file: download beside it, then rename.
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.part")
        try:
            self._client.download_file(self.bucket, full, str(tmp), Config=self._transfer)
            os.replace(tmp, path)
        except _TRANSFER_ERRORS as exc:
            raise self._error(exc, "read", key) from None
        finally:
            tmp.unlink(missing_ok=True)

    @riding_out_outages
    def iter_range(
        self, key: str, start: int = 0, end: int | None = None, chunk_size: int = 256 * 1024
    ) -> Iterator[bytes]:
        full = self._full(key)
        if start < 0:
            raise ObjectStoreError(f"range start must be >= 0, not {start}")
        if end is not None and end < start:
            return iter(())
        request: dict[str, str] = {"Bucket": self.bucket, "Key": full}
        if start or end is not None:
            # RFC 9110 section 14.1.2: last-byte-pos is inclusive, like `end`.
            request["Range"] = f"bytes={start}-{'' if end is None else end}"
        try:
            response = self._client.get_object(**request)  # type: ignore[arg-type]
        except botocore.exceptions.ClientError as exc:
            if error_code(exc) in BAD_RANGE:
                return iter(())  # starts beyond the end: no bytes, like a short read
            raise self._error(exc, "read", key) from None
        except botocore.exceptions.BotoCoreError as exc:
            raise self._error(exc, "read", key) from None
        # The GET happened here, so a missing object raises now, before the caller
        # has sent any response headers; the body streams in chunks.
        return BodyChunks(response["Body"], chunk_size, lambda exc: self._error(exc, "read", key))

    @riding_out_outages
    def head(self, key: str) -> ObjectInfo | None:
        full = self._full(key)
        response = self._unless_missing(
            "look up", key, lambda: self._client.head_object(Bucket=self.bucket, Key=full)
        )
        if response is None:
            return None
        etag = response.get("ETag")
        modified = response.get("LastModified")
        return ObjectInfo(
            key=key,
            size=int(response["ContentLength"]),
            etag=etag.strip('"') if etag else None,
            content_type=response.get("ContentType"),
            last_modified=modified.timestamp() if modified else None,
        )

    @riding_out_outages
    def list(self, prefix: str = "", *, page_size: int | None = None) -> Iterator[ObjectInfo]:
        # S3 and R2 list in UTF-8 byte order, but SeaweedFS lists directory by
        # directory ("a/z" before "a-1"). Sorting here keeps the promise on every
        # server; it holds one listing in memory, and is linear on sorted input.
        return iter(sorted(self._list_pages(prefix, page_size), key=lambda info: info.key))

    def _list_pages(self, prefix: str, page_size: int | None) -> Iterator[ObjectInfo]:
        size = _MAX_PAGE if page_size is None else max(1, min(page_size, _MAX_PAGE))
        full_prefix = f"{self.prefix}/{prefix}" if self.prefix else prefix
        request: ListObjectsV2RequestTypeDef = {
            "Bucket": self.bucket,
            "Prefix": full_prefix,
            "MaxKeys": size,
        }
        # Every page, following continuation tokens: one call is never the whole list.
        while True:
            try:
                response = self._client.list_objects_v2(**request)
            except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
                raise self._error(exc, "list", None) from None
            for item in response.get("Contents", []):
                etag = item.get("ETag")
                modified = item.get("LastModified")
                yield ObjectInfo(
                    key=self._relative(item["Key"]),
                    size=int(item.get("Size", 0)),
                    etag=etag.strip('"') if etag else None,
                    last_modified=modified.timestamp() if modified else None,
                )
            token = response.get("NextContinuationToken")
            if not response.get("IsTruncated") or not token:
                return
            request["ContinuationToken"] = token

    @riding_out_outages
    def delete(self, key: str) -> None:
        full = self._full(key)
        self._unless_missing(
            "delete", key, lambda: self._client.delete_object(Bucket=self.bucket, Key=full)
        )

    def missing(self, keys: Iterable[str]) -> set[str]:
        # Two ways to ask, and neither always wins:
        #  - HEAD per key: k requests, `max_workers` at a time, so about
        #    k / max_workers round trips however much the store holds;
        #  - a listing of the keys' common prefix: one request per 1000 objects
        #    under it, page after page. `blobs/` grows with every deployment ever
        #    published, so listing only wins while that prefix is small.
        # One probe page settles it: if everything under the prefix fits in one
        # page, that page is the whole answer (one request instead of k);
        # otherwise it cost one extra round trip and the HEADs run.
        wanted = sorted({check_key(key) for key in keys})
        if not wanted:
            return set()
        if len(wanted) > self._max_workers:
            present = self._list_one_page(os.path.commonprefix(wanted))
            if present is not None:
                return set(wanted) - present
        with ThreadPoolExecutor(
            max_workers=min(self._max_workers, len(wanted)), thread_name_prefix="s3-head"
        ) as pool:
            found = list(pool.map(self.exists, wanted))
        return {key for key, exists in zip(wanted, found, strict=True) if not exists}

    @riding_out_outages
    def _list_one_page(self, prefix: str) -> set[str] | None:
        """Every key under `prefix` if they fit in one listing page, else None."""
        full_prefix = f"{self.prefix}/{prefix}" if self.prefix else prefix
        try:
            response = self._client.list_objects_v2(
                Bucket=self.bucket, Prefix=full_prefix, MaxKeys=_MAX_PAGE
            )
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
            raise self._error(exc, "list", None) from None
        if response.get("IsTruncated"):
            return None
        return {self._relative(item["Key"]) for item in response.get("Contents", [])}

    def close(self) -> None:
        self._client.close()
