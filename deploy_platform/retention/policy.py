"""Which deployments retention keeps: the policy and the decision (pure, dagster-free).

A deployment is kept if any of these holds, and removed only if none does:
  - it is not finished (queued, cloning, building, publishing): never touched;
  - something needs it: an alias points at it (production, branch previews,
    `pr-*` aliases, custom domains through their project's alias), it is an
    alias's previous deployment (what a rollback goes back to), or it is in an
    alias's skew-protection history within the grace period (open tabs still
    load its fingerprinted assets; `deploy_platform.contracts.skew`), or a Dagster run of
    its partition is going on (a re-materialization from the UI);
  - it is one of the newest `keep_per_branch` deployments of its project and
    branch (by enqueue time; failed ones count, uploads without a ref form one
    "branch" per project);
  - it was enqueued less than `keep_days` days ago.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from deploy_platform.contracts.records import TERMINAL, DeploymentRecord, Status
from deploy_platform.contracts.skew import DEFAULT_GRACE_SECONDS

__all__ = [
    "RetentionPolicy",
    "Decision",
    "decide",
    "DEFAULT_KEEP_PER_BRANCH",
    "DEFAULT_KEEP_DAYS",
]

DEFAULT_KEEP_PER_BRANCH = 10
DEFAULT_KEEP_DAYS = 30.0
_DAY = 86400.0


@dataclass(frozen=True)
class RetentionPolicy:
    keep_per_branch: int = DEFAULT_KEEP_PER_BRANCH
    keep_days: float = DEFAULT_KEEP_DAYS
    #: The edge's skew grace (DP_EDGE_SKEW_GRACE_SECONDS): how long an alias's
    #: earlier deployments still serve their assets.
    skew_grace_seconds: float = DEFAULT_GRACE_SECONDS

    def __post_init__(self) -> None:
        if self.keep_per_branch < 0:
            raise ValueError(f"keep must be 0 or more, not {self.keep_per_branch}")
        if self.keep_days < 0:
            raise ValueError(f"days must be 0 or more, not {self.keep_days:g}")
        if self.skew_grace_seconds < 0:
            raise ValueError("DP_EDGE_SKEW_GRACE_SECONDS must be 0 or more")

    def with_overrides(
        self, keep_per_branch: int | None = None, keep_days: float | None = None
    ) -> RetentionPolicy:
        """This policy with the settings given here (a flag, a launchpad field) in place
        of its own; None keeps its own."""
        return replace(
            self,
            keep_per_branch=self.keep_per_branch if keep_per_branch is None else keep_per_branch,
            keep_days=self.keep_days if keep_days is None else keep_days,
        )

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> RetentionPolicy:
        """From DP_RETAIN_PER_BRANCH, DP_RETAIN_DAYS and DP_EDGE_SKEW_GRACE_SECONDS."""
        return cls(
            keep_per_branch=int(_number(env, "DP_RETAIN_PER_BRANCH", DEFAULT_KEEP_PER_BRANCH)),
            keep_days=_number(env, "DP_RETAIN_DAYS", DEFAULT_KEEP_DAYS),
            skew_grace_seconds=_number(env, "DP_EDGE_SKEW_GRACE_SECONDS", DEFAULT_GRACE_SECONDS),
        )


def _number(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    integral = name == "DP_RETAIN_PER_BRANCH"
    if value < 0 or (integral and not value.is_integer()):
        kind = "a whole number" if integral else "a number"
        raise ValueError(f"{name}={raw!r} must be {kind} of 0 or more")
    return value


@dataclass(frozen=True)
class Decision:
    record: DeploymentRecord
    #: Why it stays; empty means it is removed.
    reasons: tuple[str, ...] = field(default=())

    @property
    def keep(self) -> bool:
        return bool(self.reasons)

    @property
    def branch(self) -> str:
        return branch_of(self.record)


def branch_of(record: DeploymentRecord) -> str:
    return record.ref or ""


def queued_at(record: DeploymentRecord) -> float:
    stamps = record.timestamps
    return stamps.get(Status.QUEUED.value, min(stamps.values(), default=0.0))


def decide(
    records: Iterable[DeploymentRecord],
    needed: Mapping[str, Sequence[str]],
    policy: RetentionPolicy,
    now: float,
) -> list[Decision]:
    """One decision per record, oldest first. `needed`: id -> why something needs it."""
    by_branch: dict[tuple[str, str], list[DeploymentRecord]] = defaultdict(list)
    for record in records:
        by_branch[(record.project, branch_of(record))].append(record)
    newest: set[str] = set()
    for group in by_branch.values():
        group.sort(key=lambda r: (queued_at(r), r.id), reverse=True)
        newest.update(r.id for r in group[: policy.keep_per_branch])
    cutoff = now - policy.keep_days * _DAY
    decisions = []
    for group in by_branch.values():
        for record in group:
            reasons: list[str] = []
            if record.status not in TERMINAL:
                reasons.append(f"{record.status.value}, not finished")
            reasons.extend(needed.get(record.id, ()))
            if record.id in newest:
                reasons.append(f"one of the newest {policy.keep_per_branch} of its branch")
            if queued_at(record) >= cutoff:
                reasons.append(f"younger than {policy.keep_days:g} days")
            decisions.append(Decision(record, tuple(reasons)))
    decisions.sort(key=lambda d: (queued_at(d.record), d.record.id))
    return decisions
