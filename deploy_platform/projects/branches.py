"""Which pushed branches a project deploys: include and exclude patterns.

The rule, in this order (Cloudflare Pages' branch deployment controls):
  1. a branch matching an exclude pattern is not deployed -- not even the
     production branch (a project refuses settings that exclude its production
     branch, so this only matters for a stored object edited by hand);
  2. the production branch is deployed (to production);
  3. a branch matching an include pattern is deployed (as a preview);
  4. anything else is not deployed.
Defaults: include `main`, `feature/*`, `bugfix/*`; exclude `dependabot/*`, `renovate/*`.

A pattern is a branch name in which `*` stands for any run of characters,
slashes included (`feature/*` covers `feature/a/b`); everything else matches
itself, case-sensitively, as git compares branch names. Apart from `*` a
pattern follows git's ref-name rules, so a pattern that no branch could ever
match (`feature branch`, `a..b`) is refused when the project is saved.

These rules decide what a *push* deploys (the GitHub webhook). An explicit
`deploy` through the API or CLI names its ref on purpose and is not filtered.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from enum import StrEnum

from deploy_platform.contracts.errors import InvalidRequest
from deploy_platform.source.refs import validate_ref

__all__ = [
    "DEFAULT_INCLUDE",
    "DEFAULT_EXCLUDE",
    "MAX_PATTERNS",
    "BranchRules",
    "BranchDecision",
    "Verdict",
    "check_pattern",
    "check_patterns",
    "decide",
    "pattern_matches",
]

DEFAULT_INCLUDE = ("main", "feature/*", "bugfix/*")
DEFAULT_EXCLUDE = ("dependabot/*", "renovate/*")
MAX_PATTERNS = 100
_MAX_PATTERN = 255


@dataclass(frozen=True)
class BranchRules:
    include: tuple[str, ...] = DEFAULT_INCLUDE
    exclude: tuple[str, ...] = DEFAULT_EXCLUDE

    def to_dict(self) -> dict[str, list[str]]:
        return {"include": list(self.include), "exclude": list(self.exclude)}


class Verdict(StrEnum):
    PRODUCTION = "production"
    PREVIEW = "preview"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class BranchDecision:
    """What a push to `branch` does, and why (for logs and webhook answers)."""

    branch: str
    verdict: Verdict
    reason: str

    @property
    def deploys(self) -> bool:
        return self.verdict is not Verdict.SKIPPED


def check_pattern(pattern: object, where: str) -> str:
    """A valid pattern, or `InvalidRequest` (field `where`) saying what to fix."""
    if not isinstance(pattern, str) or not pattern:
        raise InvalidRequest(
            f"{where}: every pattern must be a non-empty string such as 'feature/*'", field=where
        )
    shown = repr(pattern[:80])
    if len(pattern) > _MAX_PATTERN:
        raise InvalidRequest(
            f"{where}: pattern {shown}... is longer than {_MAX_PATTERN} characters", field=where
        )
    try:
        # `*` is the only wildcard; with it stood in for, the rest must be able to name a branch.
        validate_ref(pattern.replace("*", "x"))
    except InvalidRequest as exc:
        why = str(exc).split(": ", 1)[-1]
        raise InvalidRequest(
            f"{where}: pattern {shown} can never match a branch name: {why}; "
            "a pattern is a branch name where * stands for any characters (feature/*)",
            field=where,
        ) from None
    return pattern


def check_patterns(value: object, where: str) -> tuple[str, ...]:
    """A list of patterns from JSON; duplicates dropped, order kept."""
    if not isinstance(value, list):
        raise InvalidRequest(
            f'{where} must be a list of branch patterns such as ["main", "feature/*"]',
            field=where,
        )
    if len(value) > MAX_PATTERNS:
        raise InvalidRequest(
            f"{where} has {len(value)} patterns; at most {MAX_PATTERNS} are allowed", field=where
        )
    return tuple(dict.fromkeys(check_pattern(item, where) for item in value))


@functools.lru_cache(maxsize=1024)
def _compiled(pattern: str) -> re.Pattern[str]:
    parts = (".*" if part == "*" else re.escape(part) for part in re.split(r"(\*)", pattern))
    return re.compile("".join(parts), re.DOTALL)


def pattern_matches(pattern: str, branch: str) -> bool:
    return _compiled(pattern).fullmatch(branch) is not None


def _first_match(patterns: tuple[str, ...], branch: str) -> str | None:
    return next((p for p in patterns if pattern_matches(p, branch)), None)


def decide(rules: BranchRules, production_branch: str, branch: str) -> BranchDecision:
    """Apply the rule in the module docstring; `refs/heads/x` and `x` are the same branch."""
    branch = branch.removeprefix("refs/heads/")
    try:
        validate_ref(branch)
    except InvalidRequest:
        return BranchDecision(branch, Verdict.SKIPPED, "not a valid branch name")
    excluded_by = _first_match(rules.exclude, branch)
    if excluded_by is not None:
        return BranchDecision(
            branch, Verdict.SKIPPED, f"matches the exclude pattern {excluded_by!r}"
        )
    if branch == production_branch:
        return BranchDecision(branch, Verdict.PRODUCTION, "the production branch")
    included_by = _first_match(rules.include, branch)
    if included_by is not None:
        return BranchDecision(
            branch, Verdict.PREVIEW, f"matches the include pattern {included_by!r}"
        )
    return BranchDecision(branch, Verdict.SKIPPED, "matches no include pattern")
