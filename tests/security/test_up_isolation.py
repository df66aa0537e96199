"""What `up` says about build isolation, and what it refuses."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from deploy_platform.build import isolation
from tests.support.environment import child_env
from tests.support.platform import run_up


def test_a_bad_isolation_setting_stops_up_before_anything_starts(tmp_path: Path) -> None:
    done = run_up(tmp_path, child_env(DP_BUILD_ISOLATION="maybe"), timeout=60)
    assert done.returncode == 2
    assert "DP_BUILD_ISOLATION must be auto, required or off, not 'maybe'" in done.stderr
    assert not (tmp_path / "redis").exists()


def test_up_says_loudly_that_isolation_is_off() -> None:
    line = isolation.announce_for_up({"DP_BUILD_ISOLATION": "off"})
    assert line.startswith("WARNING: build isolation OFF (DP_BUILD_ISOLATION=off)")
    assert "Pull requests from forks are not built" in line
    assert "Unset DP_BUILD_ISOLATION to isolate builds" in line


def test_up_says_how_builds_are_isolated_and_makes_the_build_user() -> None:
    status = isolation.current({})
    if not status.isolated:
        pytest.skip(status.describe())
    line = isolation.announce_for_up({})
    assert line.startswith("build isolation: on (bubblewrap")
    if os.geteuid() == 0:
        assert f"user {isolation.BUILD_USER}" in line
        assert isolation.ensure_build_user().uid != 0


@pytest.mark.parametrize(
    ("problems", "sandboxed", "remedy"),
    [
        (("bwrap is not installed",), False, "apt-get install bubblewrap slirp4netns"),
        (
            ("no network namespace: /dev/net/tun is not usable by the platform's user",),
            True,
            "make /dev/net/tun usable by its user",
        ),
    ],
    ids=["nothing-installed", "no-tun-for-non-root"],
)
def test_the_warning_names_what_to_do(
    problems: tuple[str, ...], sandboxed: bool, remedy: str
) -> None:
    status = isolation.Status(isolation.Mode.AUTO, sandboxed, network=False, problems=problems)
    line = status.describe()
    assert line.startswith(
        "WARNING: build isolation " + ("PARTIAL" if sandboxed else "UNAVAILABLE")
    )
    assert problems[0] in line and remedy in line
    assert remedy in (status.fork_refusal() or "")
