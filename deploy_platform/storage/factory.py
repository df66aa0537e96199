"""Choose the object store from a URL.

  file:///var/lib/deploy-platform/objects            a local directory
  s3://bucket[/prefix]?endpoint_url=...&region=...    S3, R2, SeaweedFS, MinIO

Credentials are never part of the URL: they come as arguments (Dagster passes
them from `dg.EnvVar`) or from boto3's usual chain.
"""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit

from deploy_platform.storage.base import ObjectStore, ObjectStoreError

__all__ = ["open_store"]


_USERINFO_RE = re.compile(r"//[^/?#@]*@")


def _redacted(url: str) -> str:
    """The URL without any user:password@ part, safe to put in an error message."""
    return _USERINFO_RE.sub("//***@", url)


def open_store(
    url: str,
    access_key_id: str | None = None,
    secret_access_key: str | None = None,
    *,
    outage_seconds: float = 0.0,
) -> ObjectStore:
    """The store for `url`; `outage_seconds` is how long an S3 call keeps trying a store
    that does not answer (0: fail at once, for request handlers; see storage/s3/)."""
    if not url.strip():
        raise ObjectStoreError(
            "no storage URL: use file:///path or s3://bucket/prefix?endpoint_url=..."
        )
    parts = urlsplit(url)
    if parts.scheme == "file":
        from deploy_platform.storage.local import LocalObjectStore

        if parts.netloc not in ("", "localhost"):
            raise ObjectStoreError(f"file URL must be local: {_redacted(url)!r}")
        if not parts.path.startswith("/"):
            raise ObjectStoreError(f"file URL needs an absolute path: {_redacted(url)!r}")
        return LocalObjectStore(unquote(parts.path))
    if parts.scheme == "s3":
        from deploy_platform.storage.s3 import S3ObjectStore

        return S3ObjectStore.from_url(
            url, access_key_id, secret_access_key, outage_seconds=outage_seconds
        )
    raise ObjectStoreError(
        f"unsupported storage URL {_redacted(url)!r}: "
        "use file:///path or s3://bucket/prefix?endpoint_url=..."
    )
