"""A production deploy while a visitor keeps loading the site: only whole old or whole new pages.

The real `python -m serve` runs over a local store and the private Redis. A
client thread loads `/` on the production host and then the script the page
references, in a tight loop, while the test publishes v2 through the real
publisher, moves the alias (as the deploy job does), rolls back to v1 and moves
to v2 again. The alias TTL is an hour, so only the pub/sub announcement can
bring a move to the edge.

The script is fetched both from the immutable host of the deployment the page
came from and from the production host, where skew protection must serve the
previous version's script after a move: never a 404, never other bytes.
"""

from __future__ import annotations

import hashlib
import http.client
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from deploy_platform.contracts.ids import new_deployment_id
from deploy_platform.processes.redis_server import RedisServer
from deploy_platform.publish.aliases import move_alias_if_newer, point_alias
from deploy_platform.publish.deployment import publish_directory
from deploy_platform.storage.local import LocalObjectStore
from deploy_platform.storage.redis_state import PlatformState
from serve.invalidation import alias_channel
from tests.support.edge_process import serve_process
from tests.support.waiting import eventually

ALIAS = "shop"
_SCRIPT = re.compile(rb'<script src="(/assets/app-[0-9a-f]+\.js)">')
_MAX_FETCHES = 20_000
_MAX_SECONDS = 120.0


@dataclass(frozen=True)
class Version:
    deployment: str
    page: bytes
    script_path: str
    script: bytes


def build_version(root: Path, number: int) -> Path:
    """A site whose page references a fingerprinted script, as a bundler emits it."""
    script = f"console.log('version {number}');\n".encode() * 200
    script_path = f"/assets/app-{hashlib.sha256(script).hexdigest()[:10]}.js"
    site = root / f"v{number}"
    (site / "assets").mkdir(parents=True)
    (site / script_path.lstrip("/")).write_bytes(script)
    page = f'<!doctype html><title>v{number}</title><script src="{script_path}"></script>\n'
    (site / "index.html").write_text(page + f"<p>Version {number} of the shop.</p>\n" * 50)
    return site


def published(store: LocalObjectStore, site: Path) -> Version:
    deployment = new_deployment_id()
    manifest = publish_directory(store, deployment, site).manifest
    script_path = next(path for path in manifest.files if path.startswith("/assets/"))
    return Version(
        deployment,
        (site / "index.html").read_bytes(),
        script_path,
        (site / script_path.lstrip("/")).read_bytes(),
    )


@dataclass(frozen=True)
class Answer:
    started: float
    page_status: int
    page: bytes
    etag: str | None
    script_path: str | None
    #: The script from the immutable host of the deployment the page came from.
    script_by_id: tuple[int, bytes] | None
    #: The same script from the production host (may be gone after a move).
    script_by_alias: tuple[int, bytes] | None


class Visitor(threading.Thread):
    """Loads the page and its script over keep-alive connections until told to stop."""

    def __init__(self, port: int, versions: dict[bytes, Version]) -> None:
        super().__init__(daemon=True)
        self.port = port
        self.versions = versions
        self.answers: list[Answer] = []
        self.error: BaseException | None = None
        self.stop = threading.Event()

    def run(self) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        deadline = time.monotonic() + _MAX_SECONDS
        try:
            while not self.stop.is_set() and len(self.answers) < _MAX_FETCHES:
                if time.monotonic() > deadline:
                    break
                self.answers.append(self.visit(connection))
        except BaseException as exc:  # handed to the test, which fails with it
            self.error = exc
        finally:
            connection.close()

    def visit(self, connection: http.client.HTTPConnection) -> Answer:
        started = time.monotonic()
        status, page, etag = get(connection, f"{ALIAS}.localhost", "/")
        found = _SCRIPT.search(page)
        if status != 200 or found is None:
            return Answer(started, status, page, etag, None, None, None)
        script_path = found.group(1).decode()
        version = self.versions.get(page)
        by_id = None
        if version is not None:
            by_id = get(connection, f"{version.deployment}.localhost", script_path)[:2]
        by_alias = get(connection, f"{ALIAS}.localhost", script_path)[:2]
        return Answer(started, status, page, etag, script_path, by_id, by_alias)

    def wait_for(self, condition: Callable[[Answer], bool], what: str, seconds: float = 30) -> int:
        """Block until an answer after the current one meets `condition`; its index."""
        start = len(self.answers)

        def never_saw() -> str:
            return f"the visitor never saw {what} (error: {self.error!r})"

        def seen() -> tuple[int] | None:  # a tuple: index 0 is false, (0,) is not
            alive = self.is_alive()
            for index in range(start, len(self.answers)):
                if condition(self.answers[index]):
                    return (index,)
            if not alive:
                raise AssertionError(never_saw())
            return None

        [index] = eventually(seen, timeout=seconds, interval=0.01, message=never_saw, retry_on=())
        return index


def get(
    connection: http.client.HTTPConnection, host: str, path: str
) -> tuple[int, bytes, str | None]:
    connection.request("GET", path, headers={"Host": host})
    response = connection.getresponse()
    return response.status, response.read(), response.getheader("ETag")


def wait_for_subscriber(state: PlatformState, prefix: str) -> None:
    """The edge follows alias moves once it has subscribed to the channel."""
    channel = alias_channel(prefix)
    eventually(
        lambda: dict(state.redis.pubsub_numsub(channel)).get(channel.encode(), 0) > 0,
        timeout=30,
        message="the edge subscribed to alias moves",
        retry_on=(),
    )


def test_a_visitor_sees_only_complete_versions_while_production_moves(
    tmp_path: Path,
    local_store_root: Path,
    store: LocalObjectStore,
    state: PlatformState,
    redis_server: RedisServer,
    redis_prefix: str,
) -> None:
    v1 = published(store, build_version(tmp_path, 1))
    move_alias_if_newer(store, state, ALIAS, v1.deployment)
    v2_site = build_version(tmp_path, 2)

    with serve_process(
        local_store_root, redis_server.url, redis_prefix, DP_EDGE_ALIAS_TTL_SECONDS="3600"
    ) as edge:
        wait_for_subscriber(state, redis_prefix)
        visitor = Visitor(edge.port, {v1.page: v1})
        visitor.start()
        try:
            visitor.wait_for(lambda a: a.page == v1.page, "v1")
            # Publishing writes bodies, then the manifest, while the visitor loads v1.
            v2 = published(store, v2_site)
            visitor.versions[v2.page] = v2
            assert move_alias_if_newer(store, state, ALIAS, v2.deployment).moved
            visitor.wait_for(lambda a: a.page == v2.page, "v2 after the deploy")
            point_alias(store, state, ALIAS, v1.deployment)  # a rollback
            visitor.wait_for(lambda a: a.page == v1.page, "v1 after the rollback")
            point_alias(store, state, ALIAS, v2.deployment)
            final_move = time.monotonic()
            visitor.wait_for(lambda a: a.started > final_move + 1.0, "answers after the move")
        finally:
            visitor.stop.set()
            visitor.join(timeout=60)
        assert visitor.error is None, f"{visitor.error!r}\n{edge.log_text()}"

    answers = visitor.answers
    assert len(answers) > 20
    for answer in answers:
        # Always a whole page of one version, with that version's validator.
        assert answer.page_status == 200, answer
        assert answer.page in (v1.page, v2.page), answer.page[:200]
        version = v1 if answer.page == v1.page else v2
        assert answer.etag == f'"{hashlib.sha256(version.page).hexdigest()}"'
        # The page's own script is always there, from the page's deployment.
        assert answer.script_path == version.script_path
        assert answer.script_by_id == (200, version.script)
        # On the production host too: when the alias moved in between, skew
        # protection serves it from the deployment the alias pointed at before.
        assert answer.script_by_alias == (200, version.script), answer.script_by_alias
    # Once the final move is a second old, every visitor gets the new version.
    late = [answer for answer in answers if answer.started > final_move + 1.0]
    assert late and all(answer.page == v2.page for answer in late)
