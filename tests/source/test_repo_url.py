"""validate_repo_url: every refused spelling, and what the allow list lets through."""

from __future__ import annotations

import ipaddress
import socket

import pytest

from deploy_platform.contracts.errors import InvalidRequest
from deploy_platform.source.repo_url import parse_allow_hosts, validate_repo_url


def refused(url: object, allow: tuple[str, ...] = ()) -> str:
    with pytest.raises(InvalidRequest) as info:
        validate_repo_url(url, allow)
    assert info.value.field == "repo_url"
    return str(info.value)


@pytest.mark.parametrize(
    ("url", "says"),
    [
        (None, "must be a string"),
        (42, "must be a string"),
        (b"https://github.com/a/b.git", "must be a string"),
        ("", "is empty"),
        ("https://github.com/a b.git", "whitespace"),
        (" https://github.com/a/b.git", "whitespace"),
        ("https://github.com/a/b.git\n", "whitespace"),
        ("https://github.com/a/\x00b.git", "control character"),
        ("https://github.com/\u200ba/b.git", "control character"),
        ("-uhttps://github.com/a/b.git", "command-line option"),
        ("--upload-pack=touch", "command-line option"),
        ("file:///etc/passwd", "file://"),
        ("FILE:///srv/repo.git", "file://"),
        ("ext::sh%20-c%20touch", "transport helper"),
        ("fd::17", "transport helper"),
        ("ssh://git@github.com/a/b.git", "ssh://"),
        ("git://github.com/a/b.git", "git://"),
        ("git@github.com:a/b.git", "SSH address"),
        ("github.com:a/b.git", "SSH address"),
        ("/srv/git/site.git", "local path"),
        ("./site", "local path"),
        ("../site", "local path"),
        ("~/site.git", "local path"),
        ("http:/github.com/a/b.git", "malformed"),
        ("https://github.com", "no repository path"),
        ("https://github.com/a/b.git#main", "fragment"),
        ("https://github.com\\@127.0.0.1/a.git", "backslash"),
        ("https://github.com:0/a/b.git", "port"),
        ("https://github.com:99999/a/b.git", "invalid port"),
        ("https://bücher.example/a.git", "punycode"),
    ],
)
def test_malformed_or_non_http_urls_are_refused_with_a_fix(url: object, says: str) -> None:
    assert says in refused(url)


@pytest.mark.parametrize(
    "url",
    [
        "https://user:secret@github.com/a/b.git",
        "https://ghp_token@github.com/a/b.git",
        "https://:secret@github.com/a/b.git",
    ],
)
def test_credentials_are_refused_and_the_reason_is_given(url: str) -> None:
    message = refused(url)
    assert "credentials" in message and "shown" in message
    assert "secret" not in message and "ghp_token" not in message


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("http://localhost/a.git", "loopback"),
        ("http://LOCALHOST./a.git", "loopback"),
        ("http://docs.localhost/a.git", "loopback"),
        ("http://127.0.0.1/a.git", "loopback"),
        ("http://127.0.0.1./a.git", "loopback"),
        ("http://127.1/a.git", "loopback"),
        ("http://0x7f.1/a.git", "loopback"),
        ("http://0x7f000001/a.git", "loopback"),
        ("http://2130706433/a.git", "loopback"),
        ("http://017700000001/a.git", "loopback"),
        ("http://0177.0.0.1/a.git", "loopback"),
        ("http://0.0.0.0/a.git", "unspecified"),
        ("http://0/a.git", "unspecified"),
        ("http://[::]/a.git", "unspecified"),
        ("http://[::1]/a.git", "loopback"),
        ("http://[0:0:0:0:0:0:0:1]/a.git", "loopback"),
        ("http://[::ffff:127.0.0.1]/a.git", "loopback"),
        ("http://[::ffff:7f00:1]/a.git", "loopback"),
        ("http://[::ffff:10.0.0.1]/a.git", "private"),
        ("http://[2002:7f00:1::]/a.git", "loopback"),
        ("http://[64:ff9b::a9fe:a9fe]/a.git", "link-local"),
        ("http://169.254.169.254/latest/meta-data", "link-local"),
        ("http://[fe80::1]/a.git", "link-local"),
        ("http://[fe80::1%25eth0]/a.git", "link-local"),
        ("http://10.0.0.8/a.git", "private"),
        ("http://10.255.255.255/a.git", "private"),
        ("http://172.16.3.4/a.git", "private"),
        ("http://192.168.1.10/a.git", "private"),
        ("http://0xc0.0xa8.1.10/a.git", "private"),
        ("http://[fd00::1]/a.git", "private"),
        ("http://[fdff:ffff::1]/a.git", "private"),
        ("http://224.0.0.251/a.git", "multicast"),
        ("http://[ff02::1]/a.git", "multicast"),
        ("http://240.0.0.1/a.git", "reserved"),
        ("http://255.255.255.255/a.git", "reserved"),
        ("http://100.64.0.1/a.git", "not publicly routable"),
    ],
)
def test_internal_hosts_are_refused_in_every_spelling(url: str, kind: str) -> None:
    message = refused(url)
    assert kind in message
    assert "DP_GIT_ALLOW_HOSTS" in message


def test_a_numeric_host_out_of_range_is_refused() -> None:
    assert "not a valid address" in refused("http://256.0.0.1/a.git")


def _name_resolving_to_internal_addresses() -> str:
    """A host name (not *.localhost) that this machine resolves to an internal address."""
    for name in (socket.gethostname(), "ip6-localhost", "ip6-loopback", "localhost.localdomain"):
        try:
            infos = socket.getaddrinfo(name, 80, 0, socket.SOCK_STREAM)
        except OSError:
            continue
        addresses = {ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos}
        if name != "localhost" and any(not address.is_global for address in addresses):
            return name
    pytest.skip("no host name here resolves to an internal address")


def test_a_name_that_resolves_to_an_internal_address_is_refused() -> None:
    name = _name_resolving_to_internal_addresses()
    message = refused(f"http://{name}/a.git")
    assert "resolves to" in message and name in message


def test_a_name_that_does_not_resolve_is_refused_clearly() -> None:
    message = refused("https://no-such-host.invalid/owner/site.git")
    assert "does not resolve" in message and "no-such-host.invalid" in message


def test_public_addresses_pass_without_dns_and_are_normalized() -> None:
    checked = validate_repo_url("HTTPS://93.184.215.14/owner/site.git?x=1")
    assert checked.url == "https://93.184.215.14/owner/site.git?x=1"
    assert (checked.host, checked.port, checked.addresses) == (
        "93.184.215.14",
        443,
        ("93.184.215.14",),
    )
    ipv6 = validate_repo_url("http://[2606:4700:4700::1111]:8080/site.git")
    assert ipv6.url == "http://[2606:4700:4700::1111]:8080/site.git"
    assert (ipv6.host, ipv6.port) == ("2606:4700:4700::1111", 8080)


def test_the_allow_list_exempts_addresses_networks_and_names(
    git_allow_hosts: tuple[str, ...],
) -> None:
    loopback = validate_repo_url("http://127.0.0.1:9/site.git", git_allow_hosts)
    assert loopback.addresses == ("127.0.0.1",)
    # Any spelling of an allowed address is allowed too, and git gets the plain one.
    assert validate_repo_url("http://0x7f.1:9/site.git", git_allow_hosts).url == (
        "http://127.0.0.1:9/site.git"
    )
    assert validate_repo_url("http://10.1.2.3/site.git", ["10.0.0.0/8"]).host == "10.1.2.3"
    assert validate_repo_url("http://[fd00::5]/s.git", "fd00::/8").host == "fd00::5"
    named = validate_repo_url("http://localhost:9/site.git", "localhost")
    assert named.host == "localhost" and named.addresses
    # An allowed address does not open its neighbours.
    assert "loopback" in refused("http://127.0.0.2/site.git", git_allow_hosts)


def test_the_allow_list_string_is_split_on_commas() -> None:
    allow = parse_allow_hosts(" git.internal , 10.0.0.0/8,[::1], 127.0.0.1 ")
    assert allow.names == frozenset({"git.internal"})
    assert {str(network) for network in allow.networks} == {"10.0.0.0/8", "::1/128", "127.0.0.1/32"}
    assert not parse_allow_hosts("")


@pytest.mark.parametrize("entry", ["not a host!", "10.0.0.0/99", "http://x/"])
def test_a_bad_allow_list_entry_is_loud(entry: str) -> None:
    with pytest.raises(ValueError, match="DP_GIT_ALLOW_HOSTS"):
        parse_allow_hosts(entry)
