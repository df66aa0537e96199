"""Projects in the object store (the source of truth) and the Redis index agree."""

from __future__ import annotations

import dataclasses
import json
import threading
from pathlib import Path

import pytest

from deploy_platform.projects.model import Project, apply_changes, new_project
from deploy_platform.projects.store import (
    InvalidProjectObject,
    ProjectExists,
    ProjectNotFound,
    create_project,
    delete_project,
    list_projects,
    project_key,
    projects_for_repository,
    read_project,
    reindex_projects,
    repository_identity,
    rotate_webhook_secret,
    update_project,
)
from deploy_platform.storage import ObjectStore
from deploy_platform.storage.local import LocalObjectStore
from deploy_platform.storage.redis_state import PlatformState

REPO = "https://git.example.com/team/docs.git"


def accept(value: object) -> str:
    """Stands in for `validate_repo_url` (which resolves DNS) in these storage tests."""
    assert isinstance(value, str)
    return value


def make(name: str, repo: str | None = REPO, **fields: object) -> Project:
    return new_project({"name": name, "repo_url": repo, **fields}, accept, now=1000.0)


@pytest.fixture
def store(local_store_root: Path) -> LocalObjectStore:
    return LocalObjectStore(local_store_root)


def index(state: PlatformState) -> set[str]:
    return {raw.decode() for raw in state.redis.smembers(state.key("projects"))}


def assert_consistent(store: ObjectStore, state: PlatformState) -> None:
    """Every stored project is indexed (by name and repository), and nothing else is."""
    stored = {info.key for info in store.list("projects/")}
    assert index(state) == {key.removeprefix("projects/").removesuffix(".json") for key in stored}
    by_repo: dict[str, set[str]] = {}
    for key in state.redis.scan_iter(match=state.key("project-repo", "*")):
        members = {raw.decode() for raw in state.redis.smembers(key)}
        by_repo[key.decode().removeprefix(state.key("project-repo", ""))] = members
    expected: dict[str, set[str]] = {}
    for name in index(state):
        project = read_project(store, name)
        assert project is not None
        if project.repo_url:
            expected.setdefault(repository_identity(project.repo_url), set()).add(name)
    assert by_repo == expected


def test_create_update_delete_keep_store_and_index_in_step(
    store: LocalObjectStore, state: PlatformState
) -> None:
    create_project(store, state, make("docs"))
    create_project(store, state, make("blog", None))
    assert_consistent(store, state)
    stored = json.loads(store.get_bytes(project_key("docs")))
    assert stored["repo_url"] == REPO and len(stored["webhook_secret"]) == 64

    other = "https://git.example.com/team/other.git"
    update_project(store, state, "docs", lambda p: dataclasses.replace(p, repo_url=other))
    assert_consistent(store, state)
    assert projects_for_repository(state, REPO) == []
    assert projects_for_repository(state, other) == ["docs"]

    assert delete_project(store, state, "docs") is not None
    assert_consistent(store, state)
    assert read_project(store, "docs") is None
    assert [p.name for p in list_projects(store, state)] == ["blog"]


def test_a_name_is_created_once(store: LocalObjectStore, state: PlatformState) -> None:
    first = create_project(store, state, make("docs"))
    with pytest.raises(ProjectExists, match="already exists"):
        create_project(store, state, make("docs", "https://git.example.com/x/y.git"))
    assert read_project(store, "docs") == first


def test_racing_creates_of_one_name_store_exactly_one(
    store: LocalObjectStore, state: PlatformState
) -> None:
    outcomes: list[str] = []
    candidates = [make("docs", f"https://git.example.com/team/r{i}.git") for i in range(6)]

    def attempt(project: Project) -> None:
        try:
            create_project(store, state, project)
            outcomes.append(project.repo_url or "")
        except ProjectExists:
            outcomes.append("exists")

    threads = [threading.Thread(target=attempt, args=(p,)) for p in candidates]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    winners = [o for o in outcomes if o != "exists"]
    assert len(winners) == 1
    stored = read_project(store, "docs")
    assert stored is not None and stored.repo_url == winners[0]
    assert_consistent(store, state)


def test_several_projects_can_build_one_repository(
    store: LocalObjectStore, state: PlatformState
) -> None:
    create_project(store, state, make("web", REPO))
    create_project(store, state, make("docs", REPO.upper().replace("HTTPS", "https")))
    assert projects_for_repository(state, "https://git.example.com/team/docs") == ["docs", "web"]
    assert projects_for_repository(state, "http://GIT.example.com/team/docs/") == ["docs", "web"]


@pytest.mark.parametrize(
    ("url", "identity"),
    [
        ("https://github.com/Org/Site.git", "github.com/org/site"),
        ("https://github.com/org/site", "github.com/org/site"),
        ("http://github.com/org/site.git/", "github.com/org/site"),
        ("https://git.example.com:8443/a/b.git", "git.example.com:8443/a/b"),
        ("https://git.example.com:443/a/b", "git.example.com/a/b"),
    ],
)
def test_repository_identity(url: str, identity: str) -> None:
    assert repository_identity(url) == identity


def test_a_failed_change_writes_nothing(store: LocalObjectStore, state: PlatformState) -> None:
    create_project(store, state, make("docs"))
    before = store.get_bytes(project_key("docs"))
    with pytest.raises(ValueError):
        update_project(
            store,
            state,
            "docs",
            lambda p: apply_changes(p, {"production_branch": "a..b"}, accept),
        )
    assert store.get_bytes(project_key("docs")) == before


def test_updating_or_rotating_an_unknown_project(
    store: LocalObjectStore, state: PlatformState
) -> None:
    with pytest.raises(ProjectNotFound):
        update_project(store, state, "ghost", lambda p: p)
    with pytest.raises(ProjectNotFound):
        rotate_webhook_secret(store, state, "ghost")
    assert delete_project(store, state, "ghost") is None
    assert list(store.list("projects/")) == []


def test_rotation_replaces_the_secret(store: LocalObjectStore, state: PlatformState) -> None:
    first = create_project(store, state, make("docs"))
    rotated = rotate_webhook_secret(store, state, "docs")
    assert rotated.webhook_secret != first.webhook_secret
    stored = read_project(store, "docs")
    assert stored is not None and stored.webhook_secret == rotated.webhook_secret


def test_redis_never_holds_secrets(store: LocalObjectStore, state: PlatformState) -> None:
    project = make("docs", build={"env": {"API_KEY": "s3cr3t-value"}})
    create_project(store, state, project)
    for key in state.redis.scan_iter(match=f"{state.prefix}*"):
        kind = state.redis.type(key).decode()
        values = (
            [state.redis.get(key) or b""]
            if kind == "string"
            else list(state.redis.smembers(key))
            if kind == "set"
            else []
        )
        for value in values:
            assert b"s3cr3t-value" not in value
            assert project.webhook_secret.encode() not in value


def test_a_lost_index_is_rebuilt_from_the_store(
    store: LocalObjectStore, state: PlatformState
) -> None:
    create_project(store, state, make("docs"))
    create_project(store, state, make("blog", "https://git.example.com/team/blog.git"))
    for key in state.redis.scan_iter(match=f"{state.prefix}project*"):
        state.redis.delete(key)
    assert list_projects(store, state) == []  # the index is what lists

    assert reindex_projects(store, state) == 2
    assert [p.name for p in list_projects(store, state)] == ["blog", "docs"]
    assert_consistent(store, state)


def test_reindexing_drops_entries_the_store_does_not_have(
    store: LocalObjectStore, state: PlatformState
) -> None:
    create_project(store, state, make("docs"))
    state.redis.sadd(state.key("projects"), "ghost")
    state.redis.sadd(state.key("project-repo", "git.example.com/team/ghost"), "ghost")
    reindex_projects(store, state)
    assert_consistent(store, state)


def test_listing_drops_a_name_whose_object_is_gone(
    store: LocalObjectStore, state: PlatformState
) -> None:
    create_project(store, state, make("docs"))
    create_project(store, state, make("blog", None))
    store.delete(project_key("blog"))  # as if Redis failed after the store delete
    assert [p.name for p in list_projects(store, state)] == ["docs"]
    assert index(state) == {"docs"}


def test_an_unreadable_object_is_reported_and_can_be_deleted(
    store: LocalObjectStore, state: PlatformState
) -> None:
    create_project(store, state, make("docs"))
    store.put_bytes(project_key("docs"), b"{not json", "application/json")
    with pytest.raises(InvalidProjectObject, match="projects/docs.json"):
        read_project(store, "docs")
    assert list_projects(store, state) == []  # skipped, with a warning in the log
    assert delete_project(store, state, "docs") is not None
    assert not store.exists(project_key("docs"))
    assert_consistent(store, state)


def test_on_s3_too(s3_store: ObjectStore, state: PlatformState) -> None:
    """SeaweedFS's S3: the same object layout, and one PUT per write."""
    created = create_project(store=s3_store, state=state, project=make("docs"))
    assert read_project(s3_store, "docs") == created
    update_project(
        s3_store, state, "docs", lambda p: apply_changes(p, {"build_forks": True}, accept)
    )
    changed = read_project(s3_store, "docs")
    assert changed is not None and changed.build_forks
    assert [info.key for info in s3_store.list("projects/")] == ["projects/docs.json"]
    assert_consistent(s3_store, state)
    delete_project(s3_store, state, "docs")
    assert_consistent(s3_store, state)
