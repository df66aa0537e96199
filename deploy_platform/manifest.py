"""The deployment manifest: `deployments/<id>/manifest.json`.

It maps every URL path of a deployment to its content-addressed body:
  {"version": 1, "deployment": "<id>", "created_at": 1700000000.0,
   "files": {"/index.html": {"blob": "<sha256>", "size": 123,
             "content_type": "text/html; charset=utf-8",
             "etag": "\"<sha256>\"", "headers": {}}},
   "routes": {"redirects": [...], "headers": [...]}}
`routes` (redirects, rewrites and header rules, see `deploy_platform.routing`) is
optional: absent means no rules, and manifests without rules are unchanged.
It is written last when publishing, so a deployment without one does not exist.
The edge-origin (`serve/`) and the Worker read this format; keep them in step.
"""

from __future__ import annotations

import json
import mimetypes
from dataclasses import dataclass, field
from typing import Any

from deploy_platform.routing import Routes, RoutingError

__all__ = [
    "MANIFEST_VERSION",
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


class InvalidManifest(ValueError):
    """A manifest that does not follow the format above."""


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
    ctype = _EXTRA_TYPES.get(ext) or mimetypes.guess_type(lower)[0] or "application/octet-stream"
    if ctype.startswith("text/") or ctype in _TEXT_TYPES:
        ctype += "; charset=utf-8"
    return ctype


@dataclass(frozen=True)
class FileEntry:
    blob: str
    size: int
    content_type: str
    etag: str
    headers: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "blob": self.blob,
            "size": self.size,
            "content_type": self.content_type,
            "etag": self.etag,
            "headers": dict(self.headers),
        }

    @classmethod
    def for_blob(cls, path: str, sha256: str, size: int) -> FileEntry:
        return cls(blob=sha256, size=size, content_type=content_type_for(path), etag=f'"{sha256}"')


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
