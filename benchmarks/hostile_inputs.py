"""Hostile inputs and build isolation (issue 11): what refusing costs, what a sandbox costs.

Starts a private Redis, a local-directory store, a temporary state directory and
the real control API (`python -m deploy_platform.api`), creates project `docs`
through `POST /api/projects`, then measures, in this order:

1. The webhook flood: four concurrent senders post the 24 MB `[{},{},...]` body
   (`tests/support/hostile_inputs.py`), in turn to the shared URL and to the
   project's, unsigned and with a well-formed wrong signature, for
   `--flood-seconds`. Meanwhile a thread of its own (the senders' event loop
   cannot delay it) sends an authenticated `GET /api/projects` every 50 ms over a
   kept-alive connection and samples the API's VmRSS from /proc; VmHWM before and
   after catches a peak between samples. The same GETs before and after the
   flood are the comparison. Issue 11's reference, before this work: +685 MB per
   body, 2.2 GB with four senders, GET median 3 ms -> 2.25 s. Goal: < +100 MB.
2. Each bad input, `--repeat` times: the time from sending it to its 4xx answer
   (read whole) and what `<state>/tmp` holds right after: JSON nested 60,000
   deep, an upload with a 1,200-level directory tree, an upload of 120,000
   entries, the 24 MB body unsigned (refused from the headers) and with a wrong
   signature (the shared URL reads 1 MB, the project's all 24 MB through the
   HMAC) to both URLs, a signed push naming a repository nobody builds. Goal:
   each within a second, leaving nothing.
3. The build sandbox's cost per step: `sandbox.run(["true"])` with the default
   isolation (bubblewrap, the build user, slirp4netns), with bubblewrap but no
   network namespace, and with `DP_BUILD_ISOLATION=off` (supervisor, rlimits,
   cgroup), each passed as `isolation_status`, interleaved round by round in
   this process after two warm-up calls each; wall time around the call.

    .venv/bin/python -m benchmarks.hostile_inputs         # --repeat 5 --flood-seconds 15 --steps 30
    .venv/bin/python -m benchmarks.hostile_inputs --quick # --repeat 3 --flood-seconds 5 --steps 10

The sandbox needs what builds need (bubblewrap, slirp4netns; root or user
namespaces); the first line printed says how builds are isolated here.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from benchmarks.children import throwaway_redis
from benchmarks.control_api import ApiProcess, api_process
from benchmarks.timings import Spread
from deploy_platform.build import isolation
from deploy_platform.build.sandbox import Limits, base_env, run
from tests.support.hostile_inputs import (
    FAKE_SIGNATURE,
    deep_json,
    deep_tree_upload,
    delivery_headers,
    flood_body,
    leftovers,
    many_entries_upload,
    memory_kib,
)
from tests.support.webhooks import github_signature, push_payload

PREFIX = "bench:"
PROJECT = "docs"
REPO_URL = "http://127.0.0.1:9/acme/docs.git"  # never fetched
SHARED = "/api/webhooks/github"
OWN = f"/api/webhooks/github/{PROJECT}"
PROBE_INTERVAL = 0.05
QUIET_PROBES = 40
SENDERS = 4
ISOLATED = "isolated (default)"
NO_NETNS = "bwrap, without its own network"
OFF = "DP_BUILD_ISOLATION=off"
WAIT = aiohttp.ClientTimeout(total=120)


class BenchmarkError(RuntimeError):
    pass


# -- the flood -------------------------------------------------------------------------


@dataclass
class Probe:
    """Authenticated GETs (seconds each) and VmRSS samples (KiB) from a thread of its own."""

    api: ApiProcess
    latencies: list[float] = field(default_factory=list)
    rss_kib: list[int] = field(default_factory=list)
    statuses: set[int] = field(default_factory=set)

    def run(self, keep_going: Callable[[], bool]) -> None:
        host, port = self.api.url.removeprefix("http://").split(":")
        connection = http.client.HTTPConnection(host, int(port), timeout=120)
        try:
            while keep_going():
                started = time.monotonic()
                connection.request("GET", "/api/projects", headers=self.api.auth)
                response = connection.getresponse()
                response.read()
                self.latencies.append(time.monotonic() - started)
                self.statuses.add(response.status)
                self.rss_kib.append(memory_kib(self.api.pid, "VmRSS"))
                time.sleep(PROBE_INTERVAL)
        finally:
            connection.close()


def _quiet_probe(api: ApiProcess, count: int) -> Probe:
    probe = Probe(api)
    probe.run(lambda: len(probe.latencies) < count)
    return probe


@dataclass(frozen=True)
class FloodResult:
    rss_before_kib: int
    peak_kib: int
    rss_after_kib: int
    hwm_before_kib: int
    hwm_after_kib: int
    seconds: float
    bodies: int
    statuses: dict[str, int]
    probe: Probe

    @property
    def grown_mb(self) -> float:
        return (self.peak_kib - self.rss_before_kib) / 1024


async def _post(session: aiohttp.ClientSession, url: str, body: bytes, sig: str | None) -> str:
    """The answer's status (or how the connection ended) to a delivery of `body`."""
    try:
        async with session.post(url, data=body, headers=delivery_headers(sig)) as response:
            await response.read()
            return str(response.status)
    except aiohttp.ClientError as exc:
        return type(exc).__name__


async def _flood(api: ApiProcess, body: bytes, seconds: float) -> dict[str, int]:
    statuses: dict[str, int] = {}
    targets = [(url, sig) for url in (SHARED, OWN) for sig in (None, FAKE_SIGNATURE)]
    deadline = time.monotonic() + seconds

    async def sender(offset: int) -> None:
        async with aiohttp.ClientSession(timeout=WAIT) as session:
            n = offset  # senders spread over the targets
            while time.monotonic() < deadline:
                url, sig = targets[n % len(targets)]
                n += 1
                status = await _post(session, api.url + url, body, sig)
                key = f"{url} {'wrong signature' if sig else 'unsigned'}: {status}"
                statuses[key] = statuses.get(key, 0) + 1

    await asyncio.gather(*(sender(offset) for offset in range(SENDERS)))
    return statuses


def measure_flood(api: ApiProcess, body: bytes, seconds: float) -> FloodResult:
    probe = Probe(api)
    done = threading.Event()
    rss_before = memory_kib(api.pid, "VmRSS")
    hwm_before = memory_kib(api.pid, "VmHWM")
    thread = threading.Thread(target=probe.run, args=(lambda: not done.is_set(),), daemon=True)
    started = time.monotonic()
    thread.start()
    try:
        statuses = asyncio.run(_flood(api, body, seconds))
    finally:
        done.set()
        thread.join(timeout=130)
    hwm_after = memory_kib(api.pid, "VmHWM")
    peak = max([rss_before, *probe.rss_kib])
    if hwm_after > hwm_before:  # the kernel's peak saw a rise, maybe between samples
        peak = max(peak, hwm_after)
    return FloodResult(
        rss_before,
        peak,
        memory_kib(api.pid, "VmRSS"),
        hwm_before,
        hwm_after,
        time.monotonic() - started,
        sum(statuses.values()),
        statuses,
        probe,
    )


# -- single refusals -------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    label: str
    path: str
    body: bytes
    headers: dict[str, str]


@dataclass
class Refusals:
    times: list[float] = field(default_factory=list)
    statuses: set[int] = field(default_factory=set)
    codes: set[str] = field(default_factory=set)
    left: list[str] = field(default_factory=list)  # what <state>/tmp held after any answer


def _cases(api: ApiProcess, flood: bytes) -> list[Case]:
    json_headers = {**api.auth, "Content-Type": "application/json"}
    upload_headers = {**api.auth, "Content-Type": "application/gzip"}
    upload = f"/api/deployments?project={PROJECT}"
    unknown = json.dumps(
        push_payload("http://127.0.0.1:9/acme/nobody-builds-this.git", "main", "a" * 40)
    ).encode()
    cases = [
        Case("JSON nested 60,000 deep, POST /api/deployments", "/api/deployments",
             deep_json(60_000), json_headers),
        Case("upload, 1,200-level directory tree", upload, deep_tree_upload(1200), upload_headers),
        Case("upload, 120,000 entries", upload, many_entries_upload(120_000), upload_headers),
    ]  # fmt: skip
    for url, where in ((SHARED, "shared"), (OWN, "project")):
        for sig, how in ((None, "unsigned"), (FAKE_SIGNATURE, "wrong signature")):
            label = f"24 MB [{{}},...] {how}, {where} URL"
            cases.append(Case(label, url, flood, delivery_headers(sig)))
    unknown_sig = github_signature("not-a-secret-of-ours", unknown)
    label = "signed push, unknown repository, shared URL"
    return [*cases, Case(label, SHARED, unknown, delivery_headers(unknown_sig))]


async def _refuse(api: ApiProcess, cases: list[Case], repeat: int) -> dict[str, Refusals]:
    scratch = api.state_dir / "tmp"
    results = {case.label: Refusals() for case in cases}
    async with aiohttp.ClientSession(timeout=WAIT) as session:
        for _ in range(repeat):
            for case in cases:
                started = time.monotonic()
                async with session.post(
                    api.url + case.path, data=case.body, headers=case.headers
                ) as response:
                    text = await response.text()
                seconds = time.monotonic() - started
                result = results[case.label]
                result.times.append(seconds)
                result.statuses.add(response.status)
                left = leftovers(scratch)
                result.left.extend(name for name in left if name not in result.left)
                try:
                    result.codes.add(json.loads(text)["error"]["code"])
                except (ValueError, KeyError, TypeError):
                    result.codes.add("?")
                if not 400 <= response.status < 500:
                    raise BenchmarkError(f"{case.label}: {response.status} {text[:300]}")
    return results


async def _create_project(api: ApiProcess) -> None:
    async with aiohttp.ClientSession(timeout=WAIT) as session:
        async with session.post(
            api.url + "/api/projects",
            json={"name": PROJECT, "repo_url": REPO_URL},
            headers=api.auth,
        ) as response:
            if response.status != 201:
                raise BenchmarkError(
                    f"POST /api/projects: {response.status} {await response.text()}"
                )


# -- the build sandbox -----------------------------------------------------------------


def _sandbox_variants() -> dict[str, isolation.Status]:
    default = isolation.current({})
    off = isolation.current({isolation.SETTING: "off"})
    variants = {ISOLATED: default}
    if default.network:
        variants[NO_NETNS] = isolation.Status(
            default.mode, sandboxed=True, network=False, problems=("left out by the benchmark",)
        )
    variants[OFF] = off
    return variants


def measure_sandbox(root: Path, steps: int, warmup: int = 2) -> dict[str, list[float]]:
    variants = _sandbox_variants()
    times: dict[str, list[float]] = {label: [] for label in variants}
    order = list(variants)
    for n in range(warmup + steps):
        for label in order[n % len(order) :] + order[: n % len(order)]:  # rotate who goes first
            work = root / f"step-{n}-{len(times[label])}-{order.index(label)}"
            work.mkdir(parents=True)
            lines: list[str] = []
            started = time.monotonic()
            result = run(
                ["true"],
                cwd=work,
                env=base_env(work / "home", []),
                limits=Limits(wall_seconds=60),
                on_line=lines.append,
                isolation_status=variants[label],
            )
            seconds = time.monotonic() - started
            if result.exit_code != 0:
                raise BenchmarkError(f"{label}: `true` exited {result.exit_code}: {lines}")
            if n >= warmup:
                times[label].append(seconds)
    return times


# -- report ----------------------------------------------------------------------------


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:,.1f} ms"


def _mb(kib: int) -> str:
    return f"{kib / 1024:.0f} MB"


def report_flood(result: FloodResult, quiet: list[float], left: list[str]) -> bool:
    print(
        f"1. Webhook flood: {SENDERS} senders of the 24 MB body to both URLs, unsigned and "
        f"with a wrong signature: {result.bodies} bodies in {result.seconds:.1f} s"
    )
    for key, count in sorted(result.statuses.items()):
        print(f"     {count:4d} x {key}")
    within = result.grown_mb < 100
    print(
        f"   API VmRSS before {_mb(result.rss_before_kib)}, peak {_mb(result.peak_kib)}, after "
        f"{_mb(result.rss_after_kib)} (VmHWM {_mb(result.hwm_before_kib)} -> "
        f"{_mb(result.hwm_after_kib)}): grown {result.grown_mb:+.1f} MB "
        f"(goal < +100 MB: {'yes' if within else 'NO'})"
    )
    print(f"   left in <state>/tmp after the flood: {', '.join(left) or 'nothing'}")
    calm, flooded = Spread.of(quiet), Spread.of(result.probe.latencies)
    print(f"   GET /api/projects without the flood: {calm.ms()}")
    print(f"   GET /api/projects during the flood:  {flooded.ms()}")
    print(f"   statuses during the flood {sorted(result.probe.statuses)}; ", end="")
    print(f"ratio of medians {flooded.median / calm.median:.1f}x")
    return within


def report_refusals(cases: list[Case], refusals: dict[str, Refusals]) -> bool:
    runs = len(refusals[cases[0].label].times)
    print(f"2. Bad inputs, {runs} each: time to the 4xx answer, what <state>/tmp held after it")
    print(f"   {'input':46} {'body':>12} {'answer':22} {'median':>9} {'max':>9}  left")
    slowest = 0.0
    for case in cases:
        got = refusals[case.label]
        answer = "/".join(map(str, sorted(got.statuses))) + " " + "/".join(sorted(got.codes))
        slowest = max(slowest, *got.times)
        print(
            f"   {case.label:46} {len(case.body):>10,} B {answer:22} "
            f"{_ms(statistics.median(got.times)):>9} {_ms(max(got.times)):>9}  "
            f"{', '.join(got.left) or 'nothing'}"
        )
    print(f"   every answer within 1 s: {'yes' if slowest < 1 else 'NO'}")
    return slowest < 1


def report_sandbox(times: dict[str, list[float]]) -> None:
    steps = len(next(iter(times.values())))
    print(f"3. Build sandbox: run(['true']), {steps} steps each, interleaved (wall time)")
    off = statistics.median(times[OFF])
    for label, values in times.items():
        spread = Spread.of(values)
        print(
            f"   {label:44} {spread.ms()}  = {spread.median / off:.2f}x off "
            f"({(spread.median - off) * 1000:+.1f} ms)"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="each bad input this often (5)")
    parser.add_argument("--flood-seconds", type=float, default=15, help="flood this long (15)")
    parser.add_argument("--steps", type=int, default=30, help="sandbox steps per variant (30)")
    parser.add_argument("--quick", action="store_true", help="3 repeats, 5 s flood, 10 steps")
    args = parser.parse_args()
    if args.quick:
        args.repeat, args.flood_seconds, args.steps = 3, 5.0, 10
    started = time.monotonic()
    print(isolation.current({}).describe(), flush=True)

    flood = flood_body()
    with tempfile.TemporaryDirectory(prefix="dp-bench-hostile-") as tmp, ExitStack() as stack:
        root = Path(tmp)
        redis = throwaway_redis(root, stack)
        objects = root / "objects"
        objects.mkdir()
        allow = {"DP_GIT_ALLOW_HOSTS": "127.0.0.1"}  # the project's (never fetched) repository
        api = stack.enter_context(api_process(root / "state", objects, redis.url, PREFIX, **allow))
        asyncio.run(_create_project(api))
        print(f"control API {api.url}, pid {api.pid}", flush=True)

        quiet = _quiet_probe(api, QUIET_PROBES // 2).latencies
        flooded = measure_flood(api, flood, args.flood_seconds)
        quiet += _quiet_probe(api, QUIET_PROBES // 2).latencies
        flood_left = leftovers(api.state_dir / "tmp")
        print(f"flood: {flooded.bodies} bodies in {flooded.seconds:.1f} s", flush=True)
        cases = _cases(api, flood)
        refusals = asyncio.run(_refuse(api, cases, args.repeat))
        print("bad inputs: done", flush=True)
    with tempfile.TemporaryDirectory(prefix="dp-bench-sandbox-") as tmp:
        sandbox = measure_sandbox(Path(tmp), args.steps)

    print()
    ok = report_flood(flooded, quiet, flood_left)
    print()
    ok = report_refusals(cases, refusals) and ok
    print()
    report_sandbox(sandbox)
    print(f"\ntotal {time.monotonic() - started:.0f} s")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
