"""Where projects live: the object store is the source of truth, Redis indexes it.

  `projects/<name>.json`         the whole project (`Project.to_stored`, secrets
                                 included), one object written in one PUT: S3 and
                                 the local store (write, then rename) replace it
                                 atomically, so a reader sees the old or the new.
  `P projects`                   Redis set of project names, for listing.
  `P project-repo:<repository>`  Redis set of the projects building a repository
                                 (`repository_identity`), for the GitHub webhook
                                 to find the projects a delivery is about.
  `P project-lock:<name>`        held while a project is created, changed or deleted.

Writes go to the store first, then to the index, under the project's lock, so
two requests never interleave on one project. If Redis fails after the store
was written, the index is behind: `reindex_projects` rebuilds it from the store
(the control API runs it at start-up), and `list_projects` drops names whose
object is gone. Redis never holds a build variable's value or the webhook secret.

Every deployed name is a project: `ensure_project` creates one on a name's first
deployment. Deployments stored before that rule have a name without an object;
`implicit_project` describes such a project from its newest deployment, so listing
and showing it agree with `rollback` and `aliases`, and the first change to it
stores it (lazily: no write happens on a read).

Deleting a project removes its settings and its webhook secret (deliveries for it
are refused from then on) and nothing else: its deployments are immutable, and
its aliases (`<project>.D`, previews) and custom domains keep serving what they
served -- the project name lives on in them, as it does for a project deployed
without settings. Re-creating the project picks them up; `domains remove` unmaps
a domain.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from collections.abc import Callable
from urllib.parse import urlsplit

from redis.lock import Lock

from deploy_platform.contracts.errors import InvalidRequest
from deploy_platform.contracts.names import InvalidName
from deploy_platform.contracts.records import Environment
from deploy_platform.projects.model import InvalidProjectSettings, Project, new_webhook_secret
from deploy_platform.storage import ObjectNotFound, ObjectStore
from deploy_platform.storage.redis_state import PlatformState

__all__ = [
    "PROJECTS_PREFIX",
    "InvalidProjectObject",
    "ProjectExists",
    "ProjectNotFound",
    "create_project",
    "delete_project",
    "ensure_project",
    "implicit_project",
    "list_projects",
    "project_key",
    "projects_for_repository",
    "read_project",
    "reindex_projects",
    "repository_identity",
    "rotate_webhook_secret",
    "update_project",
]

log = logging.getLogger(__name__)

PROJECTS_PREFIX = "projects/"
_LOCK_SECONDS = 30
# How many of a name's newest deployments describe a project stored before projects
# were made on deploy.
_IMPLICIT_SCAN = 50


class ProjectExists(Exception):
    def __init__(self, name: str) -> None:
        super().__init__(
            f"project {name} already exists; change it with `deploy-platform project update "
            f"{name}` (PATCH /api/projects/{name}) or choose another name"
        )
        self.name = name


class ProjectNotFound(Exception):
    def __init__(self, name: str) -> None:
        super().__init__(
            f"no project {name}; create it with `deploy-platform project create {name}` "
            "(list them with `deploy-platform project list`)"
        )
        self.name = name


class InvalidProjectObject(ValueError):
    """A stored `projects/<name>.json` cannot be read."""


def project_key(name: str) -> str:
    return f"{PROJECTS_PREFIX}{name}.json"


def repository_identity(url: str) -> str:
    """`https://GitHub.com/Org/Site.git/` and `http://github.com/org/site` -> `github.com/org/site`.

    Case-folded: GitHub's owner and repository names are case-insensitive. The
    webhook still verifies each candidate project's secret, so two repositories
    that fold together cannot trigger each other's builds.
    """
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    default = {"http": 80, "https": 443}.get(parts.scheme.lower())
    if parts.port is not None and parts.port != default:
        host = f"{host}:{parts.port}"
    path = parts.path.lower().rstrip("/").removesuffix(".git").rstrip("/")
    return f"{host}{path}"


def _lock(state: PlatformState, name: str) -> Lock:
    return state.redis.lock(
        state.key("project-lock", name), timeout=_LOCK_SECONDS, blocking_timeout=_LOCK_SECONDS
    )


def _names_key(state: PlatformState) -> str:
    return state.key("projects")


def _repo_key(state: PlatformState, repo_url: str) -> str:
    return state.key("project-repo", repository_identity(repo_url))


def read_project(store: ObjectStore, name: str) -> Project | None:
    """The stored project, or None; raises `InvalidProjectObject`."""
    key = project_key(name)
    try:
        raw = store.get_bytes(key)
    except ObjectNotFound:
        return None
    try:
        project = Project.from_stored(json.loads(raw))
    except (ValueError, KeyError, TypeError, AttributeError, InvalidRequest, InvalidName) as exc:
        raise InvalidProjectObject(f"{key} cannot be read: {exc}") from None
    if project.name != name:
        raise InvalidProjectObject(f"{key} holds project {project.name!r}")
    return project


def _write(store: ObjectStore, project: Project) -> None:
    body = json.dumps(project.to_stored(), sort_keys=True, indent=1).encode()
    store.put_bytes(project_key(project.name), body, "application/json")


def _index(state: PlatformState, project: Project, previous: Project | None) -> None:
    pipe = state.redis.pipeline(transaction=True)
    pipe.sadd(_names_key(state), project.name)
    if previous is not None and previous.repo_url and previous.repo_url != project.repo_url:
        pipe.srem(_repo_key(state, previous.repo_url), project.name)
    if project.repo_url:
        pipe.sadd(_repo_key(state, project.repo_url), project.name)
    pipe.execute()


def _unindex(state: PlatformState, name: str, repo_url: str | None) -> None:
    pipe = state.redis.pipeline(transaction=True)
    pipe.srem(_names_key(state), name)
    if repo_url:
        pipe.srem(_repo_key(state, repo_url), name)
    pipe.execute()


def create_project(store: ObjectStore, state: PlatformState, project: Project) -> Project:
    """Store a new project; raises `ProjectExists` (an unreadable object counts as existing)."""
    with _lock(state, project.name):
        if store.exists(project_key(project.name)):
            raise ProjectExists(project.name)
        _write(store, project)
        _index(state, project, None)
        return project


def update_project(
    store: ObjectStore, state: PlatformState, name: str, change: Callable[[Project], Project]
) -> Project:
    """Read, change and write back under the lock; raises `ProjectNotFound`, or what
    `change` raises (then nothing is written)."""
    with _lock(state, name):
        current = read_project(store, name)
        if current is None:
            _unindex(state, name, None)  # a stale index entry must not list it
            raise ProjectNotFound(name)
        updated = dataclasses.replace(change(current), name=name, updated_at=time.time())
        _write(store, updated)
        _index(state, updated, current)
        return updated


def rotate_webhook_secret(store: ObjectStore, state: PlatformState, name: str) -> Project:
    """A new webhook secret; the old one stops working at once. Raises
    `InvalidProjectSettings` (no_repository) for a project without a repository."""
    now = time.time()

    def rotate(project: Project) -> Project:
        if not project.repo_url:
            raise InvalidProjectSettings(
                "no_repository",
                f"project {name} has no repository, so no webhook and no secret; set one "
                f"with `deploy-platform project update {name} --repo URL` (that makes the "
                "secret and prints it once)",
                "repo_url",
            )
        return dataclasses.replace(
            project, webhook_secret=new_webhook_secret(), secret_rotated_at=now
        )

    return update_project(store, state, name, rotate)


def ensure_project(store: ObjectStore, state: PlatformState, project: Project) -> bool:
    """Store `project` unless one of that name exists (readable or not); True if stored."""
    try:
        create_project(store, state, project)
    except ProjectExists:
        return False
    return True


def implicit_project(state: PlatformState, name: str, production_branch: str) -> Project | None:
    """The project a name deployed before every deployed name got one is (see the
    module docstring), or None when it has no deployment: the newest deployment's
    repository (None for an upload), the branch of its newest production deployment
    (else `production_branch`), no secret."""
    ids = state.project_deployments(name, limit=_IMPLICIT_SCAN)
    records = state.find_many(ids)
    newest = [records[i] for i in ids if i in records]
    if not newest:
        return None
    production = next((r for r in newest if r.environment is Environment.PRODUCTION), None)
    branch = production.ref if production is not None and production.ref else production_branch
    return Project(name=name, repo_url=newest[0].repo_url, production_branch=branch)


def delete_project(store: ObjectStore, state: PlatformState, name: str) -> Project | None:
    """Remove the project's settings (module docstring); the removed project, or None."""
    with _lock(state, name):
        try:
            current = read_project(store, name)
        except InvalidProjectObject as exc:
            log.warning("deleting unreadable project object: %s", exc)
            store.delete(project_key(name))
            # Its repository is unknown: take the name out of every repository's set.
            for key in state.redis.scan_iter(match=state.key("project-repo", "*")):
                state.redis.srem(key, name)
            _unindex(state, name, None)
            return Project(name=name)
        if current is None:
            _unindex(state, name, None)
            return None
        store.delete(project_key(name))
        _unindex(state, name, current.repo_url)
        return current


def list_projects(store: ObjectStore, state: PlatformState) -> list[Project]:
    """Every project the index names, read from the store, sorted by name."""
    names = sorted(raw.decode() for raw in state.redis.smembers(_names_key(state)))
    projects: list[Project] = []
    for name in names:
        try:
            project = read_project(store, name)
        except InvalidProjectObject as exc:
            log.warning("skipping unreadable project: %s", exc)
            continue
        if project is None:
            # Deleted from the store without the index (Redis failed half way): repair.
            state.redis.srem(_names_key(state), name)
            continue
        projects.append(project)
    return projects


def projects_for_repository(state: PlatformState, repo_url: str) -> list[str]:
    """Names of the projects building the repository at `repo_url` (any spelling of it)."""
    return sorted(raw.decode() for raw in state.redis.smembers(_repo_key(state, repo_url)))


def reindex_projects(store: ObjectStore, state: PlatformState) -> int:
    """Bring the Redis index in line with the store; the number of projects indexed.

    Additive first, then removals re-checked against the store one by one, so a
    project created or changed by another API process while this runs is never
    dropped from the index.
    """
    projects: dict[str, Project] = {}
    for info in store.list(PROJECTS_PREFIX):
        name = info.key[len(PROJECTS_PREFIX) :].removesuffix(".json")
        try:
            project = read_project(store, name)
        except InvalidProjectObject as exc:
            log.warning("not indexing unreadable project: %s", exc)
            continue
        if project is not None:
            projects[name] = project
    for project in projects.values():
        _index(state, project, None)
    for raw in state.redis.smembers(_names_key(state)):
        name = raw.decode()
        if name not in projects and not store.exists(project_key(name)):
            state.redis.srem(_names_key(state), name)
    for key in state.redis.scan_iter(match=state.key("project-repo", "*")):
        identity = key.decode()[len(state.key("project-repo", "")) :]
        for raw in state.redis.smembers(key):
            name = raw.decode()
            if _builds(projects.get(name), identity):
                continue
            try:
                current = read_project(store, name)  # it may have changed meanwhile
            except InvalidProjectObject:
                current = None
            if not _builds(current, identity):
                state.redis.srem(key, name)
    return len(projects)


def _builds(project: Project | None, identity: str) -> bool:
    return (
        project is not None
        and project.repo_url is not None
        and repository_identity(project.repo_url) == identity
    )
