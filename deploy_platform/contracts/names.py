"""Host labels, project names and branch slugs: one definition, used everywhere.

Hosts under the base domain D:
  `<id>.D`                       one immutable deployment
  `<project>.D`                  the project's production alias
  `<branch-slug>--<project>.D`   the branch's latest preview
  `pr-<n>--<project>.D`          pull request n's latest preview (GitHub webhook)
and custom domains (`www.example.com`), whole hosts mapped to a project
(`deploy_platform.contracts.domains`). A DNS label is at most 63 characters, a name at
most 253 (RFC 1035 section 2.3.4).
"""

from __future__ import annotations

import hashlib
import re

from deploy_platform.contracts.ids import is_deployment_id

__all__ = [
    "MAX_LABEL",
    "MAX_PROJECT_NAME",
    "InvalidName",
    "validate_project_name",
    "branch_slug",
    "preview_alias",
    "production_alias",
    "pr_alias",
    "is_valid_label",
    "MAX_HOSTNAME",
    "InvalidHostname",
    "normalize_hostname",
    "is_custom_hostname",
]

MAX_LABEL = 63
MAX_PROJECT_NAME = 32
MAX_HOSTNAME = 253  # without the trailing dot
_LABEL_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_PROJECT_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
# The slugs pull request previews use (`pr_alias`); a branch never gets one.
_PR_SLUG_RE = re.compile(r"^pr-[0-9]+$")
_HASH_LENGTH = 6


class InvalidName(ValueError):
    """A project name, label or slug that breaks the naming rules."""


class InvalidHostname(InvalidName):
    """A custom domain that is not a DNS name the platform can serve."""


def is_valid_label(label: str) -> bool:
    return bool(_LABEL_RE.match(label))


def is_custom_hostname(host: str) -> bool:
    """A lowercase name shaped like a custom domain: two or more DNS labels, not an IP.

    `host` is already lowercase without port or trailing dot. An all-digit last
    label is never a top-level domain (RFC 3696 section 2), so `10.0.0.1` is not one.
    """
    if not host or len(host) > MAX_HOSTNAME:
        return False
    labels = host.split(".")
    return len(labels) >= 2 and not labels[-1].isdigit() and all(map(is_valid_label, labels))


def normalize_hostname(raw: object) -> str:
    """`WWW.Example.COM.` -> `www.example.com`; raises `InvalidHostname` saying what to fix."""
    if not isinstance(raw, str) or not raw.strip():
        raise InvalidHostname("hostname must be a non-empty string like www.example.com")
    text = raw.strip()
    shown = repr(text[:80])
    if not text.isascii():
        raise InvalidHostname(
            f"hostname {shown} has non-ASCII characters; give an internationalized "
            "name in its ASCII form (xn--...)"
        )
    host = text.lower()
    if host.endswith("."):
        host = host[:-1]  # the fully qualified spelling names the same host
    if "/" in host or "@" in host:
        raise InvalidHostname(
            f"hostname {shown} is not a bare hostname; give it without scheme, "
            "user or path (www.example.com)"
        )
    if ":" in host or host.startswith("["):
        raise InvalidHostname(f"hostname {shown} has a port or is an IPv6 address; give a DNS name")
    if "*" in host:
        raise InvalidHostname(
            f"hostname {shown} is a wildcard; map each host (www.example.com) on its own"
        )
    if len(host) > MAX_HOSTNAME:
        raise InvalidHostname(f"hostname {shown} is longer than {MAX_HOSTNAME} characters")
    labels = host.split(".")
    if len(labels) < 2:
        raise InvalidHostname(
            f"hostname {shown} has a single label; give a fully qualified name like www.example.com"
        )
    for label in labels:
        if not is_valid_label(label):
            raise InvalidHostname(
                f"hostname {shown} has the label {label[:70]!r}, which is not a DNS label: "
                f"1 to {MAX_LABEL} letters, digits or inner hyphens between the dots"
            )
    if labels[-1].isdigit():
        raise InvalidHostname(f"hostname {shown} is an IP address; map a DNS name instead")
    return host


def validate_project_name(name: object) -> str:
    if not isinstance(name, str) or not name:
        raise InvalidName("project must be a non-empty string")
    if len(name) > MAX_PROJECT_NAME:
        raise InvalidName(f"project name {name!r} is longer than {MAX_PROJECT_NAME} characters")
    if not _PROJECT_RE.match(name):
        raise InvalidName(
            f"project name {name!r} must be lowercase letters and digits separated by "
            "single hyphens (for example 'docs' or 'my-site')"
        )
    if is_deployment_id(name):
        raise InvalidName(f"project name {name!r} looks like a deployment id; choose another")
    return name


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _with_hash(slug: str, branch: str, max_length: int) -> str:
    digest = hashlib.sha256(branch.encode()).hexdigest()[:_HASH_LENGTH]
    return slug[: max_length - _HASH_LENGTH - 1].rstrip("-") + "-" + digest


def branch_slug(branch: str, max_length: int = MAX_LABEL) -> str:
    """Lowercase, non-alphanumerics to single hyphens; long slugs cut and hash-suffixed.

    A branch with characters outside ASCII (`feature/über`, `修正`) loses them in
    the slug, so it is hash-suffixed too: two such branches never share a preview
    (`feature-ber-1a2b3c`, `branch-9f8e7d`).
    """
    slug = _slug(branch) or "branch"
    if len(slug) > max_length or not branch.isascii():
        slug = _with_hash(slug, branch, max_length)
    return slug


def production_alias(project: str) -> str:
    return project


def preview_alias(project: str, branch: str) -> str:
    """`<branch-slug>--<project>`; a branch whose slug is `pr-<n>` (a branch named
    `pr-7` or `PR/7`) is hash-suffixed, because `pr-<n>--<project>` is pull request n's."""
    room = MAX_LABEL - len(project) - 2
    slug = branch_slug(branch, room)
    if _PR_SLUG_RE.match(slug):
        slug = _with_hash(slug, branch, room)
    alias = f"{slug}--{project}"
    if not is_valid_label(alias):
        raise InvalidName(f"cannot make a host label from branch {branch!r}")
    return alias


def pr_alias(project: str, number: object) -> str:
    """`pr-<number>--<project>`: the preview of pull request `number` (1 or more)."""
    if isinstance(number, bool) or not isinstance(number, int) or number < 1:
        raise InvalidName(f"pull request number must be a whole number from 1, not {number!r}")
    alias = f"pr-{number}--{validate_project_name(project)}"
    if len(alias) > MAX_LABEL:
        raise InvalidName(
            f"pull request {number} of project {project!r} makes a host label longer than "
            f"{MAX_LABEL} characters ({alias!r})"
        )
    return alias
