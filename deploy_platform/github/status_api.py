"""GitHub's commit status API: settings, which repositories it covers, one POST (dagster-free).

    POST {DP_GITHUB_API_URL}/repos/{owner}/{repo}/statuses/{sha}
    Authorization: Bearer {DP_GITHUB_TOKEN}
    Accept: application/vnd.github+json
    X-GitHub-Api-Version: 2022-11-28
    {"state": "pending|success|failure", "target_url": ..., "description": ..., "context": ...}

GitHub answers 201. The API base is `https://api.github.com` by default; GitHub
Enterprise Server's is `https://HOST/api/v3`. Statuses are posted only for
deployments whose repository URL is on that GitHub's web host: `github.com` for
`api.github.com` (an `api.` prefix is dropped, as for `api.<tenant>.ghe.com`),
else the API URL's own host name. The port is not compared: an Enterprise server
answers git and its API on the same host, and a repository elsewhere is simply
not GitHub's to mark. Without a token there are no statuses (`GitHubConfig.from_values`
returns None).

Errors (`StatusPostError`) say whether trying again can help: a connection
failure, a timeout, a 5xx, a 429 or a rate-limited 403 can; a 401 (bad token),
404 (no such repository, or the token cannot see it) or 422 (GitHub refused the
body) cannot. GitHub's own `message` is kept in the error. Every request has a
timeout (`timeout_seconds`, 10 s) and GitHub's required User-Agent.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from email.message import Message
from enum import StrEnum

__all__ = [
    "DEFAULT_API_URL",
    "DEFAULT_CONTEXT",
    "MAX_DESCRIPTION",
    "StatusState",
    "CommitStatus",
    "GitHubRepo",
    "GitHubConfig",
    "GitHubConfigError",
    "StatusPostError",
    "GitHubStatuses",
    "github_repo",
    "is_commit_sha",
]

DEFAULT_API_URL = "https://api.github.com"
DEFAULT_CONTEXT = "deploy-platform"
API_VERSION = "2022-11-28"
# A longer description gets 422 "description is too long (maximum is 140 characters)".
MAX_DESCRIPTION = 140
_TIMEOUT_SECONDS = 10.0
_USER_AGENT = "deploy-platform"
# GitHub's owner and repository names: letters, digits, '-', '_' and '.'.
_NAME_RE = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")
_SHA_RE = re.compile(r"^(?:[0-9a-f]{40}|[0-9a-f]{64})$")
_MAX_RETRY_AFTER = 600.0


class StatusState(StrEnum):
    PENDING = "pending"
    SUCCESS = "success"
    FAILURE = "failure"


@dataclass(frozen=True)
class CommitStatus:
    """One status as GitHub stores it, per commit and context."""

    state: StatusState
    description: str
    context: str
    target_url: str | None = None

    def body(self) -> dict[str, str]:
        body = {"state": self.state.value, "description": self.description, "context": self.context}
        if self.target_url:
            body["target_url"] = self.target_url
        return body


@dataclass(frozen=True)
class GitHubRepo:
    owner: str
    name: str

    def __str__(self) -> str:
        return f"{self.owner}/{self.name}"


class GitHubConfigError(ValueError):
    """A DP_GITHUB_* setting cannot work; the message names it and says what to set."""


@dataclass(frozen=True)
class GitHubConfig:
    api_url: str
    token: str
    context: str = DEFAULT_CONTEXT
    timeout_seconds: float = _TIMEOUT_SECONDS

    @classmethod
    def from_values(
        cls, api_url: str, token: str, context: str = "", timeout_seconds: float = _TIMEOUT_SECONDS
    ) -> GitHubConfig | None:
        """From DP_GITHUB_API_URL, _TOKEN, _STATUS_CONTEXT; None without a token."""
        token = token.strip()
        url = (api_url.strip() or DEFAULT_API_URL).rstrip("/")
        parsed = urllib.parse.urlsplit(url)
        if (
            parsed.scheme not in ("http", "https")
            or not parsed.hostname
            or parsed.query
            or parsed.fragment
            or parsed.username is not None
        ):
            raise GitHubConfigError(
                f"DP_GITHUB_API_URL {api_url!r} is not an http(s) URL without credentials "
                f"(default {DEFAULT_API_URL}; GitHub Enterprise Server: https://HOST/api/v3)"
            )
        context = context.strip() or DEFAULT_CONTEXT
        if len(context) > 100 or any(ord(c) < 32 for c in context):
            raise GitHubConfigError(
                f"DP_GITHUB_STATUS_CONTEXT {context[:40]!r} must be one line of at most 100 "
                f"characters (default {DEFAULT_CONTEXT!r})"
            )
        if not token:
            return None
        return cls(api_url=url, token=token, context=context, timeout_seconds=timeout_seconds)

    @property
    def web_host(self) -> str:
        """The host name whose repositories this GitHub holds (see the module docstring)."""
        host = (urllib.parse.urlsplit(self.api_url).hostname or "").lower()
        return host.removeprefix("api.") if host.count(".") >= 2 else host

    def __repr__(self) -> str:  # never print the token
        return (
            f"GitHubConfig(api_url={self.api_url!r}, context={self.context!r}, "
            f"timeout_seconds={self.timeout_seconds!r}, token='***')"
        )


def github_repo(repo_url: str | None, web_host: str) -> GitHubRepo | None:
    """owner/name of an http(s) repository URL on `web_host` (or www.), else None.

    `https://github.com/acme/site`, `…/acme/site.git` and `…/acme/site/` all give
    acme/site; any other shape (a deeper path, a query) is not a GitHub repository URL.
    """
    if not repo_url:
        return None
    try:
        parts = urllib.parse.urlsplit(repo_url)
        host = (parts.hostname or "").lower()
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or host not in (web_host, f"www.{web_host}"):
        return None
    if parts.query or parts.fragment:
        return None
    segments = parts.path.strip("/").split("/")
    if len(segments) != 2:
        return None
    owner, name = segments[0], segments[1].removesuffix(".git")
    if not (_NAME_RE.match(owner) and _NAME_RE.match(name)) or name in (".", ".."):
        return None
    return GitHubRepo(owner, name)


def is_commit_sha(value: str | None) -> bool:
    return value is not None and _SHA_RE.match(value) is not None


class StatusPostError(Exception):
    """GitHub did not store a status; `retryable` says whether trying again can help."""

    def __init__(self, message: str, *, retryable: bool, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after


class GitHubStatuses:
    """Posts commit statuses through the REST API (stdlib HTTP, sync, one timeout per call)."""

    def __init__(self, config: GitHubConfig) -> None:
        self.config = config

    def url(self, repo: GitHubRepo, sha: str) -> str:
        quote = urllib.parse.quote
        return (
            f"{self.config.api_url}/repos/{quote(repo.owner, safe='')}/"
            f"{quote(repo.name, safe='')}/statuses/{sha}"
        )

    def post(self, repo: GitHubRepo, sha: str, status: CommitStatus) -> None:
        """Store `status` on the commit, or raise StatusPostError."""
        request = urllib.request.Request(
            self.url(repo, sha),
            data=json.dumps(status.body()).encode(),
            method="POST",
            headers={
                "Authorization": f"Bearer {self.config.token}",
                "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": API_VERSION,
                "Content-Type": "application/json",
                # GitHub refuses API requests without a User-Agent.
                "User-Agent": _USER_AGENT,
            },
        )
        where = f"{status.state.value} on {repo}@{sha[:12]}"
        try:
            with urllib.request.urlopen(request, timeout=self.config.timeout_seconds) as response:
                response.read()
                return
        except urllib.error.HTTPError as exc:
            raise _http_error(where, exc.code, exc.headers, exc.read()) from None
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
            raise StatusPostError(
                f"{where}: {self.config.api_url} unreachable: {reason}", retryable=True
            ) from None


def _http_error(where: str, code: int, headers: Message, raw: bytes) -> StatusPostError:
    try:
        answer = json.loads(raw)
        message = str(answer.get("message")) if isinstance(answer, dict) else ""
    except ValueError:
        message = ""
    message = message or raw[:200].decode("utf-8", "replace").strip() or "(empty answer)"
    retry_after = _retry_after(headers)
    rate_limited = code == 429 or (
        code == 403 and (headers.get("x-ratelimit-remaining") == "0" or retry_after is not None)
    )
    retryable = code >= 500 or rate_limited
    hint = {
        401: " (check DP_GITHUB_TOKEN)",
        403: "" if rate_limited else " (the token needs the repository's commit statuses: write)",
        404: " (no such repository or commit, or DP_GITHUB_TOKEN cannot see it)",
    }.get(code, "")
    return StatusPostError(
        f"{where}: HTTP {code}: {message}{hint}", retryable=retryable, retry_after=retry_after
    )


def _retry_after(headers: Message) -> float | None:
    value = headers.get("retry-after")
    try:
        return min(max(float(value), 0.0), _MAX_RETRY_AFTER) if value else None
    except ValueError:
        return None
