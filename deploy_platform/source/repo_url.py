"""Validate a repository URL before anything clones it.

SECURITY: a deploy platform fetches URLs that strangers give it, from inside the
operator's network, so the URL is the classic server-side request forgery door.
The layers, in order:

1. Shape: a string, no whitespace or control characters, not option-like (`-u…`
   would become a git option), no backslashes.
2. Transport: only `http://` and `https://`. `file://`, local paths, `ext::`
   (runs a command), `ssh://` and scp-like `git@host:x` are refused.
3. No credentials in the URL: they would be stored in the deployment record and
   shown in its status, logs and the Dagster UI.
4. The host, in every spelling (`127.1`, `0x7f.1`, `2130706433`, `[::ffff:127.0.0.1]`,
   `localhost`…), and every address its name resolves to must be public: not
   loopback, private, link-local, unspecified, multicast or reserved. One bad
   address is enough to refuse, because the fetch may use any of them.
5. The operator may exempt host names, addresses or networks with
   `DP_GIT_ALLOW_HOSTS` (for an internal Git server, or the tests' loopback one).

The result carries the addresses that were checked, so `source/git/` can pin git to
them (`http.curloptResolve`) and a DNS answer that changes between this check and
the fetch (DNS rebinding) cannot send the fetch elsewhere.
"""

from __future__ import annotations

import concurrent.futures
import ipaddress
import re
import socket
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

from deploy_platform.contracts.errors import InvalidRequest

__all__ = [
    "AllowList",
    "ValidatedRepoUrl",
    "address_problem",
    "parse_allow_hosts",
    "validate_repo_url",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_FIELD = "repo_url"
_SCHEME_RE = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):")
# git's `<transport>::<address>` syntax runs a remote helper (`ext::` runs any command).
_HELPER_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*::")
# scp-like syntax that git accepts as ssh: `[user@]host:path` with no `//` after the colon.
_SCP_RE = re.compile(r"^(?:[^@/:]+@)?[^/:]+:(?!//)")
_HOSTNAME_RE = re.compile(
    r"^(?=.{1,253}$)(?:[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?\.)*"
    r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$"
)
# A host made only of digits, hex and dots is an IPv4 address to curl and glibc
# (inet_aton), however odd it looks: `127.1`, `0x7f.0.0.1`, `2130706433`.
_NUMERIC_HOST_RE = re.compile(r"^(?:0x[0-9a-f]*|[0-9]+)(?:\.(?:0x[0-9a-f]*|[0-9]+)){0,3}$")
_RESOLVE_TIMEOUT = 10.0
# NAT64 (RFC 6052) addresses carry an IPv4 address in their last 32 bits.
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


@dataclass(frozen=True)
class ValidatedRepoUrl:
    """A repository URL that passed every check, with the addresses that were checked."""

    url: str
    host: str
    port: int
    addresses: tuple[str, ...]

    def __str__(self) -> str:
        return self.url


@dataclass(frozen=True)
class AllowList:
    """Operator exemptions (`DP_GIT_ALLOW_HOSTS`): host names, addresses and networks."""

    names: frozenset[str] = frozenset()
    networks: tuple[IPNetwork, ...] = ()

    def allows_name(self, host: str) -> bool:
        return host in self.names

    def allows_address(self, address: IPAddress) -> bool:
        return any(
            address in network for network in self.networks if network.version == address.version
        )

    def __bool__(self) -> bool:
        return bool(self.names or self.networks)


def parse_allow_hosts(entries: Iterable[str] | str) -> AllowList:
    """Parse allow-list entries; a string is split on commas like `DP_GIT_ALLOW_HOSTS`.

    Raises `ValueError` naming the bad entry, so a typo in the setting is loud at start-up
    instead of silently allowing nothing.
    """
    if isinstance(entries, str):
        entries = entries.split(",")
    names: set[str] = set()
    networks: list[IPNetwork] = []
    for raw in entries:
        entry = raw.strip().lower()
        if not entry:
            continue
        if entry.startswith("[") and entry.endswith("]"):
            entry = entry[1:-1]
        try:
            if "/" in entry:
                networks.append(ipaddress.ip_network(entry, strict=False))
                continue
            address = _parse_ip(entry)
        except ValueError as exc:
            raise ValueError(
                f"DP_GIT_ALLOW_HOSTS entry {raw.strip()!r} is not a host name, address or "
                f"network: {exc}"
            ) from None
        if address is not None:
            networks.append(ipaddress.ip_network(address))
        elif _HOSTNAME_RE.match(entry.rstrip(".")):
            names.add(entry.rstrip("."))
        else:
            raise ValueError(
                f"DP_GIT_ALLOW_HOSTS entry {raw.strip()!r} is not a host name, address or "
                "network (for example git.internal, 10.0.0.5 or 10.0.0.0/8)"
            )
    return AllowList(frozenset(names), tuple(networks))


def address_problem(address: IPAddress) -> str | None:
    """Why fetching from this address is refused, or None when it is public."""
    if isinstance(address, ipaddress.IPv6Address):
        # IPv6 forms that carry an IPv4 address reach that IPv4 address.
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address.teredo is not None:
            embedded = address.teredo[1]
        if embedded is None and address in _NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            inner = address_problem(embedded)
            if inner is not None:
                return f"{inner} (IPv4 {embedded} inside an IPv6 address)"
        if address.scope_id:
            return "link-local (has a zone index)"
    checks = (
        ("unspecified", address.is_unspecified),
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("reserved", address.is_reserved),
        ("private", address.is_private),
        # Catches what the flags above miss, such as carrier-grade NAT (100.64.0.0/10).
        ("not publicly routable", not address.is_global),
    )
    for reason, bad in checks:
        if bad:
            return reason
    return None


def validate_repo_url(
    url: object,
    allow_hosts: Iterable[str] | str | AllowList = (),
    *,
    resolve_timeout: float = _RESOLVE_TIMEOUT,
) -> ValidatedRepoUrl:
    """Check a repository URL (see the module docstring); raise `InvalidRequest` if refused."""
    allow = allow_hosts if isinstance(allow_hosts, AllowList) else parse_allow_hosts(allow_hosts)
    text = _check_shape(url)
    parts = _check_transport(text)
    _check_no_credentials(parts)
    host, literal = _parse_host(parts)
    port = _parse_port(parts)
    if not parts.path.strip("/"):
        raise _refuse(
            f"repo_url {text!r} has no repository path; give the full URL of the "
            "repository, for example https://github.com/owner/site.git"
        )
    if parts.fragment:
        raise _refuse("repo_url must not have a #fragment; remove everything from '#'")

    if literal is not None:
        addresses: tuple[IPAddress, ...] = (literal,)
    else:
        if _is_localhost_name(host) and not allow.allows_name(host):
            raise _refuse(
                f"repo_url host {host!r} is loopback (every *.localhost name is); the platform "
                "only fetches from public Git servers. To allow an internal server, the "
                "operator lists it in DP_GIT_ALLOW_HOSTS"
            )
        addresses = _resolve(host, port, resolve_timeout)
    if not allow.allows_name(host):
        for address in addresses:
            problem = address_problem(address)
            if problem is not None and not allow.allows_address(address):
                written = parts.hostname or host
                if literal is None:
                    shown = f"{host!r} (resolves to {address})"
                elif written.strip("[]") != host:
                    shown = f"{written!r} ({host})"
                else:
                    shown = host
                raise _refuse(
                    f"repo_url host {shown} is {problem}; the platform only fetches from "
                    "public Git servers. To allow an internal server, the operator lists "
                    "its name or address in DP_GIT_ALLOW_HOSTS"
                )

    host_text = f"[{host}]" if ":" in host else host
    default_port = {"http": 80, "https": 443}[parts.scheme.lower()]
    netloc = host_text if parts.port is None else f"{host_text}:{port}"
    normalized = SplitResult(parts.scheme.lower(), netloc, parts.path, parts.query, "").geturl()
    return ValidatedRepoUrl(
        url=normalized,
        host=host,
        port=port if port else default_port,
        addresses=tuple(dict.fromkeys(str(address) for address in addresses)),
    )


def _refuse(message: str) -> InvalidRequest:
    return InvalidRequest(message, field=_FIELD)


def _check_shape(url: object) -> str:
    if not isinstance(url, str):
        raise _refuse(f"repo_url must be a string (an http(s) URL), not {type(url).__name__}")
    if not url:
        raise _refuse("repo_url is empty; give the http(s) URL of a Git repository")
    for char in url:
        if char.isspace() or unicodedata.category(char) in {"Cc", "Cf", "Zl", "Zp", "Zs"}:
            raise _refuse(
                f"repo_url contains whitespace or a control character ({char!r}); "
                "remove it (spaces in a path are written %20)"
            )
    if url.startswith("-"):
        raise _refuse(f"repo_url {url!r} looks like a command-line option; give an http(s) URL")
    if "\\" in url:
        raise _refuse("repo_url contains a backslash; URLs use forward slashes only")
    return url


def _check_transport(text: str) -> SplitResult:
    if _HELPER_RE.match(text):
        raise _refuse(
            "repo_url uses a git transport helper (`<transport>::…`), which can run "
            "commands; give an http(s) URL"
        )
    match = _SCHEME_RE.match(text)
    scheme = match.group(1).lower() if match else None
    if match and scheme in {"http", "https"} and not text[match.end() :].startswith("//"):
        raise _refuse(f"repo_url {text!r} is malformed; write it as {scheme}://host/path")
    if not match or not text[match.end() :].startswith("//"):
        if text.startswith(("/", "./", "../", "~")) or text in {".", ".."}:
            raise _refuse(
                f"repo_url {text!r} is a local path; the platform only fetches over "
                "http(s). Give the repository's https:// URL, or deploy a local directory "
                "with `deploy-platform deploy <directory>`"
            )
        if _SCP_RE.match(text):
            raise _refuse(
                f"repo_url {text!r} is an SSH address (user@host:path); only http(s) is "
                "supported. Use the repository's https:// URL"
            )
        raise _refuse(
            f"repo_url {text!r} is not an http(s) URL; give a URL like "
            "https://github.com/owner/site.git"
        )
    if scheme == "file":
        raise _refuse(
            "repo_url must not be a file:// URL (it reads the server's own disk); give the "
            "repository's http(s) URL"
        )
    if scheme not in {"http", "https"}:
        raise _refuse(
            f"repo_url scheme {scheme}:// is not supported; only http:// and https:// are. "
            "Use the repository's https:// URL"
        )
    try:
        return urlsplit(text)
    except ValueError as exc:
        raise _refuse(f"repo_url is not a valid URL: {exc}") from None


def _check_no_credentials(parts: SplitResult) -> None:
    if "@" in parts.netloc:
        raise _refuse(
            "repo_url must not contain credentials (user:password@ or a token): they would "
            "be stored in the deployment record and shown in its status and logs. Remove "
            "them and use a repository that can be read without logging in"
        )


def _parse_host(parts: SplitResult) -> tuple[str, IPAddress | None]:
    raw = parts.hostname or ""
    if not raw:
        raise _refuse("repo_url has no host; give a URL like https://github.com/owner/site.git")
    if "[" in parts.netloc and not parts.netloc.startswith("["):
        raise _refuse("repo_url host is malformed; write IPv6 addresses as [2001:db8::1]")
    if parts.netloc.startswith("["):
        try:
            literal: IPAddress | None = ipaddress.IPv6Address(raw)
        except ValueError:
            raise _refuse(f"repo_url host [{raw}] is not a valid IPv6 address") from None
        assert literal is not None
        return str(literal), literal
    host = raw.rstrip(".")
    if not host.isascii():
        raise _refuse(
            f"repo_url host {raw!r} is not ASCII; write internationalized names in their "
            "xn-- (punycode) form"
        )
    try:
        literal = _parse_ip(host)
    except ValueError as exc:
        raise _refuse(f"repo_url host {raw!r} is not a valid address: {exc}") from None
    if literal is not None:
        return str(literal), literal
    if not _HOSTNAME_RE.match(host):
        raise _refuse(
            f"repo_url host {raw!r} is not a valid host name (letters, digits, hyphens and "
            "dots only)"
        )
    return host, None


def _parse_port(parts: SplitResult) -> int:
    try:
        port = parts.port
    except ValueError:
        raise _refuse("repo_url has an invalid port; use a number from 1 to 65535") from None
    if port == 0:
        raise _refuse("repo_url has port 0; use a port from 1 to 65535 or leave it out")
    if port is None:
        return {"http": 80, "https": 443}[parts.scheme.lower()]
    return port


def _parse_ip(host: str) -> IPAddress | None:
    """The address a host string denotes when it is an IP literal in any spelling."""
    if ":" in host:
        address = ipaddress.ip_address(host)
        return address
    if not _NUMERIC_HOST_RE.match(host):
        return None
    parts = [_parse_number(part) for part in host.split(".")]
    # inet_aton: the last part fills all the remaining bytes (a.b.c.d, a.b.c16, a.b24, a32).
    *leading, last = parts
    if any(part > 255 for part in leading) or last >= 1 << (8 * (4 - len(leading))):
        raise ValueError("a part of the numeric address is out of range")
    value = last
    for index, part in enumerate(leading):
        value |= part << (8 * (3 - index))
    return ipaddress.IPv4Address(value)


def _parse_number(part: str) -> int:
    if part.startswith("0x"):
        return int(part[2:] or "0", 16)
    if len(part) > 1 and part.startswith("0"):
        if any(char in "89" for char in part):
            raise ValueError(f"{part!r} is not a valid octal number")
        return int(part, 8)
    return int(part)


def _is_localhost_name(host: str) -> bool:
    # RFC 6761 §6.3: localhost and every name under it are loopback, whatever DNS says.
    return host == "localhost" or host.endswith(".localhost")


def _resolve(host: str, port: int, timeout: float) -> tuple[IPAddress, ...]:
    # getaddrinfo has no timeout of its own; a stuck resolver must not hang a request.
    executor = concurrent.futures.ThreadPoolExecutor(max_workers=1)
    future = executor.submit(socket.getaddrinfo, host, port, 0, socket.SOCK_STREAM)
    executor.shutdown(wait=False)
    try:
        infos = future.result(timeout=timeout)
    except concurrent.futures.TimeoutError:
        raise _refuse(
            f"repo_url host {host!r} did not resolve within {timeout:g}s; check the name or "
            "try again later"
        ) from None
    except (socket.gaierror, UnicodeError) as exc:
        reason = exc.strerror if isinstance(exc, socket.gaierror) and exc.strerror else str(exc)
        raise _refuse(
            f"repo_url host {host!r} does not resolve ({reason}); check the spelling of the "
            "host name"
        ) from None
    addresses: list[IPAddress] = []
    for _family, _type, _proto, _canon, sockaddr in infos:
        text = str(sockaddr[0])
        try:
            addresses.append(ipaddress.ip_address(text))
        except ValueError:
            raise _refuse(
                f"repo_url host {host!r} resolved to an unusable address {text!r}"
            ) from None
    if not addresses:
        raise _refuse(f"repo_url host {host!r} has no addresses; check the host name")
    return tuple(addresses)
