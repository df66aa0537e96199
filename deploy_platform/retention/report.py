"""The retention report as plain lines: what `deploy-platform gc` prints and the
retention job logs."""

from __future__ import annotations

from datetime import UTC, datetime

from deploy_platform.contracts.text_format import format_table, human_bytes
from deploy_platform.retention.collect import GcReport

__all__ = ["format_report"]


def _when(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M UTC")


def format_report(report: GcReport) -> list[str]:
    """The report as plain lines: the policy, what goes (or went), what stays and why."""
    policy = report.policy
    verb = "Would remove" if report.dry_run else "Removed"
    lines = [
        f"Policy: keep the newest {policy.keep_per_branch} per project and branch, everything "
        f"younger than {policy.keep_days:g} days, and what aliases need.",
        f"{verb} {len(report.removed)} deployment{'' if len(report.removed) == 1 else 's'} "
        f"({human_bytes(report.deployment_bytes)} of sources, artifacts and manifests) and "
        f"{report.bodies} unreferenced file bod{'y' if report.bodies == 1 else 'ies'} "
        f"({human_bytes(report.body_bytes)}).",
    ]
    if report.removed:
        header = ("ID", "PROJECT", "BRANCH", "STATUS", "QUEUED", "BYTES")
        rows = [
            (r.id, r.project, r.branch or "-", r.status, _when(r.queued_at), human_bytes(r.bytes))
            for r in report.removed
        ]
        lines += ["", *format_table(header, rows)]
    lines += ["", _kept_line(report)]
    for deployment_id, why in report.spared.items():
        lines.append(f"Spared {deployment_id}: {why} (it changed while collecting).")
    if report.sweep_deferred:
        lines.append(f"Bodies not swept this time: {report.sweep_deferred}. Run gc again later.")
    if report.dry_run:
        lines.append("Nothing was removed (--dry-run).")
    return lines


def _kept_line(report: GcReport) -> str:
    kinds = {"aliases": 0, "not finished": 0, "newest": 0, "young": 0, "running": 0}
    for decision in report.kept:
        text = " ".join(decision.reasons)
        kinds["aliases"] += "alias" in text
        kinds["not finished"] += "not finished" in text
        kinds["newest"] += "newest" in text
        kinds["young"] += "younger" in text
        kinds["running"] += "Dagster run" in text
    parts = [
        f"{kinds['aliases']} needed by aliases",
        f"{kinds['newest']} among the newest of their branch",
        f"{kinds['young']} younger than {report.policy.keep_days:g} days",
        f"{kinds['not finished']} not finished",
    ]
    if kinds["running"]:
        parts.append(f"{kinds['running']} with a Dagster run going on")
    return f"Kept {len(report.kept)}: " + ", ".join(parts) + " (one may count under several)."
