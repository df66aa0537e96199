"""Rollback and promote: how fast the API answers, and how soon every edge-origin serves it.

Starts a private Redis, a local-directory store, the real control API
(`python -m deploy_platform.api`) and two edge-origins (`python -m serve`, one
worker each) over the same Redis and store. Publishes two production
deployments of project `bench` through the real publisher (READY records in
Redis, the production alias moved as a deploy moves it), warms both edges on
`bench.localhost`, then moves production back and forth: `POST
/api/projects/bench/rollback` (to the older deployment, no rebuild) and `POST
/api/deployments/<newer>/promote` (forward again), alternating, with a random
pause between moves. For each move it measures the API's answer time and, per
edge, the time from sending the request to the first answer that carries the
other deployment's page: each edge is polled on its own task every 2 ms over a
kept-alive connection, and for 200 ms after that, to catch an edge that flips
back. Goal (issue 5): the change is visible on every edge-origin within a second.

    .venv/bin/python -m benchmarks.rollback_visibility                    # --moves 30
    .venv/bin/python -m benchmarks.rollback_visibility --alias-ttl 3600   # pub/sub alone

By default the edges keep their default alias TTL (1 s), so a missed pub/sub
message would still be caught within a second; `--alias-ttl 3600` leaves the
Redis pub/sub message as the only way an edge learns of the move. Last, once:
`deploy-platform rollback bench` through the CLI (a new interpreter, whose
start-up is most of its time), timed the same way.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from benchmarks.children import REPO, throwaway_redis
from benchmarks.control_api import ApiProcess, api_process
from benchmarks.timings import Spread
from deploy_platform.storage.local import LocalObjectStore
from deploy_platform.storage.redis_state import PlatformState
from tests.support.deployments import published
from tests.support.edge_process import EdgeProcess, serve_process

PROJECT = "bench"
HOST = f"{PROJECT}.localhost"
PREFIX = "bench:"
POLL_SECONDS = 0.002
SETTLE_SECONDS = 0.2  # keep polling this long after the switch: no edge may flip back
GIVE_UP_SECONDS = 5.0
GOAL_SECONDS = 1.0


def _page(version: int) -> bytes:
    return (
        f"<!doctype html><title>bench</title><h1>version {version}</h1>\n"
        + "<p>Production page of the rollback benchmark.</p>\n" * 40
    ).encode()


@dataclass(frozen=True)
class Seen:
    """One edge during one move: when it first served the new page, and stale answers after."""

    seconds: float | None  # from sending the request; None: not within GIVE_UP_SECONDS
    stale_after: int
    polls: int


@dataclass(frozen=True)
class Move:
    kind: str  # "rollback" or "promote"
    answer_seconds: float
    edges: tuple[Seen, ...]

    @property
    def everywhere(self) -> float | None:
        times = [seen.seconds for seen in self.edges]
        return None if None in times else max(t for t in times if t is not None)


class BenchmarkError(RuntimeError):
    pass


async def _watch(
    session: aiohttp.ClientSession, edge: EdgeProcess, want: bytes, old: bytes, started: float
) -> Seen:
    """Poll one edge until it has served `want` for SETTLE_SECONDS (or GIVE_UP_SECONDS pass)."""
    url = f"http://127.0.0.1:{edge.port}/"
    first: float | None = None
    stale = polls = 0
    while True:
        async with session.get(url, headers={"Host": HOST}) as response:
            body = await response.read()
        now = time.monotonic()
        polls += 1
        if response.status != 200 or body not in (want, old):
            raise BenchmarkError(f"edge :{edge.port} answered {response.status}: {body[:200]!r}")
        if body == want and first is None:
            first = now
        elif body == old and first is not None:
            stale += 1
        if first is not None and now - first >= SETTLE_SECONDS:
            break
        if now - started > GIVE_UP_SECONDS:
            break
        await asyncio.sleep(POLL_SECONDS)
    return Seen(None if first is None else first - started, stale, polls)


async def _timed(call: Awaitable[None], started: float) -> float:
    await call
    return time.monotonic() - started


async def _api_move(
    session: aiohttp.ClientSession, api: ApiProcess, path: str, expect_to: str
) -> None:
    async with session.post(api.url + path, headers=api.auth) as response:
        answer = await response.json()
    if response.status != 200 or answer.get("to") != expect_to or answer.get("moved") is not True:
        raise BenchmarkError(f"POST {path} answered {response.status}: {answer}")


async def _cli_rollback(api: ApiProcess, expect_to: str) -> None:
    process = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "deploy_platform.cli", "rollback", PROJECT, "--json"),
        cwd=REPO,
        env=api.client_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    out, err = await process.communicate()
    if process.returncode != 0 or json.loads(out).get("to") != expect_to:
        raise BenchmarkError(f"deploy-platform rollback failed: {out!r} {err!r}")


async def _move(
    kind: str,
    action: Awaitable[None],
    watchers: list[tuple[aiohttp.ClientSession, EdgeProcess]],
    want: bytes,
    old: bytes,
) -> Move:
    started = time.monotonic()
    answered = asyncio.create_task(_timed(action, started))
    edges = await asyncio.gather(
        *(_watch(session, edge, want, old, started) for session, edge in watchers)
    )
    return Move(kind, await answered, tuple(edges))


def _report_line(label: str, move: Move) -> str:
    edges = "  ".join(
        f"edge{n + 1} " + ("never" if s.seconds is None else f"{s.seconds * 1000:6.1f} ms")
        for n, s in enumerate(move.edges)
    )
    stale = sum(s.stale_after for s in move.edges)
    return f"{label:>5} {move.kind:9} answer {move.answer_seconds * 1000:6.1f} ms  {edges}" + (
        f"  STALE AFTER SWITCH: {stale}" if stale else ""
    )


async def _run(
    api: ApiProcess, edges: list[EdgeProcess], older: str, newer: str, args: argparse.Namespace
) -> tuple[list[Move], Move | None]:
    pages = {older: _page(1), newer: _page(2)}
    rng = random.Random(args.seed)
    sessions = [aiohttp.ClientSession() for _ in edges]
    control = aiohttp.ClientSession()
    try:
        watchers = list(zip(sessions, edges, strict=True))
        for session, edge in watchers:  # warm: connection, alias, manifest and body caches
            seen = await _watch(session, edge, pages[newer], pages[older], time.monotonic())
            if seen.seconds is None:
                raise BenchmarkError(f"edge :{edge.port} does not serve {newer}")
        moves: list[Move] = []
        live = newer
        for n in range(args.warmup + args.moves):
            await asyncio.sleep(rng.uniform(0.05, 0.5))
            if live == newer:
                kind, target = "rollback", older
                action = _api_move(control, api, f"/api/projects/{PROJECT}/rollback", older)
            else:
                kind, target = "promote", newer
                action = _api_move(control, api, f"/api/deployments/{newer}/promote", newer)
            move = await _move(kind, action, watchers, pages[target], pages[live])
            live = target
            label = "warm" if n < args.warmup else f"#{n - args.warmup + 1}"
            print(_report_line(label, move), flush=True)
            if n >= args.warmup:
                moves.append(move)
        cli = None
        if not args.no_cli:
            if live == older:
                action = _api_move(control, api, f"/api/deployments/{newer}/promote", newer)
                await _move("promote", action, watchers, pages[newer], pages[older])
            await asyncio.sleep(0.3)
            cli = await _move(
                "rollback", _cli_rollback(api, older), watchers, pages[older], pages[newer]
            )
            print(_report_line("cli", cli), flush=True)
        return moves, cli
    finally:
        for session in [*sessions, control]:
            await session.close()


def _cli_start_up() -> float:
    """Wall time of `deploy-platform --help`: the interpreter and the CLI's imports."""
    started = time.monotonic()
    subprocess.run(
        [sys.executable, "-m", "deploy_platform.cli", "--help"],
        cwd=REPO,
        capture_output=True,
        check=True,
    )
    return time.monotonic() - started


def _summary(moves: list[Move], cli: Move | None, start_up: float | None, edges: int) -> bool:
    print()
    print(f"{len(moves)} production moves, {edges} edge-origins")
    for kind in ("rollback", "promote"):
        answers = [m.answer_seconds for m in moves if m.kind == kind]
        if answers:
            print(f"  {'API answer, ' + kind:23} {Spread.of(answers).ms()}")
    print(f"  {'API answer, both':23} {Spread.of([m.answer_seconds for m in moves]).ms()}")
    ok = True
    for n in range(edges):
        times = [m.edges[n].seconds for m in moves]
        seen = [t for t in times if t is not None]
        missed = len(times) - len(seen)
        ok = ok and not missed
        line = Spread.of(seen).ms() if seen else "never"
        print(f"  {f'visible on edge{n + 1}':23} {line}" + (f"  MISSED {missed}" if missed else ""))
    everywhere = [m.everywhere for m in moves]
    reached = [t for t in everywhere if t is not None]
    if reached:
        print(f"  {'visible on every edge':23} {Spread.of(reached).ms()}")
        # The pub/sub hop and the next poll, without the API's own work (negative: an
        # edge served the new page before the API's answer reached the client).
        after = [m.everywhere - m.answer_seconds for m in moves if m.everywhere is not None]
        print(f"  {'after the API answered':23} {Spread.of(after).ms()}")
    stale = sum(seen.stale_after for m in moves for seen in m.edges)
    polls = sum(seen.polls for m in moves for seen in m.edges)
    print(f"  stale answers after an edge switched: {stale} of {polls} polls")
    within = len(reached) == len(moves) and max(reached, default=0.0) < GOAL_SECONDS
    ok = ok and within and stale == 0
    verdict = "yes" if ok else "NO"
    print(f"  every move visible on every edge within {GOAL_SECONDS:.0f} s: {verdict}")
    if cli is not None:
        print(
            f"  CLI `deploy-platform rollback {PROJECT}`: exits after "
            f"{cli.answer_seconds * 1000:.0f} ms, visible on every edge after "
            + ("never" if cli.everywhere is None else f"{cli.everywhere * 1000:.0f} ms")
            + (f" (`--help` alone takes {start_up * 1000:.0f} ms)" if start_up else "")
        )
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--moves", type=int, default=30, help="timed moves (default 30)")
    parser.add_argument("--warmup", type=int, default=2, help="moves not counted (default 2)")
    parser.add_argument("--edges", type=int, default=2, help="edge-origin processes (default 2)")
    parser.add_argument(
        "--alias-ttl",
        metavar="SECONDS",
        help="DP_EDGE_ALIAS_TTL_SECONDS for the edges (default: theirs, 1 s)",
    )
    parser.add_argument("--no-cli", action="store_true", help="skip the CLI rollback")
    parser.add_argument("--seed", type=int, default=5, help="seed of the pauses between moves")
    args = parser.parse_args()
    edge_settings = {} if args.alias_ttl is None else {"DP_EDGE_ALIAS_TTL_SECONDS": args.alias_ttl}

    with tempfile.TemporaryDirectory(prefix="dp-bench-rollback-") as tmp, ExitStack() as stack:
        root = Path(tmp)
        redis = throwaway_redis(root, stack)
        store_root = root / "objects"
        store_root.mkdir()
        store = LocalObjectStore(store_root)
        state = PlatformState.from_url(redis.url, PREFIX)
        stack.callback(state.redis.close)
        older = published(store, state, PROJECT, _page(1)).id
        newer = published(store, state, PROJECT, _page(2)).id
        print(f"published {older} (version 1), then {newer} (version 2, live)", flush=True)
        api = stack.enter_context(api_process(root / "api-state", store_root, redis.url, PREFIX))
        edges = [
            stack.enter_context(serve_process(store_root, redis.url, PREFIX, **edge_settings))
            for _ in range(args.edges)
        ]
        print(
            f"control API {api.url}, edge-origins on ports "
            + ", ".join(str(edge.port) for edge in edges)
            + f", alias TTL {args.alias_ttl or 'default (1 s)'}",
            flush=True,
        )
        moves, cli = asyncio.run(_run(api, edges, older, newer, args))
        start_up = None if args.no_cli else _cli_start_up()
    return 0 if _summary(moves, cli, start_up, args.edges) else 1


if __name__ == "__main__":
    raise SystemExit(main())
