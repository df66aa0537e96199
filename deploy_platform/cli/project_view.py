"""How `deploy-platform project show` (and create, update) print a project."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["format_project"]


def _patterns_text(patterns: list[str]) -> str:
    return ", ".join(patterns) if patterns else "(none)"


def _build_text(build: Mapping[str, Any]) -> str:
    chosen = [
        f"{name} {value!r}"
        for name, value in build.items()
        # An off switch (strict_rules false) is the default, not a choice worth a line.
        if name not in ("env", "clean") and value is not None and value is not False
    ]
    return ", ".join(chosen) if chosen else "detected from the repository"


def format_project(project: Mapping[str, Any]) -> list[str]:
    """`project show`'s lines: settings, variable names only, domains."""
    name = project.get("name")
    branches = project.get("branches") or {}
    build = project.get("build") or {}
    env_names = sorted(build.get("env") or {})
    urls = project.get("urls") or {}
    rows = [
        ("repository", str(project.get("repo_url") or "none (deployed by upload only)")),
        (
            "production",
            f"branch {project.get('production_branch')}"
            + (f" -> {urls['production']}" if urls.get("production") else ""),
        ),
        ("previews", f"include {_patterns_text(list(branches.get('include') or []))}"),
        ("", f"exclude {_patterns_text(list(branches.get('exclude') or []))} (checked first)"),
        ("fork PRs", "built" if project.get("build_forks") else "not built"),
        ("build", _build_text(build)),
        (
            "variables",
            f"{', '.join(env_names)} (values hidden)" if env_names else "none",
        ),
        ("domains", ", ".join(project.get("domains") or []) or "none"),
        ("webhook", _webhook_text(project)),
    ]
    if urls.get("dagster_runs"):
        rows.append(("runs", f"{urls['dagster_runs']} (Dagster UI)"))
    if project.get("stored") is False:
        rows.append(
            (
                "settings",
                "none stored: known from its deployments (deployed before every deployed "
                "name got a project); the first `project update` stores them",
            )
        )
    width = max(len(label) for label, _ in rows)
    return [f"Project {name}"] + [f"  {label.ljust(width)}  {value}" for label, value in rows]


def _webhook_text(project: Mapping[str, Any]) -> str:
    name = project.get("name")
    if not project.get("repo_url"):
        return (
            f"none: no repository (set one with `deploy-platform project update {name} --repo URL`)"
        )
    if not project.get("webhook_secret_set", True):
        return (
            f"POST {project.get('webhook_path')}, no secret yet (make one: deploy-platform "
            f"project update {name} --rotate-webhook-secret)"
        )
    return (
        f"POST {project.get('webhook_path')}, secret set (rotate: deploy-platform "
        f"project update {name} --rotate-webhook-secret)"
    )
