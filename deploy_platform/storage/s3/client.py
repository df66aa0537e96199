"""The boto3 side of an S3 store: its URL, names and settings checked, and its client."""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal
from urllib.parse import parse_qs, urlsplit

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config

from deploy_platform.storage.base import ObjectStoreError, check_key

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

__all__ = [
    "CONNECT_TIMEOUT_SECONDS",
    "READ_TIMEOUT_SECONDS",
    "MAX_ATTEMPTS",
    "S3Location",
    "parse_s3_url",
    "check_bucket",
    "check_prefix",
    "check_credentials",
    "check_addressing_style",
    "transfer_config",
    "new_client",
]

MiB = 1024 * 1024

# S3's own rules, which R2, SeaweedFS and MinIO share: 3-63 characters of
# lowercase letters, digits, dots and hyphens, starting and ending alphanumeric.
_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
AddressingStyle = Literal["auto", "path", "virtual"]
_ADDRESSING_STYLES: tuple[AddressingStyle, ...] = ("auto", "path", "virtual")
_URL_PARAMS = ("endpoint_url", "region", "addressing_style")
_USERINFO_RE = re.compile(r"//[^/?#@]*@")
#: Budgets of one request (see the package docstring).
CONNECT_TIMEOUT_SECONDS = 3.0
READ_TIMEOUT_SECONDS = 20.0
MAX_ATTEMPTS = 3


@dataclass(frozen=True)
class S3Location:
    """What an `s3://` storage URL names."""

    bucket: str
    prefix: str
    endpoint_url: str | None
    region: str | None
    addressing_style: str | None


def parse_s3_url(url: str) -> S3Location:
    """`s3://bucket[/prefix]?endpoint_url=...&region=...&addressing_style=...`, checked."""
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
    return S3Location(
        bucket=parts.netloc,
        prefix=parts.path,
        endpoint_url=endpoint_url,
        region=options.get("region"),
        addressing_style=options.get("addressing_style"),
    )


def check_bucket(bucket: str) -> None:
    if not _BUCKET_RE.match(bucket):
        raise ObjectStoreError(
            f"invalid bucket name {bucket!r}: use 3-63 lowercase letters, digits, "
            "dots or hyphens, starting and ending with a letter or digit"
        )


def check_prefix(prefix: str, bucket: str) -> str:
    """The key prefix without its outer slashes; raises ObjectStoreError if it is no key."""
    prefix = prefix.strip("/")
    if prefix:
        try:
            check_key(prefix)
        except ObjectStoreError:
            raise ObjectStoreError(
                f"invalid key prefix {prefix!r} for bucket {bucket!r}: use slash-separated "
                "names of letters, digits, '.', '_' or '-'"
            ) from None
    return prefix


def check_credentials(access_key_id: str | None, secret_access_key: str | None) -> None:
    """Both or neither: without them boto3's own chain (environment, profile, role) is used."""
    if bool(access_key_id) != bool(secret_access_key):
        raise ObjectStoreError(
            "give both the S3 access key id and the secret access key, or neither "
            "(to use boto3's default credential chain)"
        )


def check_addressing_style(given: str | None, endpoint_url: str | None) -> AddressingStyle:
    """`given`, checked; by default `path` with an endpoint (SeaweedFS, MinIO need it)."""
    style = next((s for s in _ADDRESSING_STYLES if s == given), None)
    if given is None:
        return "path" if endpoint_url else "auto"
    if style is None:
        raise ObjectStoreError(
            f"invalid addressing_style {given!r}: use one of " + ", ".join(_ADDRESSING_STYLES)
        )
    return style


def transfer_config() -> TransferConfig:
    """Managed uploads and downloads: multipart, in parallel, above 8 MiB."""
    return TransferConfig(
        multipart_threshold=8 * MiB,
        multipart_chunksize=8 * MiB,
        max_concurrency=4,
        use_threads=True,
    )


_session: boto3.session.Session | None = None
_session_lock = threading.Lock()


def new_client(
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
