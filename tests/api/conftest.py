"""The control API under test: a loopback server (pytest-aiohttp), real Redis, a local store."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from deploy_platform.api import create_app
from deploy_platform.settings.platform import Settings
from tests.support import api_fixtures

make_settings = api_fixtures.make_settings  # a fixture, shared with tests/cli

ApiClientFactory = Callable[..., Awaitable[TestClient[Any, Any]]]


@pytest.fixture
def settings(make_settings: Callable[..., Settings], git_allow_hosts: Any) -> Settings:
    """Settings that let the API reach the loopback git server (as DP_GIT_ALLOW_HOSTS would)."""
    return make_settings(git_allow_hosts=tuple(git_allow_hosts))


@pytest.fixture
def api_for(aiohttp_client: Any) -> ApiClientFactory:
    """Start the API app for the given settings and return a client to it."""

    async def start(settings: Settings) -> TestClient[Any, Any]:
        client: TestClient[Any, Any] = await aiohttp_client(create_app(settings))
        return client

    return start


@pytest.fixture
async def api(api_for: ApiClientFactory, settings: Settings) -> TestClient[Any, Any]:
    """A client to the API with the loopback git server allowed and no token."""
    return await api_for(settings)
