"""Strict checks of what a client sends, before anything is stored or queued.

Each check raises `ApiError` with a stable code and the field at fault, so a
client learns exactly what to fix. The checks here are pure (no network, no
Redis); the repository URL and the ref's existence are checked by the handler. Ref syntax
(`git check-ref-format` rules) is `gitsource.validate_ref`, the same check git
calls get.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from deploy_platform.api.errors import ApiError
from deploy_platform.gitsource import validate_ref
from deploy_platform.names import InvalidName, validate_project_name

__all__ = [
    "GitDeployRequest",
    "UploadDeployRequest",
    "parse_json_object",
    "parse_git_request",
    "parse_upload_query",
    "check_project",
    "branch_name",
]

_GIT_FIELDS = {"repo_url": True, "ref": False, "project": True}  # name -> required
_UPLOAD_FIELDS = {"project": True, "ref": False}


@dataclass(frozen=True)
class GitDeployRequest:
    repo_url: object  # checked by repo_url.validate_repo_url (it resolves DNS)
    ref: str
    project: str


@dataclass(frozen=True)
class UploadDeployRequest:
    ref: str
    project: str


def _type_name(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def parse_json_object(body: bytes) -> dict[str, Any]:
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
        data = json.loads(text)
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
            "the body must be a JSON object with repo_url, ref and project, "
            f"not {_type_name(data)}",
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
        if not isinstance(value, str):
            raise ApiError(
                400,
                "invalid_type",
                f"{name} must be a string, not {_type_name(value)}",
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


def parse_git_request(data: Mapping[str, object], production_branch: str) -> GitDeployRequest:
    _check_fields(data, _GIT_FIELDS, "field")
    project = check_project(str(data["project"]))
    ref = validate_ref(str(data.get("ref", production_branch)))
    return GitDeployRequest(repo_url=data["repo_url"], ref=ref, project=project)


def parse_upload_query(
    query: Mapping[str, object], repeated: set[str], production_branch: str
) -> UploadDeployRequest:
    """`?project=docs&ref=main` for an uploaded archive (the body is the source)."""
    _check_fields(query, _UPLOAD_FIELDS, "query parameter")
    if repeated:
        name = sorted(repeated)[0]
        raise ApiError(
            400, "invalid_query", f"query parameter {name!r} is given more than once", field=name
        )
    project = check_project(str(query["project"]))
    ref = validate_ref(str(query.get("ref") or production_branch))
    return UploadDeployRequest(ref=ref, project=project)
