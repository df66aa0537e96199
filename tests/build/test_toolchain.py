"""Provisioning Node and package managers from the npm registry, run through the sandbox."""

from __future__ import annotations

import re
import shutil
import subprocess
import threading
from pathlib import Path

import pytest

from deploy_platform.build.sandbox import Limits, base_env, run
from deploy_platform.build.toolchain import Toolchain, available_node_versions, provision
from deploy_platform.contracts.errors import BuildFailed
from tests.support.environment import TOOLCHAIN_CACHE

#: A Node release that is not the machine's own, so it really gets provisioned.
OTHER_NODE = "22.12.0"
UNREACHABLE_REGISTRY = "http://127.0.0.1:9/"


@pytest.fixture(scope="session")
def toolchain_cache() -> Path:
    """Toolchains shared by all tests and kept between runs, so CI reruns download nothing."""
    TOOLCHAIN_CACHE.mkdir(parents=True, exist_ok=True)
    return TOOLCHAIN_CACHE


def _in_sandbox(toolchain: Toolchain, command: str, tmp_path: Path) -> list[str]:
    lines: list[str] = []
    result = run(
        ["sh", "-c", command],
        cwd=tmp_path,
        env=base_env(tmp_path, [toolchain.bin_dir]),
        # Behind the isolation boundary the toolchain is visible only when named.
        readable=[toolchain.bin_dir.parents[2]],
        limits=Limits(wall_seconds=120),
        on_line=lines.append,
    )
    assert result.exit_code == 0, result.tail
    return lines


def _machine_node_version() -> str | None:
    node = shutil.which("node")
    if node is None:
        return None
    return subprocess.run([node, "--version"], capture_output=True, text=True).stdout.strip()


@pytest.mark.network
@pytest.mark.slow
def test_a_node_version_the_machine_lacks_is_provisioned_and_runs(
    toolchain_cache: Path, tmp_path: Path
) -> None:
    assert _machine_node_version() != f"v{OTHER_NODE}"
    messages: list[str] = []
    toolchain = provision(toolchain_cache, OTHER_NODE, "npm", None, log=messages.append)
    assert toolchain.node.is_relative_to(toolchain_cache)
    lines = _in_sandbox(toolchain, "node --version; npm --version; npx --version", tmp_path)
    version = toolchain.package_manager_version
    assert lines == [f"v{OTHER_NODE}", version, version]
    # The npm line Node 22 ships with.
    assert toolchain.package_manager_version.startswith("10.")
    assert any(OTHER_NODE in m for m in messages)


@pytest.mark.network
@pytest.mark.slow
@pytest.mark.parametrize(
    ("manager", "wanted", "command"),
    [("pnpm", "9", "pnpm"), ("yarn", "1", "yarn"), ("yarn", "4.5.3", "yarn")],
    ids=["pnpm-9", "yarn-classic", "yarn-berry"],
)
def test_package_managers_at_the_requested_version(
    toolchain_cache: Path, tmp_path: Path, manager: str, wanted: str, command: str
) -> None:
    toolchain = provision(toolchain_cache, OTHER_NODE, manager, wanted, log=lambda _: None)
    assert toolchain.package_manager == manager
    version = toolchain.package_manager_version
    assert version == wanted or version.startswith(wanted + ".")
    lines = _in_sandbox(toolchain, f"node --version; {command} --version", tmp_path)
    assert lines == [f"v{OTHER_NODE}", version]


@pytest.mark.network
@pytest.mark.slow
def test_two_builds_provisioning_the_same_version_at_once(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    results: list[Toolchain] = []
    errors: list[BaseException] = []
    reported: list[tuple[str, str]] = []

    def provision_one() -> None:
        try:
            results.append(
                provision(
                    cache,
                    OTHER_NODE,
                    "npm",
                    None,
                    log=lambda _: None,
                    progress=lambda step, detail: reported.append((step, detail)),
                )
            )
        except BaseException as exc:  # reported below, with the thread's traceback
            errors.append(exc)

    threads = [threading.Thread(target=provision_one) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(results) == 2 and results[0] == results[1]
    assert sorted(p.name for p in (cache / "node").iterdir()) == [OTHER_NODE]
    # Downloaded once, and the wait is explained: what, how big, how long.
    node_lines = [detail for step, detail in reported if step == "download node"]
    assert node_lines[0] == f"downloading node {OTHER_NODE}"
    assert len(node_lines) == 2
    assert re.fullmatch(
        rf"node {re.escape(OTHER_NODE)} downloaded \(\d+\.\d MiB in \d+\.\d s\)",
        node_lines[1],
    )
    assert any(re.fullmatch(r"npm \S+ downloaded \(.+ in \d+\.\d s\)", d) for _, d in reported)
    lines = _in_sandbox(results[0], "node --version", tmp_path)
    assert lines == [f"v{OTHER_NODE}"]


@pytest.mark.network
@pytest.mark.slow
def test_an_unknown_node_version_fails_saying_what_to_fix(toolchain_cache: Path) -> None:
    with pytest.raises(BuildFailed, match=r"Node.js 22\.99\.99 is not published") as caught:
        provision(toolchain_cache, "22.99.99", "npm", None, log=lambda _: None)
    assert "engines.node" in str(caught.value)
    assert not (toolchain_cache / "node" / "22.99.99").exists()


@pytest.mark.network
@pytest.mark.slow
def test_an_unknown_package_manager_version_fails_saying_what_to_fix(
    toolchain_cache: Path,
) -> None:
    with pytest.raises(BuildFailed, match=r"pnpm 99 does not exist.*packageManager"):
        provision(toolchain_cache, OTHER_NODE, "pnpm", "99", log=lambda _: None)


@pytest.mark.parametrize(
    ("node", "manager", "pm_version", "message"),
    [
        ("latest", "npm", None, "not an exact version"),
        ("22.12.0", "cargo", None, "unknown package manager 'cargo'"),
        ("22.12.0", "pnpm", "nine", "not a version"),
    ],
)
def test_bad_requests_are_refused_before_any_download(
    tmp_path: Path, node: str, manager: str, pm_version: str | None, message: str
) -> None:
    with pytest.raises(BuildFailed, match=message):
        provision(
            tmp_path, node, manager, pm_version, log=lambda _: None, registry=UNREACHABLE_REGISTRY
        )


def test_the_machines_own_node_is_used_when_it_is_the_version_asked_for(tmp_path: Path) -> None:
    machine = _machine_node_version()
    if machine is None:
        pytest.skip("no node on this machine")
    # A dead registry proves nothing is downloaded.
    toolchain = provision(
        tmp_path,
        machine.lstrip("v"),
        "npm",
        None,
        log=lambda _: None,
        registry=UNREACHABLE_REGISTRY,
    )
    assert toolchain.node == Path(shutil.which("node") or "").resolve()
    assert not (tmp_path / "node").exists()
    assert _in_sandbox(toolchain, "node --version", tmp_path) == [machine]


def test_an_unreachable_registry_is_named_in_the_error(tmp_path: Path) -> None:
    with pytest.raises(BuildFailed, match="cannot reach the npm registry at http://127.0.0.1:9/"):
        provision(
            tmp_path, OTHER_NODE, "npm", None, log=lambda _: None, registry=UNREACHABLE_REGISTRY
        )


@pytest.mark.network
@pytest.mark.slow
def test_available_versions_come_from_the_registry_and_survive_an_outage(
    tmp_path: Path,
) -> None:
    versions = available_node_versions(tmp_path)
    assert OTHER_NODE in versions
    assert int(versions[0].split(".")[0]) >= 22
    # Asked again through a dead registry, the day-old list is still answered.
    assert available_node_versions(tmp_path, registry=UNREACHABLE_REGISTRY) == versions
