"""The root of the platform's user-facing errors.

DeploymentFailed        a deployment cannot go on; str(exc) is shown to the user as
 │                      the record's `error`, so it must say what to fix
 ├─ SourceError         clone/fetch/ls-remote failed, repository too large (gitsource)
 ├─ UnsafeArchive       an archive entry or symlink leaves the tree (archive)
 └─ BuildFailed         nothing to publish, build failed (build runner)
InvalidRequest          bad input refused before anything is queued (API: 4xx)
"""

from __future__ import annotations

__all__ = ["DeploymentFailed", "SourceError", "UnsafeArchive", "BuildFailed", "InvalidRequest"]


class DeploymentFailed(Exception):
    """A failure a person can act on; the message becomes the deployment's `error`."""


class SourceError(DeploymentFailed):
    """The source could not be fetched (network, missing commit, too large)."""


class UnsafeArchive(DeploymentFailed):
    """An archive or output tree has an entry that points outside it."""


class BuildFailed(DeploymentFailed):
    """The build step failed or produced nothing publishable."""


class InvalidRequest(ValueError):
    """Input refused before anything was queued; `field` names what to fix."""

    def __init__(self, message: str, field: str | None = None, status: int = 400) -> None:
        super().__init__(message)
        self.field = field
        self.status = status
