"""Host labels, project names and branch slugs: one definition, used everywhere.

Hosts under the base domain D:
  `<id>.D`                       one immutable deployment
  `<project>.D`                  the project's production alias
  `<branch-slug>--<project>.D`   the branch's latest preview
A DNS label is at most 63 characters (RFC 1035 section 2.3.4).
"""

from __future__ import annotations

import hashlib
import re

from deploy_platform.ids import is_deployment_id

__all__ = [
    "MAX_LABEL",
    "MAX_PROJECT_NAME",
    "InvalidName",
    "validate_project_name",
    "branch_slug",
    "preview_alias",
    "production_alias",
    "is_valid_label",
]

MAX_LABEL = 63
MAX_PROJECT_NAME = 32
_LABEL_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_PROJECT_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")


class InvalidName(ValueError):
    """A project name, label or slug that breaks the naming rules."""


def is_valid_label(label: str) -> bool:
    return bool(_LABEL_RE.match(label))


def validate_project_name(name: object) -> str:
    if not isinstance(name, str) or not name:
        raise InvalidName("project must be a non-empty string")
    if len(name) > MAX_PROJECT_NAME:
        raise InvalidName(f"project name {name!r} is longer than {MAX_PROJECT_NAME} characters")
    if not _PROJECT_RE.match(name):
        raise InvalidName(
            f"project name {name!r} must be lowercase letters and digits separated by "
            "single hyphens (for example 'docs' or 'my-site')"
        )
    if is_deployment_id(name):
        raise InvalidName(f"project name {name!r} looks like a deployment id; choose another")
    return name


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def branch_slug(branch: str, max_length: int = MAX_LABEL) -> str:
    """Lowercase, non-alphanumerics to single hyphens; long slugs cut and hash-suffixed."""
    slug = _slug(branch) or "branch"
    if len(slug) > max_length:
        digest = hashlib.sha256(branch.encode()).hexdigest()[:6]
        slug = slug[: max_length - 7].rstrip("-") + "-" + digest
    return slug


def production_alias(project: str) -> str:
    return project


def preview_alias(project: str, branch: str) -> str:
    room = MAX_LABEL - len(project) - 2
    alias = f"{branch_slug(branch, room)}--{project}"
    if not is_valid_label(alias):
        raise InvalidName(f"cannot make a host label from branch {branch!r}")
    return alias
