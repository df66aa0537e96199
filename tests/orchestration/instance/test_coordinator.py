"""When a sensor's run may skip the run queue: the queue's own limits, read the same way."""

from __future__ import annotations

from dagster import DagsterRun

from deploy_platform.orchestration.instance.coordinator import fits_limits

PER_PROJECT = [{"key": "deploy/project", "value": {"applyLimitPerUniqueValue": True}, "limit": 1}]


def _run(project: str, **tags: str) -> DagsterRun:
    return DagsterRun(job_name="deploy", tags={"deploy/project": project, **tags})


def test_a_run_fits_while_slots_are_free_and_not_once_they_are_taken() -> None:
    assert fits_limits(_run("a"), [], 2, [])
    assert fits_limits(_run("a"), [_run("b")], 2, [])
    assert not fits_limits(_run("a"), [_run("b"), _run("c")], 2, [])
    assert fits_limits(_run("a"), [_run("b")] * 50, -1, [])  # -1: no overall limit


def test_the_per_project_limit_counts_only_runs_of_the_same_project() -> None:
    assert fits_limits(_run("a"), [_run("b"), _run("c")], 4, PER_PROJECT)
    assert not fits_limits(_run("a"), [_run("b"), _run("a")], 4, PER_PROJECT)


def test_a_limit_on_one_tag_value_applies_to_that_value_only() -> None:
    rule = [{"key": "deploy/environment", "value": "production", "limit": 1}]
    production = _run("a", **{"deploy/environment": "production"})
    preview = _run("b", **{"deploy/environment": "preview"})
    assert not fits_limits(production, [_run("c", **{"deploy/environment": "production"})], 4, rule)
    assert fits_limits(preview, [_run("c", **{"deploy/environment": "production"})], 4, rule)
    assert fits_limits(production, [preview], 4, rule)


def test_a_limit_on_a_key_counts_every_run_carrying_it() -> None:
    rule = [{"key": "deploy/project", "limit": 2}]
    assert fits_limits(_run("a"), [_run("b")], 4, rule)
    assert not fits_limits(_run("a"), [_run("b"), _run("c")], 4, rule)
    assert fits_limits(DagsterRun(job_name="retention"), [_run("b"), _run("c")], 4, rule)
