"""Lockfiles as Vercel and Cloudflare Pages meet them: out of date with package.json,
several managers' lockfiles in one repository, and the cache entry that follows what
was installed; and Eleventy named by its config file alone."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from deploy_platform.build.cache.keys import cache_key
from deploy_platform.build.lockfile_sync import lockfile_drift
from deploy_platform.build.settings import BuildSettings
from tests.build.test_detect import package, plan_for, write_tree

MARKED = {"marked": "^15.0.0"}
BOTH = {"marked": "^15.0.0", "escape-html": "^1.0.3"}


def npm_lock(root: dict[str, Any], **packages: dict[str, Any]) -> dict[str, Any]:
    return {"lockfileVersion": 3, "packages": {"": root, **packages}}


PNPM_V9 = """lockfileVersion: '9.0'

importers:

  .:
    devDependencies:
      marked:
        specifier: ^15.0.0
        version: 15.0.12

packages:

  marked@15.0.12:
    resolution: {integrity: sha512-x}
"""

PNPM_V6 = """lockfileVersion: '6.0'

devDependencies:
  marked:
    specifier: ^15.0.0
    version: 15.0.12

packages:

  /marked@15.0.12:
    resolution: {integrity: sha512-x}
"""

PNPM_V5 = """lockfileVersion: 5.4

specifiers:
  marked: ^15.0.0

devDependencies:
  marked: 15.0.12

packages:

  /marked/15.0.12:
    resolution: {integrity: sha512-x}
"""

YARN_CLASSIC = """# yarn lockfile v1


"escape-html@^1.0.0", escape-html@^1.0.3:
  version "1.0.3"

marked@^15.0.0:
  version "15.0.12"
"""

YARN_BERRY = """__metadata:
  version: 8

"marked@npm:^15.0.0":
  version: 15.0.12
"""


def drift(tmp_path: Path, files: dict[str, Any], lockfile: str, app: str = ".") -> str | None:
    root = write_tree(tmp_path, files)
    return lockfile_drift(root / lockfile, root, root / app, root)


# --- is the lockfile out of date? -------------------------------------------------------


def test_npm_lockfile_that_matches_package_json(tmp_path: Path) -> None:
    files = {"package.json": package(MARKED), "package-lock.json": npm_lock(package(MARKED))}
    assert drift(tmp_path, files, "package-lock.json") is None


def test_npm_lockfile_names_each_difference(tmp_path: Path) -> None:
    locked = package({"marked": "^14.0.0", "left-pad": "^1.3.0"})
    files = {"package.json": package(BOTH), "package-lock.json": npm_lock(locked)}
    assert drift(tmp_path, files, "package-lock.json") == (
        "escape-html ^1.0.3 is not in the lockfile; "
        "left-pad is in the lockfile but no longer in package.json; "
        "marked is ^15.0.0 in package.json but ^14.0.0 in the lockfile"
    )


def test_npm_lockfile_of_a_workspace_checks_the_member(tmp_path: Path) -> None:
    files = {
        "package.json": {"name": "root", "workspaces": ["apps/*"]},
        "apps/web/package.json": package(BOTH),
        "package-lock.json": npm_lock({"name": "root"}, **{"apps/web": package(MARKED)}),
    }
    assert drift(tmp_path, files, "package-lock.json", "apps/web") == (
        "escape-html ^1.0.3 is not in the lockfile"
    )


def test_npm_lockfile_version_1_compares_names(tmp_path: Path) -> None:
    lock = {"lockfileVersion": 1, "dependencies": {"marked": {"version": "15.0.12"}}}
    files = {"package.json": package(BOTH), "package-lock.json": lock}
    assert drift(tmp_path, files, "package-lock.json") == (
        "escape-html ^1.0.3 is not in the lockfile"
    )


@pytest.mark.parametrize("text", [PNPM_V9, PNPM_V6, PNPM_V5], ids=["9.0", "6.0", "5.4"])
def test_pnpm_lockfile_of_every_format(tmp_path: Path, text: str) -> None:
    files = {"package.json": package(MARKED), "pnpm-lock.yaml": text}
    assert drift(tmp_path, files, "pnpm-lock.yaml") is None
    (tmp_path / "package.json").unlink()
    files = {"package.json": package({"marked": "^16.0.0"}), "pnpm-lock.yaml": text}
    assert drift(tmp_path, files, "pnpm-lock.yaml") == (
        "marked is ^16.0.0 in package.json but ^15.0.0 in the lockfile"
    )


def test_pnpm_workspace_member_without_an_importer(tmp_path: Path) -> None:
    files = {
        "package.json": {"name": "root"},
        "apps/web/package.json": package(MARKED),
        "pnpm-lock.yaml": "lockfileVersion: '9.0'\n\nimporters:\n\n  .: {}\n",
    }
    assert drift(tmp_path, files, "pnpm-lock.yaml", "apps/web") == (
        "apps/web/package.json has no importer in the lockfile"
    )


def test_yarn_classic_and_berry_entries(tmp_path: Path) -> None:
    files = {"package.json": package(BOTH), "yarn.lock": YARN_CLASSIC}
    assert drift(tmp_path, files, "yarn.lock") is None
    files = {"package.json": package(BOTH), "yarn.lock": YARN_BERRY}
    assert drift(tmp_path, files, "yarn.lock") == "escape-html ^1.0.3 is not in the lockfile"


def test_yarn_workspace_siblings_and_local_packages_are_not_in_the_lockfile(
    tmp_path: Path,
) -> None:
    deps = {**MARKED, "ui": "^1.0.0", "tools": "link:../tools"}
    files = {
        "package.json": {"name": "root", "private": True, "workspaces": ["packages/*"]},
        "packages/web/package.json": package(deps),
        "packages/ui/package.json": {"name": "ui", "version": "1.0.0"},
        "yarn.lock": YARN_CLASSIC,
    }
    assert drift(tmp_path, files, "yarn.lock", "packages/web") is None


def test_yarn_workspace_listed_by_a_deep_pattern_is_not_judged(tmp_path: Path) -> None:
    files = {
        "package.json": {"name": "root", "private": True, "workspaces": ["packages/**"]},
        "packages/web/package.json": package({**MARKED, "ui": "^1.0.0"}),
        "yarn.lock": YARN_CLASSIC,
    }
    assert drift(tmp_path, files, "yarn.lock", "packages/web") is None


@pytest.mark.parametrize(
    "files",
    [
        {"package.json": package(MARKED), "package-lock.json": "{ not json"},
        {"package.json": package(MARKED), "pnpm-lock.yaml": "importers: [unclosed"},
        {"package.json": package(MARKED), "bun.lock": "{}"},
        {"package.json": package(MARKED), "yarn.lock": "# yarn lockfile v1\n"},
    ],
    ids=["broken-npm", "broken-pnpm", "bun", "empty-yarn"],
)
def test_what_cannot_be_judged_keeps_the_frozen_install(
    tmp_path: Path, files: dict[str, Any]
) -> None:
    lockfile = next(name for name in files if name != "package.json")
    assert drift(tmp_path, files, lockfile) is None


# --- what detection makes of it -------------------------------------------------------


def test_stale_npm_lockfile_installs_with_npm_install_and_warns(tmp_path: Path) -> None:
    files = {
        "package.json": package(BOTH, "vite build"),
        "package-lock.json": npm_lock(package(MARKED)),
    }
    plan = plan_for(tmp_path, files)
    assert plan.install_command == ["npm", "install"]
    assert plan.warnings == (
        "package-lock.json is out of date with package.json (escape-html ^1.0.3 is not in the "
        "lockfile): installed with `npm install` instead of `npm ci`; commit an updated lockfile",
    )


@pytest.mark.parametrize(
    ("lockfile", "text", "install"),
    [
        ("yarn.lock", "# yarn lockfile v1\n\nmarked@^14.0.0:\n", ["yarn", "install"]),
        ("yarn.lock", YARN_BERRY.replace("15", "14"), ["yarn", "install", "--no-immutable"]),
        ("pnpm-lock.yaml", PNPM_V9, ["pnpm", "install", "--no-frozen-lockfile"]),
    ],
    ids=["yarn-classic", "yarn-berry", "pnpm"],
)
def test_every_manager_has_a_plain_install_for_a_stale_lockfile(
    tmp_path: Path, lockfile: str, text: str, install: list[str]
) -> None:
    plan = plan_for(tmp_path, {"package.json": package(BOTH, "vite build"), lockfile: text})
    assert plan.install_command == install
    assert len(plan.warnings) == 1 and "is out of date with package.json" in plan.warnings[0]


def test_the_projects_own_install_command_gets_no_lockfile_warning(tmp_path: Path) -> None:
    files = {
        "package.json": package(BOTH, "vite build"),
        "package-lock.json": npm_lock(package(MARKED)),
        "yarn.lock": YARN_CLASSIC,
    }
    plan = plan_for(tmp_path, files, BuildSettings(install_command="npm install --force"))
    assert plan.install_command == ["sh", "-c", "npm install --force"]
    assert plan.warnings == ()


@pytest.mark.parametrize(
    ("lockfiles", "manager", "reason"),
    [
        (
            ["pnpm-lock.yaml", "yarn.lock"],
            "yarn",
            "yarn.lock wins over pnpm-lock.yaml (Vercel's order: yarn, pnpm, npm, bun)",
        ),
        (
            ["package-lock.json", "pnpm-lock.yaml"],
            "pnpm",
            "pnpm-lock.yaml wins over package-lock.json (Vercel's order: yarn, pnpm, npm, bun)",
        ),
        (
            ["bun.lock", "package-lock.json"],
            "npm",
            "package-lock.json wins over bun.lock (Vercel's order: yarn, pnpm, npm, bun)",
        ),
        (
            ["bun.lock", "yarn.lock"],
            "bun",
            "bun.lock beside yarn.lock means bun (bun writes a yarn.lock too)",
        ),
    ],
)
def test_two_lockfiles_follow_vercels_order_and_warn(
    tmp_path: Path, lockfiles: list[str], manager: str, reason: str
) -> None:
    contents = {
        "package-lock.json": npm_lock(package(MARKED)),
        "pnpm-lock.yaml": PNPM_V9,
        "yarn.lock": YARN_CLASSIC,
        "bun.lock": "{}",
    }
    files = {"package.json": package(MARKED, "vite build")}
    files.update({name: contents[name] for name in lockfiles})
    plan = plan_for(tmp_path, files)
    assert plan.package_manager == manager
    assert plan.warnings == (
        f"two lockfiles ({', '.join(lockfiles)}): used {manager} because {reason}; delete the "
        "lockfile of the package manager the project does not use",
    )


def test_package_manager_field_decides_between_two_lockfiles(tmp_path: Path) -> None:
    files = {
        "package.json": package(MARKED, "vite build", packageManager="pnpm@9.15.9"),
        "pnpm-lock.yaml": PNPM_V9,
        "yarn.lock": YARN_CLASSIC,
    }
    plan = plan_for(tmp_path, files)
    assert plan.package_manager == "pnpm"
    assert plan.warnings == (
        "two lockfiles (pnpm-lock.yaml, yarn.lock): used pnpm because packageManager in "
        "package.json names it; delete the lockfile of the package manager the project does "
        "not use",
    )


def test_package_manager_field_without_its_lockfile_says_the_other_is_ignored(
    tmp_path: Path,
) -> None:
    files = {
        "package.json": package(MARKED, "vite build", packageManager="pnpm@9.15.9"),
        "package-lock.json": npm_lock(package(MARKED)),
    }
    plan = plan_for(tmp_path, files)
    assert plan.install_command == ["pnpm", "install", "--no-frozen-lockfile"]
    assert plan.warnings == (
        "package-lock.json ignored: packageManager in package.json names pnpm, which has no "
        "lockfile here, so dependency versions were resolved afresh; commit a pnpm lockfile or "
        "delete package-lock.json",
    )


# --- the cache entry follows what gets installed -----------------------------------------


def test_cache_key_follows_package_json_dependencies_beside_a_lockfile(tmp_path: Path) -> None:
    app = write_tree(
        tmp_path / "app",
        {"package.json": package(MARKED), "package-lock.json": npm_lock(package(MARKED))},
    )
    key = cache_key("shop", app, "npm", None, "22")
    write_tree(app, {"package.json": package(BOTH)})
    stale = cache_key("shop", app, "npm", None, "22")
    assert stale != key, "a stale lockfile installs what package.json asks for"
    write_tree(app, {"package.json": {**package(BOTH), "scripts": {"build": "vite build"}}})
    assert cache_key("shop", app, "npm", None, "22") == stale, "scripts change nothing installed"


def test_cache_key_follows_a_workspace_members_package_json(tmp_path: Path) -> None:
    root = write_tree(
        tmp_path,
        {
            "package.json": {"name": "root", "workspaces": ["apps/*"]},
            "apps/web/package.json": package(MARKED),
            "package-lock.json": npm_lock({"name": "root"}),
        },
    )
    member = [root / "apps/web/package.json"]
    key = cache_key("shop", root, "npm", None, "22", manifests=member)
    write_tree(root, {"apps/web/package.json": package(BOTH)})
    assert cache_key("shop", root, "npm", None, "22", manifests=member) != key


# --- Eleventy -----------------------------------------------------------------------------


def test_eleventy_dependency_without_a_build_script_runs_eleventy(tmp_path: Path) -> None:
    plan = plan_for(tmp_path, {"package.json": package({"@11ty/eleventy": "^3.0.0"})})
    assert plan.framework == "eleventy"
    assert plan.build_command == ["npm", "exec", "--no", "--", "eleventy"]
    assert plan.output_candidates == ["_site"]


def test_eleventy_build_script_wins(tmp_path: Path) -> None:
    files = {"package.json": package({"@11ty/eleventy": "^3.0.0"}, "eleventy --quiet")}
    plan = plan_for(tmp_path, files)
    assert plan.framework == "eleventy" and plan.build_command == ["npm", "run", "build"]


@pytest.mark.parametrize("config", [".eleventy.js", "eleventy.config.js", "eleventy.config.mjs"])
def test_eleventy_config_file_alone_fetches_eleventy(tmp_path: Path, config: str) -> None:
    plan = plan_for(tmp_path, {config: "module.exports = () => ({});\n", "index.md": "# Hi\n"})
    assert plan.framework == "eleventy"
    assert plan.build_command == ["npx", "--yes", "@11ty/eleventy"]
    assert plan.install_command is None and plan.output_candidates == ["_site"]


def test_eleventy_config_beside_a_package_json_without_it(tmp_path: Path) -> None:
    files = {"package.json": package({"sass": "^1.77.0"}), "eleventy.config.js": ""}
    plan = plan_for(tmp_path, files)
    assert plan.framework == "eleventy"
    assert plan.build_command == ["npx", "--yes", "@11ty/eleventy"]
    assert plan.install_command == ["npm", "install"]


def test_eleventy_config_with_a_build_script_keeps_the_script(tmp_path: Path) -> None:
    files = {"package.json": package({"sass": "^1.77.0"}, "make site"), ".eleventy.js": ""}
    plan = plan_for(tmp_path, files)
    assert plan.framework == "eleventy" and plan.build_command == ["npm", "run", "build"]
    assert plan.output_candidates == ["_site"]
