"""GitHub webhook deliveries built by the tests, signed as GitHub signs them.

The signature is computed here with `hmac` directly, not with the code under
test, so a bug in `deploy_platform.github.webhooks.signature` cannot sign its own way
through. Payloads carry the fields GitHub documents for each event (trimmed to
what a receiver reads, plus a few it must ignore).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from dataclasses import dataclass
from typing import Any

__all__ = [
    "Delivery",
    "ZERO_SHA",
    "delivery",
    "github_signature",
    "ping_payload",
    "pull_request_payload",
    "push_payload",
    "repository",
]

ZERO_SHA = "0" * 40


def github_signature(secret: str, body: bytes) -> str:
    """`X-Hub-Signature-256` as GitHub computes it."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Delivery:
    body: bytes
    headers: dict[str, str]

    @property
    def id(self) -> str:
        return self.headers["X-GitHub-Delivery"]

    def with_headers(self, **changes: str | None) -> Delivery:
        """The same delivery with headers changed (`X_GitHub_Event="..."`) or dropped (None)."""
        headers = dict(self.headers)
        for name, value in changes.items():
            header = name.replace("_", "-")
            if value is None:
                headers.pop(header, None)
            else:
                headers[header] = value
        return Delivery(self.body, headers)

    def with_body(self, body: bytes) -> Delivery:
        """Another body under the same headers (and so the old signature)."""
        return Delivery(body, dict(self.headers))


def delivery(
    secret: str,
    event: str,
    payload: Any,
    *,
    delivery_id: str | None = None,
    raw: bytes | None = None,
) -> Delivery:
    """A delivery of `payload` (or the bytes `raw`) signed with `secret`."""
    body = raw if raw is not None else json.dumps(payload).encode()
    return Delivery(
        body,
        {
            "Content-Type": "application/json",
            "User-Agent": "GitHub-Hookshot/test",
            "X-GitHub-Event": event,
            "X-GitHub-Delivery": delivery_id or str(uuid.uuid4()),
            "X-GitHub-Hook-ID": "1",
            "X-Hub-Signature-256": github_signature(secret, body),
        },
    )


def repository(clone_url: str) -> dict[str, Any]:
    """The `repository` object of a payload, from the repository's clone URL."""
    html_url = clone_url.removesuffix(".git")
    full_name = "/".join(html_url.rsplit("/", 2)[-2:])
    return {
        "id": 1,
        "name": full_name.split("/")[-1],
        "full_name": full_name,
        "private": False,
        "html_url": html_url,
        "clone_url": clone_url,
        "ssh_url": f"git@example.invalid:{full_name}.git",
        "default_branch": "main",
    }


def push_payload(
    clone_url: str,
    branch: str,
    after: str,
    *,
    message: str = "change",
    deleted: bool = False,
    ref: str | None = None,
) -> dict[str, Any]:
    """A `push` event; `deleted=True` is a branch deletion (`after` all zeros, no head commit)."""
    author = {"name": "Some One", "email": "someone@example.invalid", "username": "someone"}
    head = (
        None if deleted else {"id": after, "message": message, "author": author, "distinct": True}
    )
    return {
        "ref": ref or f"refs/heads/{branch}",
        "before": "1" * 40,
        "after": ZERO_SHA if deleted else after,
        "created": False,
        "deleted": deleted,
        "forced": False,
        "base_ref": None,
        "compare": f"{clone_url.removesuffix('.git')}/compare",
        "commits": [] if head is None else [head],
        "head_commit": head,
        "repository": repository(clone_url),
        "pusher": {"name": "someone", "email": "someone@example.invalid"},
        "sender": {"login": "someone"},
    }


def pull_request_payload(
    base_clone_url: str,
    number: int,
    action: str,
    head_sha: str,
    head_ref: str,
    *,
    head_clone_url: str | None = None,
    head_repo_gone: bool = False,
) -> dict[str, Any]:
    """A `pull_request` event; `head_clone_url` another repository's makes it a fork's."""
    base = repository(base_clone_url)
    head_repo = None if head_repo_gone else repository(head_clone_url or base_clone_url)
    return {
        "action": action,
        "number": number,
        "pull_request": {
            "number": number,
            "state": "closed" if action == "closed" else "open",
            "title": "A change",
            "head": {"ref": head_ref, "sha": head_sha, "repo": head_repo},
            "base": {"ref": "main", "sha": "2" * 40, "repo": base},
            "merged": False,
        },
        "repository": base,
        "sender": {"login": "someone"},
    }


def ping_payload(clone_url: str) -> dict[str, Any]:
    return {
        "zen": "Design for failure.",
        "hook_id": 1,
        "hook": {"type": "Repository", "events": ["push", "pull_request"]},
        "repository": repository(clone_url),
        "sender": {"login": "someone"},
    }
