"""Resident memory of the edge-origin while 10,000 deployments exist and are requested.

Publishes N small deployments through the real publisher (`publish_directory`)
into a local-directory store, points aliases at many of them (pointer, then
the private Redis, as a deployment does), adds a few 20,000-file deployments
(the manifests that a count-bounded cache would choke on), then starts the real
`python -m serve` and requests every host (id hosts and alias hosts) on several
paths, twice over in shuffled order. The process's VmRSS is sampled from
/proc/<pid>/status every 50 ms; VmHWM (the kernel's high-water mark) gives the
true peak. The goal: peak RSS < configured cache size (manifest + body +
answer budgets) + 150 MB, for one worker process (`--workers 1`; each worker
of a multi-process edge has budgets of its own). It runs once per cache
setting, so a smaller budget shows the bound moves with the setting rather than
with the number of deployments.

    .venv/bin/python -m benchmarks.edge_memory            # --deployments 10000
    .venv/bin/python -m benchmarks.edge_memory --deployments 2000 --settings 8:16

Each deployment has a unique index.html and a unique fingerprinted script (so
the distinct bodies, ~10 KB per deployment, outgrow the body cache), plus files
shared by all (content-addressed once). Every tenth deployment has `_headers`
and `_redirects` rules.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import random
import shutil
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from deploy_platform.contracts.ids import new_deployment_id
from deploy_platform.processes.redis_server import RedisServer
from deploy_platform.publish.aliases import point_alias
from deploy_platform.publish.deployment import publish_directory
from deploy_platform.storage.local import LocalObjectStore
from deploy_platform.storage.redis_state import PlatformState
from tests.support.edge_process import serve_process

MIB = 1024 * 1024
ALLOWANCE = 150 * 1000 * 1000  # "+ 150 MB" of the goal
ANSWER_CACHE_MIB = 16  # the answer cache's default budget, part of the configured size
PREFIX = "bench:"
_SHARED = {
    "/about.html": b"<!doctype html><title>About</title>" + b"<p>About this site.</p>\n" * 40,
    "/css/site.css": b"body{margin:0;font-family:system-ui}\n" * 120,
    "/img/logo.svg": b'<svg xmlns="http://www.w3.org/2000/svg"><circle r="4"/></svg>\n' * 30,
    "/robots.txt": b"User-agent: *\nAllow: /\n",
}
_HEADERS_RULES = b"/assets/*\n  Cache-Control: public, max-age=31536000, immutable\n"
_REDIRECT_RULES = b"/old /about.html 301\n/blog/* /about.html 302\n"


@dataclass
class Site:
    deployment: str
    script: str  # the fingerprinted script's path
    aliases: list[str] = field(default_factory=list)


# -- publishing -----------------------------------------------------------------------


def _script_body(n: int) -> bytes:
    return (f"/* build {n} */\n" + f"export const n{n} = {n};\n" * 300).encode()


def _fingerprint(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()[:8]


def _publish_slice(store_root: str, first: int, count: int) -> list[tuple[str, str]]:
    """Publish deployments first..first+count-1 from one reused directory: (id, script path)."""
    store = LocalObjectStore(Path(store_root))
    work = Path(tempfile.mkdtemp(prefix="dp-bench-site-"))
    try:
        for url, body in _SHARED.items():
            (work / url.lstrip("/")).parent.mkdir(parents=True, exist_ok=True)
            (work / url.lstrip("/")).write_bytes(body)
        (work / "assets").mkdir()
        published = []
        for n in range(first, first + count):
            script_body = _script_body(n)
            script = f"/assets/app-{_fingerprint(script_body)}.js"
            for old in (work / "assets").iterdir():
                old.unlink()
            (work / script.lstrip("/")).write_bytes(script_body)
            page = (
                f'<!doctype html><title>Site {n}</title><script src="{script}"></script>\n'
                + f"<p>Deployment number {n}.</p>\n" * 40
            )
            (work / "index.html").write_text(page)
            for name, rules in (("_headers", _HEADERS_RULES), ("_redirects", _REDIRECT_RULES)):
                if n % 10 == 0:
                    (work / name).write_bytes(rules)
                else:
                    (work / name).unlink(missing_ok=True)
            deployment = new_deployment_id()
            publish_directory(store, deployment, work, max_workers=1)
            published.append((deployment, script))
        return published
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _publish_large(store: LocalObjectStore, files: int) -> str:
    """One deployment of `files` pages (a big docs site): a manifest of several MB."""
    with tempfile.TemporaryDirectory(prefix="dp-bench-large-") as tmp:
        root = Path(tmp)
        (root / "index.html").write_text("<!doctype html><title>Docs</title>")
        for i in range(files):
            page = root / "docs" / f"section-{i % 100:03d}" / f"page-{i:05d}.html"
            page.parent.mkdir(parents=True, exist_ok=True)
            page.write_text(f"<!doctype html><title>Page {i % 50}</title>")  # 50 distinct bodies
        deployment = new_deployment_id()
        publish_directory(store, deployment, root, max_workers=2)
        return deployment


def publish_all(
    store_root: Path, state: PlatformState, deployments: int, large: int, large_files: int
) -> list[Site]:
    started = time.monotonic()
    processes = max(1, min(2, os.cpu_count() or 1))
    share = -(-deployments // processes)
    with ProcessPoolExecutor(processes) as pool:
        slices = [
            pool.submit(_publish_slice, str(store_root), first, min(share, deployments - first))
            for first in range(0, deployments, share)
        ]
        sites = [Site(d, script) for future in slices for d, script in future.result()]
    print(f"published {len(sites)} deployments in {time.monotonic() - started:.0f} s", flush=True)
    store = LocalObjectStore(store_root)
    started = time.monotonic()
    for n, site in enumerate(sites):
        # Half have a production alias, a quarter a branch preview too.
        if n % 2 == 0:
            site.aliases.append(f"site-{n}")
        if n % 4 == 0:
            site.aliases.append(f"feature-x--site-{n}")
        for alias in site.aliases:
            point_alias(store, state, alias, site.deployment)
    aliases = sum(len(site.aliases) for site in sites)
    print(f"pointed {aliases} aliases in {time.monotonic() - started:.0f} s", flush=True)
    started = time.monotonic()
    for n in range(large):
        deployment = _publish_large(store, large_files)
        sites.append(Site(deployment, "/docs/section-001/page-00001.html", [f"docs-{n}"]))
        point_alias(store, state, f"docs-{n}", deployment)
    if large:
        print(
            f"published {large} deployments of {large_files} files in "
            f"{time.monotonic() - started:.0f} s",
            flush=True,
        )
    return sites


# -- the edge and its memory ----------------------------------------------------------


def _status_kib(pid: int, field_name: str) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"/proc/{pid}/status has no {field_name}")


class RssSampler:
    """Samples a process's VmRSS every `interval` seconds on a thread."""

    def __init__(self, pid: int, interval: float = 0.05) -> None:
        self.pid = pid
        self.interval = interval
        self.samples: list[int] = []  # bytes
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append(_status_kib(self.pid, "VmRSS") * 1024)
            self._stop.wait(self.interval)


def requests_for(sites: list[Site], base: str, rounds: int, seed: int) -> list[tuple[str, str]]:
    """(host, path) for every host and several paths, `rounds` times, each round shuffled."""
    one_round: list[tuple[str, str]] = []
    for site in sites:
        for label in (site.deployment, *site.aliases):
            host = f"{label}.{base}"
            for path in ("/", site.script, "/about.html", "/css/site.css", "/no-such-page"):
                one_round.append((host, path))
    rng = random.Random(seed)
    everything = []
    for _ in range(rounds):
        rng.shuffle(one_round)
        everything.extend(one_round)
    return everything


async def fetch_all(port: int, work: list[tuple[str, str]], connections: int) -> Counter[int]:
    statuses: Counter[int] = Counter()
    queue = iter(work)
    connector = aiohttp.TCPConnector(limit=connections)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def worker() -> None:
            for host, path in queue:
                url = f"http://127.0.0.1:{port}{path}"
                async with session.get(url, headers={"Host": host}) as response:
                    await response.read()
                    statuses[response.status] += 1

        await asyncio.gather(*(worker() for _ in range(connections)))
    return statuses


@dataclass
class Run:
    manifest_mib: int
    body_mib: int
    requests: int
    seconds: float
    statuses: Counter[int]
    idle_rss: int
    peak_sampled: int
    peak_hwm: int
    final_rss: int

    @property
    def cache_bytes(self) -> int:
        return (self.manifest_mib + self.body_mib + ANSWER_CACHE_MIB) * MIB

    @property
    def limit(self) -> int:
        return self.cache_bytes + ALLOWANCE


def measure(
    sites: list[Site],
    store_root: Path,
    redis: RedisServer,
    manifest_mib: int,
    body_mib: int,
    args: argparse.Namespace,
) -> Run:
    settings = {
        "DP_EDGE_MANIFEST_CACHE_BYTES": str(manifest_mib * MIB),
        "DP_EDGE_BODY_CACHE_BYTES": str(body_mib * MIB),
        "DP_EDGE_ANSWER_CACHE_BYTES": str(ANSWER_CACHE_MIB * MIB),
    }
    with serve_process(store_root, redis.url, PREFIX, **settings) as edge:
        pid = edge.process.pid
        time.sleep(0.5)
        idle = _status_kib(pid, "VmRSS") * 1024
        work = requests_for(sites, "localhost", args.rounds, args.seed)
        with RssSampler(pid) as sampler:
            started = time.monotonic()
            statuses = asyncio.run(fetch_all(edge.port, work, args.connections))
            seconds = time.monotonic() - started
            time.sleep(1.0)  # "after": once the last answers are out
        return Run(
            manifest_mib=manifest_mib,
            body_mib=body_mib,
            requests=len(work),
            seconds=seconds,
            statuses=statuses,
            idle_rss=idle,
            peak_sampled=max(sampler.samples),
            peak_hwm=_status_kib(pid, "VmHWM") * 1024,
            final_rss=_status_kib(pid, "VmRSS") * 1024,
        )


def _mb(value: int) -> str:
    return f"{value / 1e6:.0f} MB"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deployments", type=int, default=10_000)
    parser.add_argument("--large", type=int, default=4, help="deployments of --large-files files")
    parser.add_argument("--large-files", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=2, help="times every host/path is asked")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--seed", type=int, default=4)
    parser.add_argument(
        "--settings",
        nargs="+",
        default=["32:64", "8:16"],
        help="cache budgets to run with, MANIFEST_MIB:BODY_MIB (default: the defaults, then small)",
    )
    args = parser.parse_args()
    settings = [tuple(int(part) for part in item.split(":")) for item in args.settings]

    with tempfile.TemporaryDirectory(prefix="dp-bench-memory-") as tmp:
        root = Path(tmp)
        store_root = root / "objects"
        store_root.mkdir()
        redis = RedisServer(root / "redis", persistent=False).start()
        state = PlatformState.from_url(redis.url, PREFIX)
        try:
            sites = publish_all(store_root, state, args.deployments, args.large, args.large_files)
            runs = []
            for manifest_mib, body_mib in settings:
                run = measure(sites, store_root, redis, manifest_mib, body_mib, args)
                runs.append(run)
                print(
                    f"caches {manifest_mib}+{body_mib} MiB: {run.requests} requests in "
                    f"{run.seconds:.0f} s, statuses {dict(sorted(run.statuses.items()))}; "
                    f"RSS idle {_mb(run.idle_rss)}, peak {_mb(run.peak_hwm)} "
                    f"(sampled {_mb(run.peak_sampled)}), after {_mb(run.final_rss)}; "
                    f"limit {_mb(run.limit)}",
                    flush=True,
                )
        finally:
            state.redis.close()
            redis.stop()

    hosts = sum(1 + len(site.aliases) for site in sites)
    print()
    print(f"{len(sites)} deployments, {hosts} hosts, {args.rounds} rounds of 5 paths per host")
    print(
        "| caches (manifests + bodies, + 16 MiB answers) | limit (+150 MB) "
        "| RSS idle | peak RSS | after | ok |"
    )
    print("|---|---|---|---|---|---|")
    failed = False
    for run in runs:
        ok = run.peak_hwm < run.limit
        failed |= not ok
        print(
            f"| {run.manifest_mib} + {run.body_mib} MiB = {_mb(run.cache_bytes)} | "
            f"{_mb(run.limit)} | {_mb(run.idle_rss)} | **{_mb(run.peak_hwm)}** | "
            f"{_mb(run.final_rss)} | {'yes' if ok else 'NO'} |"
        )
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
