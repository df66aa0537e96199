"""End to end: a repository whose package-lock.json is out of date with package.json
deploys on the running platform (as Vercel builds it), and the deployment says why."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.environment import TOOLCHAIN_CACHE
from tests.support.platform import RunningPlatform, start_platform

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.network]

APPS = Path(__file__).parents[1] / "fixtures" / "apps"


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningPlatform]:
    running = start_platform(
        tmp_path_factory.mktemp("platform"),
        extra_env={"DP_GIT_ALLOW_HOSTS": "127.0.0.1", "DP_TOOL_CACHE_DIR": str(TOOLCHAIN_CACHE)},
    )
    yield running
    running.stop()


def test_a_stale_lockfile_deploys_and_the_deployment_carries_the_warning(
    platform: RunningPlatform, git_http: Any
) -> None:
    app = APPS / "npm-stale-lock"
    files = {p.relative_to(app).as_posix(): p.read_bytes() for p in app.rglob("*") if p.is_file()}
    repo = git_http.create_repo("stale-lock-e2e", files)
    record = platform.wait(platform.deploy(repo_url=repo.url, project="stale")["id"], timeout=600)

    assert record["status"] == "ready", record
    assert record["warnings"] == [
        "package-lock.json is out of date with package.json (escape-html ^1.0.3 is not in the "
        "lockfile): installed with `npm install` instead of `npm ci`; commit an updated lockfile"
    ]
    status, _, page = platform.fetch("stale.localhost", "/")
    assert status == 200 and b"<title>npm &lt;stale&gt; lockfile</title>" in page
