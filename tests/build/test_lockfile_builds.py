"""Real installs and builds of apps whose lockfiles Vercel would build and a frozen install
would refuse (out of date with package.json, or two managers' lockfiles), and of an
Eleventy site; with real npm, pnpm and yarn."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from deploy_platform.storage import ObjectStore
from deploy_platform.storage.local import LocalObjectStore
from tests.build.test_runner import build, checkout

pytestmark = [pytest.mark.slow, pytest.mark.network]


@pytest.fixture
def store(tmp_path: Path) -> ObjectStore:
    """The object store that holds this test's build cache."""
    return LocalObjectStore(tmp_path / "objects")


def test_npm_lockfile_out_of_date_installs_with_npm_install_and_warns(
    tmp_path: Path, store: ObjectStore
) -> None:
    lines: list[str] = []
    source = checkout("npm-stale-lock", tmp_path)
    outcome = build(source, store, lines=lines)
    assert outcome.install_command == "npm install"
    page = (outcome.output_dir / "index.html").read_text()
    assert "<title>npm &lt;stale&gt; lockfile</title>" in page
    assert "Built despite a stale lockfile" in page
    expected = (
        "package-lock.json is out of date with package.json (escape-html ^1.0.3 is not in the "
        "lockfile): installed with `npm install` instead of `npm ci`; commit an updated lockfile"
    )
    assert outcome.warnings == (expected,)
    assert f"warning: {expected}" in lines

    # The next build of the same commit gets the node_modules that install made, and
    # still says the lockfile is out of date.
    again = build(checkout("npm-stale-lock", tmp_path, "again"), store)
    assert again.metadata["install_skipped"] and again.warnings == (expected,)

    # Another package.json with the same stale lockfile must not reuse that install.
    other = checkout("npm-stale-lock", tmp_path, "other")
    manifest = json.loads((other / "package.json").read_text())
    del manifest["dependencies"]["escape-html"]
    manifest["dependencies"]["he"] = "^1.2.0"
    (other / "package.json").write_text(json.dumps(manifest))
    (other / "build.js").write_text(
        (other / "build.js").read_text().replace('require("escape-html")', 'require("he").escape')
    )
    third = build(other, store)
    assert not third.metadata["install_skipped"]
    assert "npm &lt;stale&gt; lockfile" in (third.output_dir / "index.html").read_text()


def test_yarn_lock_beside_package_lock_means_yarn_with_a_warning(
    tmp_path: Path, store: ObjectStore
) -> None:
    lines: list[str] = []
    outcome = build(checkout("two-lockfiles", tmp_path), store, lines=lines)
    assert outcome.install_command == "yarn install --frozen-lockfile"
    assert "Installed by yarn/1." in (outcome.output_dir / "index.html").read_text()
    expected = (
        "two lockfiles (package-lock.json, yarn.lock): used yarn because yarn.lock wins over "
        "package-lock.json (Vercel's order: yarn, pnpm, npm, bun); delete the lockfile of the "
        "package manager the project does not use"
    )
    assert outcome.warnings == (expected,)
    assert f"warning: {expected}" in lines


def test_pnpm_lockfile_out_of_date_installs_without_frozen_lockfile_and_warns(
    tmp_path: Path, store: ObjectStore
) -> None:
    lines: list[str] = []
    outcome = build(checkout("pnpm-stale-lock", tmp_path), store, lines=lines)
    assert outcome.install_command == "pnpm install --no-frozen-lockfile"
    assert outcome.metadata["package_manager_version"] == "9.15.9"
    page = (outcome.output_dir / "index.html").read_text()
    assert "<title>pnpm &lt;stale&gt; lockfile</title>" in page
    expected = (
        "pnpm-lock.yaml is out of date with package.json (escape-html ^1.0.3 is not in the "
        "lockfile): installed with `pnpm install --no-frozen-lockfile` instead of "
        "`pnpm install --frozen-lockfile`; commit an updated lockfile"
    )
    assert outcome.warnings == (expected,)
    assert f"warning: {expected}" in lines


def test_eleventy_site_builds_into_site_with_its_own_command(
    tmp_path: Path, store: ObjectStore
) -> None:
    outcome = build(checkout("eleventy-site", tmp_path), store)
    assert outcome.framework == "eleventy"
    assert outcome.output_dir.name == "_site"
    assert outcome.build_command == "npm exec --no -- eleventy"
    home = (outcome.output_dir / "index.html").read_text()
    assert "<title>An Eleventy site</title>" in home and "<h1>Built by Eleventy</h1>" in home
    assert "Hello from a post" in (outcome.output_dir / "posts/hello/index.html").read_text()
    assert (outcome.output_dir / "css/site.css").is_file()
    assert outcome.warnings == ()


def test_eleventy_config_without_a_package_json_fetches_eleventy(
    tmp_path: Path, store: ObjectStore
) -> None:
    source = checkout("eleventy-site", tmp_path)
    for name in ("package.json", "package-lock.json"):
        (source / name).unlink()
    outcome = build(source, store)
    assert outcome.framework == "eleventy" and outcome.install_command is None
    assert outcome.build_command == "npx --yes @11ty/eleventy"
    assert "<h1>Built by Eleventy</h1>" in (outcome.output_dir / "index.html").read_text()
    assert outcome.output_dir.name == "_site"
