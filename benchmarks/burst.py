"""A burst: many static deployments enqueued at once through the API, against a running `up`.

Starts the real platform (`deploy-platform up` on free ports, private state dir),
serves one small static site from a git repository over smart HTTP on loopback, then
POSTs N deployments of it at the same moment (N projects, so the per-project build
limit does not serialise them; the overall limit, DP_MAX_CONCURRENT_BUILDS, does).
It reads the deployments list until each is ready or failed, and reports: the time from the
first POST until all are ready, how many were lost (failed, or not ready within
--timeout), p50/p95 of each deployment's enqueue → ready, and the peak resident memory
of up's whole process tree (sampled every 0.2 s from /proc).

    .venv/bin/python -m benchmarks.burst [--deployments 50] [--files 20] [--timeout 300]
        [--postgres postgresql://postgres@127.0.0.1:5432/postgres]

With `--postgres`, Dagster's run and event storage is a fresh PostgreSQL database
(DP_DAGSTER_POSTGRES_URL) instead of SQLite under DAGSTER_HOME.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from benchmarks.timings import percentile
from tests.support.git_fixtures import GitHttpServer
from tests.support.platform import RunningPlatform, start_platform

_PAGE = os.sysconf("SC_PAGE_SIZE")


def _site(files: int) -> dict[str, str]:
    site = {"index.html": "<!doctype html><h1>burst</h1>"}
    for i in range(files - 1):
        site[f"assets/file-{i:03d}.txt"] = f"static body {i}\n" * (10 + i)
    return site


def tree_rss(root: int) -> int:
    """Resident bytes of `root` and all its descendants, now."""
    parents: dict[int, int] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        parents[int(entry)] = int(fields[1])
        rss[int(entry)] = int(fields[21]) * _PAGE
    total, stack = 0, [root]
    seen: set[int] = set()
    while stack:
        pid = stack.pop()
        if pid in seen:
            continue
        seen.add(pid)
        total += rss.get(pid, 0)
        stack.extend(child for child, parent in parents.items() if parent == pid)
    return total


class PeakRss(threading.Thread):
    def __init__(self, root: int) -> None:
        super().__init__(daemon=True)
        self.root, self.peak, self.stopped = root, 0, threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(0.2):
            self.peak = max(self.peak, tree_rss(self.root))


def _wait_all(
    platform: RunningPlatform, posted: list[tuple[str, float]], deadline: float
) -> list[tuple[str, float]]:
    """Each deployment's outcome and enqueue -> outcome time, from the deployments list.

    One request lists them all (every 0.25 s): polling each record in a loop would
    load the API, on the same two cores, more than the deployments do.
    """
    outcome: dict[str, tuple[str, float]] = {}
    while time.monotonic() < deadline and len(outcome) < len(posted):
        _, page = platform.api("GET", f"/api/deployments?limit={min(len(posted), 100)}")
        now = time.monotonic()
        status = {item["id"]: item["status"] for item in page["deployments"]}
        for deployment_id, sent in posted:
            if deployment_id not in outcome and status.get(deployment_id) in ("ready", "failed"):
                outcome[deployment_id] = (status[deployment_id], now - sent)
        time.sleep(0.25)
    now = time.monotonic()
    return [outcome.get(d, ("stuck", now - sent)) for d, sent in posted]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deployments", type=int, default=50)
    parser.add_argument("--files", type=int, default=20)
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument(
        "--postgres",
        metavar="ADMIN_URL",
        help="keep Dagster's history in a new PostgreSQL database made (and dropped) through "
        "this server URL, e.g. postgresql://postgres@127.0.0.1:5432/postgres",
    )
    args = parser.parse_args()
    with _history_database(args.postgres) as database_url:
        extra = {"DP_DAGSTER_POSTGRES_URL": database_url} if database_url else {}
        return _burst(args, extra)


@contextlib.contextmanager
def _history_database(admin_url: str | None) -> Iterator[str | None]:
    if not admin_url:
        yield None
        return
    import psycopg2

    admin = psycopg2.connect(admin_url, connect_timeout=5)
    admin.autocommit = True  # CREATE/DROP DATABASE cannot run in a transaction
    database = f"dp_burst_{uuid.uuid4().hex[:10]}"
    with admin.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{database}"')
    try:
        yield urlunsplit(urlsplit(admin_url)._replace(path=f"/{database}"))
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        admin.close()


def _burst(args: argparse.Namespace, extra: dict[str, str]) -> int:

    with tempfile.TemporaryDirectory(prefix="dp-burst-") as tmp:
        git = GitHttpServer(Path(tmp) / "git").start()
        platform = start_platform(Path(tmp) / "state", {"DP_GIT_ALLOW_HOSTS": "127.0.0.1", **extra})
        try:
            repo = git.create_repo("burst-site", _site(args.files))
            time.sleep(10)  # let the daemon load the code location and start ticking
            idle_rss = tree_rss(platform.process.pid)
            sampler = PeakRss(platform.process.pid)
            sampler.start()

            def post(n: int) -> tuple[str, float]:
                posted = time.monotonic()
                answer = platform.deploy(repo_url=repo.url, ref="main", project=f"burst-{n:02d}")
                return answer["id"], posted

            started = time.monotonic()
            with ThreadPoolExecutor(args.deployments) as pool:
                posted = list(pool.map(post, range(args.deployments)))
            deadline = started + args.timeout
            outcomes = _wait_all(platform, posted, deadline)
            all_done = time.monotonic() - started
            sampler.stopped.set()
            sampler.join()
        finally:
            platform.stop()
            git.stop()

    ready = [seconds for status, seconds in outcomes if status == "ready"]
    lost = {s: sum(1 for status, _ in outcomes if status == s) for s in ("failed", "stuck")}
    history = "PostgreSQL" if extra else "SQLite"
    print(
        f"burst of {args.deployments} static deployments ({args.files} files), one per project; "
        f"Dagster history in {history}"
    )
    if len(ready) == len(outcomes):
        print(f"  all ready after      {all_done:6.1f} s")
    print(f"  ready {len(ready)}, failed {lost['failed']}, stuck {lost['stuck']}")
    if ready:
        print(
            f"  enqueue → ready      p50 {statistics.median(ready):.1f} s   "
            f"p95 {percentile(ready, 0.95):.1f} s   max {max(ready):.1f} s"
        )
    print(
        f"  up's process tree    idle {idle_rss / 2**20:.0f} MB   "
        f"peak {sampler.peak / 2**20:.0f} MB"
    )
    print(f"  load average         {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0 if len(ready) == len(outcomes) else 1


if __name__ == "__main__":
    raise SystemExit(main())
