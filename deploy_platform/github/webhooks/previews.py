"""Taking a preview down: a deleted branch's, a closed pull request's.

Two things, in this order:
  1. unfinished deployments of the project that would move the alias when they
     publish (queued, cloning, building) no longer name it: their record loses
     the alias and its URL, so the preview does not come back when a build that
     was running at deletion time finishes. A deployment already publishing read
     its record and may still move the alias (the window is its upload);
  2. `deploy_platform.publish.aliases.remove_alias`: the pointer, the Redis index (edge-origins
     are told), the alias move log (`branch-deleted` or `pull-request-closed`), the
     Worker's KV copy.
The deployments stay, each at its own immutable host.

Two branches can share a slug (`feature/a` and `feature-a`); a branch's deletion
leaves the alias alone when it shows a deployment of another branch.
"""

from __future__ import annotations

from dataclasses import dataclass

from deploy_platform.contracts.records import TERMINAL, DeploymentRecord
from deploy_platform.publish.alias_moves import MoveNote, MoveReason
from deploy_platform.publish.aliases import AliasIndexHook, remove_alias
from deploy_platform.storage import ObjectStore
from deploy_platform.storage.redis_state import PlatformState, UnknownDeployment

__all__ = ["TakenDown", "take_down_preview"]

# Far more than can be unfinished at once for one project.
_RECENT = 200


@dataclass(frozen=True)
class TakenDown:
    #: The deployment the alias showed; None when it was not set (or is kept).
    removed: str | None
    #: Unfinished deployments that will no longer move the alias.
    detached: tuple[str, ...]


def take_down_preview(
    store: ObjectStore,
    state: PlatformState,
    project: str,
    alias: str,
    branch: str | None,
    index: AliasIndexHook | None = None,
    *,
    actor: str = "api",
) -> TakenDown:
    """Take `alias` down (module docstring); `branch` is the deleted branch, None for a PR.

    The removal is logged in the alias move log as made by `actor` (`webhook:<delivery>`).
    """

    def names_it(record: DeploymentRecord) -> bool:
        return (
            record.project == project
            and alias in record.aliases
            and (branch is None or record.ref == branch)
        )

    detached = []
    for deployment_id in state.project_deployments(project, limit=_RECENT):
        record = state.find(deployment_id)
        if record is None or record.status in TERMINAL or not names_it(record):
            continue
        try:
            state.update(deployment_id, lambda r: _without(r, alias) if names_it(r) else r)
        except UnknownDeployment:
            continue
        detached.append(deployment_id)

    def keep(deployment_id: str) -> bool:
        # Only a branch's deletion can meet another branch's deployment on its alias.
        if branch is None:
            return False
        record = state.find(deployment_id)
        return record is not None and (record.project != project or record.ref != branch)

    reason = MoveReason.BRANCH_DELETED if branch is not None else MoveReason.PULL_REQUEST_CLOSED
    note = MoveNote(project, actor, reason)
    removed = remove_alias(store, state, alias, index, keep=keep, note=note)
    return TakenDown(removed, tuple(detached))


def _without(record: DeploymentRecord, alias: str) -> DeploymentRecord:
    aliases = tuple(a for a in record.aliases if a != alias)
    # The URL of the alias is `<alias>.<domain>`: its host's first label.
    urls = {
        name: url
        for name, url in record.urls.items()
        if name == "deployment" or url.split("://", 1)[-1].split(".", 1)[0] != alias
    }
    return record.replace(aliases=aliases, urls=urls)
