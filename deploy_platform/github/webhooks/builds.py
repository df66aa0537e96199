"""One build per commit: a push and its pull request's event share one deployment.

A push to a branch with an open pull request makes GitHub send two deliveries
for the same commit, often within milliseconds: the `push` and the pull
request's `synchronize` (or `opened`). Like Cloudflare Pages, the platform
builds that commit once, and both aliases -- `<branch>--<project>` and
`pr-<n>--<project>` -- show the one deployment, whichever delivery came first.

The claim is `commit-build:<project>:<commit>:<branch>` in Redis, written in the
same transaction as the first delivery's record (`PlatformState.create_unless_claimed`),
so two deliveries racing each other cannot both create one. The branch is part
of the key: the same commit pushed to another branch (a fast-forward merge into
the production branch) is another deployment, with its own environment. The
second delivery joins the first deployment (`join_build`):

  - its alias is added to the record (`DeploymentRecord.aliases`, and its URL),
    in a read-modify-write under WATCH like every record change;
  - if the deployment is already ready, the alias is moved to it at once;
    otherwise `published_deployment` moves it with the others. The two cannot
    both miss it: publishing marks the record ready under WATCH too and then
    moves any alias that was added before that, and a join
    that comes after sees the ready record and moves the alias itself.

A claim whose deployment failed (or is gone) is taken over by a new build: the
delivery is a chance to try again. The claim lives as long as a delivery id is
remembered (DP_WEBHOOK_DELIVERY_TTL_SECONDS).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from deploy_platform.contracts.records import DeploymentRecord, Status
from deploy_platform.publish.alias_moves import MoveNote
from deploy_platform.publish.aliases import AliasIndexHook, AliasMove, move_alias_if_newer
from deploy_platform.storage import ObjectStore
from deploy_platform.storage.redis_state import PlatformState

__all__ = ["Joined", "claim_build", "find_build", "join_build"]


def _claim(project: str, commit: str, branch: str) -> str:
    return ":".join(("commit-build", project, commit, branch))


def _reusable(record: DeploymentRecord) -> bool:
    return record.status is not Status.FAILED


def find_build(
    state: PlatformState, project: str, commit: str, branch: str
) -> DeploymentRecord | None:
    """The deployment a delivery already queued for that commit of that branch, if any
    (and not failed): a look before any costly work; `claim_build` decides."""
    raw = state.redis.get(state.key(_claim(project, commit, branch)))
    record = state.find(raw.decode()) if raw is not None else None
    return record if record is not None and _reusable(record) else None


def claim_build(
    state: PlatformState, record: DeploymentRecord, ttl_seconds: int
) -> DeploymentRecord | None:
    """Store `record` (stamped queued) as its commit's build; None when it was stored.

    When another delivery already claimed the commit of that branch, nothing is
    written and that deployment's record is returned: join it (`join_build`).
    """
    assert record.commit is not None and record.ref is not None
    return state.create_unless_claimed(
        record, _claim(record.project, record.commit, record.ref), ttl_seconds, _reusable
    )


@dataclass(frozen=True)
class Joined:
    record: DeploymentRecord
    #: Whether the alias was new to the record (False: a repeated event).
    added: bool
    #: The move made at once, when the deployment was already ready.
    move: AliasMove | None


def join_build(
    store: ObjectStore,
    state: PlatformState,
    deployment_id: str,
    alias: str,
    url: tuple[str, str],
    index: AliasIndexHook | None = None,
    *,
    note: MoveNote | None = None,
) -> Joined:
    """Add `alias` (with `url`: its name in `urls`, the URL) to the deployment; move it
    there now when the deployment is ready (module docstring)."""
    asked_at = time.time()
    added = False

    def add(record: DeploymentRecord) -> DeploymentRecord:
        nonlocal added
        added = alias not in record.aliases
        if not added:
            return record
        name, address = url
        if record.urls.get(name, address) != address:
            name = alias  # two previews of one kind (two pull requests of a branch)
        return record.replace(aliases=(*record.aliases, alias), urls={**record.urls, name: address})

    record = state.update(deployment_id, add)
    move = None
    if record.status is Status.READY:
        move = move_alias_if_newer(
            store, state, alias, deployment_id, index, note=note, asked_at=asked_at
        )
    return Joined(record, added, move)
