"""GitHub push webhooks: how fast `POST /api/webhooks/github/<project>` answers (it only enqueues).

Starts a private Redis, a local-directory store, a git repository served over
smart HTTP on loopback (`tests/support/git_fixtures.py`) and the real control
API (`python -m deploy_platform.api`), and creates project `bench` building
that repository through `POST /api/projects`, which returns the webhook secret.
Then it sends signed `push` deliveries of the production branch, built and
signed as GitHub does (`tests/support/webhooks.py`), each with its own
`X-GitHub-Delivery` and naming the repository's real head commit, and measures
the time from sending each to its answer (each must be 202 `queued`):

- one after another, over one kept-alive connection (after a few not counted);
- a burst sent at once, each on its own connection (time from the burst's start);
- a delivery padded to just under GitHub's 25 MB limit (queued too);
- the same signed with a wrong secret (401: what a forged delivery costs; at
  the project's URL the body is streamed through the HMAC, never parsed);
- deliveries just over it: 413 from the `Content-Length` alone, and sent
  chunked (no length), 413 once the 25 MB are passed.

A push names its commit, so the webhook runs no `git ls-remote`: what it does is
verify the signature, look the project up in Redis and enqueue the deployment.
Goal (issue 5): answers within a second. Nothing builds the queued deployments
(no Dagster here); their count in the Redis queue is checked at the end.

    .venv/bin/python -m benchmarks.webhook_answer            # --deliveries 50 --burst 20
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import aiohttp

from benchmarks.children import throwaway_redis
from benchmarks.control_api import ApiProcess, api_process
from benchmarks.timings import Spread
from deploy_platform.api.webhooks import MAX_WEBHOOK_BYTES
from deploy_platform.storage.redis_state import PlatformState
from tests.support.git_fixtures import GitHttpServer
from tests.support.webhooks import Delivery, delivery, push_payload

PROJECT = "bench"
PREFIX = "bench:"
# The project's own payload URL: the shared one reads at most 1 MB unsigned.
WEBHOOK = "/api/webhooks/github/bench"
GOAL_SECONDS = 1.0
LARGE_ROUNDS = 3
_FILE_LIST = [f"src/components/widget-{n:04d}/index.tsx" for n in range(400)]


class BenchmarkError(RuntimeError):
    pass


def _padded_push(clone_url: str, commit: str, size: int) -> dict[str, Any]:
    """A push of `commit` whose JSON is exactly `size` bytes: many commits touching many
    files, as a large merge's delivery carries them, the last message topped up."""
    payload = push_payload(clone_url, "main", commit, message="merge the big refactor")
    filler = {"id": "f" * 40, "message": "", "distinct": True, "modified": _FILE_LIST}
    one = len(json.dumps(filler)) + 2
    payload["commits"] = [dict(filler) for _ in range(max(0, (size - 10_000) // one))]
    payload["commits"].append({"id": "e" * 40, "message": "", "distinct": True})
    payload["commits"][-1]["message"] = "x" * (size - len(json.dumps(payload)))
    if len(json.dumps(payload)) != size:
        raise BenchmarkError(f"padding missed: {len(json.dumps(payload))} != {size}")
    return payload


async def _send(session: aiohttp.ClientSession, api: ApiProcess, sent: Delivery) -> float:
    """Seconds from sending `sent` to its 202 `queued` answer."""
    started = time.monotonic()
    async with session.post(api.url + WEBHOOK, data=sent.body, headers=sent.headers) as response:
        answer = await response.json()
    seconds = time.monotonic() - started
    outcomes = [result.get("outcome") for result in answer.get("results", [])]
    if response.status != 202 or outcomes != ["queued"]:
        raise BenchmarkError(f"delivery {sent.id} answered {response.status}: {answer}")
    return seconds


async def _chunks(body: bytes, size: int) -> AsyncIterator[bytes]:
    for start in range(0, len(body), size):
        yield body[start : start + size]


async def _send_refused(
    session: aiohttp.ClientSession, api: ApiProcess, sent: Delivery, code: str, chunked: bool
) -> float:
    """Seconds from sending a delivery the API must refuse (with error `code`) to the refusal."""
    data: bytes | AsyncIterator[bytes] = sent.body
    if chunked:
        data = _chunks(sent.body, 1024 * 1024)
    started = time.monotonic()
    async with session.post(api.url + WEBHOOK, data=data, headers=sent.headers) as response:
        answer = await response.json()
    seconds = time.monotonic() - started
    if response.status < 400 or answer["error"]["code"] != code:
        raise BenchmarkError(f"expected {code}, got {response.status}: {answer}")
    return seconds


async def _create_project(api: ApiProcess, repo_url: str) -> str:
    async with aiohttp.ClientSession() as session:
        async with session.post(
            api.url + "/api/projects",
            json={"name": PROJECT, "repo_url": repo_url},
            headers=api.auth,
        ) as response:
            answer = await response.json()
    if response.status != 201:
        raise BenchmarkError(f"POST /api/projects answered {response.status}: {answer}")
    return str(answer["webhook_secret"])


async def _run(
    api: ApiProcess, repo_url: str, commit: str, args: argparse.Namespace
) -> tuple[dict[str, list[float]], int]:
    secret = await _create_project(api, repo_url)
    push = push_payload(repo_url, "main", commit, message="change the landing page")
    results: dict[str, list[float]] = {}
    queued = 0
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        one_by_one = []
        for n in range(args.warmup + args.deliveries):
            seconds = await _send(session, api, delivery(secret, "push", push))
            queued += 1
            if n >= args.warmup:
                one_by_one.append(seconds)
        results["one after another"] = one_by_one
        print(f"one after another: {Spread.of(one_by_one).ms()}", flush=True)

    burst = [delivery(secret, "push", push) for _ in range(args.burst)]
    connector = aiohttp.TCPConnector(limit=0, force_close=True)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
        # Every send takes its start before its first await, so all start together and
        # each time includes the wait behind the others.
        answered = await asyncio.gather(*(_send(session, api, sent) for sent in burst))
        results[f"burst of {args.burst} at once"] = list(answered)
        queued += len(burst)
    print(f"burst of {args.burst} at once: {Spread.of(list(answered)).ms()}", flush=True)

    near = MAX_WEBHOOK_BYTES - 4096
    big = json.dumps(_padded_push(repo_url, commit, near)).encode()
    over = big + b" " * (MAX_WEBHOOK_BYTES - len(big) + 1)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        forged, too_large = "invalid_signature", "body_too_large"
        cases: list[tuple[str, bytes, str, str | None, bool]] = [
            # label, body, signed with, refusal code (None: 202 queued), sent chunked
            (f"{near:,} bytes (202)", big, secret, None, False),
            (f"{near:,} bytes, wrong secret (401)", big, "not-" + secret, forged, False),
            (f"{len(over):,} bytes with Content-Length (413)", over, secret, too_large, False),
            (f"{len(over):,} bytes chunked (413)", over, secret, too_large, True),
        ]
        for label, body, signed_with, refusal, chunked in cases:
            times = []
            for _ in range(LARGE_ROUNDS):
                sent = delivery(signed_with, "push", None, raw=body)
                if refusal is None:
                    times.append(await _send(session, api, sent))
                    queued += 1
                else:
                    times.append(await _send_refused(session, api, sent, refusal, chunked))
            results[label] = times
            print(f"{label}: {Spread.of(times).ms()}", flush=True)
    return results, queued


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deliveries", type=int, default=50, help="timed one by one (50)")
    parser.add_argument("--warmup", type=int, default=3, help="deliveries not counted (3)")
    parser.add_argument("--burst", type=int, default=20, help="deliveries sent at once (20)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="dp-bench-webhook-") as tmp, ExitStack() as stack:
        root = Path(tmp)
        redis = throwaway_redis(root, stack)
        git = GitHttpServer(root / "git").start()
        stack.callback(git.stop)
        repo = git.create_repo("bench-site", {"index.html": "<!doctype html><h1>bench</h1>"})
        store_root = root / "objects"
        store_root.mkdir()
        allow = {"DP_GIT_ALLOW_HOSTS": "127.0.0.1"}  # the loopback git server
        api_state = root / "api-state"
        api = stack.enter_context(api_process(api_state, store_root, redis.url, PREFIX, **allow))
        print(f"control API {api.url}, repository {repo.url}", flush=True)
        results, sent = asyncio.run(_run(api, repo.url, repo.head(), args))
        state = PlatformState.from_url(redis.url, PREFIX)
        in_queue = int(state.redis.xlen(state.key("queue")))
        state.redis.close()

    print()
    print("POST /api/webhooks/github/bench, signed push deliveries of the production branch")
    for label, times in results.items():
        print(f"  {label:48} {Spread.of(times).ms()}")
    print(f"  deployments in the Redis queue: {in_queue} (deliveries queued: {sent})")
    slowest = max(max(times) for times in results.values())
    within = slowest < GOAL_SECONDS
    print(f"  every answer within {GOAL_SECONDS:.0f} s: {'yes' if within else 'NO'}")
    return 0 if within and in_queue == sent else 1


if __name__ == "__main__":
    raise SystemExit(main())
