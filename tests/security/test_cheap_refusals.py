"""Cheap refusals by the control API, as a real process (`python -m deploy_platform.api`)
over the private Redis and a local store: each bad input gets its 4xx within a bounded
wait and leaves nothing in `<state>/tmp`; a webhook flood does not grow the process.

The waits below are generous bounds (a request that does not answer in them
fails), not timings under test.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from deploy_platform.contracts.json_limits import MAX_JSON_DEPTH
from deploy_platform.contracts.tree_limits import MAX_PATH_BYTES, MAX_PATH_DEPTH
from deploy_platform.processes.ports import free_port
from deploy_platform.processes.redis_server import RedisServer
from tests.support.environment import child_env
from tests.support.hostile_inputs import (
    FAKE_SIGNATURE,
    MB,
    deep_json,
    deep_tree_upload,
    delivery_headers,
    flood_body,
    leftovers,
    many_entries_upload,
    memory_kib,
    targz,
)
from tests.support.waiting import eventually

REPO = Path(__file__).resolve().parents[2]
TOKEN = "token-for-cheap-refusals"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
WAIT = aiohttp.ClientTimeout(total=60)  # the bound on any one answer
REPO_URL = "http://127.0.0.1:9/acme/docs.git"


@dataclass
class ApiProcess:
    process: subprocess.Popen[bytes]
    port: int
    state_dir: Path
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def scratch(self) -> Path:
        return self.state_dir / "tmp"

    def memory_kib(self, field: str) -> int:
        """`VmRSS` (now) or `VmHWM` (peak) of the API process, from /proc."""
        return memory_kib(self.process.pid, field)


@contextmanager
def api_process(
    state_dir: Path, redis: RedisServer, prefix: str, store_root: Path, **env: str
) -> Iterator[ApiProcess]:
    """The control API as `deploy-platform up` runs it, on a free port; killed on the way out."""
    port = free_port()
    api_env = child_env(
        ("DP_",),  # DP_* only: the API reads DAGSTER_HOME
        **{
            "PYTHONPATH": str(REPO),
            "DP_STATE_DIR": str(state_dir),
            "DP_REDIS_URL": redis.url,
            "DP_REDIS_PREFIX": prefix,
            "DP_STORAGE_URL": store_root.as_uri(),
            "DP_API_TOKEN": TOKEN,
            # Project repositories on loopback (never fetched).
            "DP_GIT_ALLOW_HOSTS": "127.0.0.1",
            **env,
        },
    )
    state_dir.mkdir(parents=True, exist_ok=True)
    log = state_dir / f"api-{port}.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "deploy_platform.api", "--port", str(port)],
            cwd=REPO,
            env=api_env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_until_listening(process, port, log)
        yield ApiProcess(process, port, state_dir, log)
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)


def _wait_until_listening(process: subprocess.Popen[bytes], port: int, log: Path) -> None:
    def not_started() -> str:
        return f"the API did not start:\n{log.read_text(errors='replace')}"

    def listening() -> bool:
        if process.poll() is not None:
            raise AssertionError(not_started())
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return True
        except OSError:
            return False

    eventually(listening, timeout=60, message=not_started, retry_on=())


@pytest.fixture
def api(
    tmp_path: Path, redis_server: RedisServer, redis_prefix: str, local_store_root: Path
) -> Iterator[ApiProcess]:
    with api_process(tmp_path / "state", redis_server, redis_prefix, local_store_root) as api:
        yield api


async def call(
    session: aiohttp.ClientSession,
    method: str,
    url: str,
    **kwargs: Any,
) -> tuple[int, Any]:
    async with session.request(method, url, timeout=WAIT, **kwargs) as response:
        text = await response.text()
        return response.status, json.loads(text) if text else None


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


async def create_project(session: aiohttp.ClientSession, api: ApiProcess, name: str) -> str:
    status, answer = await call(
        session,
        "POST",
        api.url + "/api/projects",
        json={"name": name, "repo_url": REPO_URL},
        headers=AUTH,
    )
    assert status == 201, answer
    return str(answer["webhook_secret"])


async def upload(session: aiohttp.ClientSession, api: ApiProcess, body: bytes) -> tuple[int, Any]:
    return await call(
        session,
        "POST",
        api.url + "/api/deployments?project=docs",
        data=body,
        headers={**AUTH, "Content-Type": "application/gzip"},
    )


# -- webhooks --------------------------------------------------------------------------


@pytest.mark.slow
async def test_a_flood_of_unsigned_24_mb_deliveries_does_not_grow_the_api(
    api: ApiProcess,
) -> None:
    """Four senders of a 24 MB `[{},{},...]` to both webhook URLs: the API stays within
    +100 MB of memory and an authenticated request is still answered meanwhile."""
    body = flood_body()
    assert len(body) > 24 * 1000 * 1000
    fake = FAKE_SIGNATURE
    parsed_at_most = (
        b'{"repository": {"clone_url": "'
        + REPO_URL.encode()
        + b'"}, "filler": ['
        + b",".join([b'"ab"'] * 200_000)
        + b"]}"
    )
    assert len(parsed_at_most) < 1024 * 1024
    async with aiohttp.ClientSession() as session:
        await create_project(session, api, "docs")
        assert (await call(session, "GET", api.url + "/api/projects", headers=AUTH))[0] == 200
        before = api.memory_kib("VmRSS")
        hwm_before = api.memory_kib("VmHWM")
        statuses: list[int] = []
        answered: list[int] = []
        peak = before

        async def sender() -> None:
            for url in ("/api/webhooks/github", "/api/webhooks/github/docs") * 2:
                for sig in (None, fake):
                    status, _ = await call(
                        session, "POST", api.url + url, data=body, headers=delivery_headers(sig)
                    )
                    statuses.append(status)
                # The most the shared URL parses unsigned: just under 1 MB, 200,000 strings.
                status, _ = await call(
                    session,
                    "POST",
                    api.url + "/api/webhooks/github",
                    data=parsed_at_most,
                    headers=delivery_headers(fake),
                )
                statuses.append(status)

        async def authenticated() -> None:
            nonlocal peak
            while len(statuses) < 36:
                status, _ = await call(session, "GET", api.url + "/api/projects", headers=AUTH)
                answered.append(status)
                peak = max(peak, api.memory_kib("VmRSS"))
                await asyncio.sleep(0.05)

        await asyncio.wait_for(
            asyncio.gather(*(sender() for _ in range(4)), authenticated()), timeout=300
        )
        hwm_after = api.memory_kib("VmHWM")
        # The kernel's peak counts between samples too, when it rose during the flood.
        peak = max(peak, hwm_after if hwm_after > hwm_before else 0)

    grown_mb = (peak - before) / 1024
    assert grown_mb < 100, f"the API grew by {grown_mb:.0f} MB under the flood"
    assert sorted(set(statuses)) == [401, 413], statuses
    assert answered and set(answered) == {200}, answered
    assert leftovers(api.scratch) == []


async def test_an_unknown_repository_or_project_and_a_bad_signature_answer_the_same_401(
    api: ApiProcess,
) -> None:
    async with aiohttp.ClientSession() as session:
        secret = await create_project(session, api, "docs")
        known = json.dumps(
            {
                "ref": "refs/heads/main",
                "repository": {"clone_url": REPO_URL},
            }
        ).encode()
        unknown = known.replace(b"acme/docs", b"acme/nobody-builds-this")
        answers = []
        for url, body, key in [
            ("/api/webhooks/github", unknown, "anything"),  # a repository nobody builds
            ("/api/webhooks/github", known, "wrong-secret"),
            ("/api/webhooks/github/docs", known, "wrong-secret"),
            ("/api/webhooks/github/nobody", known, secret),  # no such project
        ]:
            status, answer = await call(
                session,
                "POST",
                api.url + url,
                data=body,
                headers=delivery_headers(signature(key, body)),
            )
            assert status == 401, answer
            answers.append(answer)

    assert all(answer == answers[0] for answer in answers), answers
    assert answers[0]["error"]["code"] == "invalid_signature"
    assert "unknown_repository" not in json.dumps(answers)


# -- JSON nesting ----------------------------------------------------------------------


async def test_json_nested_60000_deep_is_400_naming_the_limit_everywhere(api: ApiProcess) -> None:
    # Under the API's 64 KiB limit for JSON bodies: what the probe sent (60,000 `[`).
    deep = deep_json(60_000)
    deep_object = b'{"a":' * 10_000 + b"1" + b"}" * 10_000
    message = f"nested deeper than {MAX_JSON_DEPTH} levels"
    async with aiohttp.ClientSession() as session:
        secret = await create_project(session, api, "docs")
        json_headers = {**AUTH, "Content-Type": "application/json"}
        for method, path, body in [
            ("POST", "/api/deployments", deep),
            ("POST", "/api/deployments", deep_object),
            ("POST", "/api/deployments", b"[" * 30_000 + b"]" * 30_000),
            ("POST", "/api/projects", deep),
            ("PATCH", "/api/projects/docs", deep_object),
            ("POST", "/api/domains", deep),
            ("POST", "/api/projects/docs/rollback", deep),
            ("POST", "/api/deployments/aaaaaaaaaaaa/promote", deep),
        ]:
            status, answer = await call(
                session, method, api.url + path, data=body, headers=json_headers
            )
            assert status == 400, (path, answer)
            assert answer["error"]["code"] == "invalid_json", (path, answer)
            assert message in answer["error"]["message"], (path, answer)

        # The upload's build settings header.
        status, answer = await call(
            session,
            "POST",
            api.url + "/api/deployments?project=docs",
            data=targz([("index.html", b"hi")]),
            headers={
                **AUTH,
                "Content-Type": "application/gzip",
                "X-Build-Settings": "[" * 4000 + "]" * 4000,
            },
        )
        assert (status, answer["error"]["code"]) == (400, "invalid_json"), answer
        assert message in answer["error"]["message"]

        # Webhooks: signed (parsed after the signature) and at the shared URL.
        # (The shared URL parses at most 10,000 brackets: 60,000 are refused before that.)
        for url, body, code in [
            ("/api/webhooks/github/docs", deep, "invalid_json"),
            ("/api/webhooks/github", b"[" * 5_000, "invalid_json"),
            ("/api/webhooks/github", deep, "payload_too_complex"),
        ]:
            status, answer = await call(
                session,
                "POST",
                api.url + url,
                data=body,
                headers=delivery_headers(signature(secret, body)),
            )
            assert 400 <= status < 500 and answer["error"]["code"] == code, (url, answer)
            if code == "invalid_json":
                assert message in answer["error"]["message"]
    assert leftovers(api.scratch) == []


# -- uploads ---------------------------------------------------------------------------


async def test_uploads_past_the_depth_or_path_length_limit_are_400_naming_it(
    api: ApiProcess,
) -> None:
    long_path = "/".join(["n" * 200] * 6) + "/index.html"  # 6 levels, ~1,200 bytes
    wide_name = "w" * 300 + ".html"
    async with aiohttp.ClientSession() as session:
        for archive, says in [
            (deep_tree_upload(1200), f"{MAX_PATH_DEPTH} levels"),
            (targz([("d/" * 70 + "x.html", b"x")]), f"{MAX_PATH_DEPTH} levels"),
            (targz([(long_path, b"long")]), f"{MAX_PATH_BYTES} bytes"),
            (targz([(wide_name, b"wide")]), "255 bytes per name"),
        ]:
            status, answer = await upload(session, api, archive)
            assert status == 400, answer
            assert answer["error"]["code"] == "invalid_archive"
            assert says in answer["error"]["message"], answer
            assert leftovers(api.scratch) == []


@pytest.mark.slow
async def test_an_upload_of_120000_files_is_refused_at_the_limit_leaving_nothing(
    api: ApiProcess,
) -> None:
    body = many_entries_upload(120_000)

    async with aiohttp.ClientSession() as session:
        status, answer = await upload(session, api, body)
        assert status == 400, answer
        assert "more than 100000 entries" in answer["error"]["message"]
        assert "files/100000.txt" in answer["error"]["message"]
        # The API is free at once: the next request is answered.
        assert (await call(session, "GET", api.url + "/api/projects", headers=AUTH))[0] == 200
    assert leftovers(api.scratch) == []


def _start_upload(api: ApiProcess, total: int, first: bytes) -> socket.socket:
    """An upload announced as `total` bytes of which only `first` is sent."""
    sock = socket.create_connection(("127.0.0.1", api.port), timeout=30)
    head = (
        "POST /api/deployments?project=docs HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{api.port}\r\nAuthorization: Bearer {TOKEN}\r\n"
        f"Content-Type: application/gzip\r\nContent-Length: {total}\r\n\r\n"
    )
    sock.sendall(head.encode() + first)
    return sock


def _scratch_bytes(scratch: Path) -> int:
    return sum(path.stat().st_size for path in scratch.rglob("*") if path.is_file())


def test_a_client_leaving_mid_upload_leaves_nothing(api: ApiProcess) -> None:
    sent = os.urandom(4 * MB)  # not even a valid archive: the body never completes
    sock = _start_upload(api, 40 * MB, b"\x1f\x8b" + sent)
    eventually(
        lambda: _scratch_bytes(api.scratch) > MB,
        timeout=30,
        message="the upload to reach the scratch dir",
        retry_on=(),
    )
    sock.close()
    eventually(
        lambda: leftovers(api.scratch) == [],
        timeout=30,
        message="the scratch directory to be removed",
        retry_on=(),
    )


@pytest.mark.slow
def test_scratch_left_by_an_api_killed_mid_upload_is_swept_at_the_next_start(
    tmp_path: Path, redis_server: RedisServer, redis_prefix: str, local_store_root: Path
) -> None:
    state_dir = tmp_path / "state"
    foreign = state_dir / "tmp" / "build-not-the-apis"
    with api_process(state_dir, redis_server, redis_prefix, local_store_root) as api:
        foreign.mkdir(parents=True)
        sock = _start_upload(api, 40 * MB, os.urandom(8 * MB))
        eventually(
            lambda: _scratch_bytes(api.scratch) > 4 * MB,
            timeout=30,
            message="the upload to reach disk",
            retry_on=(),
        )
        os.kill(api.process.pid, signal.SIGKILL)
        api.process.wait(timeout=30)
        sock.close()
        left = [name for name in leftovers(api.scratch) if name.startswith("api-")]
        assert left, "kill -9 should have left the upload's scratch directory"

    with api_process(state_dir, redis_server, redis_prefix, local_store_root) as api:
        assert [name for name in leftovers(api.scratch) if name.startswith("api-")] == []
        assert foreign.is_dir()  # not the API's: kept


# -- slow clients ----------------------------------------------------------------------


def test_a_half_sent_request_is_closed_after_the_header_timeout(
    tmp_path: Path, redis_server: RedisServer, redis_prefix: str, local_store_root: Path
) -> None:
    with api_process(
        tmp_path / "state",
        redis_server,
        redis_prefix,
        local_store_root,
        DP_API_HEADER_TIMEOUT_SECONDS="1",
    ) as api:
        socks = []
        for _ in range(5):
            sock = socket.create_connection(("127.0.0.1", api.port), timeout=30)
            sock.sendall(b"GET /api/health HTTP/1.1\r\nHost: x\r\n")  # never finished
            socks.append(sock)
        for sock in socks:
            # 30 s bound: closed by the API (b"" at EOF), not by our own timeout.
            assert sock.recv(1024) == b""
            sock.close()
        with socket.create_connection(("127.0.0.1", api.port), timeout=30) as sock:
            sock.sendall(b"GET /api/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            assert sock.recv(1024).startswith(b"HTTP/1.1 ")
