"""End to end: `deploy-platform up` as real processes, a site deployed over HTTP.

Starts the real platform (private Redis, control API, edge-origin, Dagster
daemon and webserver) on free ports, serves a git repository over smart HTTP on
loopback, and checks what a user would: the site is live by Host header, a new
commit moves the production alias while the old immutable URL keeps the old
content, a signed GitHub push webhook brings a branch preview up (and its
deletion takes it down), only changed bodies are uploaded, a killed daemon
loses no deployment, rollback and promote reach the edge without a rebuild and
are logged, and Ctrl-C stops every process.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.environment import TOOLCHAIN_CACHE
from tests.support.platform import RunningPlatform, start_platform
from tests.support.waiting import eventually, until
from tests.support.webhooks import Delivery, delivery, push_payload

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

APPS = Path(__file__).parents[1] / "fixtures" / "apps"

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
        extra_env={"DP_GIT_ALLOW_HOSTS": "127.0.0.1", "DP_TOOL_CACHE_DIR": str(TOOLCHAIN_CACHE)},
    )
    yield running
    running.stop()


def _unique(stem: str) -> str:
    """A repository name of its own: test_platform_postgres.py runs these tests again
    against the same session-wide git server."""
    return f"{stem}-{uuid.uuid4().hex[:8]}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_deploy_update_and_keep_the_old_version(platform: RunningPlatform, git_http: Any) -> None:
    repo = git_http.create_repo(_unique("docs-e2e"), SITE)
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


def test_a_signed_push_webhook_deploys_a_branch_preview_and_deletion_takes_it_down(
    platform: RunningPlatform, git_http: Any
) -> None:
    repo = git_http.create_repo("hooked-e2e", {"index.html": "<h1>main page</h1>"})
    status, project = platform.api(
        "POST", "/api/projects", {"name": "hooked", "repo_url": repo.url}
    )
    assert status == 201, project
    secret = project["webhook_secret"]
    pushed = repo.commit(
        {"index.html": "<h1>preview of the search page</h1>"}, branch="feature/search"
    )

    status, answer = _deliver(
        platform, delivery(secret, "push", push_payload(repo.url, "feature/search", pushed))
    )
    assert status == 202, answer
    [result] = answer["results"]
    assert result["alias"] == "feature-search--hooked"
    record = platform.wait(result["id"])
    assert record["status"] == "ready", record
    assert (record["commit"], record["trigger"]) == (pushed, "webhook")

    status, _, body = platform.fetch("feature-search--hooked.localhost", "/")
    assert status == 200 and b"preview of the search page" in body
    assert platform.fetch("hooked.localhost", "/")[0] == 404  # main was never pushed

    repo.delete_branch("feature/search")
    status, answer = _deliver(
        platform,
        delivery(secret, "push", push_payload(repo.url, "feature/search", pushed, deleted=True)),
    )
    assert status == 200 and answer["results"][0]["outcome"] == "alias_removed", answer
    eventually(
        lambda: platform.fetch("feature-search--hooked.localhost", "/")[0] == 404,
        timeout=30,
        interval=0.1,
        message="the deleted branch's preview still serves",
        retry_on=(),
    )
    status, _, body = platform.fetch(f"{result['id']}.localhost", "/")
    assert status == 200 and b"preview of the search page" in body


def _deliver(platform: RunningPlatform, sent: Delivery) -> tuple[int, Any]:
    """POST a delivery to the webhook as GitHub does: no API token, only the signature."""
    request = urllib.request.Request(
        platform.api_url + "/api/webhooks/github", data=sent.body, headers=sent.headers
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_rematerializing_from_the_ui_gives_the_same_deployment_and_rolls_back(
    platform: RunningPlatform, git_http: Any
) -> None:
    """What the UI's "Materialize" does for one partition, through the webserver's GraphQL:
    the pinned commit again, and production back on it (a rollback from the UI)."""
    from dagster_graphql import DagsterGraphQLClient

    repo = git_http.create_repo(_unique("remat-e2e"), {"index.html": "<h1>pinned one</h1>"})
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
        status = run_to_end(client, run_id)
        assert status == "SUCCESS", platform.log("daemon")
        again = platform.api("GET", f"/api/deployments/{first['id']}")[1]
        assert again["status"] == "ready" and again["commit"] == first["commit"]
        assert again["trigger"] == "ui-rematerialization"
        # The pinned commit, not the branch's new head; production is back on it.
        assert b"pinned one" in platform.fetch(f"{first['id']}.localhost", "/")[2]
        assert b"pinned one" in served(platform, "remat.localhost", b"pinned one")
    moves = platform.api("GET", "/api/projects/remat/aliases")[1]["moves"]
    assert [(m["from"], m["to"], m["reason"]) for m in moves] == [
        (second["id"], first["id"], "ui-rematerialization"),
        (first["id"], second["id"], "deploy"),
        (None, first["id"], "deploy"),
    ]
    assert moves[0]["actor"].startswith("dagster-ui:")


def test_the_retention_job_runs_on_the_platform_as_a_dry_run_from_the_launchpad(
    platform: RunningPlatform, git_http: Any
) -> None:
    """The daily `retention` job, launched by hand through the webserver's GraphQL with
    `dry_run: true`: it runs in a run worker with `up`'s settings and removes nothing."""
    from dagster_graphql import DagsterGraphQLClient

    repo = git_http.create_repo(_unique("retention-e2e"), {"index.html": "<h1>stays</h1>"})
    record = platform.wait(platform.deploy(repo_url=repo.url, project="retained")["id"])
    assert record["status"] == "ready"

    client = DagsterGraphQLClient("127.0.0.1", port_number=platform.ui_port, timeout=60)
    config = {"keep_per_branch": 0, "keep_days": 0, "dry_run": True}
    run_id = client.submit_job_execution(
        "retention", run_config={"ops": {"collect_garbage_op": {"config": config}}}
    )
    status = run_to_end(client, run_id)

    assert status == "SUCCESS", platform.log("daemon")
    assert "Would remove" in platform.log("daemon")
    assert platform.api("GET", f"/api/deployments/{record['id']}")[1]["status"] == "ready"
    assert b"stays" in platform.fetch(f"{record['id']}.localhost", "/")[2]


def run_to_end(client: Any, run_id: str, seconds: float = 180) -> str:
    """The status a run launched through GraphQL ends in: SUCCESS or FAILURE."""
    return until(
        lambda: str(client.get_run_status(run_id).value),
        lambda status: status in ("SUCCESS", "FAILURE"),
        timeout=seconds,
        interval=0.2,
        message=lambda status: f"run {run_id} still {status}",
    )


def served(platform: RunningPlatform, host: str, wanted: bytes, seconds: float = 5) -> bytes:
    """The body at `host`, fetched until it holds `wanted` (a move reaches the edge within
    about a second) or `seconds` pass; the caller asserts on what came back."""
    deadline = time.monotonic() + seconds
    while True:
        body = platform.fetch(host, "/")[2]
        if wanted in body or time.monotonic() > deadline:
            return body
        time.sleep(0.05)


def cli(
    platform: RunningPlatform, *argv: str, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """`deploy-platform ARGV...` as a separate process, pointed at the running platform."""
    return platform.cli(
        *argv, timeout=timeout, DP_API_URL=platform.api_url, DP_API_TOKEN=platform.token
    )


def test_rollback_promote_and_a_revert_through_the_edge(
    platform: RunningPlatform, git_http: Any
) -> None:
    repo = git_http.create_repo("rollback-e2e", {"index.html": "<h1>Version one</h1>"})
    v1 = platform.wait(platform.deploy(repo_url=repo.url, project="rollme")["id"])
    repo.commit({"index.html": "<h1>Version two, broken</h1>"}, message="v2")
    v2 = platform.wait(platform.deploy(repo_url=repo.url, project="rollme")["id"])
    assert v1["status"] == v2["status"] == "ready"
    assert v1["environment"] == v2["environment"] == "production"
    assert b"Version two" in platform.fetch("rollme.localhost", "/")[2]

    # Roll back: the edge serves v1 again, nothing is built.
    done = cli(platform, "rollback", "rollme")
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"now serves {v1['id']} (was {v2['id']})" in done.stdout
    assert b"Version one" in served(platform, "rollme.localhost", b"Version one")
    assert platform.api("GET", f"/api/deployments/{v1['id']}")[1]["trigger"] == "api"

    # A preview promoted into production, then a `git revert` of v2 pushed to main.
    repo.commit({"index.html": "<h1>Preview three</h1>"}, branch="feature/three")
    preview = platform.wait(
        platform.deploy(repo_url=repo.url, ref="feature/three", project="rollme")["id"]
    )
    assert preview["environment"] == "preview"
    status, promoted = platform.api(
        "POST", f"/api/deployments/{preview['id']}/promote", {"actor": "e2e:promoter"}
    )
    assert status == 200 and promoted["from"] == v1["id"], promoted
    assert b"Preview three" in served(platform, "rollme.localhost", b"Preview three")
    reverted = repo.revert()
    v3 = platform.wait(platform.deploy(repo_url=repo.url, project="rollme")["id"])
    assert v3["status"] == "ready" and v3["commit"] == reverted
    assert b"Version one" in served(platform, "rollme.localhost", b"Version one")

    done = cli(platform, "aliases", "rollme", "--format", "json")
    assert done.returncode == 0, done.stderr
    logged = json.loads(done.stdout)["moves"]
    assert [(m["alias"], m["from"], m["to"], m["reason"]) for m in logged] == [
        ("rollme", preview["id"], v3["id"], "deploy"),
        ("rollme", v1["id"], preview["id"], "promote"),
        ("feature-three--rollme", None, preview["id"], "deploy"),
        ("rollme", v2["id"], v1["id"], "rollback"),
        ("rollme", v1["id"], v2["id"], "deploy"),
        ("rollme", None, v1["id"], "deploy"),
    ]
    assert logged[1]["actor"] == "e2e:promoter" and logged[3]["actor"].startswith("cli")
    # Bad input over HTTP gets the error that says what to do.
    status, refused = platform.api("POST", "/api/projects/rollme/rollback", {"deployment": "x"})
    assert status == 400 and "is not a deployment id" in refused["error"]["message"]
    status, refused = platform.api(
        "POST", "/api/projects/rollme/rollback", {"deployment": preview["id"]}
    )
    assert status == 409 and "use promote" in refused["error"]["message"]


def test_history_and_asset_checks_of_deployments_on_the_running_platform(
    platform: RunningPlatform, git_http: Any
) -> None:
    """GET /api/history reads the daemon's Dagster instance; the checks ran in each run."""
    import dagster as dg

    from deploy_platform.orchestration.jobs.purge import open_instance

    repo = git_http.create_repo(_unique("history-e2e"), {"index.html": "<h1>checked</h1>"})
    ready = platform.wait(platform.deploy(repo_url=repo.url, project="hist")["id"])
    # Hidden files are never published: nothing is left to serve.
    repo.commit({".env": "nothing to publish"}, delete=["index.html"])
    failed = platform.wait(platform.deploy(repo_url=repo.url, project="hist")["id"])
    assert (ready["status"], failed["status"]) == ("ready", "failed")

    # The record turns failed inside the failing step; Dagster's run ends a moment
    # later, and the history (read from Dagster's run records) follows it there.
    deadline = time.monotonic() + 180
    while True:
        status, history = platform.api("GET", "/api/history?project=hist")
        assert status == 200, history
        rows = {row["id"]: row for row in history["deployments"]}
        settled = [row["status"] not in ("queued", "running") for row in rows.values()]
        if (len(rows) == 2 and all(settled)) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert list(rows) == [failed["id"], ready["id"]]
    assert rows[ready["id"]]["status"] == "ready" and rows[ready["id"]]["trigger"] == "api"
    assert rows[ready["id"]]["commit"] == ready["commit"]
    assert rows[ready["id"]]["url"] == ready["urls"]["deployment"]
    assert rows[failed["id"]]["status"] == "failed"
    assert rows[failed["id"]]["failed_stage"] == "built_artifact"
    # The checks run in a run of their own after a successful deploy run, and never
    # for the failed build: the UI shows them not executed there, not failed.
    keys = [
        dg.AssetCheckKey(dg.AssetKey("published_deployment"), name)
        for name in ("index_served", "bodies_stored")
    ]
    with open_instance(platform.state_dir, platform.env) as instance:

        def checked() -> dict[str, list[Any]]:
            return {
                key.name: list(
                    instance.event_log_storage.get_asset_check_execution_history(key, limit=20)
                )
                for key in keys
            }

        history_of = until(
            checked,
            lambda found: all(
                any(r.partition == ready["id"] and r.status.value != "PLANNED" for r in records)
                for records in found.values()
            ),
            timeout=180,
            interval=0.5,
            message=lambda found: f"the checks of {ready['id']} did not run: {found}",
        )
        for records in history_of.values():
            ran = [record for record in records if record.partition == ready["id"]]
            assert [record.status.value for record in ran] == ["SUCCEEDED"], ran
            assert [record for record in records if record.partition == failed["id"]] == []


@pytest.mark.network
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
    # The build's milestones, written into the record as they happened, timed.
    said = {(e["stage"], e["step"]): e["detail"] for e in record["progress"]}
    assert re.fullmatch(r"node \S+, npm \S+ ready \(\d+\.\d s\)", said["building", "toolchain"])
    assert said["building", "cache-restore"].startswith(("cache miss (", "cache exact hit: "))
    assert re.fullmatch(r"npm ci \(\d+\.\d s\)", said["building", "install"])
    assert re.fullmatch(r"npm run build \(\d+\.\d s\)", said["building", "build"])
    assert said["building", "cache-save"].startswith("cache saved (")
    assert re.fullmatch(r"uploaded (\d+) of \1 bod(y|ies)", said["publishing", "upload"])
    times = [e["at"] for e in record["progress"]]
    assert times == sorted(times) and record["timestamps"]["cloning"] <= times[0]


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
    # Only hidden files, which are never published: nothing to serve, so the build fails.
    repo.commit({".env": "SECRET=1"}, delete=["index.html"])
    bad = platform.wait(platform.deploy(repo_url=repo.url, project="broken")["id"])
    assert bad["status"] == "failed"
    assert "nothing to publish" in bad["error"]
    assert b"good" in platform.fetch("broken.localhost", "/")[2]


def test_cli_deploys_a_local_directory(platform: RunningPlatform, tmp_path: Path) -> None:
    site = tmp_path / "my_site"
    site.mkdir()
    (site / "index.html").write_text("<h1>uploaded from a directory</h1>")
    done = cli(platform, "deploy", str(site), "--project", "upload", timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "upload.localhost" in done.stdout
    # Each milestone once, as it happened, between the stages it belongs to.
    lines = [line.split("] ", 1)[1] for line in done.stdout.splitlines() if "] " in line]
    milestones = [
        "building",
        "building: static site: publishing the repository root (1 file, ",
        "publishing",
        "publishing: uploaded 1 of 1 body",
        "publishing: manifest written (1 file)",
        "ready",
    ]
    # A milestone ending in ", " is a prefix (the size that follows varies).
    shown = [
        m
        for line in lines
        for m in milestones
        if line == m or (m[-2:] == ", " and line.startswith(m))
    ]
    assert shown == milestones, done.stdout
    assert b"uploaded from a directory" in platform.fetch("upload.localhost", "/")[2]


def test_a_killed_daemon_loses_no_deployment(platform: RunningPlatform, git_http: Any) -> None:
    repo = git_http.create_repo("survivor-e2e", {"index.html": "<h1>survived</h1>"})
    daemon = platform.pid("daemon")
    os.killpg(daemon, signal.SIGKILL)
    # Queued while no daemon runs: the id waits in the Redis stream.
    queued = platform.deploy(repo_url=repo.url, project="survivor")
    waiting = platform.api("GET", f"/api/deployments/{queued['id']}")[1]
    # Queued, and it says what for (the queue sensor, or the daemon once it is missed).
    assert waiting["status"] == "queued" and waiting["waiting"].startswith("waiting for "), waiting
    record = platform.wait(queued["id"], timeout=240)
    assert record["status"] == "ready", record
    assert platform.pid("daemon") != daemon
    assert b"survived" in platform.fetch("survivor.localhost", "/")[2]


def test_ctrl_c_stops_every_process(tmp_path: Path) -> None:
    running = start_platform(tmp_path / "state")
    pids = {name: running.pid(name) for name in ("api", "edge", "daemon", "webserver")}
    assert all(_alive(pid) for pid in pids.values())
    # Commands beside `up` (`deploy-platform gc`) find its private Redis here.
    assert (tmp_path / "state" / "run" / "redis.url").read_text().startswith("redis://:")
    assert running.stop() == 0
    eventually(
        lambda: not [name for name, pid in pids.items() if _alive(pid)],
        timeout=10,
        interval=0.1,
        message=lambda: f"still alive: {[name for name, pid in pids.items() if _alive(pid)]}",
        retry_on=(),
    )
    assert not list((tmp_path / "state" / "run").glob("*.pid"))
    assert not (tmp_path / "state" / "run" / "redis.url").exists()
