"""Test deployments, published through the real publishing code (`deploy_platform.publish`).

  write_deployment(store, "abcdefghij23", {"/index.html": b"<h1>hi</h1>"}) -> Manifest
  point_alias(store, state, "docs", "abcdefghij23")  -> the previous deployment id

Bodies land content-addressed at `blobs/<sha256>` and the manifest is written
last, exactly as a real deployment; aliases move pointer first, then Redis.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from pathlib import Path, PurePosixPath

from deploy_platform import publish
from deploy_platform.manifest import Manifest
from deploy_platform.state import PlatformState
from deploy_platform.storage import ObjectStore

__all__ = ["write_deployment", "point_alias"]


def write_deployment(
    store: ObjectStore, deployment_id: str, files: Mapping[str, bytes]
) -> Manifest:
    """Publish `files` (URL path such as `/docs/index.html` -> body) as the deployment."""
    with tempfile.TemporaryDirectory(prefix="dp-test-site-") as tmp:
        root = Path(tmp)
        for url_path, body in files.items():
            relative = PurePosixPath(url_path.lstrip("/"))
            if not relative.parts or any(part in ("", ".", "..") for part in relative.parts):
                raise ValueError(f"{url_path!r} is not a file path inside the site")
            target = root.joinpath(*relative.parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(body)
        return publish.publish_directory(store, deployment_id, root).manifest


def point_alias(
    store: ObjectStore, state: PlatformState, alias: str, deployment_id: str
) -> str | None:
    """Point `alias` at the deployment the way publishing does (pointer, then Redis)."""
    return publish.point_alias(store, state, alias, deployment_id)
