"""The alias move log (`deploy_platform.publish.alias_moves`) and how alias moves write it,
on a real local store and real Redis."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from deploy_platform.contracts.ids import new_deployment_id
from deploy_platform.contracts.manifest import alias_key
from deploy_platform.contracts.records import DeploymentRecord, Environment, SourceKind
from deploy_platform.publish.alias_moves import (
    MOVES_PREFIX,
    InvalidActor,
    MoveNote,
    MoveReason,
    check_actor,
    list_moves,
    project_of_alias,
    record_move,
)
from deploy_platform.publish.aliases import (
    move_alias_if_newer,
    point_alias,
    read_alias,
    remove_alias,
)
from deploy_platform.storage import ObjectStoreError
from deploy_platform.storage.local import LocalObjectStore
from deploy_platform.storage.redis_state import PlatformState


@pytest.fixture
def store(local_store_root: Path) -> LocalObjectStore:
    return LocalObjectStore(local_store_root)


def queued(state: PlatformState, at: float) -> str:
    """A production deployment record of `docs` queued at `at`; its id."""
    deployment_id = new_deployment_id()
    state.create(
        DeploymentRecord(
            id=deployment_id,
            project="docs",
            source=SourceKind.UPLOAD,
            environment=Environment.PRODUCTION,
            aliases=("docs",),
            timestamps={"queued": at},
        )
    )
    return deployment_id


def deploy_note(run: str = "run-1") -> MoveNote:
    return MoveNote("docs", f"dagster:{run}", MoveReason.DEPLOY)


def test_moves_are_listed_newest_first_and_limited(store: LocalObjectStore) -> None:
    a, b, c = (new_deployment_id() for _ in range(3))
    record_move(store, "docs", "docs", None, a, "dagster:r1", MoveReason.DEPLOY, at=100.0)
    record_move(store, "docs", "docs", a, b, "dagster:r2", MoveReason.DEPLOY, at=200.0)
    record_move(store, "docs", "docs", b, a, "cli:alice", MoveReason.ROLLBACK, at=300.0)
    record_move(store, "docs", "feature-x--docs", None, c, "dagster:r3", "deploy", at=250.0)
    record_move(store, "blog", "blog", None, c, "api", MoveReason.PROMOTE, at=400.0)

    moves = list_moves(store, "docs")
    assert [(m.at, m.alias, m.from_deployment, m.to_deployment) for m in moves] == [
        (300.0, "docs", b, a),
        (250.0, "feature-x--docs", None, c),
        (200.0, "docs", a, b),
        (100.0, "docs", None, a),
    ]
    assert (moves[0].actor, moves[0].reason) == ("cli:alice", "rollback")
    assert moves[0].to_dict()["time"] == "1970-01-01T00:05:00Z"
    assert [m.at for m in list_moves(store, "docs", limit=2)] == [300.0, 250.0]
    assert [m.project for m in list_moves(store, "blog")] == ["blog"]
    assert list_moves(store, "nothing") == []


def test_each_move_is_its_own_object_so_nothing_is_rewritten(store: LocalObjectStore) -> None:
    a = new_deployment_id()
    record_move(store, "docs", "docs", None, a, "api", MoveReason.PROMOTE, at=100.0)
    first = {info.key: store.get_bytes(info.key) for info in store.list(MOVES_PREFIX)}
    record_move(store, "docs", "docs", a, None, "webhook:d-1", MoveReason.BRANCH_DELETED)
    after = {info.key: store.get_bytes(info.key) for info in store.list(MOVES_PREFIX)}
    assert len(after) == 2 and all(after[key] == body for key, body in first.items())
    removed = list_moves(store, "docs")[0]
    assert (removed.from_deployment, removed.to_deployment, removed.reason) == (
        a,
        None,
        "branch-deleted",
    )


def test_a_damaged_entry_is_left_out_not_fatal(store: LocalObjectStore) -> None:
    record_move(store, "docs", "docs", None, new_deployment_id(), "api", "deploy", at=100.0)
    store.put_bytes(f"{MOVES_PREFIX}docs/0000000000000001-bad.json", b"[not, an, entry")
    store.put_bytes(f"{MOVES_PREFIX}docs/0000000000000002-bad.json", b'{"at": "noon"}')
    assert [m.at for m in list_moves(store, "docs")] == [100.0]


def test_point_alias_with_a_note_logs_the_move_and_names_its_maker(
    store: LocalObjectStore, state: PlatformState
) -> None:
    first, second = new_deployment_id(), new_deployment_id()
    point_alias(store, state, "docs", first, note=deploy_note("r1"))
    point_alias(store, state, "docs", second, note=deploy_note("r2"))
    before = time.time()
    point_alias(
        store, state, "docs", first, note=MoveNote("docs", "cli:bob", MoveReason.ROLLBACK)
    )

    moves = list_moves(store, "docs")
    assert [(m.from_deployment, m.to_deployment, m.actor, m.reason) for m in moves] == [
        (second, first, "cli:bob", "rollback"),
        (first, second, "dagster:r2", "deploy"),
        (None, first, "dagster:r1", "deploy"),
    ]
    pointer = json.loads(store.get_bytes(alias_key("docs")))
    assert pointer["moved_by"] == {"actor": "cli:bob", "reason": "rollback"}
    # The entry's time is the pointer's: one move, one moment.
    assert moves[0].at == pointer["updated_at"] >= before


def test_re_pointing_at_the_live_deployment_logs_nothing(
    store: LocalObjectStore, state: PlatformState
) -> None:
    live = new_deployment_id()
    point_alias(store, state, "docs", live, note=deploy_note())
    point_alias(store, state, "docs", live, note=MoveNote("docs", "api", MoveReason.PROMOTE))
    assert len(list_moves(store, "docs")) == 1
    pointer = json.loads(store.get_bytes(alias_key("docs")))
    assert pointer["moved_by"]["reason"] == "deploy"


def test_removing_an_alias_with_a_note_logs_the_removal_once(
    store: LocalObjectStore, state: PlatformState
) -> None:
    shown = new_deployment_id()
    point_alias(store, state, "feature-x--docs", shown, note=deploy_note())
    gone = MoveNote("docs", "webhook:d-7", MoveReason.BRANCH_DELETED)

    assert remove_alias(store, state, "feature-x--docs", note=gone) == shown
    assert remove_alias(store, state, "feature-x--docs", note=gone) is None  # nothing left

    removal, deploy = list_moves(store, "docs")
    assert (removal.from_deployment, removal.to_deployment) == (shown, None)
    assert (removal.actor, removal.reason) == ("webhook:d-7", "branch-deleted")
    assert deploy.reason == "deploy"


def test_a_move_stands_when_its_log_entry_cannot_be_written(
    local_store_root: Path, state: PlatformState, caplog: pytest.LogCaptureFixture
) -> None:
    class NoLogStore(LocalObjectStore):
        """A real store that refuses writes under alias-moves/ (a bucket policy would)."""

        def put_bytes(self, key: str, data: bytes, content_type: str | None = None) -> None:
            if key.startswith(MOVES_PREFIX):
                raise ObjectStoreError(f"access denied: {key}")
            super().put_bytes(key, data, content_type)

    store = NoLogStore(local_store_root)
    target = new_deployment_id()
    point_alias(store, state, "docs", target, note=deploy_note())
    assert read_alias(store, "docs") == target and state.get_alias("docs") == target
    assert "the move log could not be written" in caplog.text and target in caplog.text


def test_a_deployment_queued_before_a_rollback_does_not_undo_it(
    store: LocalObjectStore, state: PlatformState
) -> None:
    now = time.time()
    good = queued(state, now - 300)
    bad = queued(state, now - 200)
    in_flight = queued(state, now - 100)  # queued before the rollback, finishes after it
    assert move_alias_if_newer(store, state, "docs", good, note=deploy_note()).moved
    assert move_alias_if_newer(store, state, "docs", bad, note=deploy_note()).moved
    point_alias(store, state, "docs", good, note=MoveNote("docs", "api", MoveReason.ROLLBACK))

    late = move_alias_if_newer(store, state, "docs", in_flight, note=deploy_note())

    assert not late.moved and late.current == good
    assert "rollback chose it after this deployment was queued" in late.kept_because
    assert read_alias(store, "docs") == good
    # A push after the rollback (a `git revert`, a fix) deploys as usual.
    revert = queued(state, time.time() + 1)
    assert move_alias_if_newer(store, state, "docs", revert, note=deploy_note()).moved
    assert read_alias(store, "docs") == revert
    assert [m.reason for m in list_moves(store, "docs")] == [
        "deploy",
        "rollback",
        "deploy",
        "deploy",
    ]


@pytest.mark.parametrize("actor", ["api", "cli:alice", "dagster-ui:0c1e-77", "ci:gh/run+1@x"])
def test_actors_of_the_documented_shape_are_taken(actor: str) -> None:
    assert check_actor(actor) == actor


@pytest.mark.parametrize(
    ("actor", "says"),
    [
        ("", "must be 1 to 100"),
        ("a" * 101, "must be 1 to 100"),
        ("alice smith", "letters, digits"),
        ("cli:al\nice", "letters, digits"),
        (":alice", "starting with a letter or digit"),
        (42, "must be a string, not a number"),
        (None, "must be a string, not null"),
    ],
)
def test_bad_actors_are_refused_saying_why(actor: object, says: str) -> None:
    with pytest.raises(InvalidActor) as refused:
        check_actor(actor)
    assert says in str(refused.value) and refused.value.field == "actor"


def test_an_alias_names_its_project() -> None:
    assert project_of_alias("docs") == "docs"
    assert project_of_alias("feature-login--my-site") == "my-site"
