"""Publishing leases and the sweep fence: publishing and sweeping bodies never overlap.

Why a fence, and not only "sweep bodies older than the mark": publishing
uploads only the bodies the store lacks (`publish.publish_directory`), so a
deploy of content seen before (a revert, a file unchanged since a removed
deployment) *reuses* an old body that no remaining manifest references. An age
rule cannot see that: the body is old and, at the mark, unreferenced; without
more, the sweep deletes it between the publisher's "already stored" check and
its manifest, and the new deployment serves a 404. So:

- A publisher holds a lease from before it asks the store what it lacks (and
  reads variant records) until its manifest is written: a member of the sorted
  set `P publishing`, scored with its expiry (an hour, longer than a run may
  live: `run_monitoring.max_runtime_seconds`). It takes the lease only while
  no fence stands (one Lua script: atomic in Redis), else waits for the fence
  to go.
- The sweeper deletes a batch only under the fence `P gc-fence`, which it
  takes only while no live lease exists (again one script). Under the fence it
  re-reads the manifests written since its mark and spares what they reference,
  then deletes, then drops the fence. So every publisher either finished before
  the fence (its manifest is read under it) or starts after it (it finds the
  deleted bodies missing and uploads them again).

The sweeper never makes a publisher wait for anything but a batch of deletes:
it waits for a quiet moment itself (no publish in flight), up to a limit, and
gives up the sweep (reported, retried next time) on a store that never is.
A lease left by a killed publisher expires; until then sweeps wait or give up.

Keys (under the platform's Redis prefix `P`, see `storage/redis_state.py`):
  P publishing   sorted set: lease token -> expiry (Unix seconds)
  P gc-fence     the sweeper's token while it deletes (expires by itself)
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from deploy_platform.contracts.errors import DeploymentFailed
from deploy_platform.storage.redis_state import PlatformState

__all__ = [
    "LEASE_SECONDS",
    "FenceBusy",
    "PublishBlocked",
    "publishing_lease",
    "sweep_fence",
    "live_leases",
]

#: Longer than any run may take (instance/home.py: max_runtime_seconds 3600).
LEASE_SECONDS = 3600.0
_FENCE_SECONDS = 600.0
_POLL_SECONDS = 0.2

# KEYS: fence, leases. ARGV: token, expiry. 1 = lease taken, 0 = a fence stands.
_TAKE_LEASE = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
return 1
"""
# KEYS: fence, leases. ARGV: token, fence ttl in ms, now. 1 = fence taken.
_TAKE_FENCE = """
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[3])
if redis.call('ZCARD', KEYS[2]) > 0 then return 0 end
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
return 0
"""
# KEYS: fence. ARGV: token. Drops the fence only if it is still ours.
_DROP_FENCE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class FenceBusy(Exception):
    """The sweep found no moment without a publish in flight in time."""


class PublishBlocked(DeploymentFailed):
    """A publish waited too long for a sweep's fence; the deployment fails, saying so."""


def _keys(state: PlatformState) -> list[str]:
    return [state.key("gc-fence"), state.key("publishing")]


@contextmanager
def publishing_lease(
    state: PlatformState, deployment_id: str, *, wait_seconds: float = _FENCE_SECONDS
) -> Iterator[None]:
    """Hold a lease while publishing; waits (up to `wait_seconds`) while a sweep deletes."""
    token = f"{deployment_id}:{uuid.uuid4().hex}"
    deadline = time.monotonic() + wait_seconds
    take = state.redis.register_script(_TAKE_LEASE)
    while not take(keys=_keys(state), args=[token, time.time() + LEASE_SECONDS]):
        if time.monotonic() > deadline:
            raise PublishBlocked(
                f"garbage collection held the object store for over {wait_seconds:.0f} s "
                "(a sweep deletes in batches, each far shorter); publish again"
            )
        time.sleep(_POLL_SECONDS)
    try:
        yield
    finally:
        state.redis.zrem(state.key("publishing"), token)


@contextmanager
def sweep_fence(
    state: PlatformState,
    *,
    wait_seconds: float,
    fence_seconds: float = _FENCE_SECONDS,
) -> Iterator[None]:
    """Hold the fence: no publish is in flight and none starts until it is dropped."""
    token = uuid.uuid4().hex
    deadline = time.monotonic() + wait_seconds
    take = state.redis.register_script(_TAKE_FENCE)
    while not take(keys=_keys(state), args=[token, int(fence_seconds * 1000), time.time()]):
        if time.monotonic() > deadline:
            raise FenceBusy(
                f"{live_leases(state)} publish(es) in flight for {wait_seconds:.0f} s; "
                "the sweep waits for a moment with none"
            )
        time.sleep(_POLL_SECONDS)
    try:
        yield
    finally:
        state.redis.register_script(_DROP_FENCE)(keys=[state.key("gc-fence")], args=[token])


def live_leases(state: PlatformState) -> int:
    """Publishes in flight now (leases not yet expired)."""
    return int(state.redis.zcount(state.key("publishing"), time.time(), "+inf"))
