"""The root of the platform's user-facing errors.

DeploymentFailed        a deployment cannot go on; str(exc) is shown to the user as
 │                      the record's `error`, so it must say what to fix
 ├─ SourceError         clone/fetch/ls-remote failed, repository too large (source/git/)
 ├─ UnsafeArchive       an archive entry or symlink leaves the tree (archive)
 └─ BuildFailed         nothing to publish, build failed (build runner)
InvalidRequest          bad input refused before anything is queued (API: 4xx)
InfrastructureError     a part of the platform did not do its job although the
 │                      deployment is fine; raised once the in-call retries are used
 │                      up, and the run is run again later (sensors/infra_retry.py)
 ├─ RedisUnavailable    the platform's Redis (component "redis")
 ├─ ObjectStoreUnavailable  S3/R2 did not answer (component "object-store")
 └─ DiskError           a local disk is full or failing (component "disk")

An `InfrastructureError` reads `<label> (<target>) <verb>: <detail>`, e.g. "the
object store (s3://sites at http://127.0.0.1:8333) did not answer: ...": the
failure sensor finds it in a failed run by its class name and parses it back with
`parse_infrastructure_message`, so the format is a contract.
"""

from __future__ import annotations

import errno
import re
from typing import ClassVar

__all__ = [
    "DeploymentFailed",
    "SourceError",
    "UnsafeArchive",
    "BuildFailed",
    "InvalidRequest",
    "InfrastructureError",
    "RedisUnavailable",
    "ObjectStoreUnavailable",
    "DiskError",
    "DISK_ERRNOS",
    "INFRASTRUCTURE_ERRORS",
    "is_disk_fault",
    "parse_infrastructure_message",
    "COMPONENTS",
]


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


#: Every infrastructure error class by name (each subclass adds itself): how the
#: error of a failed run, which Dagster keeps as a class name and message, is recognized.
INFRASTRUCTURE_ERRORS: dict[str, type[InfrastructureError]] = {}


class InfrastructureError(Exception):
    """A platform component failed after the in-call retries: worth running again later."""

    component: ClassVar[str] = "infrastructure"
    label: ClassVar[str] = "a platform component"
    verb: ClassVar[str] = "failed"

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        # Storage's own subclasses (also ObjectStoreErrors) are recognized by name too.
        INFRASTRUCTURE_ERRORS[cls.__name__] = cls

    def __init__(self, target: str, detail: str) -> None:
        # ": " separates the headline from the detail (see parse_infrastructure_message).
        self.target = target.replace(": ", ":")
        self.detail = _one_line(detail)
        super().__init__(f"{self.headline}: {self.detail}")

    @property
    def headline(self) -> str:
        return f"{self.label} ({self.target}) {self.verb}"


class RedisUnavailable(InfrastructureError):
    component = "redis"
    label = "the platform's Redis"
    verb = "did not answer"


class ObjectStoreUnavailable(InfrastructureError):
    component = "object-store"
    label = "the object store"
    verb = "did not answer"


class DiskError(InfrastructureError):
    component = "disk"
    label = "the disk"
    verb = "could not be written"

    def __init__(self, target: str, detail: str, code: int | None = None) -> None:
        super().__init__(target, detail)
        self.errno = code

    @property
    def full(self) -> bool:
        return self.errno in (errno.ENOSPC, errno.EDQUOT)


# A full disk, a quota, a failing device, a filesystem remounted read-only: none is
# the deployment's fault, and each can be fixed by an operator while it waits.
DISK_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EROFS})

#: The base class of each component, by component name.
COMPONENTS: dict[str, type[InfrastructureError]] = {
    cls.component: cls for cls in (RedisUnavailable, ObjectStoreUnavailable, DiskError)
}


def is_disk_fault(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno in DISK_ERRNOS


def parse_infrastructure_message(component: str, message: str) -> tuple[str, str] | None:
    """(target, detail) of an infrastructure error's message for `component`, or None."""
    cls = COMPONENTS.get(component)
    if cls is None:
        return None
    pattern = rf"^{re.escape(cls.label)} \((?P<target>.*?)\) {re.escape(cls.verb)}: (?P<detail>.*)$"
    found = re.match(pattern, message.strip())
    if found is None:
        return None
    return found.group("target"), found.group("detail")


def _one_line(text: str) -> str:
    lines = [line.strip() for line in str(text).strip().splitlines() if line.strip()]
    return " ".join(lines)[:400] if lines else "no detail"
