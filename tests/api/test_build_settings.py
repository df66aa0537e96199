"""Per-deployment build settings: accepted, stored for the pipeline, never shown with secrets."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from deploy_platform.storage.redis_state import PlatformState
from tests.api.test_uploads import GZIP, SITE, tar_gz
from tests.support.api_fixtures import assert_nothing_accepted, unique_name

SECRET = "s3cr3t-value-that-must-never-come-back"
BUILD = {
    "root_directory": "apps/web",
    "install_command": "npm ci",
    "build_command": "npm run build",
    "output_directory": "dist",
    "node_version": "20",
    "package_manager": "pnpm@9.12.0",
    "env": {"VITE_API_URL": "https://api.example.com", "STRIPE_KEY": SECRET},
}
REPO_SITE = {"index.html": "<h1>hello</h1>\n"}


async def test_build_settings_are_stored_and_answered_without_values(
    api: TestClient[Any, Any], state: PlatformState, git_http: Any
) -> None:
    repo = git_http.create_repo(unique_name("web"), REPO_SITE)

    response = await api.post(
        "/api/deployments", json={"repo_url": repo.url, "project": "web", "build": BUILD}
    )

    text = await response.text()
    assert response.status == 202, text
    assert SECRET not in text
    body = json.loads(text)
    assert body["build"]["env"] == {"VITE_API_URL": "***", "STRIPE_KEY": "***"}
    assert body["build"]["build_command"] == "npm run build"
    assert body["build"]["clean"] is False
    # The pipeline reads the record from Redis: it gets the values.
    record = state.get(body["id"])
    assert record.build["env"] == BUILD["env"]
    assert record.build["root_directory"] == "apps/web"
    assert record.build["package_manager"] == "pnpm@9.12.0"

    again = await api.get(f"/api/deployments/{body['id']}")
    again_text = await again.text()
    assert again.status == 200
    assert SECRET not in again_text
    assert json.loads(again_text)["build"]["env"]["STRIPE_KEY"] == "***"


async def test_a_deployment_without_build_settings_detects_everything(
    api: TestClient[Any, Any], state: PlatformState, git_http: Any
) -> None:
    repo = git_http.create_repo(unique_name("plain"), REPO_SITE)
    response = await api.post("/api/deployments", json={"repo_url": repo.url, "project": "plain"})
    assert response.status == 202, await response.text()
    build = state.get((await response.json())["id"]).build
    assert build["env"] == {} and build["clean"] is False
    assert all(build[name] is None for name in ("build_command", "node_version", "root_directory"))


@pytest.mark.parametrize(
    "body",
    [{"clean": True}, {"build": {"clean": True}}, {"clean": True, "build": {"clean": False}}],
    ids=["top-level", "in-build", "either-one"],
)
async def test_clean_forces_a_build_without_the_cache(
    api: TestClient[Any, Any], state: PlatformState, git_http: Any, body: dict[str, Any]
) -> None:
    repo = git_http.create_repo(unique_name("clean"), REPO_SITE)
    response = await api.post(
        "/api/deployments", json={"repo_url": repo.url, "project": "clean", **body}
    )
    assert response.status == 202, await response.text()
    assert (await response.json())["build"]["clean"] is True
    assert state.get((await response.json())["id"]).build["clean"] is True


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"build": "npm run build"}, "build"),
        ({"build": {"buildCommand": "x"}}, "build.buildCommand"),
        ({"build": {"root_directory": "../elsewhere"}}, "build.root_directory"),
        ({"build": {"output_directory": "/etc"}}, "build.output_directory"),
        ({"build": {"build_command": 7}}, "build.build_command"),
        ({"build": {"node_version": "banana"}}, "build.node_version"),
        ({"build": {"package_manager": "pip"}}, "build.package_manager"),
        ({"build": {"env": ["A=1"]}}, "build.env"),
        ({"build": {"env": {"PATH": SECRET}}}, "build.env.PATH"),
        ({"build": {"env": {"DP_S3_SECRET": SECRET}}}, "build.env.DP_S3_SECRET"),
        ({"build": {"env": {"1BAD": SECRET}}}, "build.env.1BAD"),
        ({"build": {"env": {"TOKEN": 12345}}}, "build.env.TOKEN"),
        ({"build": {"clean": "yes"}}, "build.clean"),
        ({"clean": "yes"}, "clean"),
    ],
)
async def test_bad_build_settings_are_refused_naming_the_field(
    api: TestClient[Any, Any],
    state: PlatformState,
    local_store_root: Path,
    extra: dict[str, Any],
    field: str,
) -> None:
    # Checked before the repository is looked at: this URL is never resolved.
    body = {"repo_url": "https://git.invalid/org/site.git", "project": "site", **extra}

    response = await api.post("/api/deployments", json=body)

    text = await response.text()
    assert response.status == 400, text
    error = json.loads(text)["error"]
    assert error["field"] == field
    assert error["message"]
    assert SECRET not in text, "a refusal never echoes a build variable's value"
    assert_nothing_accepted(state, local_store_root)


async def test_an_upload_takes_clean_and_build_settings(
    api: TestClient[Any, Any], state: PlatformState
) -> None:
    response = await api.post(
        "/api/deployments?project=docs&clean=1",
        data=tar_gz(SITE),
        headers={**GZIP, "X-Build-Settings": json.dumps({"env": {"TOKEN": SECRET}})},
    )

    text = await response.text()
    assert response.status == 202, text
    assert SECRET not in text
    body = json.loads(text)
    assert body["build"]["clean"] is True
    assert body["build"]["env"] == {"TOKEN": "***"}
    assert state.get(body["id"]).build["env"] == {"TOKEN": SECRET}


async def test_an_upload_without_clean_uses_the_cache(
    api: TestClient[Any, Any], state: PlatformState
) -> None:
    response = await api.post(
        "/api/deployments?project=docs&clean=0", data=tar_gz(SITE), headers=GZIP
    )
    assert response.status == 202, await response.text()
    assert state.get((await response.json())["id"]).build["clean"] is False


@pytest.mark.parametrize(
    ("query", "header", "field"),
    [
        ("&clean=maybe", None, "clean"),
        ("", "{not json", "build"),
        ("", json.dumps({"env": {"HOME": SECRET}}), "build.env.HOME"),
        ("", json.dumps({"output_directory": "../../x"}), "build.output_directory"),
    ],
)
async def test_bad_upload_build_settings_are_refused_before_anything_is_stored(
    api: TestClient[Any, Any],
    state: PlatformState,
    local_store_root: Path,
    query: str,
    header: str | None,
    field: str,
) -> None:
    headers = dict(GZIP)
    if header is not None:
        headers["X-Build-Settings"] = header
    response = await api.post(
        f"/api/deployments?project=docs{query}", data=tar_gz(SITE), headers=headers
    )

    text = await response.text()
    assert response.status == 400, text
    assert json.loads(text)["error"]["field"] == field
    assert SECRET not in text
    assert_nothing_accepted(state, local_store_root)
