"""S3 faults: botocore's errors mapped to the store's, and calls made again through an outage."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Concatenate, ParamSpec, Protocol, TypeVar

import botocore.exceptions
from boto3.exceptions import Boto3Error

from deploy_platform.storage.base import ObjectNotFound, ObjectStoreError, StoreUnavailable

__all__ = [
    "NOT_FOUND",
    "BAD_RANGE",
    "RUN_OUTAGE_SECONDS",
    "error_code",
    "store_error",
    "riding_out_outages",
]

NOT_FOUND = frozenset({"NoSuchKey", "NotFound", "404"})
_DENIED = frozenset(
    {
        "AccessDenied",
        "Forbidden",
        "403",
        "SignatureDoesNotMatch",
        "InvalidAccessKeyId",
        "InvalidToken",
        "ExpiredToken",
    }
)
BAD_RANGE = frozenset({"InvalidRange", "416"})
# Throttling and server-side trouble: the store is there but cannot serve now.
_UNAVAILABLE = frozenset(
    {
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
)
#: How long a run worker's call keeps trying an unreachable store (see the package docstring).
RUN_OUTAGE_SECONDS = 15.0
_FIRST_PAUSE = 0.5
_LONGEST_PAUSE = 4.0


class _RidesOutOutages(Protocol):
    outage_seconds: float


_S = TypeVar("_S", bound=_RidesOutOutages)
_P = ParamSpec("_P")
_T = TypeVar("_T")


def riding_out_outages(
    method: Callable[Concatenate[_S, _P], _T],
) -> Callable[Concatenate[_S, _P], _T]:
    """Call again while the store is unreachable, within the store's `outage_seconds`."""

    @functools.wraps(method)
    def call(self: _S, /, *args: _P.args, **kwargs: _P.kwargs) -> _T:
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


def error_code(exc: botocore.exceptions.ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


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


def store_error(
    exc: BaseException,
    action: str,
    key: str | None,
    *,
    where: str,
    bucket: str,
    endpoint_url: str | None,
    target: str,
) -> ObjectStoreError:
    """A clear ObjectStoreError for a boto3/botocore failure (never with secrets);
    `StoreUnavailable` when the store did not answer after the client's retries.

    `where` is the object or prefix (`s3://bucket/key`), `target` what an
    infrastructure error names (`S3ObjectStore.target`)."""
    at = f" at {endpoint_url}" if endpoint_url else ""
    cause = _underlying(exc)
    if isinstance(cause, botocore.exceptions.ClientError):
        code = error_code(cause)
        if code in NOT_FOUND and key is not None:
            return ObjectNotFound(key)
        if code == "NoSuchBucket":
            return ObjectStoreError(
                f"cannot {action} {where}: bucket {bucket!r} does not exist{at}"
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
            return StoreUnavailable(target, f"cannot {action} {where}: {code} {message}".rstrip())
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
            target,
            f"cannot {action} {where}: unreachable ({cause}); check "
            "endpoint_url and that the server is running",
        )
    if isinstance(cause, botocore.exceptions.ReadTimeoutError):
        return StoreUnavailable(target, f"cannot {action} {where}: timed out ({cause})")
    if isinstance(cause, botocore.exceptions.HTTPClientError | OSError):
        # The connection broke mid-request (server killed, reset): not the request's fault.
        return StoreUnavailable(target, f"cannot {action} {where}: {cause}")
    return ObjectStoreError(f"cannot {action} {where}{at}: {cause}")
