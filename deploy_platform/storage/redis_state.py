"""Redis: the deployment queue, deployment records, the alias and custom-domain index.

Keys, all under one configurable prefix `P` (default `dp:`):
  P queue                 Stream; each entry has field `id` = deployment id.
  P deployment:<id>       JSON `DeploymentRecord`.
  P project:<name>        Sorted set of deployment ids by enqueue time; the deployments
                          list pages through them (`deployments_before`), and their
                          names are the projects with deployments (`deployed_projects`).
  P alias:<name>          Deployment id the alias points at (index of the
                          durable pointer `aliases/<name>.json` in the object store).
  P alias-changed         Pub/sub channel: the alias name, published on every move
                          and removal.
  P domain:<hostname>     Project a custom domain serves (index of the durable
                          pointer `domains/<hostname>.json`).
  P domain-changed        Pub/sub channel: the hostname, published when it is
                          added or removed.
  P deployment-removed    Pub/sub channel: a deployment id, published when
                          retention removed it (edges drop its cached manifest).
  P claim:<id>            Which queue-sensor lane turned the id into a run request.
  P queue-sensor-tick     Unix time of the queue sensor's latest tick: while it is
                          missing or old, a queued deployment waits for the Dagster
                          daemon (`deploy_platform.api.waiting`); `up` deletes it
                          before it starts the daemon.
  P projects              Set of project names (index of `projects/<name>.json`;
                          `deploy_platform.projects.store` keeps it).
  P project-repo:<repo>   Set of the projects building a repository (`host/path`).
  P project-lock:<name>   Held while a project is created, changed or deleted.
  P commit-build:<project>:<commit>:<branch>
                          The deployment a GitHub webhook queued for that commit of that
                          branch, set with the record in one transaction and kept for
                          DP_WEBHOOK_DELIVERY_TTL_SECONDS, so a push and its pull request's
                          event build once (`deploy_platform.github.webhooks.builds`).
  P webhook-delivery:<delivery>:<project>
                          What a GitHub webhook delivery (`X-GitHub-Delivery`) did for
                          a project, set once (SET NX) with a TTL
                          (DP_WEBHOOK_DELIVERY_TTL_SECONDS), so a redelivery deploys
                          nothing twice (`deploy_platform.github.webhooks.deliveries`).

The queue is a Stream read by the Dagster sensor with its cursor set to the last
entry it turned into a RunRequest: if a tick or the daemon dies half way the
cursor does not move and the entries are read again; the deployment id as
`run_key` makes the second submission a no-op (at-least-once + idempotent).

Faults: every client retries a command that met a connection error (refused,
reset) with exponential backoff (`RetryBudget`), so a Redis restart of a few
seconds is ridden out inside the call. Run workers and sensors (`RUN_RETRIES`)
wait up to ~15 s and also retry timeouts; the control API (`API_RETRIES`) gives
up within about a second, so a request gets its 503 at once rather than hanging.
Retrying a command whose answer was lost may run it twice: every write here is
idempotent or guarded (SET of a whole record, WATCH/MULTI, XADD of an id the
run_key deduplicates, SET NX claims).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from deploy_platform.contracts.records import DeploymentRecord, Status

__all__ = [
    "PlatformState",
    "Position",
    "QueueEntry",
    "UnknownDeployment",
    "STREAM_START",
    "RetryBudget",
    "RUN_RETRIES",
    "API_RETRIES",
    "redis_client",
    "server_error_code",
    "server_error_text",
]

STREAM_START = "0-0"
_QUEUE_MAXLEN = 100_000
# Far longer than any sensor tick can take to be retried, short enough to bound memory.
_CLAIM_TTL_SECONDS = 30 * 24 * 3600


@dataclass(frozen=True)
class RetryBudget:
    """How long a Redis command keeps trying: `retries` more attempts after the first,
    waiting `base` * 2**n seconds (at most `cap`) before the n-th."""

    retries: int
    base: float
    cap: float
    on_timeout: bool

    def errors(self) -> list[type[redis.RedisError]]:
        """What is retried: a connection refused or reset; a timeout when `on_timeout`."""
        return [redis.ConnectionError, *([redis.TimeoutError] if self.on_timeout else [])]

    def retry(self) -> Retry:
        backoff = ExponentialBackoff(cap=self.cap, base=self.base)
        return Retry(backoff, self.retries, tuple(self.errors()))

    def seconds(self) -> float:
        """The backoff alone, if every attempt is refused at once."""
        return float(sum(min(self.cap, self.base * 2.0**n) for n in range(1, self.retries + 1)))


# 0.5 + 1 + 2 + 4 + 4 + 4 = 15.5 s of waiting: a restarted Redis is back well within it.
RUN_RETRIES = RetryBudget(retries=6, base=0.25, cap=4.0, on_timeout=True)
# 0.2 + 0.4 s: an API request answers 503 within a second while Redis is down.
API_RETRIES = RetryBudget(retries=2, base=0.1, cap=0.4, on_timeout=False)


def redis_client(
    url: str, timeout: float = 10.0, budget: RetryBudget = RUN_RETRIES
) -> redis.Redis[bytes]:
    """A client of the platform's Redis that rides out short outages (see the module)."""
    return redis.Redis.from_url(
        url,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        decode_responses=False,
        retry=budget.retry(),
        retry_on_error=budget.errors(),
    )


def server_error_text(exc: BaseException) -> str:
    """Redis's own error answer, without the command redis-py puts before it in a
    pipeline ("Command # 1 (SET ...) of pipeline caused error: "): that command may
    carry a record's build variables, so it never goes into a message."""
    if not isinstance(exc, redis.ResponseError):
        return ""
    text = str(exc)
    marker = "of pipeline caused error: "
    return text.split(marker, 1)[1] if marker in text else text


def server_error_code(exc: BaseException) -> str:
    """The code Redis answered an error with ("MISCONF", "LOADING", ...)."""
    return server_error_text(exc).split(" ", 1)[0]


class UnknownDeployment(KeyError):
    """No record exists for the deployment id."""


QueueEntry = tuple[str, str]  # (stream entry id, deployment id)
# (enqueue time, deployment id): a deployment's place in a list, newest first.
Position = tuple[float, str]


class PlatformState:
    """Typed access to the platform's Redis keys."""

    def __init__(self, client: redis.Redis[bytes], prefix: str = "dp:") -> None:
        self.redis = client
        self.prefix = prefix

    @classmethod
    def from_url(
        cls,
        url: str,
        prefix: str = "dp:",
        timeout: float = 10.0,
        budget: RetryBudget = RUN_RETRIES,
    ) -> PlatformState:
        return cls(redis_client(url, timeout, budget), prefix)

    def where(self) -> str:
        """This Redis as `redis://host:port/db`, for messages (never a password)."""
        kwargs = self.redis.connection_pool.connection_kwargs
        if "path" in kwargs:
            return f"unix://{kwargs['path']}"
        return f"redis://{kwargs.get('host', '?')}:{kwargs.get('port', '?')}/{kwargs.get('db', 0)}"

    def key(self, *parts: str) -> str:
        return self.prefix + ":".join(parts)

    # -- records ---------------------------------------------------------------------
    def create(self, record: DeploymentRecord) -> None:
        stamped = record if record.timestamps else record.with_status(Status.QUEUED)
        pipe = self.redis.pipeline(transaction=True)
        pipe.set(self.key("deployment", record.id), stamped.to_json())
        pipe.zadd(
            self.key("project", record.project),
            {record.id: stamped.timestamps[Status.QUEUED.value]},
        )
        pipe.execute()

    def create_unless_claimed(
        self,
        record: DeploymentRecord,
        claim: str,
        ttl_seconds: int,
        reuse: Callable[[DeploymentRecord], bool],
    ) -> DeploymentRecord | None:
        """Create `record` and point the key `claim` at it, in one transaction, unless
        `claim` names a record that `reuse` accepts: that record is returned then.

        Two callers with the same `claim` never both create: the key is watched, so
        the second one's transaction fails and it reads the first one's record."""
        stamped = record if record.timestamps else record.with_status(Status.QUEUED)
        key = self.key(claim)
        while True:
            with self.redis.pipeline() as pipe:
                try:
                    pipe.watch(key)
                    current = cast(bytes | None, pipe.get(key))
                    if current is not None:
                        existing = self.find(current.decode())
                        if existing is not None and reuse(existing):
                            return existing
                    pipe.multi()
                    pipe.set(self.key("deployment", record.id), stamped.to_json())
                    pipe.zadd(
                        self.key("project", record.project),
                        {record.id: stamped.timestamps[Status.QUEUED.value]},
                    )
                    pipe.set(key, record.id, ex=ttl_seconds)
                    pipe.execute()
                    return None
                except redis.WatchError:
                    continue

    def get(self, deployment_id: str) -> DeploymentRecord:
        raw = self.redis.get(self.key("deployment", deployment_id))
        if raw is None:
            raise UnknownDeployment(deployment_id)
        return DeploymentRecord.from_json(raw)

    def find(self, deployment_id: str) -> DeploymentRecord | None:
        try:
            return self.get(deployment_id)
        except UnknownDeployment:
            return None

    def find_many(self, deployment_ids: Sequence[str]) -> dict[str, DeploymentRecord]:
        """The records that exist among `deployment_ids`, in one round trip."""
        if not deployment_ids:
            return {}
        raws = self.redis.mget([self.key("deployment", i) for i in deployment_ids])
        return {
            i: DeploymentRecord.from_json(raw)
            for i, raw in zip(deployment_ids, raws, strict=True)
            if raw is not None
        }

    def update(
        self, deployment_id: str, change: Callable[[DeploymentRecord], DeploymentRecord]
    ) -> DeploymentRecord:
        """Read-modify-write under WATCH so concurrent writers never lose a field.

        A `change` that returns the record it was given writes nothing (the sensors
        look at waiting deployments every tick)."""
        key = self.key("deployment", deployment_id)
        while True:
            with self.redis.pipeline() as pipe:
                try:
                    pipe.watch(key)
                    raw = cast(bytes | None, pipe.get(key))
                    if raw is None:
                        raise UnknownDeployment(deployment_id)
                    current = DeploymentRecord.from_json(raw)
                    updated = change(current)
                    if updated is current:
                        return current
                    pipe.multi()
                    pipe.set(key, updated.to_json())
                    pipe.execute()
                    return updated
                except redis.WatchError:
                    continue

    def set_status(self, deployment_id: str, status: Status, **changes: Any) -> DeploymentRecord:
        return self.update(deployment_id, lambda r: r.with_status(status, **changes))

    def add_milestone(
        self, deployment_id: str, stage: Status, step: str, detail: str
    ) -> DeploymentRecord:
        """Add one milestone to the record's `progress` (see contracts/progress.py)."""
        return self.update(deployment_id, lambda r: r.with_milestone(stage.value, step, detail))

    def project_deployments(self, project: str, limit: int = 100) -> list[str]:
        ids = self.redis.zrevrange(self.key("project", project), 0, limit - 1)
        return [i.decode() for i in ids]

    def deployed_projects(self) -> list[str]:
        """Every project name with a deployment in Redis, sorted: the names of the
        `project:<name>` sets (a project needs no settings to have been deployed)."""
        start = len(self.key("project", ""))
        return sorted(
            {key.decode()[start:] for key in self.redis.scan_iter(self.key("project", "*"), 1000)}
        )

    def deployments_before(
        self, project: str, before: Position | None, limit: int
    ) -> list[Position]:
        """Up to `limit` of the project's deployments that come after `before` in a list
        ordered newest first (ties on the time by id, descending)."""
        key = self.key("project", project)
        found: list[Position] = []
        if before is not None:
            # The ones queued in the same instant as `before`, with a smaller id.
            ties = self.redis.zrangebyscore(key, before[0], before[0])
            found = [(before[0], i.decode()) for i in ties if i.decode() < before[1]]
        upper: float | str = "+inf" if before is None else f"({before[0]!r}"
        older = self.redis.zrevrangebyscore(key, upper, "-inf", 0, limit, withscores=True)
        found += [(float(score), i.decode()) for i, score in older]
        return sorted(found, reverse=True)[:limit]

    # -- queue -----------------------------------------------------------------------
    def enqueue(self, deployment_id: str) -> str:
        entry = self.redis.xadd(
            self.key("queue"), {"id": deployment_id}, maxlen=_QUEUE_MAXLEN, approximate=True
        )
        return entry.decode() if isinstance(entry, bytes) else str(entry)

    def read_queue(
        self, after: str, count: int = 100, block_ms: int | None = None
    ) -> list[QueueEntry]:
        """Entries strictly after stream id `after`; waits up to `block_ms` for the first."""
        reply = self.redis.xread({self.key("queue"): after}, count=count, block=block_ms)
        entries: list[QueueEntry] = []
        for _stream, items in reply or []:
            for entry_id, fields in items:
                dep = fields.get(b"id")
                if dep is not None:
                    entries.append((entry_id.decode(), dep.decode()))
        return entries

    def last_queue_entry(self) -> str:
        """The id of the newest queue entry (STREAM_START when the stream is empty):
        `read_queue` after it waits for an entry added from now on."""
        newest = self.redis.xrevrange(self.key("queue"), count=1)
        if not newest:
            return STREAM_START
        entry_id = newest[0][0]
        return entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)

    def claim(self, deployment_id: str, owner: str) -> bool:
        """True if `owner` holds (or now takes) the claim on starting this deployment.

        Several queue-sensor lanes read the same stream; the first to claim an id
        requests its run and the others skip it. The owner may claim again (its tick
        died and it re-reads the entry), so its run_key dedup stays in charge.
        """
        key = self.key("claim", deployment_id)
        if self.redis.set(key, owner, nx=True, ex=_CLAIM_TTL_SECONDS):
            return True
        current = self.redis.get(key)
        return current is not None and current.decode() == owner

    def note_queue_tick(self, at: float) -> None:
        self.redis.set(self.key("queue-sensor-tick"), repr(at))

    def forget_queue_tick(self) -> None:
        """Before a daemon starts: an old tick would hide that it is still starting."""
        self.redis.delete(self.key("queue-sensor-tick"))

    def last_queue_tick(self) -> float | None:
        raw = self.redis.get(self.key("queue-sensor-tick"))
        try:
            return float(raw) if raw is not None else None
        except ValueError:
            return None

    # -- aliases ---------------------------------------------------------------------
    def set_alias(self, alias: str, deployment_id: str) -> None:
        self._write_index("alias", alias, deployment_id)

    def delete_alias(self, alias: str) -> None:
        self._write_index("alias", alias, None)

    def get_alias(self, alias: str) -> str | None:
        return self._read_index("alias", alias)

    # -- custom domains --------------------------------------------------------------
    def set_domain(self, hostname: str, project: str) -> None:
        self._write_index("domain", hostname, project)

    def delete_domain(self, hostname: str) -> None:
        self._write_index("domain", hostname, None)

    def get_domain(self, hostname: str) -> str | None:
        return self._read_index("domain", hostname)

    def _write_index(self, kind: str, name: str, value: str | None) -> None:
        """Set (None: delete) `kind:name`, and tell edge-origins on `<kind>-changed`."""
        pipe = self.redis.pipeline(transaction=True)
        if value is None:
            pipe.delete(self.key(kind, name))
        else:
            pipe.set(self.key(kind, name), value)
        pipe.publish(self.key(f"{kind}-changed"), name)
        pipe.execute()

    def _read_index(self, kind: str, name: str) -> str | None:
        raw = self.redis.get(self.key(kind, name))
        return raw.decode() if raw is not None else None

    def ping(self) -> bool:
        return bool(self.redis.ping())

    def now(self) -> float:
        return time.time()
