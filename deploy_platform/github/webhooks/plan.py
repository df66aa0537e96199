"""What one verified delivery does for one project: deploy, take an alias down, or nothing.

Pure but for one question to the machine (whether builds are isolated, asked only
for a fork's pull request): the control API carries the action out
(`deploy_platform.api.webhooks`).

  push to a branch      deploys `after` if the branch rules allow it
                        (`deploy_platform.projects.branches`), unless the head
                        commit's message holds a skip marker (`SKIP_MARKERS`; read
                        from the repository when the push has no `head_commit`)
  push deleting it      takes the branch's preview alias down; the production
                        branch's deletion changes nothing (production keeps serving)
  push of a tag         nothing (tags are not deployed)
  pull_request          opened, synchronize, reopened: deploys the head commit as a
                        preview at `pr-<n>--<project>`, from the head repository;
                        the payload has no commit message, so the API reads it
                        from the repository and a skip marker skips it too
                        (`Deploy.read_message` says to); not when the head branch
                        matches an exclude pattern, nor
                        from a fork unless the project has `build_forks`
                        and builds are isolated on this machine
                        (`deploy_platform.build.isolation`; a fork's code is
                        a stranger's).
                        closed (merged or not): takes `pr-<n>--<project>` down.
                        Other actions: nothing.
  ping, other events    nothing

Include patterns filter branch pushes only: a pull request is a request for a
review, so it gets its preview whatever its branch is called (like Vercel's and
Netlify's pull request previews); exclude patterns still apply, so the default
`dependabot/*` and `renovate/*` pull requests are not built.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from deploy_platform.build import isolation
from deploy_platform.contracts.errors import InvalidRequest
from deploy_platform.contracts.names import InvalidName, pr_alias, preview_alias
from deploy_platform.github.webhooks.events import (
    PR_BUILD_ACTIONS,
    PR_CLOSE_ACTIONS,
    Event,
    OtherEvent,
    Ping,
    PullRequest,
    Push,
)
from deploy_platform.projects.branches import pattern_matches
from deploy_platform.projects.model import Project, branch_decision
from deploy_platform.source.refs import validate_ref

__all__ = [
    "Deploy",
    "RemoveAlias",
    "Skip",
    "Action",
    "SKIP_MARKERS",
    "plan",
    "skip_marker",
    "skipped_by_marker",
]

#: Markers in a head commit's message that skip its deployment, in any letter case:
#: GitHub Actions' two and Cloudflare Pages' (`[CI Skip]` and `[Skip CI]` are the
#: first two in other letters). Pages documents them as a prefix of the message;
#: they count anywhere in it here, as GitHub Actions counts its own, so that one
#: rule covers them all and `Fix typo [skip ci]` skips as it always did.
SKIP_MARKERS = ("[skip ci]", "[ci skip]", "[skip-ci]", "[ci-skip]", "[cf-pages-skip]")
_SKIP_RE = re.compile("|".join(re.escape(marker) for marker in SKIP_MARKERS), re.IGNORECASE)


def skip_marker(message: str | None) -> str | None:
    """The first skip marker in a commit message, as written there; None when it has none."""
    found = _SKIP_RE.search(message) if message is not None else None
    return found.group(0) if found is not None else None


def skipped_by_marker(marker: str, whose: str = "the head commit's") -> Skip:
    """The `Skip` a marker makes: the answer says which marker."""
    return Skip(f"{whose} message says {marker!r}, so it is not deployed", marker=marker)


@dataclass(frozen=True)
class Deploy:
    """Queue a deployment of `commit` of `branch` from `repo_url`."""

    branch: str
    commit: str
    repo_url: str
    reason: str
    #: The preview alias to move (a pull request's); None: the branch's own.
    preview_at: str | None = None
    #: The repository whose commit gets the statuses when not `repo_url` (a fork's PR).
    status_repo_url: str | None = None
    #: The pull request's number, for a pull request's deployment.
    pull_request: int | None = None
    #: The delivery carries no commit message (a pull request's never does): the API
    #: reads it from the repository and skips on a marker (`skip_marker`).
    read_message: bool = False
    #: The head commit's message and author as the delivery gave them, for lists.
    message: str | None = None
    author: str | None = None


@dataclass(frozen=True)
class RemoveAlias:
    """Take `alias` down; its deployments stay at their own hosts."""

    alias: str
    reason: str
    #: The deleted branch; the alias is kept if it shows another branch's deployment.
    branch: str | None = None


@dataclass(frozen=True)
class Skip:
    reason: str
    #: "skipped": a deployable event the project's rules do not deploy;
    #: "ignored": an event with nothing to deploy.
    outcome: str = "skipped"
    #: The skip marker of the head commit's message that skipped it, as written there.
    marker: str | None = None


Action = Deploy | RemoveAlias | Skip


def plan(event: Event, project: Project, build_isolation: isolation.Status | None = None) -> Action:
    """`build_isolation`: how builds run here (default: `isolation.current()`, asked lazily)."""
    if isinstance(event, Push):
        return _push(event, project)
    if isinstance(event, PullRequest):
        return _pull_request(event, project, build_isolation)
    if isinstance(event, Ping):
        return Skip("ping: the webhook reaches deploy-platform", outcome="ignored")
    assert isinstance(event, OtherEvent)
    return Skip(
        f"event {event.name[:60]!r} is not acted on (push and pull_request are)",
        outcome="ignored",
    )


def _bad_branch(branch: str) -> str | None:
    try:
        validate_ref(branch)
    except InvalidRequest as exc:
        return f"{exc}".replace("ref ", "branch ", 1)
    return None


def _push(push: Push, project: Project) -> Action:
    branch = push.branch
    if branch is None:
        what = "tag" if push.ref.startswith("refs/tags/") else "ref"
        return Skip(f"{what} {push.ref[:120]!r} pushed: only branches deploy", outcome="ignored")
    problem = _bad_branch(branch)
    if problem is not None:
        return Skip(problem)
    if push.deleted:
        if branch == project.production_branch:
            return Skip(
                f"the production branch {branch!r} was deleted; production keeps serving "
                "its deployment",
                outcome="ignored",
            )
        try:
            alias = preview_alias(project.name, branch)
        except InvalidName as exc:
            return Skip(str(exc))
        return RemoveAlias(alias, f"branch {branch!r} was deleted", branch=branch)
    assert push.after is not None  # parse_event requires it unless deleted
    marker = skip_marker(push.message)
    if marker is not None:
        return skipped_by_marker(marker)
    decision = branch_decision(project, branch)
    if not decision.deploys:
        return Skip(f"branch {branch!r} {decision.reason}, so it is not deployed")
    try:
        preview_alias(project.name, branch)  # refused here rather than when queued
    except InvalidName as exc:
        return Skip(str(exc))
    assert project.repo_url is not None  # found through its repository
    return Deploy(
        branch=branch,
        commit=push.after,
        repo_url=project.repo_url,
        reason=f"push to {decision.verdict.value} branch {branch!r} ({decision.reason})",
        read_message=push.message is None,
        message=push.message,
        author=push.author,
    )


def _pull_request(
    pull: PullRequest, project: Project, build_isolation: isolation.Status | None
) -> Action:
    name = f"pull request #{pull.number}"
    try:
        alias = pr_alias(project.name, pull.number)
    except InvalidName as exc:
        return Skip(str(exc))
    if pull.action in PR_CLOSE_ACTIONS:
        return RemoveAlias(alias, f"{name} was closed")
    if pull.action not in PR_BUILD_ACTIONS:
        return Skip(f"{name} {pull.action[:40]}: nothing to deploy", outcome="ignored")
    if pull.head_clone_url is None:
        return Skip(f"{name}'s head repository is gone (a deleted fork)")
    if pull.from_fork and not project.build_forks:
        return Skip(
            f"{name} comes from the fork {pull.head_full_name}; the project does not build "
            "forks (a fork's code would run with its build variables; set build_forks to "
            "allow it)"
        )
    if pull.from_fork:
        try:
            status = isolation.current() if build_isolation is None else build_isolation
        except ValueError as exc:
            return Skip(f"{name} comes from the fork {pull.head_full_name}; not built: {exc}")
        refusal = status.fork_refusal()
        if refusal is not None:
            return Skip(f"{name} comes from the fork {pull.head_full_name}; not built: {refusal}")
    problem = _bad_branch(pull.head_ref)
    if problem is not None:
        return Skip(f"{name}: {problem}")
    excluded_by = next(
        (p for p in project.branches.exclude if pattern_matches(p, pull.head_ref)), None
    )
    if excluded_by is not None:
        return Skip(
            f"{name}'s branch {pull.head_ref!r} matches the exclude pattern {excluded_by!r}"
        )
    assert project.repo_url is not None
    return Deploy(
        branch=pull.head_ref,
        commit=pull.head_sha,
        repo_url=pull.head_clone_url if pull.from_fork else project.repo_url,
        reason=f"{name} {pull.action}",
        preview_at=alias,
        status_repo_url=project.repo_url if pull.from_fork else None,
        pull_request=pull.number,
        read_message=True,
    )
