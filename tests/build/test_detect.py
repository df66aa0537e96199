"""Detection on fixture trees: framework, package manager, commands, outputs, Node."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from deploy_platform.build.detect import BuildPlan, detect
from deploy_platform.build.output import find_output, has_index, has_publishable_file
from deploy_platform.build.settings import BuildSettings
from deploy_platform.contracts.errors import BuildFailed

NO_SETTINGS = BuildSettings()


def write_tree(root: Path, files: dict[str, Any]) -> Path:
    """Create `files` under `root`: dict values are written as JSON, strings as text."""
    for relative, content in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps(content, indent=2) if isinstance(content, dict) else content
        path.write_text(text)
    return root


def package(deps: dict[str, str] | None = None, build: str | None = None, **extra: Any) -> Any:
    manifest: dict[str, Any] = {"name": "app", "version": "1.0.0", **extra}
    if build is not None:
        manifest["scripts"] = {"build": build}
    if deps:
        manifest["devDependencies"] = deps
    return manifest


def plan_for(
    tmp_path: Path, files: dict[str, Any], settings: BuildSettings = NO_SETTINGS
) -> BuildPlan:
    return detect(write_tree(tmp_path, files), settings)


# --- frameworks -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("files", "framework", "outputs"),
    [
        (
            {
                "package.json": package(
                    {"vite": "^5.4.0", "@vitejs/plugin-react": "^4"}, "vite build"
                )
            },
            "vite",
            ["dist"],
        ),
        (
            {"package.json": package({"react-scripts": "5.0.1"}, "react-scripts build")},
            "create-react-app",
            ["build"],
        ),
        ({"package.json": package({"astro": "^4.0.0"}, "astro build")}, "astro", ["dist"]),
        (
            {"package.json": package({"@docusaurus/core": "3.5.2"}, "docusaurus build")},
            "docusaurus",
            ["build"],
        ),
        ({"package.json": package({"gatsby": "^5"}, "gatsby build")}, "gatsby", ["public"]),
        (
            {
                "package.json": package({"rollup": "^3", "svelte": "^3"}, "rollup -c"),
                "rollup.config.js": "",
            },
            "rollup",
            ["public", "dist", "build"],
        ),
        (
            {"package.json": package({"webpack": "^5", "webpack-cli": "^5"}, "webpack")},
            "webpack",
            ["dist", "public", "build"],
        ),
        (
            {"package.json": package({"@vue/cli-service": "^5"}, "vue-cli-service build")},
            "vue-cli",
            ["dist"],
        ),
        (
            {"package.json": package({"esbuild": "^0.20"}, "node build.mjs")},
            "custom",
            ["dist", "build", "public", "out"],
        ),
    ],
)
def test_frameworks_and_their_output_directories(
    tmp_path: Path, files: dict[str, Any], framework: str, outputs: list[str]
) -> None:
    plan = plan_for(tmp_path, files)
    assert plan.framework == framework
    assert plan.output_candidates == outputs
    assert plan.build_command == ["npm", "run", "build"]
    assert plan.install_command == ["npm", "install"]
    assert any(note.startswith(f"framework {framework}") for note in plan.notes)


def test_meta_frameworks_win_over_the_bundler_they_use(tmp_path: Path) -> None:
    deps = {"@sveltejs/kit": "^2", "@sveltejs/adapter-static": "^3", "vite": "^5"}
    plan = plan_for(tmp_path, {"package.json": package(deps, "vite build")})
    assert plan.framework == "sveltekit"
    assert plan.output_candidates == ["build"]
    assert plan.output_hint is None


def test_sveltekit_static_adapter_pages_option_moves_the_output(tmp_path: Path) -> None:
    deps = {"@sveltejs/kit": "^2", "@sveltejs/adapter-static": "^3"}
    config = (
        "import adapter from '@sveltejs/adapter-static';\n"
        "export default { kit: { adapter: adapter({ pages: 'site' }) } };\n"
    )
    plan = plan_for(
        tmp_path, {"package.json": package(deps, "vite build"), "svelte.config.js": config}
    )
    assert plan.output_candidates == ["site"]


def test_sveltekit_without_static_adapter_explains_what_to_change(tmp_path: Path) -> None:
    deps = {"@sveltejs/kit": "^2", "@sveltejs/adapter-auto": "^3"}
    plan = plan_for(tmp_path, {"package.json": package(deps, "vite build")})
    assert plan.output_hint is not None and "@sveltejs/adapter-static" in plan.output_hint


def test_vite_out_dir_literal_in_config_is_honored(tmp_path: Path) -> None:
    config = "export default defineConfig({ build: { outDir: './www' } })\n"
    plan = plan_for(
        tmp_path, {"package.json": package({"vite": "^5"}, "vite build"), "vite.config.ts": config}
    )
    assert plan.output_candidates == ["www"]
    assert "output www/ from outDir in vite.config.ts" in plan.notes


def test_next_static_export_publishes_out(tmp_path: Path) -> None:
    config = "/** @type {import('next').NextConfig} */\nmodule.exports = { output: 'export' }\n"
    plan = plan_for(
        tmp_path,
        {"package.json": package({"next": "14.2.0"}, "next build"), "next.config.js": config},
    )
    assert plan.framework == "nextjs"
    assert plan.output_candidates == ["out"]
    assert plan.output_hint is None


def test_old_next_export_script_is_a_static_export(tmp_path: Path) -> None:
    plan = plan_for(
        tmp_path, {"package.json": package({"next": "12.3.0"}, "next build && next export")}
    )
    assert plan.output_hint is None


def test_next_without_export_fails_later_with_the_fix(tmp_path: Path) -> None:
    plan = plan_for(
        tmp_path,
        {
            "package.json": package({"next": "14.2.0"}, "next build"),
            "next.config.mjs": "export default {}\n",
        },
    )
    assert plan.output_hint is not None and "output: 'export'" in plan.output_hint
    (tmp_path / ".next").mkdir()  # what `next build` leaves without export
    with pytest.raises(BuildFailed) as caught:
        find_output(plan)
    assert "looked for out/" in str(caught.value)
    assert "output: 'export'" in str(caught.value)


def test_framework_without_build_script_runs_its_own_command(tmp_path: Path) -> None:
    plan = plan_for(
        tmp_path,
        {"package.json": package({"vite": "^5"}), "pnpm-lock.yaml": "lockfileVersion: '9.0'\n"},
    )
    assert plan.build_command == ["pnpm", "exec", "vite", "build"]
    npm_plan = plan_for(tmp_path / "npm", {"package.json": package({"gatsby": "^5"})})
    assert npm_plan.build_command == ["npm", "exec", "--no", "--", "gatsby", "build"]


# --- plain static sites ------------------------------------------------------------------


def test_plain_static_site_needs_no_install_or_build(tmp_path: Path) -> None:
    plan = plan_for(tmp_path, {"index.html": "<h1>hi</h1>", "style.css": "h1{}"})
    assert plan.framework == "static"
    assert plan.package_manager == "none"
    assert plan.install_command is None and plan.build_command is None
    assert plan.node_constraints == []
    assert find_output(plan) == tmp_path.resolve()


@pytest.mark.parametrize("directory", ["public", "dist", "build"])
def test_static_site_in_a_subdirectory(tmp_path: Path, directory: str) -> None:
    plan = plan_for(tmp_path, {f"{directory}/index.html": "<h1>hi</h1>", "README.md": "x"})
    assert find_output(plan) == tmp_path.resolve() / directory


def test_static_site_without_index_html_publishes_the_root(tmp_path: Path) -> None:
    # Cloudflare Pages publishes any directory; the runner warns about the missing page.
    plan = plan_for(tmp_path, {"README.md": "nothing to serve", "guide.html": "<h1>g</h1>"})
    assert find_output(plan) == tmp_path.resolve()
    assert not has_index(find_output(plan))


def test_static_site_without_index_html_prefers_an_output_directory(tmp_path: Path) -> None:
    plan = plan_for(tmp_path, {"README.md": "x", "dist/app.js": "run()"})
    assert find_output(plan) == tmp_path.resolve() / "dist"


def test_a_build_without_its_output_directory_names_what_was_searched(tmp_path: Path) -> None:
    plan = plan_for(
        tmp_path, {"package.json": package({"vite": "^5"}, "vite build"), "README.md": "x"}
    )
    # After a build the sources are never the output: no dist/ is a failure.
    with pytest.raises(BuildFailed, match=r"no output to publish: looked for dist/"):
        find_output(plan)


def test_publishable_files_skip_hidden_ones(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "HEAD").write_text("ref")
    (tmp_path / ".env").write_text("SECRET=1")
    assert not has_publishable_file(tmp_path)
    (tmp_path / ".well-known").mkdir()
    (tmp_path / ".well-known" / "security.txt").write_text("Contact: x")
    assert has_publishable_file(tmp_path)


def test_package_json_without_build_script_is_published_as_is(tmp_path: Path) -> None:
    plan = plan_for(tmp_path, {"package.json": package({"serve": "^14"}), "public/index.html": "x"})
    assert plan.framework == "static"
    assert plan.install_command is None and plan.build_command is None
    assert find_output(plan) == tmp_path.resolve() / "public"


def test_output_symlink_leading_outside_is_not_published(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    write_tree(outside, {"index.html": "secret"})
    app = tmp_path / "app"
    write_tree(app, {"package.json": package({"vite": "^5"}, "vite build")})
    os.symlink(outside, app / "dist")
    plan = detect(app, NO_SETTINGS)
    with pytest.raises(BuildFailed, match="looked for dist/"):
        find_output(plan)


def test_output_without_index_html_is_still_found(tmp_path: Path) -> None:
    plan = plan_for(
        tmp_path, {"package.json": package({"vite": "^5"}, "vite build"), "dist/app.js": "1"}
    )
    assert find_output(plan) == tmp_path.resolve() / "dist"


# --- package managers --------------------------------------------------------------------

VITE = package({"vite": "^5"}, "vite build")


@pytest.mark.parametrize(
    ("lockfile", "content", "manager", "version", "install"),
    [
        ("package-lock.json", "{}", "npm", None, ["npm", "ci"]),
        ("npm-shrinkwrap.json", "{}", "npm", None, ["npm", "ci"]),
        (
            "pnpm-lock.yaml",
            "lockfileVersion: '9.0'\n",
            "pnpm",
            "9",
            ["pnpm", "install", "--frozen-lockfile"],
        ),
        (
            "pnpm-lock.yaml",
            "lockfileVersion: '6.0'\n",
            "pnpm",
            "8",
            ["pnpm", "install", "--frozen-lockfile"],
        ),
        (
            "pnpm-lock.yaml",
            "lockfileVersion: 5.4\n",
            "pnpm",
            "7",
            ["pnpm", "install", "--frozen-lockfile"],
        ),
        (
            "yarn.lock",
            "# yarn lockfile v1\n",
            "yarn",
            "1",
            ["yarn", "install", "--frozen-lockfile"],
        ),
        (
            "yarn.lock",
            "__metadata:\n  version: 8\n",
            "yarn",
            "4",
            ["yarn", "install", "--immutable"],
        ),
        ("bun.lockb", "\x00bin", "bun", "1", ["bun", "install", "--frozen-lockfile"]),
        ("bun.lock", "{}", "bun", "1", ["bun", "install", "--frozen-lockfile"]),
    ],
)
def test_lockfile_chooses_the_manager_and_a_frozen_install(
    tmp_path: Path,
    lockfile: str,
    content: str,
    manager: str,
    version: str | None,
    install: list[str],
) -> None:
    plan = plan_for(tmp_path, {"package.json": VITE, lockfile: content})
    assert plan.package_manager == manager
    assert plan.package_manager_version == version
    assert plan.install_command == install
    assert plan.build_command == [manager, "run", "build"]
    assert plan.lockfile == tmp_path.resolve() / lockfile


def test_no_lockfile_means_npm_install(tmp_path: Path) -> None:
    plan = plan_for(tmp_path, {"package.json": VITE})
    assert (plan.package_manager, plan.package_manager_version) == ("npm", None)
    assert plan.install_command == ["npm", "install"]
    assert plan.lockfile is None


def test_package_manager_field_beats_lockfiles(tmp_path: Path) -> None:
    manifest = package({"vite": "^5"}, "vite build", packageManager="pnpm@9.12.0+sha512.deadbeef")
    plan = plan_for(tmp_path, {"package.json": manifest, "package-lock.json": "{}"})
    assert (plan.package_manager, plan.package_manager_version) == ("pnpm", "9.12.0")
    # No pnpm lockfile: a plain install that may write one (CI would otherwise refuse).
    assert plan.install_command == ["pnpm", "install", "--no-frozen-lockfile"]
    assert "package-lock.json ignored: the project uses pnpm" in plan.notes
    assert ("pnpm 9.12.0 (its own engines.node)", ">=18.12") in plan.node_constraints


def test_project_setting_beats_package_manager_field(tmp_path: Path) -> None:
    manifest = package({"vite": "^5"}, "vite build", packageManager="yarn@4.5.0")
    settings = BuildSettings(package_manager="pnpm@10")
    plan = plan_for(
        tmp_path, {"package.json": manifest, "pnpm-lock.yaml": "lockfileVersion: '9.0'\n"}, settings
    )
    assert (plan.package_manager, plan.package_manager_version) == ("pnpm", "10")
    assert plan.install_command == ["pnpm", "install", "--frozen-lockfile"]


def test_yarn_berry_from_package_manager_field(tmp_path: Path) -> None:
    manifest = package({"vite": "^5"}, "vite build", packageManager="yarn@4.5.0")
    plan = plan_for(tmp_path, {"package.json": manifest, "yarn.lock": "# yarn lockfile v1\n"})
    assert plan.yarn_berry is True
    assert plan.install_command == ["yarn", "install", "--immutable"]
    assert ("yarn 4.5.0 (its own engines.node)", ">=18.12.0") in plan.node_constraints


def test_yarn_berry_from_yarnrc_yml(tmp_path: Path) -> None:
    plan = plan_for(
        tmp_path,
        {
            "package.json": VITE,
            "yarn.lock": "# yarn lockfile v1\n",
            ".yarnrc.yml": "nodeLinker: node-modules\n",
        },
    )
    assert plan.yarn_berry is True
    assert plan.package_manager_version == "4"


def test_yarn_classic_pinned_stays_classic(tmp_path: Path) -> None:
    manifest = package({"vite": "^5"}, "vite build", packageManager="yarn@1.22.22")
    plan = plan_for(tmp_path, {"package.json": manifest, "yarn.lock": "# yarn lockfile v1\n"})
    assert plan.yarn_berry is False
    assert plan.install_command == ["yarn", "install", "--frozen-lockfile"]
    assert plan.node_constraints == []


def test_malformed_package_manager_field_says_what_to_write(tmp_path: Path) -> None:
    with pytest.raises(
        BuildFailed, match='packageManager in package.json must look like "pnpm@9.12.0"'
    ):
        plan_for(
            tmp_path, {"package.json": package({"vite": "^5"}, "vite build", packageManager="pnpm")}
        )
    with pytest.raises(BuildFailed, match="packageManager"):
        plan_for(
            tmp_path,
            {"package.json": package({"vite": "^5"}, "vite build", packageManager="deno@2.0.0")},
        )


# --- monorepos ---------------------------------------------------------------------------


def test_root_directory_for_a_workspace_app(tmp_path: Path) -> None:
    files = {
        "package.json": {"name": "mono", "private": True, "packageManager": "pnpm@9.12.0"},
        "pnpm-workspace.yaml": "packages:\n  - apps/*\n",
        "pnpm-lock.yaml": "lockfileVersion: '9.0'\n",
        ".nvmrc": "20\n",
        "apps/web/package.json": package({"vite": "^5"}, "vite build", engines={"node": ">=18"}),
        "apps/docs/package.json": package({"@docusaurus/core": "3"}, "docusaurus build"),
    }
    plan = plan_for(tmp_path, files, BuildSettings(root_directory="apps/web"))
    root = tmp_path.resolve()
    assert plan.app_dir == root / "apps/web"
    assert plan.framework == "vite"
    assert (plan.package_manager, plan.package_manager_version) == ("pnpm", "9.12.0")
    assert plan.install_dir == root and plan.lockfile == root / "pnpm-lock.yaml"
    assert plan.install_command == ["pnpm", "install", "--frozen-lockfile"]
    assert plan.node_constraints == [
        ("engines.node in apps/web/package.json", ">=18"),
        (".nvmrc", "20"),
        ("pnpm 9.12.0 (its own engines.node)", ">=18.12"),
    ]
    assert plan.to_metadata()["root_directory"] == "apps/web"


def test_missing_root_directory_is_a_clear_failure(tmp_path: Path) -> None:
    with pytest.raises(
        BuildFailed, match="root directory 'apps/wbe' \\(the project setting\\) is not a directory"
    ):
        plan_for(tmp_path, {"apps/web/index.html": "x"}, BuildSettings(root_directory="apps/wbe"))


def test_root_directory_symlink_out_of_the_repository_is_refused(tmp_path: Path) -> None:
    repo = write_tree(tmp_path / "repo", {"index.html": "x"})
    os.symlink(tmp_path, repo / "escape")
    with pytest.raises(BuildFailed, match="leads outside the repository"):
        detect(repo, BuildSettings(root_directory="escape"))


# --- Node constraints --------------------------------------------------------------------


def test_node_constraints_from_every_source_in_order(tmp_path: Path) -> None:
    files = {
        "package.json": package({"vite": "^5"}, "vite build", engines={"node": "^20 || ^22"}),
        ".nvmrc": "# the team's version\nlts/iron\n",
        ".node-version": "v20.18.0\n",
        "package-lock.json": "{}",
    }
    plan = plan_for(tmp_path, files, BuildSettings(node_version="20"))
    assert plan.node_constraints == [
        ("the project setting build.node_version", "20"),
        ("engines.node in package.json", "^20 || ^22"),
        (".nvmrc", "lts/iron"),
        (".node-version", "v20.18.0"),
    ]


def test_unusable_nvmrc_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(BuildFailed, match=r"Node version in \.nvmrc is not usable"):
        plan_for(tmp_path, {"index.html": "x", ".nvmrc": "lts/unicorn\n"})


def test_engines_node_must_be_a_string(tmp_path: Path) -> None:
    with pytest.raises(BuildFailed, match="engines.node in package.json must be a range string"):
        plan_for(
            tmp_path, {"package.json": package({"vite": "^5"}, "vite build", engines={"node": 20})}
        )


# --- Create React App specifics ----------------------------------------------------------


def test_old_react_scripts_gets_the_legacy_openssl_flag_on_new_node_only(tmp_path: Path) -> None:
    settings = BuildSettings(env={"NODE_OPTIONS": "--max-old-space-size=2048"})
    plan = plan_for(
        tmp_path,
        {"package.json": package({"react-scripts": "^4.0.3"}, "react-scripts build")},
        settings,
    )
    assert plan.legacy_openssl is True
    assert (
        plan.build_env("20.18.0")["NODE_OPTIONS"]
        == "--max-old-space-size=2048 --openssl-legacy-provider"
    )
    assert plan.build_env("16.20.2")["NODE_OPTIONS"] == "--max-old-space-size=2048"


def test_react_scripts_version_from_package_lock_wins_over_the_spec(tmp_path: Path) -> None:
    lock = {"lockfileVersion": 3, "packages": {"node_modules/react-scripts": {"version": "4.0.3"}}}
    plan = plan_for(
        tmp_path,
        {
            "package.json": package({"react-scripts": "*"}, "react-scripts build"),
            "package-lock.json": lock,
        },
    )
    assert plan.build_env("22.12.0")["NODE_OPTIONS"] == "--openssl-legacy-provider"


def test_current_react_scripts_needs_no_flag(tmp_path: Path) -> None:
    plan = plan_for(
        tmp_path, {"package.json": package({"react-scripts": "5.0.1"}, "react-scripts build")}
    )
    assert plan.legacy_openssl is False
    assert "NODE_OPTIONS" not in plan.build_env("22.12.0")


def test_cra_homepage_sub_path_is_built_as_is_and_reported(tmp_path: Path) -> None:
    manifest = package(
        {"react-scripts": "5.0.1"}, "react-scripts build", homepage="https://me.github.io/my-app"
    )
    plan = plan_for(tmp_path, {"package.json": manifest})
    assert plan.base_path == "/my-app"
    assert "PUBLIC_URL" not in plan.env
    assert any("PUBLIC_URL=/" in note for note in plan.notes)


@pytest.mark.parametrize("homepage", [".", "https://example.com", "https://example.com/"])
def test_cra_homepage_at_the_root_or_relative_has_no_base_path(
    tmp_path: Path, homepage: str
) -> None:
    manifest = package({"react-scripts": "5.0.1"}, "react-scripts build", homepage=homepage)
    assert plan_for(tmp_path, {"package.json": manifest}).base_path is None


def test_public_url_setting_overrides_homepage(tmp_path: Path) -> None:
    manifest = package({"react-scripts": "5.0.1"}, "react-scripts build", homepage="/sub")
    plan = plan_for(tmp_path, {"package.json": manifest}, BuildSettings(env={"PUBLIC_URL": "/"}))
    assert plan.base_path is None
    assert plan.env["PUBLIC_URL"] == "/"


# --- vercel.json and netlify.toml --------------------------------------------------------


def test_vercel_json_maps_onto_our_settings(tmp_path: Path) -> None:
    vercel = {
        "buildCommand": "npm run build:prod",
        "installCommand": "npm install --legacy-peer-deps",
        "outputDirectory": "site",
        "rewrites": [{"source": "/(.*)", "destination": "/index.html"}],
        "headers": [{"source": "/(.*)", "headers": [{"key": "X-Frame-Options", "value": "DENY"}]}],
        "cleanUrls": True,
        "regions": ["iad1"],
    }
    plan = plan_for(tmp_path, {"package.json": VITE, "vercel.json": vercel})
    assert plan.build_command == ["sh", "-c", "npm run build:prod"]
    assert plan.install_command == ["sh", "-c", "npm install --legacy-peer-deps"]
    assert plan.output_candidates == ["site"]
    assert plan.routing == {
        "vercel": {"rewrites": vercel["rewrites"], "headers": vercel["headers"], "cleanUrls": True}
    }


def test_vercel_framework_slug_overrides_detection(tmp_path: Path) -> None:
    plan = plan_for(
        tmp_path,
        {
            "package.json": package({"webpack": "^5"}, "webpack"),
            "vercel.json": {"framework": "vite"},
        },
    )
    assert plan.framework == "vite" and plan.output_candidates == ["dist"]
    other = plan_for(tmp_path / "o", {"package.json": VITE, "vercel.json": {"framework": None}})
    assert other.framework == "custom" and other.output_candidates == [
        "dist",
        "build",
        "public",
        "out",
    ]


def test_vercel_empty_install_command_skips_install(tmp_path: Path) -> None:
    plan = plan_for(tmp_path, {"package.json": VITE, "vercel.json": {"installCommand": ""}})
    assert plan.install_command is None
    assert "install step skipped: empty install command in vercel.json" in plan.notes


NETLIFY = """
[build]
  base = "site"
  publish = "dist"
  command = "npm run build -- --mode production"

[build.environment]
  VITE_FLAVOUR = "netlify"
  PATH = "/evil"

[[redirects]]
  from = "/old"
  to = "/new"
  status = 301

[[headers]]
  for = "/*"
  [headers.values]
    X-Frame-Options = "DENY"
"""


def test_netlify_toml_base_publish_command_environment_and_routing(tmp_path: Path) -> None:
    plan = plan_for(tmp_path, {"netlify.toml": NETLIFY, "site/package.json": VITE})
    assert plan.app_dir == tmp_path.resolve() / "site"
    assert plan.build_command == ["sh", "-c", "npm run build -- --mode production"]
    assert plan.output_candidates == ["dist"]
    assert plan.env == {"VITE_FLAVOUR": "netlify"}
    assert any("PATH ignored" in note for note in plan.notes)
    assert plan.routing["netlify"]["redirects"] == [{"from": "/old", "to": "/new", "status": 301}]
    assert plan.routing["netlify"]["headers"][0]["values"] == {"X-Frame-Options": "DENY"}


def test_precedence_settings_then_vercel_then_netlify_then_detection(tmp_path: Path) -> None:
    netlify = '[build]\npublish = "from-netlify"\ncommand = "netlify-build"\n'
    files = {
        "package.json": VITE,
        "netlify.toml": netlify,
        "vercel.json": {"outputDirectory": "from-vercel"},
    }
    both = plan_for(tmp_path, files)
    assert both.output_candidates == ["from-vercel"]  # vercel.json beats netlify.toml
    assert both.build_command == ["sh", "-c", "netlify-build"]  # vercel.json says nothing
    settings = BuildSettings(output_directory="from-settings", build_command="make site")
    overridden = detect(tmp_path, settings)
    assert overridden.output_candidates == ["from-settings"]
    assert overridden.build_command == ["sh", "-c", "make site"]
    only_netlify = plan_for(tmp_path / "n", {"package.json": VITE, "netlify.toml": netlify})
    assert only_netlify.output_candidates == ["from-netlify"]


def test_project_env_beats_the_files_and_is_the_only_secret(tmp_path: Path) -> None:
    netlify = '[build.environment]\nA = "netlify"\nB = "netlify"\n'
    vercel = {"build": {"env": {"B": "vercel", "C": "vercel"}}}
    settings = BuildSettings(env={"C": "project-secret"})
    plan = plan_for(
        tmp_path, {"package.json": VITE, "netlify.toml": netlify, "vercel.json": vercel}, settings
    )
    assert plan.env == {"A": "netlify", "B": "vercel", "C": "project-secret"}
    assert plan.secret_values() == ["project-secret"]
    assert plan.to_metadata()["env"] == {"A": "netlify", "B": "vercel", "C": "***"}
    assert "project-secret" not in json.dumps(plan.to_metadata())


def test_build_command_without_package_json_is_run(tmp_path: Path) -> None:
    plan = plan_for(
        tmp_path, {"Makefile": "all:\n\tcp -r src public\n"}, BuildSettings(build_command="make")
    )
    assert plan.framework == "custom"
    assert plan.build_command == ["sh", "-c", "make"]
    assert plan.install_command is None


# --- malformed files ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("files", "fragment"),
    [
        (
            {"package.json": '{"name": "app",}'},
            "package.json is not valid JSON: Expecting property name",
        ),
        ({"package.json": "[1, 2]"}, "package.json must hold a JSON object"),
        ({"index.html": "x", "vercel.json": "{oops"}, "vercel.json is not valid JSON"),
        (
            {"index.html": "x", "vercel.json": {"outputDirectory": 5}},
            "vercel.json: outputDirectory must be a string",
        ),
        (
            {"index.html": "x", "vercel.json": {"outputDirectory": "../x"}},
            "vercel.json: outputDirectory must stay inside",
        ),
        (
            {"index.html": "x", "netlify.toml": "[build\npublish = 'x'"},
            "netlify.toml is not valid TOML",
        ),
        (
            {"index.html": "x", "netlify.toml": '[build]\nbase = "/abs"\n'},
            "netlify.toml: base must be relative",
        ),
        (
            {"index.html": "x", "netlify.toml": "redirects = 5\n"},
            "netlify.toml: redirects must be an array",
        ),
    ],
)
def test_malformed_config_files_name_the_file_and_the_error(
    tmp_path: Path, files: dict[str, Any], fragment: str
) -> None:
    with pytest.raises(BuildFailed) as caught:
        plan_for(tmp_path, files)
    assert fragment in str(caught.value)


def test_symlinked_config_leading_outside_is_refused(tmp_path: Path) -> None:
    (tmp_path / "secret.json").write_text('{"password": "x"}')
    repo = write_tree(tmp_path / "repo", {"index.html": "x"})
    os.symlink(tmp_path / "secret.json", repo / "package.json")
    with pytest.raises(
        BuildFailed, match="package.json is a symlink leading outside the repository"
    ):
        detect(repo, NO_SETTINGS)


def test_metadata_is_plain_json_with_commands_as_text(tmp_path: Path) -> None:
    plan = plan_for(tmp_path, {"package.json": VITE, "pnpm-lock.yaml": "lockfileVersion: '9.0'\n"})
    metadata = plan.to_metadata()
    json.dumps(metadata)
    assert metadata["install_command"] == "pnpm install --frozen-lockfile"
    assert metadata["build_command"] == "pnpm run build"
    assert metadata["package_manager"] == "pnpm 9"


def test_huge_or_broken_lockfiles_do_not_fail_detection(tmp_path: Path) -> None:
    """Regression: lockfiles are sniffed, not parsed whole; npm reports a broken one itself."""
    big = "lockfileVersion: '6.0'\n" + "# padding\n" * 600_000  # > 4 MiB
    plan = plan_for(tmp_path, {"package.json": VITE, "pnpm-lock.yaml": big})
    assert plan.package_manager_version == "8"
    cra = package({"react-scripts": "^4.0.0"}, "react-scripts build")
    broken = plan_for(tmp_path / "cra", {"package.json": cra, "package-lock.json": "{broken"})
    assert broken.legacy_openssl is True  # from the ^4.0.0 spec
    assert broken.install_command == ["npm", "ci"]
