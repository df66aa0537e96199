"""Projects over the control API: create, show, update, delete, list, and every refusal."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from deploy_platform.contracts.ids import new_deployment_id
from deploy_platform.contracts.manifest import manifest_key
from deploy_platform.processes.redis_server import RedisServer
from deploy_platform.projects.domains import add_domain
from deploy_platform.projects.store import project_key, read_project
from deploy_platform.publish.aliases import read_alias
from deploy_platform.settings.platform import Settings
from deploy_platform.storage.local import LocalObjectStore
from deploy_platform.storage.redis_state import PlatformState
from tests.api.conftest import ApiClientFactory
from tests.support.deployments import point_alias, write_deployment

SECRET_VALUE = "s3cr3t-value-that-must-never-come-back"


@pytest.fixture
def store(local_store_root: Path) -> LocalObjectStore:
    return LocalObjectStore(local_store_root)


@pytest.fixture
def repo_url(git_http: Any) -> str:
    """A repository URL the API accepts (the loopback git server is allowed in `settings`)."""
    return f"{git_http.base_url}/team/docs.git"


async def call(
    api: TestClient[Any, Any], method: str, path: str, body: object = None
) -> tuple[int, dict[str, Any], str]:
    kwargs: dict[str, Any] = {} if body is None else {"json": body}
    async with api.request(method, path, **kwargs) as response:
        text = await response.text()
        return response.status, json.loads(text), text


async def create(api: TestClient[Any, Any], body: object) -> tuple[int, dict[str, Any]]:
    status, answer, _ = await call(api, "POST", "/api/projects", body)
    return status, answer


async def test_create_answers_the_project_and_its_secret_once(
    api: TestClient[Any, Any], store: LocalObjectStore, state: PlatformState, repo_url: str
) -> None:
    async with api.post("/api/projects", json={"name": "docs", "repo_url": repo_url}) as response:
        assert response.status == 201, await response.text()
        assert response.headers["Location"] == "/api/projects/docs"
        created = await response.json()
    assert created["name"] == "docs" and created["repo_url"] == repo_url
    assert created["production_branch"] == "main"
    assert created["branches"] == {
        "include": ["main", "feature/*", "bugfix/*"],
        "exclude": ["dependabot/*", "renovate/*"],
    }
    assert created["build_forks"] is False
    assert created["build"]["env"] == {} and created["build"]["build_command"] is None
    assert "clean" not in created["build"]
    assert created["domains"] == []
    assert created["urls"]["production"].startswith("http://docs.localhost")
    # Its builds' history: the Dagster UI's run list filtered by the project's run tag.
    runs = created["urls"]["dagster_runs"]
    assert runs.endswith("/runs?q%5B%5D=tag%3Adeploy%2Fproject%3Ddocs"), runs
    assert created["webhook_path"] == "/api/webhooks/github/docs"
    secret = created["webhook_secret"]
    assert len(secret) == 64 and int(secret, 16) >= 0

    # The store holds it (with the secret), Redis lists it.
    stored = read_project(store, "docs")
    assert stored is not None and stored.webhook_secret == secret
    assert state.redis.sismember(state.key("projects"), "docs")

    status, shown, text = await call(api, "GET", "/api/projects/docs")
    assert status == 200
    assert secret not in text and "webhook_secret" not in shown
    # The repository does not exist (yet): production is the platform's default branch.
    assert created["production_branch_from"].startswith("platform default")
    once = ("webhook_secret", "production_branch_from")
    assert {k: v for k, v in created.items() if k not in once} == shown

    status, listed, text = await call(api, "GET", "/api/projects")
    assert status == 200 and secret not in text
    assert [p["name"] for p in listed["projects"]] == ["docs"]


async def test_every_setting_at_creation(
    api: TestClient[Any, Any], store: LocalObjectStore, repo_url: str
) -> None:
    body = {
        "name": "web",
        "repo_url": repo_url,
        "production_branch": "refs/heads/trunk",
        "branches": {"include": ["release/*", "release/*"], "exclude": ["release/wip-*"]},
        "build": {
            "build_command": "npm run build",
            "output_directory": "dist",
            "node_version": "20",
            "package_manager": "pnpm@9",
            "root_directory": "apps/web",
            "install_command": "",
            "env": {"VITE_API": "https://api.example.com", "STRIPE_KEY": SECRET_VALUE},
        },
        "build_forks": True,
    }
    status, created, _ = await call(api, "POST", "/api/projects", body)
    assert status == 201, created
    assert SECRET_VALUE not in json.dumps(created)
    assert created["production_branch"] == "trunk"
    assert created["branches"] == {"include": ["release/*"], "exclude": ["release/wip-*"]}
    assert created["build"]["env"] == {"VITE_API": "***", "STRIPE_KEY": "***"}
    assert created["build"]["install_command"] == ""
    assert created["build_forks"] is True
    stored = read_project(store, "web")
    assert stored is not None and stored.build.env["STRIPE_KEY"] == SECRET_VALUE


async def test_update_changes_only_what_it_names(
    api: TestClient[Any, Any], store: LocalObjectStore, repo_url: str
) -> None:
    await create(
        api,
        {
            "name": "docs",
            "repo_url": repo_url,
            "build": {
                "build_command": "make site",
                "output_directory": "out",
                "env": {"KEEP": "kept", "DROP": "dropped", "CHANGE": "old"},
            },
        },
    )
    before = read_project(store, "docs")
    assert before is not None
    status, changed, text = await call(
        api,
        "PATCH",
        "/api/projects/docs",
        {
            "name": "docs",
            "production_branch": "trunk",
            "branches": {"exclude": []},
            "build": {
                "build_command": None,  # back to detection
                "node_version": "22",
                "env": {"DROP": None, "CHANGE": SECRET_VALUE, "NEW": "n"},
            },
        },
    )
    assert status == 200, changed
    assert SECRET_VALUE not in text
    assert changed["production_branch"] == "trunk"
    assert changed["branches"]["exclude"] == []
    assert changed["branches"]["include"] == ["main", "feature/*", "bugfix/*"]  # kept
    assert changed["build"]["build_command"] is None
    assert changed["build"]["output_directory"] == "out"  # kept
    assert changed["build"]["node_version"] == "22"
    assert changed["build"]["env"] == {"KEEP": "***", "CHANGE": "***", "NEW": "***"}
    after = read_project(store, "docs")
    assert after is not None
    assert after.build.env == {"KEEP": "kept", "CHANGE": SECRET_VALUE, "NEW": "n"}
    assert after.webhook_secret == before.webhook_secret
    assert after.created_at == before.created_at and after.updated_at > before.updated_at

    status, changed, _ = await call(api, "PATCH", "/api/projects/docs", {"repo_url": None})
    assert status == 200 and changed["repo_url"] is None


async def test_a_rotated_secret_is_shown_once_and_replaces_the_old(
    api: TestClient[Any, Any], store: LocalObjectStore, repo_url: str
) -> None:
    _, created = await create(api, {"name": "docs", "repo_url": repo_url})
    status, rotated, _ = await call(api, "POST", "/api/projects/docs/webhook-secret")
    assert status == 200
    assert rotated["name"] == "docs"
    assert rotated["webhook_secret"] != created["webhook_secret"]
    stored = read_project(store, "docs")
    assert stored is not None and stored.webhook_secret == rotated["webhook_secret"]
    _, _, text = await call(api, "GET", "/api/projects/docs")
    assert rotated["webhook_secret"] not in text and created["webhook_secret"] not in text


async def test_show_lists_the_projects_custom_domains(
    api: TestClient[Any, Any], store: LocalObjectStore, state: PlatformState, repo_url: str
) -> None:
    await create(api, {"name": "docs", "repo_url": repo_url})
    add_domain(store, state, "www.example.com", "docs", "localhost")
    add_domain(store, state, "docs.example.org", "docs", "localhost")
    add_domain(store, state, "blog.example.com", "blog", "localhost")
    _, shown, _ = await call(api, "GET", "/api/projects/docs")
    assert shown["domains"] == ["docs.example.org", "www.example.com"]
    _, listed, _ = await call(api, "GET", "/api/projects")
    assert listed["projects"][0]["domains"] == ["docs.example.org", "www.example.com"]


async def test_delete_removes_the_settings_and_leaves_what_serves(
    api: TestClient[Any, Any], store: LocalObjectStore, state: PlatformState, repo_url: str
) -> None:
    await create(api, {"name": "docs", "repo_url": repo_url})
    add_domain(store, state, "www.example.com", "docs", "localhost")
    deployment = new_deployment_id()
    write_deployment(store, deployment, {"/index.html": b"<h1>live</h1>"})
    point_alias(store, state, "docs", deployment)

    status, deleted, _ = await call(api, "DELETE", "/api/projects/docs")
    assert status == 200
    assert deleted == {"name": "docs", "deleted": True, "domains": ["www.example.com"]}
    assert not store.exists(project_key("docs"))
    assert not state.redis.sismember(state.key("projects"), "docs")
    # What serves stays: the deployment, the production alias, the custom domain.
    assert store.exists(manifest_key(deployment))
    assert read_alias(store, "docs") == deployment and state.get_alias("docs") == deployment
    assert state.get_domain("www.example.com") == "docs"

    status, answer, _ = await call(api, "GET", "/api/projects/docs")
    assert (status, answer["error"]["code"]) == (404, "project_not_found")
    _, listed, _ = await call(api, "GET", "/api/projects")
    assert listed == {"projects": []}
    status, again = await create(api, {"name": "docs", "repo_url": repo_url})
    assert status == 201 and again["domains"] == ["www.example.com"]


# --- refusals ------------------------------------------------------------------------------

REFUSED_CREATES: list[tuple[str, object, int, str, str | None, str]] = [
    # (id, body, status, code, field, words in the message)
    ("not-an-object", ["docs"], 400, "invalid_body", None, "JSON object"),
    ("no-name", {"repo_url": None}, 400, "missing_field", "name", "missing field 'name'"),
    ("bad-name", {"name": "My Site"}, 400, "invalid_project", "name", "lowercase"),
    ("long-name", {"name": "a" * 33}, 400, "invalid_project", "name", "longer than 32"),
    ("name-type", {"name": 7}, 400, "invalid_project", "name", "non-empty string"),
    ("unknown", {"name": "docs", "repo": "x"}, 400, "unknown_field", "repo", "allowed: name"),
    (
        "repo-ssh",
        {"name": "docs", "repo_url": "git@github.com:o/r.git"},
        400,
        "invalid_repo_url",
        "repo_url",
        "SSH address",
    ),
    (
        "repo-file",
        {"name": "docs", "repo_url": "file:///etc"},
        400,
        "invalid_repo_url",
        "repo_url",
        "file://",
    ),
    (
        "repo-creds",
        {"name": "docs", "repo_url": "https://u:p@github.com/o/r.git"},
        400,
        "invalid_repo_url",
        "repo_url",
        "credentials",
    ),
    (
        "repo-loopback",
        {"name": "docs", "repo_url": "http://localhost/o/r.git"},
        400,
        "invalid_repo_url",
        "repo_url",
        "loopback",
    ),
    (
        "repo-type",
        {"name": "docs", "repo_url": 5},
        400,
        "invalid_repo_url",
        "repo_url",
        "must be a string",
    ),
    (
        "branch-type",
        {"name": "docs", "production_branch": 1},
        400,
        "invalid_type",
        "production_branch",
        "branch name",
    ),
    (
        "branch-bad",
        {"name": "docs", "production_branch": "a..b"},
        400,
        "invalid_branch",
        "production_branch",
        "'..'",
    ),
    (
        "branch-space",
        {"name": "docs", "production_branch": "my branch"},
        400,
        "invalid_branch",
        "production_branch",
        "whitespace",
    ),
    (
        "branches-type",
        {"name": "docs", "branches": ["main"]},
        400,
        "invalid_type",
        "branches",
        "must be an object",
    ),
    (
        "branches-unknown",
        {"name": "docs", "branches": {"only": []}},
        400,
        "unknown_field",
        "branches.only",
        "allowed: include, exclude",
    ),
    (
        "include-type",
        {"name": "docs", "branches": {"include": "main"}},
        400,
        "invalid_branch_pattern",
        "branches.include",
        "must be a list",
    ),
    (
        "include-bad",
        {"name": "docs", "branches": {"include": ["feature branch/*"]}},
        400,
        "invalid_branch_pattern",
        "branches.include",
        "can never match",
    ),
    (
        "exclude-bad",
        {"name": "docs", "branches": {"exclude": ["x:y"]}},
        400,
        "invalid_branch_pattern",
        "branches.exclude",
        "can never match",
    ),
    (
        "exclude-empty",
        {"name": "docs", "branches": {"exclude": [""]}},
        400,
        "invalid_branch_pattern",
        "branches.exclude",
        "non-empty",
    ),
    (
        "too-many",
        {"name": "docs", "branches": {"include": [f"b{i}" for i in range(101)]}},
        400,
        "invalid_branch_pattern",
        "branches.include",
        "at most 100",
    ),
    (
        "prod-excluded",
        {"name": "docs", "branches": {"exclude": ["ma*"]}},
        400,
        "production_branch_excluded",
        "branches.exclude",
        "production would never deploy",
    ),
    (
        "build-type",
        {"name": "docs", "build": "npm run build"},
        400,
        "invalid_build",
        "build",
        "must be an object",
    ),
    (
        "build-unknown",
        {"name": "docs", "build": {"command": "x"}},
        400,
        "invalid_build",
        "build.command",
        "unknown build setting 'command'",
    ),
    (
        "build-clean",
        {"name": "docs", "build": {"clean": True}},
        400,
        "invalid_build",
        "build.clean",
        "per deployment",
    ),
    (
        "build-path",
        {"name": "docs", "build": {"output_directory": "../x"}},
        400,
        "invalid_build",
        "build.output_directory",
        "inside the repository",
    ),
    (
        "build-node",
        {"name": "docs", "build": {"node_version": "banana"}},
        400,
        "invalid_build",
        "build.node_version",
        "node_version",
    ),
    (
        "env-type",
        {"name": "docs", "build": {"env": ["A=1"]}},
        400,
        "invalid_build",
        "build.env",
        "object of names",
    ),
    (
        "env-reserved",
        {"name": "docs", "build": {"env": {"PATH": "/x"}}},
        400,
        "invalid_build",
        "build.env.PATH",
        "the platform sets it",
    ),
    (
        "env-value",
        {"name": "docs", "build": {"env": {"A": 1}}},
        400,
        "invalid_build",
        "build.env.A",
        "must be a string",
    ),
    (
        "env-mask",
        {"name": "docs", "build": {"env": {"A": "***"}}},
        400,
        "invalid_build",
        "build.env.A",
        "send the real value",
    ),
    (
        "forks-type",
        {"name": "docs", "build_forks": "yes"},
        400,
        "invalid_type",
        "build_forks",
        "true or false",
    ),
]


@pytest.mark.parametrize(
    ("body", "status", "code", "field", "says"),
    [case[1:] for case in REFUSED_CREATES],
    ids=[case[0] for case in REFUSED_CREATES],
)
async def test_bad_settings_are_refused_saying_what_to_fix(
    api: TestClient[Any, Any],
    store: LocalObjectStore,
    state: PlatformState,
    body: object,
    status: int,
    code: str,
    field: str | None,
    says: str,
) -> None:
    got, answer = await create(api, body)
    assert (got, answer["error"]["code"]) == (status, code), answer
    assert answer["error"].get("field") == field
    assert says in answer["error"]["message"]
    assert list(store.list("projects/")) == []
    assert state.redis.scard(state.key("projects")) == 0


@pytest.mark.parametrize(
    ("raw", "says"),
    [(b"", "the body is empty"), (b"{", "not valid JSON"), (b"\xff", "not UTF-8")],
)
async def test_malformed_bodies(api: TestClient[Any, Any], raw: bytes, says: str) -> None:
    for method, path in (("POST", "/api/projects"), ("PATCH", "/api/projects/docs")):
        async with api.request(
            method, path, data=raw, headers={"Content-Type": "application/json"}
        ) as response:
            answer = await response.json()
        assert response.status == 400
        assert answer["error"]["code"] == "malformed_json"
        assert says in answer["error"]["message"]


async def test_a_taken_name_is_409_and_the_first_project_stays(
    api: TestClient[Any, Any], store: LocalObjectStore, repo_url: str
) -> None:
    _, first = await create(api, {"name": "docs", "repo_url": repo_url})
    status, answer = await create(api, {"name": "docs", "production_branch": "trunk"})
    assert status == 409
    assert answer["error"] == {
        "code": "project_exists",
        "field": "name",
        "message": answer["error"]["message"],
    }
    assert "already exists" in answer["error"]["message"]
    assert "project update docs" in answer["error"]["message"]
    stored = read_project(store, "docs")
    assert stored is not None
    assert stored.production_branch == "main"
    assert stored.webhook_secret == first["webhook_secret"]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/projects/ghost"),
        ("PATCH", "/api/projects/ghost"),
        ("DELETE", "/api/projects/ghost"),
        ("POST", "/api/projects/ghost/webhook-secret"),
    ],
)
async def test_an_unknown_project_is_404(
    api: TestClient[Any, Any], store: LocalObjectStore, method: str, path: str
) -> None:
    status, answer, _ = await call(api, method, path, {} if method == "PATCH" else None)
    assert status == 404
    assert answer["error"]["code"] == "project_not_found"
    assert "no project ghost" in answer["error"]["message"]
    assert "project create ghost" in answer["error"]["message"]
    assert list(store.list("projects/")) == []


@pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE"])
async def test_a_malformed_name_in_the_path_is_400(api: TestClient[Any, Any], method: str) -> None:
    status, answer, _ = await call(
        api, method, "/api/projects/Not_A_Name", {} if method == "PATCH" else None
    )
    assert (status, answer["error"]["code"], answer["error"]["field"]) == (
        400,
        "invalid_project",
        "name",
    )


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        ({"name": "blog"}, "rename_unsupported", "name"),
        ({"production_branch": "a..b"}, "invalid_branch", "production_branch"),
        ({"branches": {"include": [1]}}, "invalid_branch_pattern", "branches.include"),
        ({"branches": {"exclude": ["*"]}}, "production_branch_excluded", "branches.exclude"),
        ({"build": {"env": {"KEEP": "***"}}}, "invalid_build", "build.env.KEEP"),
        ({"build": {"package_manager": "maven"}}, "invalid_build", "build.package_manager"),
        ({"repo_url": "ftp://example.com/r.git"}, "invalid_repo_url", "repo_url"),
        ({"webhook_secret": "mine"}, "unknown_field", "webhook_secret"),
    ],
)
async def test_a_refused_update_changes_nothing(
    api: TestClient[Any, Any],
    store: LocalObjectStore,
    repo_url: str,
    body: dict[str, Any],
    code: str,
    field: str,
) -> None:
    await create(api, {"name": "docs", "repo_url": repo_url, "build": {"env": {"KEEP": "k"}}})
    before = store.get_bytes(project_key("docs"))
    status, answer, _ = await call(api, "PATCH", "/api/projects/docs", body)
    assert (status, answer["error"]["code"], answer["error"]["field"]) == (400, code, field)
    assert store.get_bytes(project_key("docs")) == before


async def test_every_project_route_needs_the_token(
    api_for: ApiClientFactory, make_settings: Callable[..., Settings], store: LocalObjectStore
) -> None:
    api = await api_for(make_settings(api_token="project-token"))
    routes = [
        ("POST", "/api/projects", {"name": "docs"}),
        ("GET", "/api/projects", None),
        ("GET", "/api/projects/docs", None),
        ("PATCH", "/api/projects/docs", {}),
        ("DELETE", "/api/projects/docs", None),
        ("POST", "/api/projects/docs/webhook-secret", None),
    ]
    for method, path, body in routes:
        status, answer, _ = await call(api, method, path, body)
        assert (status, answer["error"]["code"]) == (401, "unauthorized"), (method, path)
    assert list(store.list("projects/")) == []
    headers = {"Authorization": "Bearer project-token"}
    async with api.post("/api/projects", json={"name": "docs"}, headers=headers) as response:
        assert response.status == 201


async def test_unknown_project_routes_name_the_projects_endpoint(
    api: TestClient[Any, Any],
) -> None:
    status, answer, _ = await call(api, "GET", "/api/projects/docs/nothing")
    assert status == 404 and "/api/projects" in answer["error"]["message"]
    status, answer, _ = await call(api, "PUT", "/api/projects/docs", {})
    assert status == 405


async def test_the_api_rebuilds_the_project_index_from_the_store_at_start_up(
    api_for: ApiClientFactory,
    make_settings: Callable[..., Settings],
    store: LocalObjectStore,
    state: PlatformState,
) -> None:
    first = await api_for(make_settings())
    status, _ = await create(first, {"name": "docs"})
    assert status == 201
    # Redis lost its index (flushed, or a write that reached only the store).
    for key in state.redis.scan_iter(match=f"{state.prefix}project*"):
        state.redis.delete(key)
    state.redis.sadd(state.key("projects"), "ghost")

    second = await api_for(make_settings())
    _, listed, _ = await call(second, "GET", "/api/projects")
    assert [p["name"] for p in listed["projects"]] == ["docs"]
    assert {m.decode() for m in state.redis.smembers(state.key("projects"))} == {"docs"}


async def test_when_redis_goes_away_writes_get_503_and_reads_still_answer(
    api_for: ApiClientFactory,
    make_settings: Callable[..., Settings],
    store: LocalObjectStore,
    tmp_path: Path,
) -> None:
    own_redis = RedisServer(tmp_path / "own-redis", persistent=False).start()
    try:
        api = await api_for(make_settings(redis_url=own_redis.url))
        status, _ = await create(api, {"name": "docs"})
        assert status == 201
    finally:
        own_redis.stop()
    before = store.get_bytes(project_key("docs"))
    for method, path, body in [
        ("POST", "/api/projects", {"name": "blog"}),
        ("GET", "/api/projects", None),
        ("PATCH", "/api/projects/docs", {"build_forks": True}),
        ("DELETE", "/api/projects/docs", None),
        ("POST", "/api/projects/docs/webhook-secret", None),
    ]:
        got, answer, _ = await call(api, method, path, body)
        assert (got, answer["error"]["code"]) == (503, "redis_unavailable"), (method, path)
    assert store.get_bytes(project_key("docs")) == before
    assert not store.exists(project_key("blog"))
    # The store is the source of truth: showing a project needs no Redis.
    got, shown, _ = await call(api, "GET", "/api/projects/docs")
    assert (got, shown["name"]) == (200, "docs")
