"""Host header -> the site it names, as pure functions.

Hosts under the base domain D (the naming rules live in `deploy_platform.contracts.names`):
  <id>.D                       one immutable deployment
  <project>.D                  the project's production alias
  <branch-slug>--<project>.D   the branch's latest preview
Any other well-formed DNS name (two labels or more, not an IP address) may be a
custom domain (`deploy_platform.contracts.domains`): a lookup decides.

Everything else names no site and gets the platform's 404 page, never some
default site: the bare base domain, nested subdomains of D, single labels, IP
literals, non-ASCII or otherwise malformed names, labels longer than 63
characters. A look-alike suffix (`evillocalhost` is not under `localhost`) is no
site of D's; it is only looked up as a custom domain, like any other name.

Which Host counts: the Host header, unless the TCP peer is one of the configured
trusted proxies (`DP_EDGE_TRUSTED_PROXIES`); then `X-Forwarded-Host`, if sent,
wins. When a chain of proxies each appended a value (`a, b`), the last one is
used: it is the one the trusted proxy itself added, while the earlier ones came
from further away and could be anything a client wrote. From any other peer
`X-Forwarded-Host` is ignored, so a visitor cannot pick another site with it.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from deploy_platform.contracts.ids import is_deployment_id
from deploy_platform.contracts.names import (
    MAX_LABEL,
    InvalidName,
    branch_slug,
    is_custom_hostname,
    is_valid_label,
)
from deploy_platform.contracts.names import validate_project_name as _validate_project_name

__all__ = [
    "SiteKind",
    "Site",
    "IPNetwork",
    "normalize_host",
    "site_for_host",
    "site_for_label",
    "is_alias_name",
    "parse_trusted_proxies",
    "request_host",
]

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_MAX_HOST = 253  # RFC 1035 section 2.3.4, without the trailing dot
_HOST_CHARS = re.compile(r"^[a-z0-9.-]+$")
_PORT = re.compile(r"^[0-9]{1,5}$")
_PREVIEW_SEPARATOR = "--"


class SiteKind(StrEnum):
    DEPLOYMENT = "deployment"
    ALIAS = "alias"
    #: A whole host mapped to a project; like the production alias it follows.
    DOMAIN = "domain"


@dataclass(frozen=True)
class Site:
    """What a host names: a deployment id, an alias, or a custom domain (the hostname)."""

    kind: SiteKind
    name: str


def normalize_host(raw: str | None) -> str | None:
    """Lowercase, without port or one trailing dot; None unless an ASCII DNS name."""
    if not raw:
        return None
    # SECURITY: refuse non-ASCII before lowercasing: str.lower() maps some
    # non-ASCII letters (the Kelvin sign U+212A) onto ASCII ones, which would let
    # a look-alike name reach a real site. IDNA names arrive as `xn--` labels.
    if not raw.isascii():
        return None
    host = raw.lower()
    if host.startswith("["):
        return None  # an IPv6 literal is never a site
    name, colon, port = host.rpartition(":")
    if colon:
        if not _PORT.match(port):
            return None
        host = name
    if host.endswith("."):
        host = host[:-1]
    if not host or len(host) > _MAX_HOST or not _HOST_CHARS.match(host):
        return None
    if not all(is_valid_label(label) for label in host.split(".")):
        return None
    return host


def site_for_host(raw_host: str | None, base_domain: str) -> Site | None:
    """The site a Host header names (`base_domain` already normalized), or None."""
    host = normalize_host(raw_host)
    if host is None:
        return None
    # SECURITY: the suffix includes the dot, so `evillocalhost` is not under
    # `localhost`, and the bare base domain (no label in front) is no site.
    suffix = "." + base_domain
    if not host.endswith(suffix):
        if host != base_domain and is_custom_hostname(host):
            return Site(SiteKind.DOMAIN, host)
        return None
    label = host[: -len(suffix)]
    if "." in label:
        return None  # nested subdomains name nothing
    return site_for_label(label)


def site_for_label(label: str) -> Site | None:
    """A deployment id or a well-formed alias name; None for any other label."""
    if not label or len(label) > MAX_LABEL or not is_valid_label(label):
        return None
    if is_deployment_id(label):
        return Site(SiteKind.DEPLOYMENT, label)
    if is_alias_name(label):
        return Site(SiteKind.ALIAS, label)
    return None


def is_alias_name(label: str) -> bool:
    """`<project>` or `<branch-slug>--<project>`, as `deploy_platform.contracts.names` makes them.

    Checking the shape here means a random label never costs a Redis or store lookup.
    """
    slug, separator, project = label.partition(_PREVIEW_SEPARATOR)
    if not separator:
        return _is_project_name(label)
    # A slug is already in the form branch_slug() produces (and a project has no
    # double hyphen), so there is exactly one `--` and both halves are canonical.
    return bool(slug) and branch_slug(slug) == slug and _is_project_name(project)


def _is_project_name(name: str) -> bool:
    try:
        _validate_project_name(name)
    except InvalidName:
        return False
    return True


def parse_trusted_proxies(raw: str | Sequence[str]) -> tuple[IPNetwork, ...]:
    """`"10.0.0.1, 10.1.0.0/16, ::1"` -> networks; raises ValueError naming a bad entry."""
    items = raw.split(",") if isinstance(raw, str) else list(raw)
    networks = []
    for item in (part.strip() for part in items):
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ValueError(
                f"{item!r} is not an IP address or CIDR network (like 10.0.0.1 or 10.0.0.0/8)"
            ) from None
    return tuple(networks)


def request_host(
    host: str | None,
    forwarded_hosts: Sequence[str],
    peer: str | None,
    trusted: Sequence[IPNetwork],
) -> str | None:
    """The Host that names the site: `X-Forwarded-Host` only from a trusted peer.

    `forwarded_hosts` are the X-Forwarded-Host header lines in order; the last
    comma-separated value of the last line is the one the peer added.
    """
    if not trusted or not forwarded_hosts or not _is_trusted(peer, trusted):
        return host
    last = forwarded_hosts[-1].rsplit(",", 1)[-1].strip()
    return last or host


def _is_trusted(peer: str | None, trusted: Sequence[IPNetwork]) -> bool:
    if not peer:
        return False  # a Unix socket or an unknown peer is nobody we trust
    try:
        address = ipaddress.ip_address(peer.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # a dual-stack socket reports IPv4 peers this way
    return any(address.version == net.version and address in net for net in trusted)
