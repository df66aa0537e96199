"""A project's settings: what they are, how a request changes them, how they are stored.

One `Project` value is one stored object `projects/<name>.json` (see `store`).
Creating a project is applying a request's fields to the defaults, updating is
applying them to the stored project, so both refuse the same mistakes with the
same messages:

  name               fixed at creation (`names.validate_project_name`)
  repo_url           the http(s) Git URL (`repo_url.validate_repo_url`), or null
                     for a project deployed only by upload
  production_branch  default `main`; its deployments move the production alias
  branches           {"include": [...], "exclude": [...]} (`branches`); a list
                     given in an update replaces the stored one
  build              `build.settings.BuildSettings` fields, the defaults of every
                     deployment of the project; in an update each field given
                     replaces the stored one and null resets it to detection;
                     `build.env` is merged name by name, null removing a variable
  build_forks        whether pull requests from forks are built (default false:
                     a fork's code would run with the project's build variables)

Every deployed name is a project: the first deployment of a name creates one
(`deployed_project`: source "git" with the repository deployed, or "upload"
without one). A project without a repository has no webhook secret (nothing can
send it deliveries); the secret is made when a repository is given to a project
without one (creation, or an update naming `repo_url`), and shown then, once. A
git project made by a deploy gets none until asked for (`--rotate-webhook-secret`,
or `repo_url` set again): its deployer never saw one, and an empty secret
verifies no delivery.

SECURITY: build variable values and the webhook secret are stored in the
project's object, so they are exactly as protected as the object store (its
access policy and encryption at rest); Redis never holds them. `public_dict`
shows variable values as `***` and never the secret: the secret is shown once,
when it is made (creation, rotation). A `***` sent back as a value is refused,
so a client that saves what it read cannot overwrite a secret with the mask.
"""

from __future__ import annotations

import dataclasses
import hmac
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from deploy_platform.build.settings import SETTING_NAMES, BuildSettings
from deploy_platform.contracts.errors import InvalidRequest
from deploy_platform.contracts.json_types import json_type_name
from deploy_platform.contracts.names import InvalidName, validate_project_name
from deploy_platform.projects.branches import (
    BranchDecision,
    BranchRules,
    check_patterns,
    decide,
    pattern_matches,
)
from deploy_platform.source.refs import validate_ref

__all__ = [
    "FIELDS",
    "MASK",
    "InvalidProjectSettings",
    "Project",
    "apply_changes",
    "branch_allowed",
    "branch_decision",
    "deployment_build",
    "deployed_project",
    "new_project",
    "new_webhook_secret",
    "secret_matches",
]

FIELDS = ("name", "repo_url", "production_branch", "branches", "build", "build_forks")
MASK = "***"
# Build settings that belong to a project; `clean` is a choice of one deployment.
_BUILD_FIELDS = tuple(name for name in SETTING_NAMES if name != "clean")
_FORMAT = 1

CheckRepo = Callable[[object], str]


class InvalidProjectSettings(InvalidRequest):
    """Refused settings: `code` is the API's error code, `field` the field at fault."""

    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message, field=field)
        self.code = code


def new_webhook_secret() -> str:
    """256 random bits; GitHub signs each delivery with it (HMAC-SHA256)."""
    return secrets.token_hex(32)


def secret_matches(project: Project, secret: str) -> bool:
    # SECURITY: constant time, so the secret cannot be found byte by byte; a project
    # without a secret (no repository, or made by a deploy) is matched by nothing.
    if not project.webhook_secret:
        return False
    return hmac.compare_digest(project.webhook_secret.encode(), secret.encode())


@dataclass(frozen=True)
class Project:
    name: str
    repo_url: str | None = None
    production_branch: str = "main"
    branches: BranchRules = field(default_factory=BranchRules)
    build: BuildSettings = field(default_factory=BuildSettings)
    build_forks: bool = False
    webhook_secret: str = ""
    created_at: float = 0.0
    updated_at: float = 0.0
    secret_rotated_at: float = 0.0

    def to_stored(self) -> dict[str, Any]:
        """Everything, secrets included: for the object store only."""
        return {
            "format": _FORMAT,
            **self._settings_dict(self.build.to_dict()),
            "webhook_secret": self.webhook_secret,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "secret_rotated_at": self.secret_rotated_at,
        }

    def _settings_dict(self, build: dict[str, Any]) -> dict[str, Any]:
        """The settings a person chose, with `build` as stored or as shown."""
        build.pop("clean", None)
        return {
            "name": self.name,
            "repo_url": self.repo_url,
            "production_branch": self.production_branch,
            "branches": self.branches.to_dict(),
            "build": build,
            "build_forks": self.build_forks,
        }

    @classmethod
    def from_stored(cls, data: Mapping[str, Any]) -> Project:
        """Raises `InvalidRequest` / `InvalidName` / `KeyError` / `TypeError` when malformed."""
        branches = data.get("branches") or {}

        def stamp(name: str) -> float:
            value = data.get(name, 0.0)
            return float(value) if isinstance(value, int | float) else 0.0

        repo_url = data.get("repo_url")
        if repo_url is not None and not isinstance(repo_url, str):
            raise TypeError("repo_url is not a string")
        return cls(
            name=validate_project_name(data["name"]),
            repo_url=repo_url,
            production_branch=validate_ref(data.get("production_branch") or "main"),
            branches=BranchRules(
                include=check_patterns(branches.get("include", []), "branches.include"),
                exclude=check_patterns(branches.get("exclude", []), "branches.exclude"),
            ),
            build=BuildSettings.from_dict(data.get("build")),
            build_forks=bool(data.get("build_forks", False)),
            webhook_secret=str(data["webhook_secret"]),
            created_at=stamp("created_at"),
            updated_at=stamp("updated_at"),
            secret_rotated_at=stamp("secret_rotated_at"),
        )

    @property
    def source(self) -> str:
        """ "git" for a project with a repository, "upload" for one deployed by upload."""
        return "git" if self.repo_url else "upload"

    def public_dict(self) -> dict[str, Any]:
        """What the API shows: variable values masked, no webhook secret (only whether
        there is one)."""
        return {
            **self._settings_dict(self.build.redacted()),
            "source": self.source,
            "webhook_secret_set": bool(self.webhook_secret),
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "webhook_secret_rotated_at": self.secret_rotated_at,
        }


def branch_decision(project: Project, branch: str) -> BranchDecision:
    """What a push of `branch` does for this project (see `branches`)."""
    return decide(project.branches, project.production_branch, branch)


def branch_allowed(project: Project, branch: str) -> bool:
    """Whether a push of `branch` deploys (to production or as a preview)."""
    return branch_decision(project, branch).deploys


def deployment_build(project: Project | None, requested: BuildSettings) -> BuildSettings:
    """A deployment's build settings: the request's, then the project's for what it leaves unset.

    Build variables are merged by name, the request's value winning.
    """
    if project is None:
        return requested
    defaults = project.build
    chosen = {
        name: getattr(requested, name)
        if getattr(requested, name) is not None
        else getattr(defaults, name)
        for name in _BUILD_FIELDS
        if name != "env"
    }
    return BuildSettings(**chosen, env={**defaults.env, **requested.env}, clean=requested.clean)


def _refuse(code: str, message: str, field: str | None = None) -> InvalidProjectSettings:
    return InvalidProjectSettings(code, message, field)


def _check_known(data: Mapping[str, object], allowed: tuple[str, ...], where: str) -> None:
    unknown = sorted(str(key) for key in data if key not in allowed)
    if unknown:
        raise _refuse(
            "unknown_field",
            f"unknown {where} {unknown[0]!r}; allowed: {', '.join(allowed)}",
            unknown[0] if where == "field" else f"{where.split()[0]}.{unknown[0]}",
        )


def _production_branch(value: object) -> str:
    if not isinstance(value, str):
        raise _refuse(
            "invalid_type",
            f"production_branch must be a branch name such as 'main', not {json_type_name(value)}",
            "production_branch",
        )
    branch = value.removeprefix("refs/heads/")
    try:
        return validate_ref(branch)
    except InvalidRequest as exc:
        raise _refuse(
            "invalid_branch",
            f"production_branch: {exc}".replace("ref ", "branch ", 1),
            "production_branch",
        ) from None


def _branches(current: BranchRules, value: object) -> BranchRules:
    if not isinstance(value, dict):
        raise _refuse(
            "invalid_type",
            'branches must be an object such as {"include": ["main", "feature/*"], '
            '"exclude": ["dependabot/*"]}',
            "branches",
        )
    _check_known(value, ("include", "exclude"), "branches field")
    rules = current
    for name in ("include", "exclude"):
        if name in value:
            try:
                patterns = check_patterns(value[name], f"branches.{name}")
            except InvalidRequest as exc:
                raise _refuse("invalid_branch_pattern", str(exc), exc.field) from None
            rules = dataclasses.replace(rules, **{name: patterns})
    return rules


def _env(current: Mapping[str, str], value: object) -> dict[str, str]:
    if not isinstance(value, dict):
        raise _refuse(
            "invalid_build",
            "build.env must be an object of names to strings (null removes a variable), "
            'like {"VITE_API": "https://...", "OLD": null}',
            "build.env",
        )
    env = dict(current)
    for name, text in value.items():
        if text is None:
            env.pop(name, None)
        elif text == MASK:
            raise _refuse(
                "invalid_build",
                f"build.env.{name} is {MASK!r}, the mask the API shows instead of values; "
                "send the real value, or leave the variable out to keep the stored one",
                f"build.env.{name}",
            )
        else:
            env[name] = text  # checked with the rest by BuildSettings.from_dict
    return env


def _build(current: BuildSettings, value: object) -> BuildSettings:
    if not isinstance(value, dict):
        raise _refuse(
            "invalid_build",
            f'build must be an object such as {{"build_command": "npm run build"}}, '
            f"not {json_type_name(value)}",
            "build",
        )
    if "clean" in value:
        raise _refuse(
            "invalid_build",
            "build.clean is chosen per deployment (deploy --clean), not stored with a project",
            "build.clean",
        )
    merged = current.to_dict()
    merged.pop("clean")
    for name, setting in value.items():
        if name != "env":
            merged[name] = setting  # unknown names are refused by from_dict below
    if "env" in value:
        merged["env"] = _env(current.env, value["env"])
    try:
        return BuildSettings.from_dict(merged)
    except InvalidRequest as exc:
        raise _refuse("invalid_build", str(exc), exc.field or "build") from None


def apply_changes(project: Project, data: Mapping[str, object], check_repo: CheckRepo) -> Project:
    """The project with the request's fields applied (module docstring); raises
    `InvalidProjectSettings`, or `InvalidRequest` from `check_repo` (field repo_url)."""
    _check_known(data, FIELDS, "field")
    if "name" in data and data["name"] != project.name:
        raise _refuse(
            "rename_unsupported",
            f"a project cannot be renamed ({project.name!r}); create a new project instead",
            "name",
        )
    changes: dict[str, Any] = {}
    if "repo_url" in data:
        value = data["repo_url"]
        changes["repo_url"] = None if value is None else check_repo(value)
    if "production_branch" in data:
        changes["production_branch"] = _production_branch(data["production_branch"])
    if "branches" in data:
        changes["branches"] = _branches(project.branches, data["branches"])
    if "build" in data:
        changes["build"] = _build(project.build, data["build"])
    if "build_forks" in data:
        value = data["build_forks"]
        if not isinstance(value, bool):
            raise _refuse(
                "invalid_type",
                f"build_forks must be true or false, not {json_type_name(value)}",
                "build_forks",
            )
        changes["build_forks"] = value
    updated = dataclasses.replace(project, **changes)
    if "repo_url" in data and updated.repo_url and not updated.webhook_secret:
        # A repository given to a project without a secret: deliveries can come now, so
        # they need a secret to be signed with (the API shows it in this answer, once).
        updated = dataclasses.replace(
            updated, webhook_secret=new_webhook_secret(), secret_rotated_at=time.time()
        )
    excluded_by = next(
        (p for p in updated.branches.exclude if pattern_matches(p, updated.production_branch)),
        None,
    )
    if excluded_by is not None:
        raise _refuse(
            "production_branch_excluded",
            f"the production branch {updated.production_branch!r} matches the exclude pattern "
            f"{excluded_by!r}, so production would never deploy; remove the pattern or "
            "choose another production branch",
            "branches.exclude",
        )
    return updated


def new_project(data: Mapping[str, object], check_repo: CheckRepo, now: float) -> Project:
    """A project from a create request: `name` required, every other field defaulted."""
    if "name" not in data:
        raise _refuse("missing_field", "missing field 'name' (the project's name)", "name")
    try:
        name = validate_project_name(data["name"])
    except InvalidName as exc:
        raise _refuse("invalid_project", str(exc), "name") from None
    made = apply_changes(Project(name=name), data, check_repo)
    return dataclasses.replace(
        made,
        created_at=now,
        updated_at=now,
        secret_rotated_at=now if made.webhook_secret else 0.0,
    )


def deployed_project(
    name: str, repo_url: str | None, production_branch: str, now: float
) -> Project:
    """The project a first deployment of `name` creates: the repository it was deployed
    from (None for an upload), the production branch it was deployed with, no secret."""
    return Project(
        name=name,
        repo_url=repo_url,
        production_branch=production_branch,
        created_at=now,
        updated_at=now,
    )
