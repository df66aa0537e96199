"""Preview aliases of branches and pull requests never collide, and always make a host."""

from __future__ import annotations

import pytest

from deploy_platform.contracts.names import (
    InvalidName,
    branch_slug,
    is_valid_label,
    pr_alias,
    preview_alias,
)


def test_a_pull_requests_alias() -> None:
    assert pr_alias("docs", 7) == "pr-7--docs"
    assert pr_alias("a" * 32, 10**25) == f"pr-{10**25}--{'a' * 32}"  # 63 characters


@pytest.mark.parametrize("number", [0, -1, True, "7", 7.0, None])
def test_a_pull_request_number_must_be_a_whole_number_from_one(number: object) -> None:
    with pytest.raises(InvalidName, match="pull request number"):
        pr_alias("docs", number)


def test_a_pull_request_alias_too_long_for_a_label_is_refused() -> None:
    with pytest.raises(InvalidName, match="longer than 63"):
        pr_alias("a" * 32, 10**26)


def test_a_bad_project_name_is_refused() -> None:
    with pytest.raises(InvalidName):
        pr_alias("Docs_Site", 1)


@pytest.mark.parametrize("branch", ["pr-7", "PR/7", "pr_7", "pr--7"])
def test_branches_named_like_a_pull_request_do_not_take_its_preview(branch: str) -> None:
    alias = preview_alias("docs", branch)
    assert alias != pr_alias("docs", 7)
    assert alias.startswith("pr-7-") and alias.endswith("--docs") and is_valid_label(alias)


def test_ascii_branch_slugs_are_unchanged() -> None:
    assert preview_alias("docs", "feature/New_Login") == "feature-new-login--docs"
    assert preview_alias("docs", "pr-7-fix") == "pr-7-fix--docs"
    assert preview_alias("docs", "print") == "print--docs"


def test_branches_that_differ_only_outside_ascii_get_different_previews() -> None:
    aliases = {preview_alias("docs", b) for b in ("feature/über", "feature/aber", "修正", "テスト")}
    assert len(aliases) == 4
    assert all(is_valid_label(alias) for alias in aliases)
    assert branch_slug("修正").startswith("branch-")
