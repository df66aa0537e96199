"""Real installs and builds of the fixture apps through the runner (detect, toolchain,
cache, sandbox), as the `built_artifact` asset runs them."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from deploy_platform.build.runner import BuildRequest, BuildResult, run_build
from deploy_platform.build.sandbox import Limits
from deploy_platform.build.settings import BuildSettings
from deploy_platform.contracts.errors import BuildFailed, UnsafeArchive
from deploy_platform.storage import ObjectStore
from deploy_platform.storage.local import LocalObjectStore
from tests.support.environment import TOOLCHAIN_CACHE, PlatformEnv

pytestmark = pytest.mark.slow

APPS = Path(__file__).parents[1] / "fixtures" / "apps"


@pytest.fixture
def store(tmp_path: Path) -> ObjectStore:
    """The object store that holds this test's build cache."""
    return LocalObjectStore(tmp_path / "objects")


def checkout(app: str, tmp_path: Path, name: str = "src") -> Path:
    """A fresh copy of a fixture app, as built_artifact unpacks a source archive."""
    target = tmp_path / name
    shutil.copytree(APPS / app, target)
    return target


def build(
    source: Path,
    store: ObjectStore,
    settings: BuildSettings | None = None,
    *,
    project: str = "fixture",
    wall_seconds: float = 600,
    lines: list[str] | None = None,
    milestones: list[tuple[str, str]] | None = None,
) -> BuildResult:
    collected = [] if lines is None else lines
    reported = [] if milestones is None else milestones
    return run_build(
        source,
        BuildRequest(project=project, settings=settings or BuildSettings()),
        store=store,
        tool_cache=TOOLCHAIN_CACHE,
        limits=Limits(wall_seconds=wall_seconds),
        log=collected.append,
        output=collected.append,
        progress=lambda step, detail: reported.append((step, detail)),
    )


@pytest.mark.network
def test_vite_react_builds_and_the_second_build_skips_install(
    tmp_path: Path, store: ObjectStore
) -> None:
    reported: list[tuple[str, str]] = []
    first = build(checkout("vite-react", tmp_path, "one"), store, milestones=reported)
    assert first.framework == "vite"
    assert first.output_dir.name == "dist"
    assert (first.output_dir / "index.html").is_file()
    assert list((first.output_dir / "assets").glob("index-*.js"))
    assert first.install_command == "npm ci"
    assert first.metadata["cache_hit"] == "miss" and not first.metadata["install_skipped"]

    # Each milestone as it happened, in order: what `deploy` prints live.
    steps = [step for step, _ in reported]
    assert steps[0] == "detect" and steps[-1] == "output"
    order = ["toolchain", "cache-restore", "install", "build", "cache-save", "output"]
    assert [s for s in dict.fromkeys(steps) if s in order] == order
    said = dict(reported)  # each step's last line
    assert re.fullmatch(r"node \d+\.\d+\.\d+, npm \S+ ready \(\d+\.\d s\)", said["toolchain"])
    assert said["cache-restore"].startswith("cache miss (")
    assert ("install", "running npm ci") in reported
    assert re.fullmatch(r"npm ci \(\d+\.\d s\)", said["install"])
    assert re.fullmatch(r"npm run build \(\d+\.\d s\)", said["build"])
    assert re.fullmatch(r"cache saved \(\d+\.\d [KMG]iB in \d+\.\d s\)", said["cache-save"])
    assert said["output"].startswith("output: dist/ (")

    reported.clear()
    second = build(checkout("vite-react", tmp_path, "two"), store, milestones=reported)
    assert second.metadata["cache_hit"] == "exact" and second.metadata["install_skipped"]
    said = dict(reported)
    assert re.fullmatch(
        r"cache exact hit: node_modules restored \(\d+\.\d [KMG]iB in \d+\.\d s\)",
        said["cache-restore"],
    )
    assert said["install"] == "install skipped: node_modules restored for this exact lockfile"
    assert said["cache-save"] == "cache kept as it is (nothing was installed)"
    assert (second.output_dir / "index.html").read_text() == (
        first.output_dir / "index.html"
    ).read_text()

    clean = build(checkout("vite-react", tmp_path, "three"), store, BuildSettings(clean=True))
    assert clean.metadata["cache_hit"] == "miss" and not clean.metadata["install_skipped"]


@pytest.mark.network
def test_pnpm_app_uses_the_version_its_package_manager_field_names(
    tmp_path: Path, store: ObjectStore
) -> None:
    outcome = build(checkout("pnpm-marked", tmp_path), store)
    assert outcome.metadata["package_manager_version"] == "9.15.9"
    assert "<h1>Built with pnpm</h1>" in (outcome.output_dir / "index.html").read_text()


@pytest.mark.network
def test_yarn_classic_app_builds_into_build(tmp_path: Path, store: ObjectStore) -> None:
    outcome = build(checkout("yarn-classic", tmp_path), store)
    assert outcome.output_dir.name == "build"
    assert outcome.metadata["package_manager_version"].startswith("1.")
    assert "Built with yarn" in (outcome.output_dir / "index.html").read_text()


@pytest.mark.network
def test_rollup_app_publishes_public(tmp_path: Path, store: ObjectStore) -> None:
    outcome = build(checkout("rollup-public", tmp_path), store)
    assert outcome.output_dir.name == "public"
    assert (outcome.output_dir / "build" / "bundle.js").is_file()


def test_static_site_needs_no_install(tmp_path: Path, store: ObjectStore) -> None:
    outcome = build(checkout("static-site", tmp_path), store)
    assert outcome.framework == "static" and outcome.install_command is None
    assert outcome.output_dir == tmp_path / "src"
    assert outcome.warnings == ()


def test_a_static_site_without_index_html_is_published_with_a_warning(
    tmp_path: Path, store: ObjectStore
) -> None:
    source = tmp_path / "src"
    (source / "docs").mkdir(parents=True)
    (source / "docs" / "guide.html").write_text("<h1>guide</h1>")
    lines: list[str] = []
    outcome = build(source, store, lines=lines)
    assert outcome.output_dir == source
    assert len(outcome.warnings) == 1
    assert outcome.warnings[0].startswith("no index.html in the repository root: published")
    assert f"warning: {outcome.warnings[0]}" in lines


def test_a_static_site_with_only_hidden_files_has_nothing_to_publish(
    tmp_path: Path, store: ObjectStore
) -> None:
    source = tmp_path / "src"
    source.mkdir()
    (source / ".env").write_text("SECRET=1")
    with pytest.raises(BuildFailed, match="nothing to publish: the repository root has no files"):
        build(source, store)


def test_a_failing_build_reports_the_tail_of_its_log(tmp_path: Path, store: ObjectStore) -> None:
    with pytest.raises(BuildFailed) as failure:
        build(checkout("fail-build", tmp_path), store)
    message = str(failure.value)
    assert "build failed" in message and "exited with 1" in message
    assert 'Expected ";" but found "oops"' in message


def test_a_build_that_never_ends_is_stopped_and_says_it_timed_out(
    tmp_path: Path, store: ObjectStore
) -> None:
    with pytest.raises(BuildFailed) as failure:
        build(checkout("fail-forever", tmp_path), store, wall_seconds=8)
    assert "timed out" in str(failure.value) and "watching for changes" in str(failure.value)


def test_an_output_symlink_to_etc_passwd_is_refused(tmp_path: Path, store: ObjectStore) -> None:
    with pytest.raises(UnsafeArchive) as failure:
        build(checkout("fail-symlink", tmp_path), store)
    assert "passwd" in str(failure.value)


def test_the_build_sees_no_platform_secret_and_its_own_secret_is_redacted(
    tmp_path: Path, store: ObjectStore, monkeypatch: pytest.MonkeyPatch, platform_env: PlatformEnv
) -> None:
    platform_env.set(DP_S3_SECRET_ACCESS_KEY="platform-s3-secret-value")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "platform-aws-secret-value")
    lines: list[str] = []
    settings = BuildSettings.from_dict({"env": {"MY_API_KEY": "project-secret-value"}})
    build(checkout("leak-secret", tmp_path), store, settings, lines=lines)
    log = "\n".join(lines)
    assert "platform variables visible: none" in log
    assert "project secret: ***" in log
    assert "secret-value" not in log
