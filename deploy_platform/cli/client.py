"""A small blocking client for the control API (used by the `deploy-platform` command).

Standard library only (urllib), so the command starts fast. Two failures a
caller tells apart: `ApiUnreachable` (nothing answered: is the platform
running?) and `ApiRefused` (the API answered with a JSON error).
"""

from __future__ import annotations

import http.client
import json
import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deploy_platform.settings.registry import default_state_dir

__all__ = [
    "DEFAULT_API_URL",
    "ApiClient",
    "ApiError",
    "ApiRefused",
    "ApiUnreachable",
    "resolve_api_url",
    "resolve_token",
]

DEFAULT_API_URL = "http://127.0.0.1:8000"


class ApiError(Exception):
    """The control API could not do what was asked."""


class ApiUnreachable(ApiError):
    """Nothing answered at the API URL, or the connection broke."""


class ApiRefused(ApiError):
    """The API answered with an error: `status`, `code`, `message`, `field`."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field


def resolve_api_url(explicit: str | None, env: Mapping[str, str] | None = None) -> str:
    env = os.environ if env is None else env
    return (explicit or env.get("DP_API_URL") or DEFAULT_API_URL).rstrip("/")


def resolve_token(env: Mapping[str, str] | None = None) -> str:
    """DP_API_TOKEN, else the token `deploy-platform up` wrote into the state directory."""
    env = os.environ if env is None else env
    if env.get("DP_API_TOKEN"):
        return env["DP_API_TOKEN"].strip()
    path = Path(env.get("DP_STATE_DIR") or default_state_dir()) / "api-token"
    try:
        return path.read_text().strip()
    except OSError:
        return ""


def _refusal(status: int, raw: bytes) -> ApiRefused:
    try:
        error = json.loads(raw)["error"]
        return ApiRefused(
            status, str(error.get("code", "error")), str(error["message"]), error.get("field")
        )
    except (ValueError, KeyError, TypeError):
        text = raw.decode("utf-8", "replace").strip()[:300] or http.client.responses.get(status, "")
        return ApiRefused(status, "http_error", f"HTTP {status}: {text}")


@dataclass(frozen=True)
class ApiClient:
    base_url: str
    token: str = ""
    timeout: float = 120.0

    def _call(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, str] | None = None,
        body: bytes | None = None,
        body_file: Path | None = None,
        content_type: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        url = self.base_url + path
        if query:
            url += "?" + urllib.parse.urlencode(query)
        request = urllib.request.Request(url, method=method)
        request.add_header("Accept", "application/json")
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        if content_type:
            request.add_header("Content-Type", content_type)
        for name, value in (headers or {}).items():
            request.add_header(name, value)
        try:
            if body_file is not None:
                with open(body_file, "rb") as handle:
                    request.add_header("Content-Length", str(body_file.stat().st_size))
                    request.data = handle
                    return self._send(request)
            request.data = body
            return self._send(request)
        except urllib.error.HTTPError as exc:
            raise _refusal(exc.code, exc.read()) from None
        except (BrokenPipeError, ConnectionResetError) as exc:
            hint = (
                " (the upload may be larger than the server's DP_MAX_UPLOAD_BYTES)"
                if body_file is not None
                else ""
            )
            raise ApiUnreachable(
                f"the API at {self.base_url} closed the connection{hint}: {exc}"
            ) from None
        except urllib.error.URLError as exc:
            raise ApiUnreachable(f"cannot reach the API at {self.base_url}: {exc.reason}") from None
        except (OSError, http.client.HTTPException) as exc:
            raise ApiUnreachable(f"cannot talk to the API at {self.base_url}: {exc}") from None

    def _call_json(self, method: str, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """A request whose body is `body` as JSON."""
        return self._call(
            method, path, body=json.dumps(dict(body)).encode(), content_type="application/json"
        )

    def _send(self, request: urllib.request.Request) -> dict[str, Any]:
        with urllib.request.urlopen(request, timeout=self.timeout) as response:
            raw = response.read()
        try:
            answer = json.loads(raw)
        except ValueError:
            raise ApiUnreachable(
                f"{self.base_url} answered with something that is not JSON; "
                "is it the deploy-platform API?"
            ) from None
        if not isinstance(answer, dict):
            raise ApiUnreachable(f"{self.base_url} answered with unexpected JSON")
        return answer

    def deploy_git(
        self,
        repo_url: str,
        project: str,
        ref: str | None = None,
        build: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """`build`: the API's build settings object (see `build.settings.BuildSettings`)."""
        body: dict[str, Any] = {"repo_url": repo_url, "project": project}
        if ref is not None:
            body["ref"] = ref
        if build:
            body["build"] = dict(build)
        return self._call_json("POST", "/api/deployments", body)

    def deploy_archive(
        self,
        archive: Path,
        project: str,
        ref: str | None = None,
        build: Mapping[str, Any] | None = None,
        commit: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """`build` travels in the X-Build-Settings header (never the query: it may hold
        secrets, and query strings end up in access logs); `clean` as `?clean=1`.
        `commit`: the directory's git HEAD (`commit`, `commit_message`, `commit_author`)."""
        query = {"project": project, **(commit or {})}
        if ref is not None:
            query["ref"] = ref
        settings = dict(build or {})
        if settings.pop("clean", False):
            query["clean"] = "1"
        headers = {"X-Build-Settings": json.dumps(settings)} if settings else None
        return self._call(
            "POST",
            "/api/deployments",
            query=query,
            body_file=archive,
            content_type="application/gzip",
            headers=headers,
        )

    def deployment(self, deployment_id: str) -> dict[str, Any]:
        return self._call("GET", f"/api/deployments/{urllib.parse.quote(deployment_id)}")

    def deployments(
        self, project: str | None = None, limit: int | None = None, cursor: str | None = None
    ) -> dict[str, Any]:
        """One page of `GET /api/deployments`, newest first (`next_cursor` for the next).

        With `project` and `limit=1` it is also the cheapest call the token is checked
        on: `deploy` makes it before packing a directory."""
        values = {
            "project": project,
            "limit": None if limit is None else str(limit),
            "cursor": cursor,
        }
        query = {name: value for name, value in values.items() if value is not None}
        return self._call("GET", "/api/deployments", query=query or None)

    def logs(
        self,
        deployment_id: str,
        *,
        offset: int = 0,
        stream: str = "stdout",
        limit: int | None = None,
        tail: int | None = None,
    ) -> dict[str, Any]:
        """One piece of the build log (`GET /api/deployments/<id>/logs`): `text` from
        `offset`, `next_offset`, `more`, `finished`, and the run's id, status and URL."""
        query = {"offset": str(offset), "stream": stream}
        if limit is not None:
            query["limit"] = str(limit)
        if tail is not None:
            query = {"tail": str(tail), "stream": stream}
        quoted = urllib.parse.quote(deployment_id, safe="")
        return self._call("GET", f"/api/deployments/{quoted}/logs", query=query)

    def add_domain(self, hostname: str, project: str) -> dict[str, Any]:
        return self._call_json("POST", "/api/domains", {"hostname": hostname, "project": project})

    def domains(self, project: str | None = None) -> dict[str, Any]:
        query = {"project": project} if project is not None else None
        return self._call("GET", "/api/domains", query=query)

    def remove_domain(self, hostname: str) -> dict[str, Any]:
        return self._call("DELETE", f"/api/domains/{urllib.parse.quote(hostname, safe='')}")

    def create_project(self, settings: Mapping[str, Any]) -> dict[str, Any]:
        """`settings`: the API's project object (`name` required); the answer holds the
        webhook secret, shown this once."""
        return self._call_json("POST", "/api/projects", settings)

    def project(self, name: str) -> dict[str, Any]:
        return self._call("GET", f"/api/projects/{urllib.parse.quote(name, safe='')}")

    def projects(self) -> dict[str, Any]:
        return self._call("GET", "/api/projects")

    def update_project(self, name: str, changes: Mapping[str, Any]) -> dict[str, Any]:
        quoted = urllib.parse.quote(name, safe="")
        return self._call_json("PATCH", f"/api/projects/{quoted}", changes)

    def delete_project(self, name: str) -> dict[str, Any]:
        return self._call("DELETE", f"/api/projects/{urllib.parse.quote(name, safe='')}")

    def rotate_webhook_secret(self, name: str) -> dict[str, Any]:
        quoted = urllib.parse.quote(name, safe="")
        return self._call("POST", f"/api/projects/{quoted}/webhook-secret")

    def rollback(
        self, project: str, deployment: str | None = None, actor: str | None = None
    ) -> dict[str, Any]:
        """Production back to `deployment`, or (None) to the one before the live one."""
        body = {
            name: value
            for name, value in (("deployment", deployment), ("actor", actor))
            if value is not None
        }
        quoted = urllib.parse.quote(project, safe="")
        return self._call_json("POST", f"/api/projects/{quoted}/rollback", body)

    def promote(self, deployment_id: str, actor: str | None = None) -> dict[str, Any]:
        body = {"actor": actor} if actor is not None else {}
        quoted = urllib.parse.quote(deployment_id, safe="")
        return self._call_json("POST", f"/api/deployments/{quoted}/promote", body)

    def aliases(self, project: str, limit: int | None = None) -> dict[str, Any]:
        """The project's aliases and its alias move log, newest move first."""
        query = {"limit": str(limit)} if limit is not None else None
        quoted = urllib.parse.quote(project, safe="")
        return self._call("GET", f"/api/projects/{quoted}/aliases", query=query)

    def history(
        self,
        *,
        project: str | None = None,
        branch: str | None = None,
        since: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> dict[str, Any]:
        """One page of `GET /api/history` (newest first; `next_cursor` for the next)."""
        values = {
            "project": project,
            "branch": branch,
            "since": since,
            "limit": None if limit is None else str(limit),
            "cursor": cursor,
        }
        query = {name: value for name, value in values.items() if value is not None}
        return self._call("GET", "/api/history", query=query)

    def health(self) -> dict[str, Any]:
        return self._call("GET", "/api/health")
