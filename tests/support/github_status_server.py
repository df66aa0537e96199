"""A loopback stand-in for GitHub's commit status API (aiohttp, own thread).

It answers `POST {prefix}/repos/<owner>/<repo>/statuses/<sha>` the way GitHub
documents: 201 with the stored status, or GitHub's error shape
`{"message": ..., "documentation_url": ...}`. It is strict where GitHub is, so a
request the real API would refuse fails here too: 401 without
`Authorization: Bearer <TOKEN>`, 422 for a body GitHub would not take (unknown
state, a description over 140 characters, a non-string context or target_url,
unknown fields) or a sha that is not 40 hex digits. It also refuses (400) a
request without the documented `Accept: application/vnd.github+json`,
`X-GitHub-Api-Version: 2022-11-28`, a JSON content type or a User-Agent, which
GitHub would merely tolerate or reject less clearly.

Every request is recorded (method, path, headers, body) for the test to check,
and the statuses it stored are kept per commit in the order they arrived.
`fail_next` makes the next requests answer with the given HTTP codes (an outage),
and `hold()` keeps requests waiting until the test lets them go (to interleave
writers). `prefix` is "" for github.com's API and "/api/v3" for GitHub Enterprise
Server.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from multidict import CIMultiDict

__all__ = [
    "GitHubRequest",
    "FakeGitHub",
    "github_api",
    "github_enterprise",
    "TOKEN",
    "serve_fake_github",
]

TOKEN = "ghp-test-token-not-a-secret"
_SHA_RE = re.compile(r"^[0-9a-f]{40}$")
_STATES = {"error", "failure", "pending", "success"}
_DOCS = "https://docs.github.com/rest/commits/statuses#create-a-commit-status"


@dataclass(frozen=True)
class GitHubRequest:
    method: str
    path: str
    headers: CIMultiDict[str]  # case-insensitive, as HTTP headers are
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class FakeGitHub:
    prefix: str = ""
    url: str = ""
    requests: list[GitHubRequest] = field(default_factory=list)
    # (owner, repo, sha) -> the statuses GitHub stored, oldest first.
    statuses: dict[tuple[str, str, str], list[dict[str, Any]]] = field(default_factory=dict)
    fail_next: list[int] = field(default_factory=list)
    _gate: threading.Event | None = None
    _arrived: threading.Semaphore = field(default_factory=lambda: threading.Semaphore(0))
    _stored: threading.Condition = field(default_factory=threading.Condition)

    def wait_for_statuses(self, count: int, timeout: float = 30) -> None:
        """Block until GitHub stored `count` statuses in all (a background post landed)."""
        with self._stored:
            done = self._stored.wait_for(
                lambda: sum(map(len, self.statuses.values())) >= count, timeout
            )
        assert done, f"GitHub stored {sum(map(len, self.statuses.values()))} of {count} statuses"

    def latest(self, owner: str, repo: str, sha: str) -> dict[str, dict[str, Any]]:
        """What GitHub shows on the commit: the newest status per context."""
        shown: dict[str, dict[str, Any]] = {}
        for status in self.statuses.get((owner, repo, sha), []):
            shown[status["context"]] = status
        return shown

    @contextmanager
    def hold(self) -> Iterator[threading.Semaphore]:
        """Requests wait inside the server until the block ends; acquire() = one arrived."""
        self._gate = threading.Event()
        try:
            yield self._arrived
        finally:
            self._gate.set()
            self._gate = None

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.requests.append(
            GitHubRequest(request.method, request.path, CIMultiDict(request.headers), body)
        )
        gate = self._gate
        if gate is not None:
            self._arrived.release()
            await asyncio.get_running_loop().run_in_executor(None, gate.wait, 30)
        if self.fail_next:
            code = self.fail_next.pop(0)
            return _error(code, "Server Error" if code >= 500 else "failing as told")
        problem = _header_problem(request)
        if problem is not None:
            return _error(*problem)
        info = request.match_info
        if not _SHA_RE.match(info["sha"]):
            return _error(422, "No commit found for SHA: " + info["sha"])
        try:
            data = json.loads(body)
        except ValueError:
            return _error(400, "Problems parsing JSON")
        problem = _body_problem(data)
        if problem is not None:
            return _error(422, f"Validation Failed: {problem}")
        stored = {"context": "default", **data, "id": len(self.requests)}
        with self._stored:
            self.statuses.setdefault((info["owner"], info["repo"], info["sha"]), []).append(stored)
            self._stored.notify_all()
        return web.json_response(stored, status=201)


def _header_problem(request: web.Request) -> tuple[int, str] | None:
    if request.headers.get("Authorization") != f"Bearer {TOKEN}":
        return 401, "Bad credentials"
    if request.headers.get("Accept") != "application/vnd.github+json":
        return 400, f"Accept {request.headers.get('Accept')!r} is not the documented one"
    if request.headers.get("X-GitHub-Api-Version") != "2022-11-28":
        return 400, "X-GitHub-Api-Version must be 2022-11-28"
    if request.content_type != "application/json":
        return 400, f"Content-Type {request.content_type!r} is not JSON"
    if not request.headers.get("User-Agent"):
        return 403, "Request forbidden by administrative rules: a User-Agent is required"
    return None


def _body_problem(data: Any) -> str | None:
    if not isinstance(data, dict):
        return "the body is not an object"
    unknown = set(data) - {"state", "target_url", "description", "context"}
    if unknown:
        return f"unknown fields {sorted(unknown)}"
    if data.get("state") not in _STATES:
        return f"state {data.get('state')!r} is not one of {sorted(_STATES)}"
    for name in ("target_url", "description", "context"):
        if name in data and not isinstance(data[name], str):
            return f"{name} must be a string"
    if len(data.get("description", "")) > 140:
        return "description is too long (maximum is 140 characters)"
    return None


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"message": message, "documentation_url": _DOCS}, status=status)


@contextmanager
def serve_fake_github(prefix: str = "") -> Iterator[FakeGitHub]:
    """The stand-in on a free loopback port; `.url` is its DP_GITHUB_API_URL."""
    fake = FakeGitHub(prefix=prefix)
    app = web.Application()
    app.router.add_route("*", prefix + "/repos/{owner}/{repo}/statuses/{sha}", fake.handle)
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(app, access_log=None)
    loop.run_until_complete(runner.setup())
    site = web.TCPSite(runner, "127.0.0.1", 0)
    loop.run_until_complete(site.start())
    fake.url = f"http://127.0.0.1:{runner.addresses[0][1]}{prefix}"
    thread = threading.Thread(target=loop.run_forever, name="fake-github", daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        if fake._gate is not None:
            fake._gate.set()
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()


@pytest.fixture
def github_api() -> Iterator[FakeGitHub]:
    """github.com's API shape: statuses at /repos/..., `.url` = DP_GITHUB_API_URL."""
    with serve_fake_github("") as fake:
        yield fake


@pytest.fixture
def github_enterprise() -> Iterator[FakeGitHub]:
    """GitHub Enterprise Server's shape: the API under /api/v3 on the server's host."""
    with serve_fake_github("/api/v3") as fake:
        yield fake
