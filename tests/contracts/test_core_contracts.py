"""The shared contracts: ids, names, records and the Redis queue."""

from __future__ import annotations

import pytest

from deploy_platform.contracts.ids import is_deployment_id, new_deployment_id
from deploy_platform.contracts.names import (
    InvalidName,
    branch_slug,
    is_valid_label,
    preview_alias,
    validate_project_name,
)
from deploy_platform.contracts.records import DeploymentRecord, Environment, SourceKind, Status
from deploy_platform.storage.redis_state import STREAM_START, PlatformState


def test_ids_are_dns_safe_unique_and_recognised() -> None:
    ids = {new_deployment_id() for _ in range(2000)}
    assert len(ids) == 2000
    assert all(is_deployment_id(i) and is_valid_label(i) for i in ids)
    assert not is_deployment_id("docs")
    assert not is_deployment_id("abcdefghijkl")  # no digit: could be a project name


@pytest.mark.parametrize("name", ["docs", "my-site", "a1"])
def test_good_project_names(name: str) -> None:
    assert validate_project_name(name) == name


@pytest.mark.parametrize(
    "name", ["", "Docs", "my--site", "-x", "x-", "a" * 33, "my_site", "abcdefghij23", 7, None]
)
def test_bad_project_names_are_refused(name: object) -> None:
    with pytest.raises(InvalidName):
        validate_project_name(name)


def test_branch_slugs_fit_a_label() -> None:
    assert branch_slug("feature/New_Login") == "feature-new-login"
    long = branch_slug("feature/" + "x" * 200)
    assert len(long) <= 63 and is_valid_label(long)
    assert branch_slug("feature/" + "x" * 200) != branch_slug("feature/" + "x" * 199 + "y")
    alias = preview_alias("docs", "feature/" + "é" * 100)
    assert is_valid_label(alias) and alias.endswith("--docs")


def test_queue_redelivers_until_the_cursor_moves(state: PlatformState) -> None:
    first = state.enqueue("aaaaaaaaaaa2")
    state.enqueue("bbbbbbbbbbb3")
    entries = state.read_queue(STREAM_START)
    assert [dep for _, dep in entries] == ["aaaaaaaaaaa2", "bbbbbbbbbbb3"]
    # A tick that died before saving its cursor reads the same entries again.
    assert state.read_queue(STREAM_START) == entries
    assert [dep for _, dep in state.read_queue(first)] == ["bbbbbbbbbbb3"]
    assert state.read_queue(entries[-1][0], block_ms=50) == []


def test_record_round_trip_and_status_stamps(state: PlatformState) -> None:
    record = DeploymentRecord(
        id="aaaaaaaaaaa2", project="docs", source=SourceKind.GIT,
        environment=Environment.PRODUCTION, repo_url="https://example.com/r.git", ref="main",
    )
    state.create(record)
    state.set_status(record.id, Status.CLONING)
    updated = state.set_status(record.id, Status.READY, files=3)
    assert state.get(record.id) == updated
    assert updated.files == 3 and set(updated.timestamps) == {"queued", "cloning", "ready"}
    assert "total" in updated.durations()
    assert state.project_deployments("docs") == [record.id]


def test_a_claim_belongs_to_its_first_owner(state: PlatformState) -> None:
    assert state.claim("aaaaaaaaaaa2", "lane-1")
    assert state.claim("aaaaaaaaaaa2", "lane-1")  # the owner re-reading after a crash
    assert not state.claim("aaaaaaaaaaa2", "lane-2")
