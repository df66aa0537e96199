"""Strict checks of what a client sends, before anything is stored or queued.

Each check raises `ApiError` with a stable code and the field at fault, so a
client learns exactly what to fix. The checks here are pure (no network, no
Redis); the repository URL and the ref's existence are checked by the handler. Ref syntax
(`git check-ref-format` rules) is `source.refs.validate_ref`, the same check git
calls get.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from deploy_platform.api.errors import ApiError
from deploy_platform.build.settings import BuildSettings
from deploy_platform.contracts.errors import InvalidRequest
from deploy_platform.contracts.json_limits import MAX_JSON_DEPTH, JsonTooDeep, loads_bounded
from deploy_platform.contracts.json_types import json_type_name
from deploy_platform.contracts.names import InvalidName, validate_project_name
from deploy_platform.contracts.records import commit_subject
from deploy_platform.publish.alias_moves import check_actor
from deploy_platform.source.refs import is_commit_sha, validate_ref

__all__ = [
    "BUILD_HEADER",
    "GitDeployRequest",
    "UploadDeployRequest",
    "parse_json_object",
    "too_deep",
    "parse_git_request",
    "parse_upload_query",
    "parse_build",
    "parse_build_header",
    "check_project",
    "branch_name",
    "MoveRequest",
    "parse_move_request",
]

_GIT_FIELDS = {"repo_url": True, "ref": False, "project": True, "build": False, "clean": False}
_UPLOAD_FIELDS = {  # name -> required
    "project": True,
    "ref": False,
    "clean": False,
    # The uploaded directory's git HEAD, when it is a repository (the CLI sends them).
    "commit": False,
    "commit_message": False,
    "commit_author": False,
}
# Checked by their own parsers below, not as strings.
_NOT_STRINGS = frozenset({"build", "clean"})
# Uploads carry build settings in this header (a JSON object like the git body's
# "build"), not in the query: query strings end up in access logs, and build
# variables may be secrets.
BUILD_HEADER = "X-Build-Settings"
_FLAG_VALUES = {"1": True, "true": True, "yes": True, "0": False, "false": False, "no": False}


@dataclass(frozen=True)
class GitDeployRequest:
    repo_url: object  # checked by repo_url.validate_repo_url (it resolves DNS)
    ref: str
    project: str
    build: BuildSettings = field(default_factory=BuildSettings)


@dataclass(frozen=True)
class MoveRequest:
    """A rollback's or promote's optional body: the deployment, and who asks."""

    deployment: str | None = None
    actor: str = "api"


@dataclass(frozen=True)
class UploadDeployRequest:
    ref: str
    project: str
    build: BuildSettings = field(default_factory=BuildSettings)
    commit: str | None = None
    commit_message: str | None = None
    commit_author: str | None = None


def too_deep(what: str, field: str | None = None) -> ApiError:
    """400 for JSON nested past `MAX_JSON_DEPTH` (parsing it could exhaust the stack)."""
    return ApiError(
        400,
        "invalid_json",
        f"{what} is JSON nested deeper than {MAX_JSON_DEPTH} levels; the platform's "
        "documents need a handful",
        field=field,
    )


def parse_json_object(body: bytes, shape: str = "with repo_url, ref and project") -> dict[str, Any]:
    """The body as a JSON object; `shape` completes "the body must be a JSON object ..."."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ApiError(
            400, "malformed_json", f"the body is not UTF-8 text (byte {exc.start})"
        ) from None
    if not text.strip():
        raise ApiError(
            400,
            "malformed_json",
            'the body is empty; send a JSON object like {"repo_url": "...", "project": "..."}',
        )
    try:
        data = loads_bounded(text)
    except JsonTooDeep:
        raise too_deep("the body") from None
    except json.JSONDecodeError as exc:
        raise ApiError(
            400,
            "malformed_json",
            f"the body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
        ) from None
    if not isinstance(data, dict):
        raise ApiError(
            400,
            "invalid_body",
            f"the body must be a JSON object {shape}, not {json_type_name(data)}",
        )
    return data


def _check_fields(data: Mapping[str, object], allowed: Mapping[str, bool], where: str) -> None:
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        names = ", ".join(repr(name) for name in unknown)
        raise ApiError(
            400,
            "unknown_field",
            f"unknown {where} {names}; allowed: {', '.join(allowed)}",
            field=unknown[0],
        )
    for name, required in allowed.items():
        if required and name not in data:
            raise ApiError(400, "missing_field", f"missing {where} {name!r}", field=name)
    for name, value in data.items():
        if name not in _NOT_STRINGS and not isinstance(value, str):
            raise ApiError(
                400,
                "invalid_type",
                f"{name} must be a string, not {json_type_name(value)}",
                field=name,
            )


def check_project(value: str) -> str:
    try:
        return validate_project_name(value)
    except InvalidName as exc:
        raise ApiError(400, "invalid_project", str(exc), field="project") from None


def branch_name(ref: str) -> str:
    """`refs/heads/main` and `main` name the same branch."""
    return ref.removeprefix("refs/heads/")


def parse_build(value: object, clean: bool = False) -> BuildSettings:
    """The `build` object (None: no overrides); `clean` forces a build without the cache."""
    try:
        settings = BuildSettings.from_dict(value)
    except InvalidRequest as exc:
        raise ApiError(400, "invalid_build", str(exc), field=exc.field or "build") from None
    return dataclasses.replace(settings, clean=True) if clean else settings


def _clean_flag(value: object) -> bool:
    if value is None:
        return False
    if not isinstance(value, bool):
        raise ApiError(
            400,
            "invalid_type",
            f"clean must be true or false, not {json_type_name(value)}",
            field="clean",
        )
    return value


def parse_git_request(data: Mapping[str, object], production_branch: str) -> GitDeployRequest:
    _check_fields(data, _GIT_FIELDS, "field")
    project = check_project(str(data["project"]))
    ref = validate_ref(str(data.get("ref", production_branch)))
    build = parse_build(data.get("build"), _clean_flag(data.get("clean")))
    return GitDeployRequest(repo_url=data["repo_url"], ref=ref, project=project, build=build)


def parse_build_header(value: str | None) -> object:
    """The upload's `X-Build-Settings` header as JSON (None when absent)."""
    if value is None:
        return None
    try:
        return loads_bounded(value)
    except JsonTooDeep:
        raise too_deep(f"the {BUILD_HEADER} header", field="build") from None
    except json.JSONDecodeError as exc:
        raise ApiError(
            400,
            "invalid_build",
            f"the {BUILD_HEADER} header is not valid JSON: {exc.msg} at column {exc.colno}; "
            'send an object like {"build_command": "npm run build"}',
            field="build",
        ) from None


def parse_upload_query(
    query: Mapping[str, object],
    repeated: set[str],
    production_branch: str,
    build: object = None,
) -> UploadDeployRequest:
    """`?project=docs&ref=main&clean=1` for an uploaded archive (the body is the source);
    `commit`, `commit_message` and `commit_author` describe the directory's git HEAD.

    `build` is the parsed `X-Build-Settings` header, if any.
    """
    _check_fields(query, _UPLOAD_FIELDS, "query parameter")
    if repeated:
        name = sorted(repeated)[0]
        raise ApiError(
            400, "invalid_query", f"query parameter {name!r} is given more than once", field=name
        )
    project = check_project(str(query["project"]))
    ref = validate_ref(str(query.get("ref") or production_branch))
    clean_text = str(query.get("clean", "0")).strip().lower()
    if clean_text not in _FLAG_VALUES:
        raise ApiError(
            400,
            "invalid_query",
            f"query parameter 'clean' must be 1 or 0 (true or false), not {clean_text[:20]!r}",
            field="clean",
        )
    commit = str(query["commit"]).lower() if query.get("commit") else None
    if commit is not None and not is_commit_sha(commit):
        raise ApiError(
            400,
            "invalid_query",
            f"query parameter 'commit' must be a full commit SHA, not {commit[:80]!r}",
            field="commit",
        )
    return UploadDeployRequest(
        ref=ref,
        project=project,
        build=parse_build(build, _FLAG_VALUES[clean_text]),
        commit=commit,
        commit_message=commit_subject(str(query.get("commit_message") or "")),
        commit_author=commit_subject(str(query.get("commit_author") or "")),
    )


def parse_move_request(body: bytes, fields: tuple[str, ...]) -> MoveRequest:
    """`{"deployment": "<id>", "actor": "cli:alice"}`, every field optional, an empty
    body too; `fields` are the ones this endpoint takes (`actor`, maybe `deployment`).

    The actor is what the client says it is (the API token names nobody), checked
    for shape; without one the move is logged as made by `api`.
    """
    if not body.strip():
        return MoveRequest()
    data = parse_json_object(body, f"with optional {' and '.join(fields)}")
    _check_fields(data, dict.fromkeys(fields, False), "field")
    actor = data.get("actor")
    return MoveRequest(
        deployment=data.get("deployment"),
        actor=MoveRequest.actor if actor is None else check_actor(actor),
    )
