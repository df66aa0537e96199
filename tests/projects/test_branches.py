"""Branch rules: exclude first, then the production branch, then include; nothing else deploys."""

from __future__ import annotations

import pytest

from deploy_platform.contracts.errors import InvalidRequest
from deploy_platform.projects.branches import BranchRules, Verdict, check_pattern, pattern_matches
from deploy_platform.projects.model import Project, branch_allowed, branch_decision

DEFAULTS = Project(name="docs")


@pytest.mark.parametrize(
    ("branch", "verdict"),
    [
        ("main", Verdict.PRODUCTION),
        ("refs/heads/main", Verdict.PRODUCTION),
        ("feature/login", Verdict.PREVIEW),
        ("feature/login/step-2", Verdict.PREVIEW),  # * crosses slashes
        ("bugfix/JIRA-12", Verdict.PREVIEW),
        ("dependabot/npm_and_yarn/vite-5.0.1", Verdict.SKIPPED),
        ("renovate/react-18.x", Verdict.SKIPPED),
        ("develop", Verdict.SKIPPED),  # matches nothing
        ("feature", Verdict.SKIPPED),  # `feature/*` needs the slash
        ("features/x", Verdict.SKIPPED),
        ("Feature/x", Verdict.SKIPPED),  # case-sensitive, as git is
        ("main2", Verdict.SKIPPED),  # a literal pattern matches the whole name only
        ("xmain", Verdict.SKIPPED),
        ("feature/", Verdict.SKIPPED),  # not a branch name git allows
        ("", Verdict.SKIPPED),
        ("feature/a..b", Verdict.SKIPPED),
        ("-main", Verdict.SKIPPED),
    ],
)
def test_the_default_rules(branch: str, verdict: Verdict) -> None:
    decision = branch_decision(DEFAULTS, branch)
    assert decision.verdict is verdict
    assert branch_allowed(DEFAULTS, branch) is (verdict is not Verdict.SKIPPED)


def test_the_decision_says_which_rule_decided() -> None:
    assert branch_decision(DEFAULTS, "renovate/x").reason == (
        "matches the exclude pattern 'renovate/*'"
    )
    assert branch_decision(DEFAULTS, "feature/x").reason == (
        "matches the include pattern 'feature/*'"
    )
    assert branch_decision(DEFAULTS, "develop").reason == "matches no include pattern"


def test_exclude_is_checked_before_include() -> None:
    project = Project(
        name="docs",
        branches=BranchRules(include=("feature/*",), exclude=("feature/wip-*",)),
    )
    assert branch_allowed(project, "feature/login")
    assert not branch_allowed(project, "feature/wip-login")
    # Excluded even though an include pattern names it exactly.
    both = Project(name="docs", branches=BranchRules(include=("release",), exclude=("release",)))
    assert not branch_allowed(both, "release")


def test_the_production_branch_deploys_without_an_include_pattern() -> None:
    project = Project(
        name="docs", production_branch="trunk", branches=BranchRules(include=(), exclude=())
    )
    assert branch_decision(project, "trunk").verdict is Verdict.PRODUCTION
    assert not branch_allowed(project, "main")
    assert not branch_allowed(project, "feature/x")


def test_main_is_a_preview_when_another_branch_is_production() -> None:
    project = Project(name="docs", production_branch="trunk")
    assert branch_decision(project, "main").verdict is Verdict.PREVIEW


def test_an_excluded_production_branch_does_not_deploy() -> None:
    # The API refuses such settings; an object edited by hand still follows the order.
    project = Project(name="docs", branches=BranchRules(include=(), exclude=("*",)))
    assert not branch_allowed(project, "main")


@pytest.mark.parametrize(
    ("pattern", "branch", "matches"),
    [
        ("*", "anything/at/all", True),
        ("*", "main", True),
        ("release-*", "release-", True),  # * matches zero characters
        ("release-*", "release-2024.1", True),
        ("*-hotfix", "v2/urgent-hotfix", True),
        ("feat/*/ui", "feat/a/b/ui", True),
        ("feat/*/ui", "feat/ui", False),
        ("a.b", "axb", False),  # a dot is a dot, not "any character"
        ("a+b", "a+b", True),
        ("a+b", "aab", False),
        ("(x)", "(x)", True),
        ("fix/$HOME", "fix/$HOME", True),
        ("fix/**", "fix/a/b", True),
    ],
)
def test_patterns_match_literally_except_for_the_star(
    pattern: str, branch: str, matches: bool
) -> None:
    assert pattern_matches(pattern, branch) is matches


@pytest.mark.parametrize(
    "branch",
    [
        "feature/ünïcödé-名前",
        "feature/émoji-🚀",
        "feature/" + "x" * 192,  # 200 characters
        "feature/" + "/".join(["ab"] * 64),  # many slashes, 199 characters
    ],
)
def test_unicode_and_long_branch_names(branch: str) -> None:
    assert branch_decision(DEFAULTS, branch).verdict is Verdict.PREVIEW
    assert not branch_allowed(DEFAULTS, "dependabot/" + branch.removeprefix("feature/"))


def test_a_200_character_name_matching_nothing_is_not_deployed() -> None:
    branch = "topic/" + "ü" * 194
    assert len(branch) == 200
    assert not branch_allowed(DEFAULTS, branch)


def test_unicode_patterns_match_unicode_branches() -> None:
    project = Project(name="docs", branches=BranchRules(include=("équipe/*",), exclude=()))
    assert branch_allowed(project, "équipe/café")
    assert not branch_allowed(project, "equipe/cafe")


@pytest.mark.parametrize(
    "pattern",
    [
        "",
        "feature branch",
        "feature/..",
        "a..b",
        "-x",
        "x/",
        "/x",
        "x.lock",
        "a:b",
        "a?b",
        "[ab]",
        "a\\b",
        "a~b",
        "a^b",
        "a//b",
        "x\n",
        "@",
        "x" * 256,
    ],
)
def test_patterns_no_branch_could_match_are_refused(pattern: str) -> None:
    with pytest.raises(InvalidRequest) as refused:
        check_pattern(pattern, "branches.include")
    assert refused.value.field == "branches.include"
    assert "branches.include" in str(refused.value)
