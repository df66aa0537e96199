"""The `alias-changed` announcements edge-origins follow, as a test sees them.

`alias_changes` is a fixture for every test (tests/conftest.py lists this module).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from deploy_platform.storage.redis_state import PlatformState

__all__ = ["alias_changes", "announced"]


@pytest.fixture
def alias_changes(state: PlatformState) -> Iterator[Any]:
    """A subscription to the platform's alias-changed channel, as every edge-origin holds."""
    pubsub = state.redis.pubsub()
    pubsub.subscribe(state.key("alias-changed"))
    assert pubsub.get_message(timeout=5)["type"] == "subscribe"
    yield pubsub
    pubsub.close()


def announced(pubsub: Any) -> list[str]:
    """The alias names announced since the last call, in order."""
    names = []
    while (message := pubsub.get_message(timeout=0.5)) is not None:
        names.append(message["data"].decode())
    return names
