"""The retention decision on its own: who stays, and the reason a person would see."""

from __future__ import annotations

import pytest

from deploy_platform.contracts.ids import new_deployment_id
from deploy_platform.contracts.records import DeploymentRecord, Environment, SourceKind, Status
from deploy_platform.retention.policy import RetentionPolicy, decide

NOW = 1_800_000_000.0
DAY = 86400.0


def record(
    project: str, ref: str | None, days_ago: float, status: Status = Status.READY
) -> DeploymentRecord:
    return DeploymentRecord(
        id=new_deployment_id(),
        project=project,
        source=SourceKind.GIT,
        environment=Environment.PREVIEW,
        status=status,
        ref=ref,
        timestamps={"queued": NOW - days_ago * DAY},
    )


def removed(decisions: list) -> set[str]:  # type: ignore[type-arg]
    return {d.record.id for d in decisions if not d.keep}


def test_the_newest_n_of_each_project_and_branch_stay() -> None:
    main = [record("docs", "main", 100 + i) for i in range(5)]  # main[0] is the newest
    feature = [record("docs", "feature/x", 100 + i) for i in range(3)]
    blog = [record("blog", "main", 100 + i) for i in range(3)]
    policy = RetentionPolicy(keep_per_branch=2, keep_days=30)

    decisions = decide([*main, *feature, *blog], {}, policy, NOW)

    assert removed(decisions) == {r.id for r in (*main[2:], feature[2], blog[2])}
    kept = {d.record.id: d.reasons for d in decisions if d.keep}
    assert kept[main[0].id] == ("one of the newest 2 of its branch",)
    # Oldest first, as the removal goes.
    assert [d.record.id for d in decisions][:1] == [main[4].id]


def test_young_unfinished_and_needed_deployments_stay_whatever_their_rank() -> None:
    young = record("docs", "main", 3)
    building = record("docs", "main", 200, Status.BUILDING)
    queued = record("docs", "main", 300, Status.QUEUED)
    aliased = record("docs", "main", 400)
    old = record("docs", "main", 500)
    policy = RetentionPolicy(keep_per_branch=0, keep_days=7)

    decisions = decide(
        [young, building, queued, aliased, old], {aliased.id: ["alias docs"]}, policy, NOW
    )

    assert removed(decisions) == {old.id}
    reasons = {d.record.id: d.reasons for d in decisions}
    assert reasons[young.id] == ("younger than 7 days",)
    assert reasons[building.id] == ("building, not finished",)
    assert reasons[queued.id] == ("queued, not finished",)
    assert reasons[aliased.id] == ("alias docs",)


def test_failed_deployments_count_and_uploads_form_one_branch() -> None:
    failed = record("docs", "main", 100, Status.FAILED)
    ready = record("docs", "main", 101)
    uploads = [record("docs", None, 100 + i) for i in range(2)]
    decisions = decide(
        [failed, ready, *uploads], {}, RetentionPolicy(keep_per_branch=1, keep_days=0), NOW
    )
    assert removed(decisions) == {ready.id, uploads[1].id}


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"DP_RETAIN_PER_BRANCH": "-1"},
            "DP_RETAIN_PER_BRANCH='-1' must be a whole number of 0 or more",
        ),
        ({"DP_RETAIN_PER_BRANCH": "2.5"}, "must be a whole number"),
        ({"DP_RETAIN_DAYS": "soon"}, "DP_RETAIN_DAYS='soon' must be a number of 0 or more"),
    ],
)
def test_bad_settings_are_named(env: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RetentionPolicy.from_env(env)


def test_settings_are_read() -> None:
    policy = RetentionPolicy.from_env(
        {"DP_RETAIN_PER_BRANCH": "3", "DP_RETAIN_DAYS": "0.5", "DP_EDGE_SKEW_GRACE_SECONDS": "60"}
    )
    assert policy == RetentionPolicy(keep_per_branch=3, keep_days=0.5, skew_grace_seconds=60)
