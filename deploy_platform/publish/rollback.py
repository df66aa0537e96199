"""Rollback and promote: production points at another ready deployment at once, no rebuild.

  rollback(project)       the production alias goes back to the newest ready
                          production deployment of the project queued before the
                          live one; called again, it steps back further
  rollback(project, id)   to that ready production deployment of the project
  promote(id)             any ready deployment (a preview too) into its project's
                          production

Each is one `point_alias` (pointer, Redis and its pub/sub message, the optional
KV index, the alias move log), so every edge-origin switches within a second and
custom domains, which follow the production alias, with it. A deployment queued
before the move does not undo it when it finishes later; a push after it
deploys as usual (`deploy_platform.publish.aliases`).

Refusals are `MoveRefused` (an `InvalidRequest` with a stable `code` and the
HTTP status the API answers), each saying what to do instead. Dagster-free and
blocking: the control API runs these in its thread pool.
"""

from __future__ import annotations

from dataclasses import dataclass

from deploy_platform.contracts.errors import InvalidRequest
from deploy_platform.contracts.ids import ID_RULE, is_deployment_id
from deploy_platform.contracts.manifest import alias_key, manifest_key
from deploy_platform.contracts.names import production_alias
from deploy_platform.contracts.records import DeploymentRecord, Environment, Status
from deploy_platform.projects.store import project_key
from deploy_platform.publish.alias_moves import MoveNote, MoveReason, project_of_alias
from deploy_platform.publish.aliases import (
    AliasIndexHook,
    point_alias,
    read_alias,
    read_alias_pointer,
)
from deploy_platform.storage import ObjectStore
from deploy_platform.storage.redis_state import PlatformState

__all__ = [
    "MoveRefused",
    "ProductionMove",
    "AliasState",
    "rollback",
    "promote",
    "project_known",
    "project_aliases",
]

# How many of a project's newest deployments a rollback without an id looks through.
_SCAN = 1000
_ALIASES_PREFIX = "aliases/"


class MoveRefused(InvalidRequest):
    """A rollback or promote that cannot be done; `code` and `status` are the API's."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message, field=field, status=status)
        self.code = code


@dataclass(frozen=True)
class ProductionMove:
    """What a rollback or promote did (`moved` False: production already served `to`)."""

    project: str
    alias: str
    from_deployment: str | None
    to_deployment: str
    moved: bool
    actor: str
    reason: MoveReason

    def to_dict(self) -> dict[str, object]:
        return {
            "project": self.project,
            "alias": self.alias,
            "from": self.from_deployment,
            "to": self.to_deployment,
            "moved": self.moved,
            "actor": self.actor,
            "reason": self.reason.value,
        }


@dataclass(frozen=True)
class AliasState:
    """One alias of a project as it is now (from its durable pointer)."""

    alias: str
    kind: str  # "production" or "preview"
    deployment: str
    updated_at: float | None
    moved_by: dict[str, object] | None
    record: DeploymentRecord | None

    def to_dict(self) -> dict[str, object]:
        data: dict[str, object] = {
            "alias": self.alias,
            "kind": self.kind,
            "deployment": self.deployment,
            "updated_at": self.updated_at,
            "moved_by": self.moved_by,
        }
        if self.record is not None:
            data["ref"] = self.record.ref
            data["commit"] = self.record.commit
            data["environment"] = self.record.environment.value
        return data


def project_known(store: ObjectStore, state: PlatformState, project: str) -> bool:
    """A project has settings, deployments or a production alias (projects are optional)."""
    return (
        store.exists(project_key(project))
        or bool(state.project_deployments(project, limit=1))
        or store.exists(alias_key(production_alias(project)))
    )


def _unknown_project(project: str) -> MoveRefused:
    return MoveRefused(
        404,
        "project_not_found",
        f"no project {project}: it has no settings, no deployments and no production alias",
        field="project",
    )


def _ready_deployment(
    store: ObjectStore, state: PlatformState, deployment_id: str
) -> DeploymentRecord:
    if not is_deployment_id(deployment_id):
        raise MoveRefused(
            400,
            "invalid_id",
            f"{deployment_id[:40]!r} is not a deployment id ({ID_RULE})",
            field="deployment",
        )
    record = state.find(deployment_id)
    if record is None:
        raise MoveRefused(
            404, "deployment_not_found", f"no deployment {deployment_id}", field="deployment"
        )
    if record.status is not Status.READY:
        why = f": {record.error}" if record.status is Status.FAILED and record.error else ""
        raise MoveRefused(
            409,
            "deployment_not_ready",
            f"deployment {deployment_id} is {record.status.value}{why}; only a ready "
            "deployment can serve production",
            field="deployment",
        )
    # A ready record whose manifest is gone would serve nothing: refuse rather than break.
    if not store.exists(manifest_key(deployment_id)):
        raise MoveRefused(
            409,
            "deployment_not_published",
            f"deployment {deployment_id} is marked ready but {manifest_key(deployment_id)} is "
            "not in the object store; deploy it again",
            field="deployment",
        )
    return record


def rollback(
    store: ObjectStore,
    state: PlatformState,
    project: str,
    deployment_id: str | None,
    actor: str,
    index: AliasIndexHook | None = None,
) -> ProductionMove:
    """Point `project`'s production alias at an earlier ready production deployment."""
    if not project_known(store, state, project):
        raise _unknown_project(project)
    alias = production_alias(project)
    if deployment_id is None:
        target = _previous_production(store, state, project, read_alias(store, alias))
    else:
        record = _ready_deployment(store, state, deployment_id)
        if record.project != project:
            raise MoveRefused(
                400,
                "wrong_project",
                f"deployment {deployment_id} belongs to project {record.project}, not "
                f"{project}; give a deployment of {project} (or roll back {record.project})",
                field="deployment",
            )
        if record.environment is not Environment.PRODUCTION:
            raise MoveRefused(
                409,
                "preview_deployment",
                f"deployment {deployment_id} is a preview of branch {record.ref}, not a "
                f"production deployment; use promote to put it into production "
                f"(deploy-platform promote {deployment_id})",
                field="deployment",
            )
        target = record.id
    return _move(store, state, project, target, actor, MoveReason.ROLLBACK, index)


def promote(
    store: ObjectStore,
    state: PlatformState,
    deployment_id: str,
    actor: str,
    index: AliasIndexHook | None = None,
) -> ProductionMove:
    """Put a ready deployment (a preview, or any of its project's) into production."""
    record = _ready_deployment(store, state, deployment_id)
    return _move(store, state, record.project, record.id, actor, MoveReason.PROMOTE, index)


def _previous_production(
    store: ObjectStore, state: PlatformState, project: str, current: str | None
) -> str:
    if current is None:
        raise MoveRefused(
            409,
            "nothing_to_roll_back",
            f"project {project} has no production deployment yet; there is nothing to roll "
            "back from",
            field="project",
        )
    live = state.find(current)
    # Without the live deployment's record (Redis rebuilt), every other one counts as earlier.
    live_queued = live.timestamps.get("queued", float("inf")) if live else float("inf")
    for candidate_id in state.project_deployments(project, limit=_SCAN):
        if candidate_id == current:
            continue
        record = state.find(candidate_id)
        if (
            record is not None
            and record.environment is Environment.PRODUCTION
            and record.status is Status.READY
            and record.timestamps.get("queued", float("inf")) < live_queued
            and store.exists(manifest_key(candidate_id))
        ):
            return candidate_id
    raise MoveRefused(
        409,
        "nothing_to_roll_back",
        f"project {project} has no ready production deployment older than the live one "
        f"({current}); give a deployment id to roll back to",
        field="project",
    )


def _move(
    store: ObjectStore,
    state: PlatformState,
    project: str,
    target: str,
    actor: str,
    reason: MoveReason,
    index: AliasIndexHook | None,
) -> ProductionMove:
    alias = production_alias(project)
    current = read_alias(store, alias)
    if current == target:
        return ProductionMove(project, alias, current, target, False, actor, reason)
    # Not atomic with the choice above: a deploy landing in between is what `from` shows.
    previous = point_alias(
        store, state, alias, target, index, note=MoveNote(project, actor, reason)
    )
    return ProductionMove(project, alias, previous, target, True, actor, reason)


def project_aliases(store: ObjectStore, state: PlatformState, project: str) -> list[AliasState]:
    """The project's aliases now, production first, then previews by name.

    Reads every pointer name in the store (`aliases/`), since a preview alias
    `<branch>--<project>` is found by its name only.
    """
    found: list[AliasState] = []
    for info in store.list(_ALIASES_PREFIX):
        name = info.key[len(_ALIASES_PREFIX) :].removesuffix(".json")
        if project_of_alias(name) != project:
            continue
        pointer = read_alias_pointer(store, name)
        target = pointer.get("deployment") if pointer else None
        if pointer is None or not isinstance(target, str):
            continue
        updated_at, moved_by = pointer.get("updated_at"), pointer.get("moved_by")
        found.append(
            AliasState(
                alias=name,
                kind="production" if name == production_alias(project) else "preview",
                deployment=target,
                updated_at=float(updated_at) if isinstance(updated_at, int | float) else None,
                moved_by=moved_by if isinstance(moved_by, dict) else None,
                record=state.find(target),
            )
        )
    return sorted(found, key=lambda a: (a.kind != "production", a.alias))
