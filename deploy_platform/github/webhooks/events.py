"""GitHub webhook payloads, read into what the platform acts on.

Read in two steps, because the signature can only be checked with the secret
of a project building the payload's repository:
  1. `parse_payload` and `repository_urls` read just enough, leniently, to find
     those projects (`repository.clone_url`, `repository.html_url`);
  2. once a signature matched, `parse_event` checks the fields the event needs
     and refuses a payload that lacks them, naming the field (`WebhookPayloadError`).

Events acted upon (everything else is `OtherEvent`, answered and ignored):
  push           `ref`, `after`, `deleted`, `head_commit.message`
  pull_request   `action`, `number`, `pull_request.head.{sha,ref,repo.clone_url,repo.full_name}`,
                 `pull_request.base.repo.full_name`
  ping           sent once when the webhook is created
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from deploy_platform.contracts.errors import InvalidRequest
from deploy_platform.contracts.json_limits import MAX_JSON_DEPTH, JsonTooDeep, loads_bounded
from deploy_platform.contracts.json_types import json_type_name
from deploy_platform.source.refs import is_commit_sha

__all__ = [
    "PR_BUILD_ACTIONS",
    "PR_CLOSE_ACTIONS",
    "WebhookPayloadError",
    "Push",
    "PullRequest",
    "Ping",
    "OtherEvent",
    "Event",
    "parse_payload",
    "repository_urls",
    "parse_event",
]

#: Pull request actions that build a preview of the head commit.
PR_BUILD_ACTIONS = frozenset({"opened", "synchronize", "reopened"})
#: Pull request actions that take the preview down (merged or not).
PR_CLOSE_ACTIONS = frozenset({"closed"})


class WebhookPayloadError(InvalidRequest):
    """A payload the webhook cannot act on; `code` for the API, `field` the JSON path."""

    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message, field=field)
        self.code = code


@dataclass(frozen=True)
class Push:
    ref: str
    #: The pushed commit; None for a deletion (GitHub sends forty zeros then).
    after: str | None
    deleted: bool
    #: The head commit's message; None when the push has no head commit.
    message: str | None
    #: The head commit's author's name (`head_commit.author.name`), when the payload says.
    author: str | None = None

    @property
    def branch(self) -> str | None:
        """The branch pushed (`refs/heads/<branch>`), None for tags and other refs."""
        return self.ref.removeprefix("refs/heads/") if self.ref.startswith("refs/heads/") else None


@dataclass(frozen=True)
class PullRequest:
    action: str
    number: int
    head_sha: str = ""
    head_ref: str = ""
    #: The head repository; None when it is gone (a deleted fork).
    head_clone_url: str | None = None
    head_full_name: str | None = None
    base_full_name: str = ""

    @property
    def from_fork(self) -> bool:
        return self.head_full_name is None or (
            self.head_full_name.lower() != self.base_full_name.lower()
        )


@dataclass(frozen=True)
class Ping:
    zen: str | None = None


@dataclass(frozen=True)
class OtherEvent:
    name: str


Event = Push | PullRequest | Ping | OtherEvent


def parse_payload(body: bytes) -> dict[str, Any]:
    """The body as a JSON object; raises `WebhookPayloadError` (malformed_json)."""
    try:
        data = loads_bounded(body)
    except JsonTooDeep:
        raise WebhookPayloadError(
            "invalid_json", f"the body is JSON nested deeper than {MAX_JSON_DEPTH} levels"
        ) from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise WebhookPayloadError(
            "malformed_json",
            f"the body is not JSON ({exc}); set the webhook's content type to application/json",
        ) from None
    if not isinstance(data, dict):
        kind = json_type_name(data)
        # Dropped before raising: the traceback keeps this frame, and an unsigned
        # body's parse must not outlive the request's turn at parsing.
        del data
        raise WebhookPayloadError(
            "invalid_payload", f"the body must be a JSON object (a GitHub event), not {kind}"
        )
    return data


def repository_urls(payload: Mapping[str, Any]) -> tuple[str, ...]:
    """The repository's http(s) URLs named by the payload, to find its projects by."""
    repository = payload.get("repository")
    if not isinstance(repository, dict):
        return ()
    urls = (repository.get(name) for name in ("clone_url", "html_url"))
    return tuple(
        dict.fromkeys(
            url for url in urls if isinstance(url, str) and url.startswith(("https://", "http://"))
        )
    )


def parse_event(name: str, payload: Mapping[str, Any]) -> Event:
    """The event `name` (`X-GitHub-Event`) read from its payload; raises `WebhookPayloadError`."""
    if name == "push":
        return _push(payload)
    if name == "pull_request":
        return _pull_request(payload)
    if name == "ping":
        zen = payload.get("zen")
        return Ping(zen if isinstance(zen, str) else None)
    return OtherEvent(name)


def _missing(path: str, what: str) -> WebhookPayloadError:
    return WebhookPayloadError(
        "invalid_payload", f"the payload's {path} is missing or not {what}", field=path
    )


def _string(data: Mapping[str, Any], key: str, path: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise _missing(path, "a non-empty string")
    return value


def _object(data: Mapping[str, Any], key: str, path: str) -> Mapping[str, Any]:
    value = data.get(key)
    if not isinstance(value, dict):
        raise _missing(path, "an object")
    return value


def _sha(data: Mapping[str, Any], key: str, path: str) -> str:
    value = _string(data, key, path)
    if not is_commit_sha(value):
        raise WebhookPayloadError(
            "invalid_payload",
            f"the payload's {path} {value[:80]!r} is not a full commit SHA",
            field=path,
        )
    return value.lower()


def _push(payload: Mapping[str, Any]) -> Push:
    ref = _string(payload, "ref", "ref")
    deleted = payload.get("deleted", False)
    if not isinstance(deleted, bool):
        raise _missing("deleted", "true or false")
    head = payload.get("head_commit")
    if head is not None and not isinstance(head, dict):
        raise _missing("head_commit", "an object or null")
    message = head.get("message") if head is not None else None
    if message is not None and not isinstance(message, str):
        raise _missing("head_commit.message", "a string")
    after = None if deleted else _sha(payload, "after", "after")
    # Only shown in lists: a payload without it is still acted upon.
    author = head.get("author") if head is not None else None
    name = author.get("name") if isinstance(author, dict) else None
    return Push(
        ref=ref,
        after=after,
        deleted=deleted,
        message=message,
        author=name if isinstance(name, str) else None,
    )


def _pull_request(payload: Mapping[str, Any]) -> PullRequest:
    action = _string(payload, "action", "action")
    number = payload.get("number")
    if isinstance(number, bool) or not isinstance(number, int) or number < 1:
        raise _missing("number", "a pull request number")
    if action not in PR_BUILD_ACTIONS:
        return PullRequest(action=action, number=number)
    pull = _object(payload, "pull_request", "pull_request")
    head = _object(pull, "head", "pull_request.head")
    base_repo = _object(
        _object(pull, "base", "pull_request.base"), "repo", "pull_request.base.repo"
    )
    head_repo = head.get("repo")
    if head_repo is not None and not isinstance(head_repo, dict):
        raise _missing("pull_request.head.repo", "an object or null")
    return PullRequest(
        action=action,
        number=number,
        head_sha=_sha(head, "sha", "pull_request.head.sha"),
        head_ref=_string(head, "ref", "pull_request.head.ref"),
        head_clone_url=(
            _string(head_repo, "clone_url", "pull_request.head.repo.clone_url")
            if head_repo is not None
            else None
        ),
        head_full_name=(
            _string(head_repo, "full_name", "pull_request.head.repo.full_name")
            if head_repo is not None
            else None
        ),
        base_full_name=_string(base_repo, "full_name", "pull_request.base.repo.full_name"),
    )
