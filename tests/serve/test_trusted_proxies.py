"""X-Forwarded-Host names the site only when the TCP peer is a configured trusted proxy.

The test server's peer is always 127.0.0.1, so each case runs the edge with a
configuration that does, or does not, trust that address.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from multidict import CIMultiDict

from deploy_platform.contracts.ids import new_deployment_id
from deploy_platform.storage.local import LocalObjectStore
from deploy_platform.storage.redis_state import PlatformState
from serve.config import EdgeConfig, EdgeConfigError
from serve.hosts import parse_trusted_proxies, request_host
from tests.serve.conftest import EdgeFactory
from tests.support.deployments import point_alias, write_deployment


@pytest.fixture
def sites(store: LocalObjectStore, state: PlatformState) -> None:
    """`docs.localhost` and `other.localhost`, two different sites."""
    for alias in ("docs", "other"):
        deployment = new_deployment_id()
        write_deployment(store, deployment, {"/index.html": alias.encode()})
        point_alias(store, state, alias, deployment)


async def body(edge: TestClient[Any, Any], headers: CIMultiDict[str]) -> tuple[int, bytes]:
    async with edge.get("/", headers=headers) as response:
        return response.status, await response.read()


def headers(host: str, *forwarded: str) -> CIMultiDict[str]:
    result: CIMultiDict[str] = CIMultiDict(Host=host)
    for value in forwarded:
        result.add("X-Forwarded-Host", value)
    return result


@pytest.mark.usefixtures("sites")
@pytest.mark.parametrize("trusted", [("127.0.0.1",), ("10.0.0.0/8", "127.0.0.0/8")])
async def test_a_trusted_peers_forwarded_host_names_the_site(
    start_edge: EdgeFactory, trusted: tuple[str, ...]
) -> None:
    edge = await start_edge(trusted_proxies=trusted)
    assert await body(edge, headers("other.localhost", "docs.localhost")) == (200, b"docs")
    # A list: the last value is the one the trusted proxy added itself.
    assert await body(edge, headers("x.localhost", "other.localhost, docs.localhost")) == (
        200,
        b"docs",
    )
    assert await body(edge, headers("x.localhost", "other.localhost", "docs.localhost:443")) == (
        200,
        b"docs",
    )
    # Without the header (or with an empty one) the Host header counts.
    assert await body(edge, headers("other.localhost")) == (200, b"other")
    assert await body(edge, headers("other.localhost", "")) == (200, b"other")
    # A forwarded host is checked like any Host.
    assert (await body(edge, headers("docs.localhost", "evillocalhost")))[0] == 404


@pytest.mark.usefixtures("sites")
@pytest.mark.parametrize("trusted", [(), ("10.0.0.0/8", "::1")])
async def test_an_untrusted_peers_forwarded_host_is_ignored(
    start_edge: EdgeFactory, trusted: tuple[str, ...]
) -> None:
    edge = await start_edge(trusted_proxies=trusted)
    assert await body(edge, headers("other.localhost", "docs.localhost")) == (200, b"other")
    assert (await body(edge, headers("nope.localhost", "docs.localhost")))[0] == 404


def test_request_host_rules() -> None:
    loopback = parse_trusted_proxies("127.0.0.1")
    assert request_host("a", ["b"], "::ffff:127.0.0.1", loopback) == "b"  # dual-stack socket
    assert request_host("a", ["b"], None, loopback) == "a"  # a Unix socket peer
    assert request_host("a", ["b"], "not an address", loopback) == "a"
    assert request_host("a", ["b"], "127.0.0.2", loopback) == "a"
    v6 = parse_trusted_proxies("fe80::/10")
    assert request_host("a", ["b"], "fe80::1%eth0", v6) == "b"
    assert request_host("a", [" b , c "], "fe80::1", v6) == "c"


def test_trusted_proxies_and_skew_grace_from_the_environment(tmp_path: Path) -> None:
    env = {
        "DP_STATE_DIR": str(tmp_path),
        "DP_EDGE_TRUSTED_PROXIES": " 10.0.0.1, 192.168.0.0/16 ,,::1 ",
        "DP_EDGE_SKEW_GRACE_SECONDS": "600",
    }
    config = EdgeConfig.from_env(env)
    assert config.trusted_proxies == ("10.0.0.1", "192.168.0.0/16", "::1")
    assert ipaddress.ip_address("192.168.3.4") in config.trusted_networks[1]
    assert config.skew_grace_seconds == 600.0
    assert "X-Forwarded-Host from 10.0.0.1, 192.168.0.0/16, ::1" in config.describe()

    defaults = EdgeConfig.from_env({"DP_STATE_DIR": str(tmp_path)})
    assert defaults.trusted_networks == ()
    assert defaults.skew_grace_seconds == 12 * 3600


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("DP_EDGE_TRUSTED_PROXIES", "10.0.0.1, proxy.internal", "'proxy.internal' is not an IP"),
        ("DP_EDGE_TRUSTED_PROXIES", "10.0.0.0/33", "'10.0.0.0/33'"),
        ("DP_EDGE_SKEW_GRACE_SECONDS", "-1", "must be zero or more"),
        ("DP_EDGE_SKEW_GRACE_SECONDS", "a day", "is not a number"),
    ],
)
def test_bad_values_are_refused_naming_the_variable(
    tmp_path: Path, name: str, value: str, says: str
) -> None:
    env = {"DP_STATE_DIR": str(tmp_path), name: value}
    with pytest.raises(EdgeConfigError, match=name) as caught:
        EdgeConfig.from_env(env)
    assert says in str(caught.value)
