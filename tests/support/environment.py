"""The environment tests run the platform in: no DP_* or DAGSTER_* leaking from the machine.

- `platform_env` (fixture): this test's `os.environ` without the machine's platform
  variables, with `set`, `unset` and `clear`; monkeypatch undoes it all after the test.
- `child_env(...)`: the environment of a child process (`up`, the API, the edge),
  the machine's minus the platform's variables, plus the ones given.
- `code_location_env(...)`: every variable the code location reads, set as `up` sets them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest

__all__ = [
    "PLATFORM_PREFIXES",
    "TOOLCHAIN_CACHE",
    "PlatformEnv",
    "child_env",
    "code_location_env",
    "platform_env",
]

#: The variables that configure the platform or its Dagster instance.
PLATFORM_PREFIXES = ("DP_", "DAGSTER_")

#: Node.js and package managers, downloaded once and kept between runs (CI caches it).
TOOLCHAIN_CACHE = Path.home() / ".cache" / "deploy-platform-tests" / "toolchains"

# What the machine set before any test ran; DP_TEST_* configure the tests themselves
# (such as DP_TEST_POSTGRES_URL) and stay.
_MACHINE = frozenset(
    name
    for name in os.environ
    if name.startswith(PLATFORM_PREFIXES) and not name.startswith("DP_TEST_")
)


@dataclass
class PlatformEnv:
    """This test's `os.environ`, changed through monkeypatch so the test undoes it."""

    monkeypatch: pytest.MonkeyPatch

    def set(self, **values: str) -> None:
        for name, value in values.items():
            self.monkeypatch.setenv(name, value)

    def unset(self, *names: str) -> None:
        for name in names:
            self.monkeypatch.delenv(name, raising=False)

    def clear(self) -> None:
        """Every DP_* and DAGSTER_* variable gone, whoever set it (a Dagster test instance
        sets DAGSTER_HOME): for a command that must find its settings on its own."""
        self.unset(*(name for name in os.environ if name.startswith(PLATFORM_PREFIXES)))


@pytest.fixture
def platform_env(monkeypatch: pytest.MonkeyPatch) -> PlatformEnv:
    """`os.environ` without the machine's DP_* or DAGSTER_* variables; `set` adds this test's."""
    env = PlatformEnv(monkeypatch)
    env.unset(*_MACHINE)
    return env


def child_env(drop: tuple[str, ...] = PLATFORM_PREFIXES, **values: str) -> dict[str, str]:
    """The environment for a child process: the machine's without variables starting with
    `drop` (the platform's), plus `values`."""
    env = {name: value for name, value in os.environ.items() if not name.startswith(drop)}
    env.update(values)
    return env


def code_location_env(redis_url: str, redis_prefix: str, storage_url: str) -> dict[str, str]:
    """Every variable the code location reads, set the way `up` sets them (some empty)."""
    return {
        "DP_REDIS_URL": redis_url,
        "DP_REDIS_PREFIX": redis_prefix,
        "DP_STORAGE_URL": storage_url,
        "DP_S3_ACCESS_KEY_ID": "",
        "DP_S3_SECRET_ACCESS_KEY": "",
        "DP_GIT_ALLOW_HOSTS": "",
        "DP_MAX_REPO_BYTES": str(64 * 1024 * 1024),
        "DP_TOOL_CACHE_DIR": str(TOOLCHAIN_CACHE),
        "DP_CF_API_URL": "",
        "DP_CF_ACCOUNT_ID": "",
        "DP_CF_KV_NAMESPACE_ID": "",
        "DP_CF_API_TOKEN": "",
        "DP_GITHUB_API_URL": "",
        "DP_GITHUB_TOKEN": "",
        "DP_GITHUB_STATUS_CONTEXT": "",
        "DP_EDGE_ORIGIN_URL": "",
        "DP_BASE_DOMAIN": "localhost",
        "DP_RETAIN_PER_BRANCH": "",
        "DP_RETAIN_DAYS": "",
        "DP_EDGE_SKEW_GRACE_SECONDS": "",
    }
