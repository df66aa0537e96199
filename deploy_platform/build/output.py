"""The directory a build publishes, and what is odd about it.

`find_output` takes the first output candidate of a `BuildPlan` that holds an
index.html, else the first other one that exists, else (nothing built) the app
directory. As on Cloudflare Pages, which publishes any directory, an output
without an index.html is published; the runner says so in a warning
(`missing_index_warning`). An output with no publishable file (only hidden ones,
which the publisher never publishes) is a failure: there would be nothing to serve.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from deploy_platform.build.detect import BuildPlan
from deploy_platform.contracts.errors import BuildFailed

__all__ = [
    "find_output",
    "has_index",
    "has_publishable_file",
    "missing_index_warning",
    "output_warnings",
    "files_text",
    "output_metadata",
]


def find_output(plan: BuildPlan) -> Path:
    """The directory to publish after the build: first candidate with an index.html, else the
    first other one that exists, else the app directory itself (`.`) when nothing was built
    (a plain static site: its files are the site) or it was asked for by name; after a
    build it would publish the sources.

    Raises BuildFailed naming every directory searched (plus `output_hint`).
    """
    app_root = plan.app_dir.resolve()
    fallback: Path | None = None
    root: Path | None = None  # the last resort: see above
    root_allowed = plan.build_command is None or list(plan.output_candidates) == ["."]
    for relative in plan.output_candidates:
        path = plan.app_dir / relative if relative != "." else plan.app_dir
        # SECURITY: a symlinked output directory could publish files from outside the app.
        if path.is_symlink() or not path.is_dir():
            continue
        if not path.resolve().is_relative_to(app_root):
            continue
        if has_index(path):
            return path
        if relative == ".":
            root = path if root_allowed else None
        elif fallback is None:
            fallback = path
    chosen = fallback or root
    if chosen is not None:
        return chosen
    where = plan.app_dir.relative_to(plan.source_dir).as_posix()
    searched = ", ".join("./" if d == "." else f"{d}/" for d in plan.output_candidates)
    place = "the repository" if where == "." else f"{where}/"
    message = f"no output to publish: looked for {searched} in {place}"
    if plan.output_hint:
        message += f". {plan.output_hint}"
    else:
        message += ". Set the output directory in the project's build settings if it is elsewhere"
    raise BuildFailed(message)


def has_index(directory: Path) -> bool:
    """True when `directory` holds a regular index.html (a symlinked one is not followed)."""
    index = directory / "index.html"
    return index.is_file() and not index.is_symlink()


def has_publishable_file(directory: Path) -> bool:
    """True when publishing `directory` would publish at least one file: hidden names
    (`.env`, `.git/`) are never published, `.well-known/` is (as the publisher walks)."""
    for path in directory.rglob("*"):
        parts = path.relative_to(directory).parts
        if any(part.startswith(".") and part != ".well-known" for part in parts):
            continue
        if path.is_file():
            return True
    return False


def missing_index_warning(where: str) -> str:
    """The warning for an output without a top-level index.html (`where`: `dist/`, ...)."""
    return (
        f"no index.html in {where}: published anyway (as Cloudflare Pages does); "
        "/ answers 404 unless a 404.html, a _redirects rule or another page covers it"
    )


def output_warnings(output: Path, where: str, log: Callable[[str], object]) -> tuple[str, ...]:
    """What is odd about the output but published anyway, each also in the build log
    (`where`: the output relative to the source, `.` for its root). BuildFailed when
    there is nothing to publish at all."""
    place = "the repository root" if where == "." else f"{where}/"
    if not has_publishable_file(output):
        raise BuildFailed(
            f"nothing to publish: {place} has no files "
            "(hidden files and directories such as .env or .git are never published)"
        )
    if has_index(output):
        return ()
    warning = missing_index_warning(place)
    log(f"warning: {warning}")
    return (warning,)


def files_text(count: int) -> str:
    """`1 file`, `3 files`: for the build log and the milestones."""
    return f"{count} file{'' if count == 1 else 's'}"


def output_metadata(output: Path, source_dir: Path, files: int, size: int) -> dict[str, object]:
    """What every build reports about its output, for the UI's metadata."""
    return {
        "output_dir": output.relative_to(source_dir).as_posix(),
        "output_files": files,
        "output_bytes": size,
    }
