"""What a delivery does for a project, decided from the payload alone (no I/O)."""

from __future__ import annotations

from typing import Any, cast

import pytest

from deploy_platform.build import isolation
from deploy_platform.contracts.names import is_valid_label
from deploy_platform.github.webhooks import (
    Deploy,
    RemoveAlias,
    Skip,
    WebhookPayloadError,
    parse_event,
    parse_payload,
    plan,
    repository_urls,
)
from deploy_platform.projects.branches import BranchRules
from deploy_platform.projects.model import Project
from serve.hosts import site_for_label
from tests.support.webhooks import ping_payload, pull_request_payload, push_payload

REPO = "https://github.com/acme/docs.git"
FORK = "https://github.com/stranger/docs.git"
SHA = "a" * 40
PROJECT = Project(name="docs", repo_url=REPO, webhook_secret="s")


#: Builds isolated, as on a machine with bubblewrap and slirp4netns (forks may be built);
#: tests/security/test_fork_refusal.py covers the machine without.
ISOLATED = isolation.Status(isolation.Mode.AUTO, sandboxed=True, network=True, problems=())


def planned(event: str, payload: dict[str, Any], project: Project = PROJECT) -> Any:
    return plan(parse_event(event, payload), project, ISOLATED)


def test_a_push_to_an_included_branch_deploys_the_pushed_commit() -> None:
    action = planned("push", push_payload(REPO, "feature/login", SHA))
    assert action == Deploy(
        branch="feature/login",
        commit=SHA,
        repo_url=REPO,
        reason="push to preview branch 'feature/login' (matches the include pattern 'feature/*')",
        message="change",
        author="Some One",
    )


def test_a_push_to_the_production_branch_deploys() -> None:
    action = planned("push", push_payload(REPO, "main", SHA))
    assert isinstance(action, Deploy) and action.branch == "main" and action.preview_at is None


@pytest.mark.parametrize(
    "branch, why",
    [
        ("dependabot/npm/left-pad-2", "matches the exclude pattern 'dependabot/*'"),
        ("renovate/all", "matches the exclude pattern 'renovate/*'"),
        ("wip", "matches no include pattern"),
        ("feature/a..b", "is not a valid branch"),
        ("feature/x.lock", "is not a valid branch"),
    ],
)
def test_branches_the_rules_do_not_deploy_are_skipped(branch: str, why: str) -> None:
    action = planned("push", push_payload(REPO, branch, SHA))
    assert isinstance(action, Skip) and action.outcome == "skipped"
    assert why in action.reason


@pytest.mark.parametrize(
    "message, marker",
    [
        ("Fix typo [skip ci]", "[skip ci]"),
        ("[ci skip] docs only", "[ci skip]"),
        ("Bump\n\nbody [SKIP CI]", "[SKIP CI]"),
        # Cloudflare Pages' markers, in the letters its documentation gives and others.
        ("[CI Skip] docs only", "[CI Skip]"),
        ("[CI-Skip] docs only", "[CI-Skip]"),
        ("[Skip CI] docs only", "[Skip CI]"),
        ("[Skip-CI] docs only", "[Skip-CI]"),
        ("[CF-Pages-Skip] docs only", "[CF-Pages-Skip]"),
        ("[cf-pages-skip] docs only", "[cf-pages-skip]"),
        ("[CF-PAGES-SKIP]", "[CF-PAGES-SKIP]"),
    ],
)
def test_skip_markers_in_the_head_commit_skip_the_build(message: str, marker: str) -> None:
    action = planned("push", push_payload(REPO, "main", SHA, message=message))
    assert isinstance(action, Skip) and action.outcome == "skipped"
    assert action.marker == marker
    assert f"head commit's message says {marker!r}" in action.reason


@pytest.mark.parametrize(
    "message", ["[CF Pages Skip] no", "[skipci]", "[cf-pages skip]", "CF-Pages-Skip", "[skip_ci]"]
)
def test_near_misses_of_a_marker_deploy(message: str) -> None:
    assert isinstance(planned("push", push_payload(REPO, "main", SHA, message=message)), Deploy)


def test_a_push_without_a_head_commit_has_its_message_read_from_the_repository() -> None:
    payload = {**push_payload(REPO, "main", SHA), "head_commit": None}
    action = planned("push", payload)
    assert isinstance(action, Deploy) and action.read_message
    assert not cast(Deploy, planned("push", push_payload(REPO, "main", SHA))).read_message


def test_a_skip_marker_only_counts_in_brackets() -> None:
    action = planned("push", push_payload(REPO, "main", SHA, message="skip ci later"))
    assert isinstance(action, Deploy)


def test_tags_are_ignored() -> None:
    action = planned("push", push_payload(REPO, "", SHA, ref="refs/tags/v1.0"))
    assert isinstance(action, Skip) and action.outcome == "ignored"
    assert "tag 'refs/tags/v1.0'" in action.reason


def test_deleting_a_branch_takes_its_preview_down() -> None:
    action = planned("push", push_payload(REPO, "feature/login", SHA, deleted=True))
    assert action == RemoveAlias(
        "feature-login--docs", "branch 'feature/login' was deleted", branch="feature/login"
    )


def test_deleting_the_production_branch_keeps_production() -> None:
    action = planned("push", push_payload(REPO, "main", SHA, deleted=True))
    assert isinstance(action, Skip) and "production keeps serving" in action.reason


@pytest.mark.parametrize(
    "branch",
    [
        "feature/a/b/c",
        "feature/ünïcødé",
        "feature/日本語",
        "feature/" + "x" * 192,  # 200 characters
        "feature/" + "é" * 192,
        "feature/PR-7",  # would look like pull request 7's preview
        "feature/--double--",
    ],
)
def test_odd_branch_names_get_a_host_the_edge_resolves(branch: str) -> None:
    project = Project(
        name="a-rather-long-project-name-of-32",
        repo_url=REPO,
        webhook_secret="s",
        branches=BranchRules(include=("feature/*",), exclude=()),
    )
    deploy = planned("push", push_payload(REPO, branch, SHA), project)
    assert isinstance(deploy, Deploy)
    removal = planned("push", push_payload(REPO, branch, SHA, deleted=True), project)
    assert isinstance(removal, RemoveAlias)
    alias = removal.alias
    assert is_valid_label(alias) and alias.endswith("--a-rather-long-project-name-of-32")
    assert site_for_label(alias) is not None
    assert not alias.startswith("pr-")


def test_a_pull_request_builds_its_head_at_its_own_preview() -> None:
    payload = pull_request_payload(REPO, 7, "opened", SHA, "feature/login")
    action = planned("pull_request", payload)
    assert action == Deploy(
        branch="feature/login",
        commit=SHA,
        repo_url=REPO,
        reason="pull request #7 opened",
        preview_at="pr-7--docs",
        pull_request=7,
        read_message=True,
    )
    again = planned("pull_request", pull_request_payload(REPO, 7, "synchronize", SHA, "x"))
    assert isinstance(again, Deploy) and again.preview_at == "pr-7--docs"


def test_a_pull_request_of_any_branch_name_gets_a_preview_but_excluded_ones_do_not() -> None:
    assert isinstance(
        planned("pull_request", pull_request_payload(REPO, 3, "reopened", SHA, "fix-typo")), Deploy
    )
    bot = planned("pull_request", pull_request_payload(REPO, 4, "opened", SHA, "dependabot/x"))
    assert isinstance(bot, Skip) and "exclude pattern 'dependabot/*'" in bot.reason


def test_forks_are_built_only_when_the_project_allows_it() -> None:
    payload = pull_request_payload(REPO, 9, "opened", SHA, "main", head_clone_url=FORK)
    refused = planned("pull_request", payload)
    assert isinstance(refused, Skip)
    assert "fork stranger/docs" in refused.reason and "build_forks" in refused.reason
    allowed = planned(
        "pull_request", payload, Project(name="docs", repo_url=REPO, build_forks=True)
    )
    assert isinstance(allowed, Deploy)
    assert allowed.repo_url == FORK and allowed.preview_at == "pr-9--docs"


def test_a_pull_request_whose_fork_is_gone_is_skipped() -> None:
    payload = pull_request_payload(REPO, 9, "opened", SHA, "x", head_repo_gone=True)
    action = planned("pull_request", payload, Project(name="docs", repo_url=REPO, build_forks=True))
    assert isinstance(action, Skip) and "deleted fork" in action.reason


def test_closing_a_pull_request_takes_its_preview_down_and_other_actions_do_nothing() -> None:
    closed = planned("pull_request", pull_request_payload(REPO, 7, "closed", SHA, "x"))
    assert closed == RemoveAlias("pr-7--docs", "pull request #7 was closed")
    labeled = planned("pull_request", {"action": "labeled", "number": 7})
    assert isinstance(labeled, Skip) and labeled.outcome == "ignored"


def test_a_pull_request_number_too_long_for_a_host_is_refused_clearly() -> None:
    project = Project(name="a-rather-long-project-name-of-32", repo_url=REPO)
    payload = pull_request_payload(REPO, 10**30, "opened", SHA, "x")
    action = planned("pull_request", payload, project)
    assert isinstance(action, Skip) and "longer than 63 characters" in action.reason


def test_ping_and_other_events_are_ignored() -> None:
    assert planned("ping", ping_payload(REPO)) == Skip(
        "ping: the webhook reaches deploy-platform", outcome="ignored"
    )
    other = planned("issues", {"action": "opened"})
    assert isinstance(other, Skip) and other.outcome == "ignored"


@pytest.mark.parametrize(
    "event, payload, field",
    [
        ("push", {}, "ref"),
        ("push", {"ref": "refs/heads/main"}, "after"),
        ("push", {"ref": "refs/heads/main", "after": "abc"}, "after"),
        ("push", {"ref": "refs/heads/main", "after": SHA, "deleted": "no"}, "deleted"),
        ("push", {"ref": 7, "after": SHA}, "ref"),
        ("push", {"ref": "refs/heads/x", "after": SHA, "head_commit": []}, "head_commit"),
        (
            "push",
            {"ref": "refs/heads/x", "after": SHA, "head_commit": {"message": 1}},
            "head_commit.message",
        ),
        ("pull_request", {"action": "opened"}, "number"),
        ("pull_request", {"action": "opened", "number": True}, "number"),
        ("pull_request", {"action": "opened", "number": 1}, "pull_request"),
        (
            "pull_request",
            {"action": "opened", "number": 1, "pull_request": {"head": {}}},
            "pull_request.base",
        ),
        (
            "pull_request",
            {
                **pull_request_payload(REPO, 1, "opened", SHA, "x"),
                "pull_request": {
                    **pull_request_payload(REPO, 1, "opened", SHA, "x")["pull_request"],
                    "head": {"ref": "x", "sha": "not-a-sha", "repo": None},
                },
            },
            "pull_request.head.sha",
        ),
    ],
)
def test_payloads_missing_what_the_event_needs_are_refused_naming_the_field(
    event: str, payload: dict[str, Any], field: str
) -> None:
    with pytest.raises(WebhookPayloadError) as caught:
        parse_event(event, payload)
    assert caught.value.field == field and field in str(caught.value)
    assert caught.value.code == "invalid_payload"


@pytest.mark.parametrize(
    "body, code",
    [
        (b"", "malformed_json"),
        (b"{", "malformed_json"),
        (b"\xff\xfe{}", "malformed_json"),
        (b"[" * 100_000 + b"]" * 100_000, "invalid_json"),  # past the nesting limit
        (b"[1, 2]", "invalid_payload"),
        (b'"push"', "invalid_payload"),
    ],
)
def test_bodies_that_are_not_a_json_object_are_refused(body: bytes, code: str) -> None:
    with pytest.raises(WebhookPayloadError) as caught:
        parse_payload(body)
    assert caught.value.code == code


def test_the_repository_is_found_by_its_clone_and_web_urls_only() -> None:
    payload = push_payload(REPO, "main", SHA)
    assert repository_urls(payload) == (REPO, "https://github.com/acme/docs")
    assert repository_urls({"repository": {"clone_url": "file:///etc", "html_url": 3}}) == ()
    assert repository_urls({"repository": "acme/docs"}) == ()
    assert repository_urls({}) == ()
