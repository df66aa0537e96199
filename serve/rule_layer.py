"""The deployment's header rules for one request, as one layer of `serve.headers.Overlay`.

Cloudflare Pages applies `_headers` to every answer below 500: files, 404 pages and
redirects. A rule sets a header (it replaces the platform's value of that name) or
removes one (`! Name`, a None value here); `serve.headers.apply_overlay` applies
the layer to each kind of answer.
"""

from __future__ import annotations

from deploy_platform.contracts.manifest import Manifest
from serve.paths import RequestPath
from serve.rules import rule_header_changes

__all__ = ["rule_layer"]


def rule_layer(
    manifest: Manifest, path: RequestPath, *, host: str = "", raw_path: str | None = None
) -> dict[str, str | None]:
    """What the header rules matching the request set (a value) and remove (None).

    Removals come first, so a rule that removes a header and a later one that sets it
    again leave it set, as Pages applies them.
    """
    changes = rule_header_changes(manifest, path, host=host, raw_path=raw_path)
    return {**dict.fromkeys(changes.unset), **changes.set}
