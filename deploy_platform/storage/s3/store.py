"""S3, Cloudflare R2, SeaweedFS or MinIO as the object store, through boto3.

  s3://bucket[/prefix]?endpoint_url=https://<account>.r2.cloudflarestorage.com&region=auto

Query parameters: `endpoint_url` (omit for AWS), `region` (R2 wants `auto`) and
`addressing_style` (`path`, `virtual` or `auto`; `path` by default when an
endpoint is given, since SeaweedFS and MinIO need it and R2 accepts it).
Credentials never travel in the URL: they are arguments (Dagster passes them from
`dg.EnvVar`), and empty ones mean boto3's own chain (environment, profile, role).

One boto3 client per store. boto3 clients are thread-safe, so the edge-origin's
executor threads and the publisher's upload pool share it; the connection pool is
sized for that.

Faults, in two layers:
- botocore's "standard" retry mode retries each request on connection errors,
  timeouts, throttling and 5xx, `MAX_ATTEMPTS` (3) attempts in all; its backoff is
  tens of milliseconds, which rides out a dropped connection but not a restart;
- with `outage_seconds` (the run workers' and sensors' store: 15 s; the control
  API's and edge-origin's: 0, they answer at once rather than hold a request), a
  call that still finds the store unreachable is made again after 0.5, 1, 2, 4 s
  ... until that many seconds have passed, so a restart of a few seconds is
  ridden out inside the call.
A connect timeout of 3 s and a read timeout of 20 s keep a server that hangs
(stopped, not gone) from holding a call for minutes. What is still failing then
raises `StoreUnavailable` (an infrastructure fault: the run is run again once the
store answers, see sensors/infra_retry.py); a missing bucket or denied access is a
configuration error and stays a plain `ObjectStoreError`.
"""

from __future__ import annotations

import functools
import os
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, Concatenate, Literal, ParamSpec, TypeVar
from urllib.parse import parse_qs, urlsplit

import boto3
import botocore.exceptions
from boto3.exceptions import Boto3Error
from boto3.s3.transfer import TransferConfig
from botocore.config import Config

from deploy_platform.storage.base import (
    ObjectInfo,
    ObjectNotFound,
    ObjectStore,
    ObjectStoreError,
    StoreUnavailable,
    check_key,
    guess_content_type,
)

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import ListObjectsV2RequestTypeDef

__all__ = ["S3ObjectStore"]

MiB = 1024 * 1024

# S3's own rules, which R2, SeaweedFS and MinIO share: 3-63 characters of
# lowercase letters, digits, dots and hyphens, starting and ending alphanumeric.
_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
AddressingStyle = Literal["auto", "path", "virtual"]
_ADDRESSING_STYLES: tuple[AddressingStyle, ...] = ("auto", "path", "virtual")
_URL_PARAMS = ("endpoint_url", "region", "addressing_style")
_MAX_PAGE = 1000  # the most keys ListObjectsV2 returns per request
_USERINFO_RE = re.compile(r"//[^/?#@]*@")

_NOT_FOUND = {"NoSuchKey", "NotFound", "404"}
_DENIED = {
    "AccessDenied",
    "Forbidden",
    "403",
    "SignatureDoesNotMatch",
    "InvalidAccessKeyId",
    "InvalidToken",
    "ExpiredToken",
}
_BAD_RANGE = {"InvalidRange", "416"}
# Throttling and server-side trouble: the store is there but cannot serve now.
_UNAVAILABLE = {
    "InternalError",
    "ServiceUnavailable",
    "SlowDown",
    "RequestTimeout",
    "RequestTimeTooSkewed",
    "500",
    "502",
    "503",
    "504",
}
#: Budgets of one request (see the module's docstring).
CONNECT_TIMEOUT_SECONDS = 3.0
READ_TIMEOUT_SECONDS = 20.0
MAX_ATTEMPTS = 3
#: How long a run worker's call keeps trying an unreachable store (see the docstring).
RUN_OUTAGE_SECONDS = 15.0
_FIRST_PAUSE = 0.5
_LONGEST_PAUSE = 4.0

_P = ParamSpec("_P")
_T = TypeVar("_T")


def _riding_out_outages(
    method: Callable[Concatenate[S3ObjectStore, _P], _T],
) -> Callable[Concatenate[S3ObjectStore, _P], _T]:
    """Call again while the store is unreachable, within the store's `outage_seconds`."""

    @functools.wraps(method)
    def call(self: S3ObjectStore, /, *args: _P.args, **kwargs: _P.kwargs) -> _T:
        deadline: float | None = None
        pause = _FIRST_PAUSE
        while True:
            try:
                return method(self, *args, **kwargs)
            except StoreUnavailable:
                now = time.monotonic()
                if deadline is None:
                    deadline = now + self.outage_seconds
                if now + pause > deadline:
                    raise
                time.sleep(pause)
                pause = min(pause * 2, _LONGEST_PAUSE)

    return call


def _error_code(exc: botocore.exceptions.ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


_session: boto3.session.Session | None = None
_session_lock = threading.Lock()


def _new_client(
    *,
    endpoint_url: str | None,
    region: str | None,
    access_key_id: str | None,
    secret_access_key: str | None,
    config: Config,
) -> S3Client:
    """A boto3 S3 client; boto3 clients are thread-safe, sessions are not.

    With explicit credentials the client comes from one shared session, made under
    a lock: a new session reloads botocore's service models (about 0.2 s), a warm
    one builds a client in a fraction of that. Without them a fresh session runs
    boto3's credential chain now, rather than reusing what a shared session found
    (and cached) for an earlier store.
    """
    global _session
    with _session_lock:
        if not access_key_id:
            session = boto3.session.Session()
        else:
            if _session is None:
                _session = boto3.session.Session()
            session = _session
        return session.client(
            "s3",
            endpoint_url=endpoint_url,
            region_name=region,
            aws_access_key_id=access_key_id,
            aws_secret_access_key=secret_access_key,
            config=config,
        )


def _underlying(exc: BaseException) -> BaseException:
    """The error that says what went wrong: s3transfer and boto3 wrap it."""
    cause: BaseException = exc
    for _ in range(8):
        inner = getattr(cause, "last_exception", None)  # s3transfer's RetriesExceededError
        if isinstance(inner, BaseException):
            cause = inner
        elif isinstance(cause, Boto3Error) and cause.__context__ is not None:
            cause = cause.__context__
        else:
            break
    return cause


class _BodyChunks(Iterator[bytes]):
    """Chunks of a GET's body; its connection is released at the end or on close()."""

    def __init__(self, store: S3ObjectStore, key: str, body: Any, chunk_size: int) -> None:
        self._store = store
        self._key = key
        self._body = body
        self._chunks: Iterator[bytes] = body.iter_chunks(chunk_size)

    def __iter__(self) -> _BodyChunks:
        return self

    def __next__(self) -> bytes:
        if self._body is None:
            raise StopIteration
        try:
            return next(self._chunks)
        except StopIteration:
            self.close()
            raise
        except (botocore.exceptions.BotoCoreError, OSError) as exc:
            self.close()
            raise self._store._error(exc, "read", self._key) from None

    def close(self) -> None:
        body = getattr(self, "_body", None)
        if body is not None:
            self._body = None
            body.close()

    def __del__(self) -> None:
        self.close()


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
        if not _BUCKET_RE.match(bucket):
            raise ObjectStoreError(
                f"invalid bucket name {bucket!r}: use 3-63 lowercase letters, digits, "
                "dots or hyphens, starting and ending with a letter or digit"
            )
        prefix = prefix.strip("/")
        if prefix:
            try:
                check_key(prefix)
            except ObjectStoreError:
                raise ObjectStoreError(
                    f"invalid key prefix {prefix!r} for bucket {bucket!r}: use slash-separated "
                    "names of letters, digits, '.', '_' or '-'"
                ) from None
        style = next((s for s in _ADDRESSING_STYLES if s == addressing_style), None)
        if addressing_style is None:
            style = "path" if endpoint_url else "auto"
        elif style is None:
            raise ObjectStoreError(
                f"invalid addressing_style {addressing_style!r}: use one of "
                + ", ".join(_ADDRESSING_STYLES)
            )
        if bool(access_key_id) != bool(secret_access_key):
            raise ObjectStoreError(
                "give both the S3 access key id and the secret access key, or neither "
                "(to use boto3's default credential chain)"
            )
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
        self._client: S3Client = _new_client(
            endpoint_url=endpoint_url,
            region=region,
            access_key_id=access_key_id or None,
            secret_access_key=secret_access_key or None,
            config=config,
        )
        self._transfer = TransferConfig(
            multipart_threshold=8 * MiB,
            multipart_chunksize=8 * MiB,
            max_concurrency=4,
            use_threads=True,
        )

    @classmethod
    def from_url(
        cls,
        url: str,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        outage_seconds: float = 0.0,
    ) -> S3ObjectStore:
        """Open `s3://bucket[/prefix]?endpoint_url=...&region=...&addressing_style=...`."""
        shown = _USERINFO_RE.sub("//***@", url)  # errors never echo a user:secret@ part
        parts = urlsplit(url)
        if parts.scheme != "s3":
            raise ObjectStoreError("an S3 storage URL starts with s3://bucket")
        if "@" in parts.netloc:
            # Never echo the URL here: it holds the secret we are refusing.
            raise ObjectStoreError(
                "S3 credentials must not be part of the storage URL: pass them separately "
                "(DP_S3_ACCESS_KEY_ID / DP_S3_SECRET_ACCESS_KEY) or use boto3's credential chain"
            )
        if not parts.netloc:
            raise ObjectStoreError(f"storage URL {shown!r} names no bucket: use s3://bucket/prefix")
        if parts.fragment:
            raise ObjectStoreError(f"storage URL {shown!r} must not have a #fragment")
        try:
            query = parse_qs(parts.query, keep_blank_values=True, strict_parsing=bool(parts.query))
        except ValueError:
            raise ObjectStoreError(f"cannot parse the query of storage URL {shown!r}") from None
        unknown = sorted(set(query) - set(_URL_PARAMS))
        if unknown:
            raise ObjectStoreError(
                f"unknown parameter(s) {', '.join(unknown)} in storage URL {shown!r}: "
                f"allowed are {', '.join(_URL_PARAMS)}"
            )
        options: dict[str, str] = {}
        for name, values in query.items():
            if len(values) != 1:
                raise ObjectStoreError(f"parameter {name!r} given more than once in {shown!r}")
            if values[0]:
                options[name] = values[0]
        endpoint_url = options.get("endpoint_url")
        if endpoint_url is not None:
            endpoint = urlsplit(endpoint_url)
            if "@" in endpoint.netloc:
                raise ObjectStoreError(
                    "S3 credentials must not be part of endpoint_url: pass them separately"
                )
            if endpoint.scheme not in ("http", "https") or not endpoint.hostname:
                raise ObjectStoreError(
                    f"endpoint_url {endpoint_url!r} must be an http:// or https:// URL"
                )
        return cls(
            parts.netloc,
            parts.path,
            endpoint_url=endpoint_url,
            region=options.get("region"),
            addressing_style=options.get("addressing_style"),
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
        where = f"s3://{self.bucket}/{self._full(key) if key else self.prefix}"
        at = f" at {self.endpoint_url}" if self.endpoint_url else ""
        cause = _underlying(exc)
        if isinstance(cause, botocore.exceptions.ClientError):
            code = _error_code(cause)
            if code in _NOT_FOUND and key is not None:
                return ObjectNotFound(key)
            if code == "NoSuchBucket":
                return ObjectStoreError(
                    f"cannot {action} {where}: bucket {self.bucket!r} does not exist{at}"
                )
            if code in _DENIED:
                return ObjectStoreError(
                    f"cannot {action} {where}{at}: access denied ({code}); check the access "
                    "key id and secret, and that they may read, write and list this bucket "
                    "(without list permission S3 also answers 403 for a missing object)"
                )
            message = cause.response.get("Error", {}).get("Message", "")
            status = cause.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
            if code in _UNAVAILABLE or (isinstance(status, int) and status >= 500):
                return StoreUnavailable(
                    self.target, f"cannot {action} {where}: {code} {message}".rstrip()
                )
            return ObjectStoreError(f"cannot {action} {where}{at}: {code} {message}".rstrip())
        if isinstance(cause, botocore.exceptions.NoCredentialsError):
            return ObjectStoreError(
                f"cannot {action} {where}: no S3 credentials; set DP_S3_ACCESS_KEY_ID and "
                "DP_S3_SECRET_ACCESS_KEY or configure boto3's credential chain"
            )
        if isinstance(
            cause,
            botocore.exceptions.EndpointConnectionError | botocore.exceptions.ConnectTimeoutError,
        ):
            return StoreUnavailable(
                self.target,
                f"cannot {action} {where}: unreachable ({cause}); check "
                "endpoint_url and that the server is running",
            )
        if isinstance(cause, botocore.exceptions.ReadTimeoutError):
            return StoreUnavailable(self.target, f"cannot {action} {where}: timed out ({cause})")
        if isinstance(cause, botocore.exceptions.HTTPClientError | OSError):
            # The connection broke mid-request (server killed, reset): not the request's fault.
            return StoreUnavailable(self.target, f"cannot {action} {where}: {cause}")
        return ObjectStoreError(f"cannot {action} {where}{at}: {cause}")

    @staticmethod
    def _content_type(key: str, content_type: str | None) -> str:
        # Like the local store: without an explicit type, guess from the name.
        return content_type or guess_content_type(key) or "application/octet-stream"

    # -- the interface --------------------------------------------------------

    @_riding_out_outages
    def check(self) -> None:
        try:
            self._client.head_bucket(Bucket=self.bucket)
        except botocore.exceptions.ClientError as exc:
            if _error_code(exc) in _NOT_FOUND | {"NoSuchBucket"}:
                raise ObjectStoreError(
                    f"bucket {self.bucket!r} does not exist"
                    + (f" at {self.endpoint_url}" if self.endpoint_url else "")
                    + ": create it first"
                ) from None
            raise self._error(exc, "use bucket") from None
        except (botocore.exceptions.BotoCoreError, Boto3Error) as exc:
            raise self._error(exc, "use bucket") from None

    @_riding_out_outages
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

    @_riding_out_outages
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
        except (
            botocore.exceptions.BotoCoreError,
            botocore.exceptions.ClientError,
            Boto3Error,
        ) as exc:
            raise self._error(exc, "write", key) from None

    @_riding_out_outages
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

    @_riding_out_outages
    def download_file(self, key: str, path: Path) -> None:
        full = self._full(key)
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        # Readers of `path` never see half a file: download beside it, then rename.
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.part")
        try:
            self._client.download_file(self.bucket, full, str(tmp), Config=self._transfer)
            os.replace(tmp, path)
        except (
            botocore.exceptions.BotoCoreError,
            botocore.exceptions.ClientError,
            Boto3Error,
        ) as exc:
            raise self._error(exc, "read", key) from None
        finally:
            tmp.unlink(missing_ok=True)

    @_riding_out_outages
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
            if _error_code(exc) in _BAD_RANGE:
                return iter(())  # starts beyond the end: no bytes, like a short read
            raise self._error(exc, "read", key) from None
        except botocore.exceptions.BotoCoreError as exc:
            raise self._error(exc, "read", key) from None
        # The GET happened here, so a missing object raises now, before the caller
        # has sent any response headers; the body streams in chunks.
        return _BodyChunks(self, key, response["Body"], chunk_size)

    @_riding_out_outages
    def head(self, key: str) -> ObjectInfo | None:
        full = self._full(key)
        try:
            response = self._client.head_object(Bucket=self.bucket, Key=full)
        except botocore.exceptions.ClientError as exc:
            if _error_code(exc) in _NOT_FOUND:
                return None
            raise self._error(exc, "look up", key) from None
        except botocore.exceptions.BotoCoreError as exc:
            raise self._error(exc, "look up", key) from None
        etag = response.get("ETag")
        modified = response.get("LastModified")
        return ObjectInfo(
            key=key,
            size=int(response["ContentLength"]),
            etag=etag.strip('"') if etag else None,
            content_type=response.get("ContentType"),
            last_modified=modified.timestamp() if modified else None,
        )

    @_riding_out_outages
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

    @_riding_out_outages
    def delete(self, key: str) -> None:
        full = self._full(key)
        try:
            self._client.delete_object(Bucket=self.bucket, Key=full)
        except botocore.exceptions.ClientError as exc:
            if _error_code(exc) in _NOT_FOUND:
                return
            raise self._error(exc, "delete", key) from None
        except botocore.exceptions.BotoCoreError as exc:
            raise self._error(exc, "delete", key) from None

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

    @_riding_out_outages
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
