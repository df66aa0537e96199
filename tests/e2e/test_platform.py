"""End to end: `deploy-platform up` as real processes, a site deployed over HTTP.

Starts the real platform (private Redis, control API, edge-origin, Dagster
daemon and webserver) on free ports, serves a git repository over smart HTTP on
loopback, and checks what a user would: the site is live by Host header, a new
commit moves the production alias while the old immutable URL keeps the old
content, only changed bodies are uploaded, a killed daemon loses no deployment,
and Ctrl-C stops every process.
"""

from __future__ import annotations

import os
import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.platform import RunningPlatform, start_platform

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

APPS = Path(__file__).parents[1] / "fixtures" / "apps"
# Shared with the build tests: Node and package managers are downloaded once.
TOOLS = Path.home() / ".cache" / "deploy-platform-tests" / "toolchains"

SITE = {
    "index.html": "<!doctype html><title>Docs</title><h1>Version one</h1>",
    "about/index.html": "<!doctype html><title>About</title><p>About us</p>",
    "assets/style.css": "body { color: #123456; }",
    "assets/app.js": "console.log('hello');",
    "robots.txt": "User-agent: *\n",
}


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningPlatform]:
    """The whole platform, running for this module's tests; stopped with Ctrl-C (SIGINT)."""
    running = start_platform(
        tmp_path_factory.mktemp("platform"),
        extra_env={"DP_GIT_ALLOW_HOSTS": "127.0.0.1", "DP_TOOL_CACHE_DIR": str(TOOLS)},
    )
    yield running
    running.stop()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_deploy_update_and_keep_the_old_version(platform: RunningPlatform, git_http: Any) -> None:
    repo = git_http.create_repo("docs-e2e", SITE)
    first = platform.deploy(repo_url=repo.url, ref="main", project="docs")
    record = platform.wait(first["id"])
    assert record["status"] == "ready", record
    assert record["commit"] == repo.head("main")
    assert record["files_uploaded"] == len(SITE)

    status, headers, body = platform.fetch(f"{first['id']}.localhost", "/")
    assert status == 200 and b"Version one" in body
    assert headers["Content-Type"].startswith("text/html")
    status, _, body = platform.fetch("docs.localhost", "/about/")
    assert status == 200 and b"About us" in body
    status, _, _ = platform.fetch("nope.localhost", "/")
    assert status == 404

    second_commit = repo.commit({"index.html": SITE["index.html"].replace("one", "two")})
    second = platform.deploy(repo_url=repo.url, ref="main", project="docs")
    record2 = platform.wait(second["id"])
    assert record2["status"] == "ready", record2
    assert record2["commit"] == second_commit
    # Only the changed body travels; the other four are reused by content address.
    assert record2["files_uploaded"] == 1
    assert record2["files_reused"] == len(SITE) - 1

    assert b"Version two" in platform.fetch("docs.localhost", "/")[2]
    assert b"Version one" in platform.fetch(f"{first['id']}.localhost", "/")[2]
    assert b"Version two" in platform.fetch(f"{second['id']}.localhost", "/")[2]


def test_rematerializing_from_the_ui_gives_the_same_deployment(
    platform: RunningPlatform, git_http: Any
) -> None:
    """What the UI's "Materialize" does for one partition, through the webserver's GraphQL."""
    from dagster_graphql import DagsterGraphQLClient

    repo = git_http.create_repo("remat-e2e", {"index.html": "<h1>pinned one</h1>"})
    first = platform.wait(platform.deploy(repo_url=repo.url, project="remat")["id"])
    repo.commit({"index.html": "<h1>branch moved on</h1>"})
    second = platform.wait(platform.deploy(repo_url=repo.url, project="remat")["id"])
    assert first["status"] == second["status"] == "ready"

    client = DagsterGraphQLClient("127.0.0.1", port_number=platform.ui_port, timeout=60)
    for selection in (
        ["source_archive", "built_artifact", "published_deployment"],
        ["published_deployment"],
    ):
        run_id = client.submit_job_execution(
            "deploy", tags={"dagster/partition": first["id"]}, asset_selection=selection
        )
        deadline = time.monotonic() + 180
        while (status := client.get_run_status(run_id).value) not in ("SUCCESS", "FAILURE"):
            assert time.monotonic() < deadline, f"run {run_id} still {status}"
            time.sleep(0.2)
        assert status == "SUCCESS", platform.log("daemon")
        again = platform.api("GET", f"/api/deployments/{first['id']}")[1]
        assert again["status"] == "ready" and again["commit"] == first["commit"]
        # The pinned commit, not the branch's new head; production stays on the newer push.
        assert b"pinned one" in platform.fetch(f"{first['id']}.localhost", "/")[2]
        assert b"branch moved on" in platform.fetch("remat.localhost", "/")[2]


def test_a_vite_react_app_is_built_and_served(platform: RunningPlatform, git_http: Any) -> None:
    app = APPS / "vite-react"
    files = {p.relative_to(app).as_posix(): p.read_bytes() for p in app.rglob("*") if p.is_file()}
    repo = git_http.create_repo("vite-e2e", files)
    record = platform.wait(platform.deploy(repo_url=repo.url, project="vite")["id"], timeout=600)
    assert record["status"] == "ready", record
    assert record["framework"] == "vite"

    status, _, page = platform.fetch("vite.localhost", "/")
    assert status == 200 and b'<div id="root">' in page
    script = re.search(rb'src="(/assets/index-[^"]+\.js)"', page)
    assert script is not None, page
    status, headers, body = platform.fetch("vite.localhost", script.group(1).decode())
    assert status == 200 and headers["Content-Type"].startswith("text/javascript")
    assert b"Hello from the Vite React fixture" in body
    # Vite's content-hashed name is recognized: cached for a year; the page revalidates.
    assert headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert platform.fetch("vite.localhost", "/")[1]["Cache-Control"].endswith("must-revalidate")
    # The build's own output is in the run's captured stdout, which the UI shows.
    captured = platform.state_dir.glob("dagster/storage/*/compute_logs/*.out")
    assert any("$ npm ci" in p.read_text() and "vite v" in p.read_text() for p in captured)


def test_bad_input_is_refused_and_a_failed_build_leaves_production_alone(
    platform: RunningPlatform, git_http: Any
) -> None:
    status, answer = platform.api(
        "POST", "/api/deployments", {"repo_url": "file:///etc", "project": "x"}
    )
    assert status == 400 and "repo_url" in answer["error"]["message"] + str(
        answer["error"].get("field")
    )

    repo = git_http.create_repo("broken-e2e", {"index.html": "<h1>good</h1>"})
    good = platform.wait(platform.deploy(repo_url=repo.url, project="broken")["id"])
    assert good["status"] == "ready"
    repo.commit({"README.md": "no site here"}, delete=["index.html"])
    bad = platform.wait(platform.deploy(repo_url=repo.url, project="broken")["id"])
    assert bad["status"] == "failed"
    assert "index.html" in bad["error"]
    assert b"good" in platform.fetch("broken.localhost", "/")[2]


def test_cli_deploys_a_local_directory(platform: RunningPlatform, tmp_path: Path) -> None:
    site = tmp_path / "my_site"
    site.mkdir()
    (site / "index.html").write_text("<h1>uploaded from a directory</h1>")
    done = platform.cli(
        "deploy",
        str(site),
        "--project",
        "upload",
        DP_API_URL=platform.api_url,
        DP_API_TOKEN=platform.token,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "upload.localhost" in done.stdout
    assert b"uploaded from a directory" in platform.fetch("upload.localhost", "/")[2]


def test_a_killed_daemon_loses_no_deployment(platform: RunningPlatform, git_http: Any) -> None:
    repo = git_http.create_repo("survivor-e2e", {"index.html": "<h1>survived</h1>"})
    daemon = platform.pid("daemon")
    os.killpg(daemon, signal.SIGKILL)
    # Queued while no daemon runs: the id waits in the Redis stream.
    queued = platform.deploy(repo_url=repo.url, project="survivor")
    assert platform.api("GET", f"/api/deployments/{queued['id']}")[1]["status"] == "queued"
    record = platform.wait(queued["id"], timeout=240)
    assert record["status"] == "ready", record
    assert platform.pid("daemon") != daemon
    assert b"survived" in platform.fetch("survivor.localhost", "/")[2]


def test_ctrl_c_stops_every_process(tmp_path: Path) -> None:
    running = start_platform(tmp_path / "state")
    pids = {name: running.pid(name) for name in ("api", "edge", "daemon", "webserver")}
    assert all(_alive(pid) for pid in pids.values())
    # Commands beside `up` (`deploy-platform gc`) find its private Redis here.
    assert (tmp_path / "state" / "run" / "redis.url").read_text().startswith("redis://127.0.0.1:")
    assert running.stop() == 0
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in pids.values()) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [name for name, pid in pids.items() if _alive(pid)]
    assert not list((tmp_path / "state" / "run").glob("*.pid"))
    assert not (tmp_path / "state" / "run" / "redis.url").exists()
