"""Enqueue → ready for a 100-file static site, over many deployments.

Starts the real platform (`deploy-platform up` on free ports, private state dir),
serves a git repository of N static files over smart HTTP on loopback, then
deploys it D times in a row, each time after a commit that changes one file
(the everyday case: a push to main). For each deployment it measures the wall
time from the POST to the moment `GET /api/deployments/<id>` first says `ready`
(polled every 20 ms), and reads the per-stage durations from the record.

    .venv/bin/python -m benchmarks.enqueue_to_ready [--deployments 12] [--files 100]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from benchmarks.timings import percentile
from tests.support.git_fixtures import GitHttpServer
from tests.support.platform import start_platform


def _site(files: int, version: int) -> dict[str, str]:
    site = {"index.html": f"<!doctype html><h1>bench v{version}</h1>"}
    for i in range(files - 1):
        folder = ("assets", "docs", "img")[i % 3]
        site[f"{folder}/file-{i:03d}.txt"] = f"static body {i}\n" * (20 + i)
    return site


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deployments", type=int, default=12)
    parser.add_argument("--files", type=int, default=100)
    parser.add_argument("--warmup", type=int, default=1, help="deployments not counted")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="dp-bench-") as tmp:
        git = GitHttpServer(Path(tmp) / "git").start()
        platform = start_platform(Path(tmp) / "state", {"DP_GIT_ALLOW_HOSTS": "127.0.0.1"})
        try:
            repo = git.create_repo("bench-site", _site(args.files, 0))
            walls: list[float] = []
            stages: dict[str, list[float]] = {}
            for n in range(args.warmup + args.deployments):
                if n:
                    repo.commit({"index.html": f"<!doctype html><h1>bench v{n}</h1>"})
                started = time.monotonic()
                answer = platform.deploy(repo_url=repo.url, ref="main", project="bench")
                while True:
                    _, record = platform.api("GET", f"/api/deployments/{answer['id']}")
                    if record["status"] in ("ready", "failed"):
                        break
                    time.sleep(0.02)
                wall = time.monotonic() - started
                if record["status"] != "ready":
                    raise SystemExit(f"deployment failed: {record['error']}")
                label = "warm-up" if n < args.warmup else f"#{n - args.warmup + 1}"
                print(
                    f"{label:8} {wall:6.2f} s  uploaded {record['files_uploaded']} of "
                    f"{record['files']} files  stages {record['durations']}",
                    flush=True,
                )
                if n >= args.warmup:
                    walls.append(wall)
                    for stage, seconds in record["durations"].items():
                        stages.setdefault(stage, []).append(seconds)
        finally:
            platform.stop()
            git.stop()

    print()
    print(f"enqueue → ready, {args.files}-file static site, {len(walls)} deployments")
    print(
        f"  p50 {statistics.median(walls):.2f} s   p95 {percentile(walls, 0.95):.2f} s   "
        f"min {min(walls):.2f} s   max {max(walls):.2f} s"
    )
    for stage, values in stages.items():
        print(
            f"  stage {stage:11} p50 {statistics.median(values):.2f} s  "
            f"p95 {percentile(values, 0.95):.2f} s"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
