"""The deployment manifest: `deployments/<id>/manifest.json`.

It maps every URL path of a deployment to its content-addressed body:
  {"version": 1, "deployment": "<id>", "created_at": 1700000000.0,
   "files": {"/index.html": {"blob": "<sha256>", "size": 123,
             "content_type": "text/html; charset=utf-8",
             "etag": "\"<sha256>\"", "headers": {},
             "encodings": {"br": {"blob": "<sha256>", "size": 41},
                           "gzip": {"blob": "<sha256>", "size": 52}}}},
   "routes": {"redirects": [...], "headers": [...]}}
`routes` (redirects, rewrites and header rules, see `deploy_platform.contracts.routing`) is
optional: absent means no rules, and manifests without rules are unchanged.

`encodings` is optional too (absent: the file has no variants; manifests written
before variants existed load and serve unchanged). It maps a content coding
(`br`, `gzip`; `deploy_platform.publish.compression` decides which files get them) to
the precompressed body, itself content-addressed at `blobs/<sha256>` (`blob`)
with its length in bytes (`size`); `blob`, `size`, `content_type` and `etag`
stay those of the uncompressed ("identity") body. An edge that does not know a
coding ignores it. A variant's strong ETag is derived, not stored: the entry's
ETag with `-<coding>` before the closing quote (`"<sha256>-br"`), so each
representation has its own validator and no two can be confused by a cache.
It is written last when publishing, so a deployment without one does not exist.
The edge-origin (`serve/`) and the Worker read this format; keep them in step.
"""

from __future__ import annotations

import json
import mimetypes
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from deploy_platform.contracts.routing import Routes, RoutingError

__all__ = [
    "MANIFEST_VERSION",
    "BlobRef",
    "FileEntry",
    "Manifest",
    "blob_key",
    "manifest_key",
    "source_key",
    "artifact_key",
    "artifact_routing_key",
    "alias_key",
    "content_type_for",
    "InvalidManifest",
]

MANIFEST_VERSION = 1

_TEXT_TYPES = {
    "application/javascript",
    "application/json",
    "image/svg+xml",
    "application/xml",
    "application/manifest+json",
}
_EXTRA_TYPES = {
    ".js": "text/javascript",
    ".mjs": "text/javascript",
    ".wasm": "application/wasm",
    ".webmanifest": "application/manifest+json",
    ".woff2": "font/woff2",
    ".woff": "font/woff",
    ".avif": "image/avif",
    ".webp": "image/webp",
    ".map": "application/json",
    ".md": "text/markdown",
}

# A file whose name ends in a compression suffix is of the compression's type.
_COMPRESSED_TYPES = {
    "gzip": "application/gzip",
    "br": "application/x-brotli",
    "bzip2": "application/x-bzip2",
    "xz": "application/x-xz",
    "compress": "application/x-compress",
}


class InvalidManifest(ValueError):
    """A manifest that does not follow the format above."""


_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_CODING = re.compile(r"^[!#$%&'*+.^_`|~0-9a-z-]+$")


def blob_key(sha256: str) -> str:
    return f"blobs/{sha256}"


def manifest_key(deployment_id: str) -> str:
    return f"deployments/{deployment_id}/manifest.json"


def source_key(deployment_id: str) -> str:
    return f"sources/{deployment_id}.tar.gz"


def artifact_key(deployment_id: str) -> str:
    return f"artifacts/{deployment_id}.tar.gz"


def artifact_routing_key(deployment_id: str) -> str:
    """The repository's raw vercel.json / netlify.toml rules, beside the built artifact."""
    return f"artifacts/{deployment_id}.routing.json"


def alias_key(alias: str) -> str:
    return f"aliases/{alias}.json"


def content_type_for(path: str) -> str:
    lower = path.lower()
    dot = lower.rfind(".")
    ext = lower[dot:] if dot > lower.rfind("/") else ""
    guessed, encoding = mimetypes.guess_type(lower)
    if encoding is not None:
        # `app.js.br` holds Brotli bytes, not JavaScript: served as what it is.
        guessed = _COMPRESSED_TYPES.get(encoding, "application/octet-stream")
    ctype = _EXTRA_TYPES.get(ext) or guessed or "application/octet-stream"
    if ctype.startswith("text/") or ctype in _TEXT_TYPES:
        ctype += "; charset=utf-8"
    return ctype


@dataclass(frozen=True)
class BlobRef:
    """A stored body: `blobs/<blob>`, `size` bytes long."""

    blob: str
    size: int

    def to_dict(self) -> dict[str, Any]:
        return {"blob": self.blob, "size": self.size}

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> BlobRef:
        blob, size = raw["blob"], raw["size"]
        if not isinstance(blob, str) or not _SHA256.match(blob):
            raise InvalidManifest(f"a variant's blob {blob!r} is not a sha256 in hex")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise InvalidManifest(f"a variant's size {size!r} is not a byte count")
        return cls(blob=blob, size=size)


@dataclass(frozen=True)
class FileEntry:
    blob: str
    size: int
    content_type: str
    etag: str
    headers: dict[str, str] = field(default_factory=dict)
    #: content coding (`br`, `gzip`) -> the precompressed body; empty: none.
    encodings: dict[str, BlobRef] = field(default_factory=dict)

    @property
    def identity(self) -> BlobRef:
        """The uncompressed body."""
        return BlobRef(self.blob, self.size)

    def to_dict(self) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "blob": self.blob,
            "size": self.size,
            "content_type": self.content_type,
            "etag": self.etag,
            "headers": dict(self.headers),
        }
        if self.encodings:
            entry["encodings"] = {
                coding: ref.to_dict() for coding, ref in sorted(self.encodings.items())
            }
        return entry

    @classmethod
    def for_blob(
        cls,
        path: str,
        sha256: str,
        size: int,
        encodings: Mapping[str, BlobRef] | None = None,
    ) -> FileEntry:
        return cls(
            blob=sha256,
            size=size,
            content_type=content_type_for(path),
            etag=f'"{sha256}"',
            encodings=dict(encodings or {}),
        )


def _encodings(raw: object) -> dict[str, BlobRef]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise InvalidManifest(f"'encodings' must be an object, not {raw!r}")
    encodings = {}
    for coding, ref in raw.items():
        if not isinstance(coding, str) or not _CODING.match(coding) or coding == "identity":
            raise InvalidManifest(f"{coding!r} is not a content coding name")
        if not isinstance(ref, dict):
            raise InvalidManifest(f"the {coding} variant must be an object, not {ref!r}")
        encodings[coding] = BlobRef.from_dict(ref)
    return encodings


@dataclass(frozen=True)
class Manifest:
    deployment: str
    files: dict[str, FileEntry]
    created_at: float = 0.0
    version: int = MANIFEST_VERSION
    # Compiled once when the manifest is read, so it is cached together with it.
    routes: Routes | None = None

    def to_json(self) -> bytes:
        body = {
            "version": self.version,
            "deployment": self.deployment,
            "created_at": self.created_at,
            "files": {path: entry.to_dict() for path, entry in sorted(self.files.items())},
        }
        if self.routes:
            body["routes"] = self.routes.to_json()
        return json.dumps(body, separators=(",", ":"), sort_keys=True).encode()

    @property
    def total_bytes(self) -> int:
        return sum(entry.size for entry in self.files.values())

    @classmethod
    def from_json(cls, raw: bytes | str) -> Manifest:
        try:
            data = json.loads(raw)
            if data.get("version") != MANIFEST_VERSION:
                raise InvalidManifest(f"unsupported manifest version {data.get('version')!r}")
            files = {
                str(path): FileEntry(
                    blob=str(e["blob"]),
                    size=int(e["size"]),
                    content_type=str(e["content_type"]),
                    etag=str(e["etag"]),
                    headers=dict(e.get("headers") or {}),
                    encodings=_encodings(e.get("encodings")),
                )
                for path, e in data["files"].items()
            }
            raw_routes = data.get("routes")
            return cls(
                deployment=str(data["deployment"]),
                files=files,
                created_at=float(data.get("created_at", 0.0)),
                routes=Routes.from_json(raw_routes) if raw_routes else None,
            )
        except RoutingError as exc:
            raise InvalidManifest(f"the manifest's routes are invalid: {exc}") from exc
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            if isinstance(exc, InvalidManifest):
                raise
            raise InvalidManifest(f"malformed manifest: {exc}") from exc
