"""Which framework an app uses and where its build writes the site.

Detection reads `dependencies` and `devDependencies`, in the order of
`FRAMEWORKS`: meta-frameworks before the bundlers they are built on (SvelteKit
and Astro use Vite; Docusaurus and Gatsby use webpack). Output directories are
each framework's default, or the literal value of its option when the config
file sets one plainly (`build: { outDir: 'site' }` in vite.config.ts): a
regular expression, not an evaluation, so a computed value keeps the default
and the runner's "no output" error lists what was searched.

Create React App's `homepage`: Vercel and Cloudflare Pages build with it as is
(react-scripts then prefixes every asset with the sub-path) and serve the
output at the root of the site, where those asset URLs do not exist (a blank
page; vercel/vercel#3366 is still open). We build the same way and do not set
PUBLIC_URL, so the built files are the ones the author would get anywhere
else; the sub-path goes to `base_path` and the publisher mounts the site under
it (the root redirects there), so it works; a note says how to build for the
root instead (PUBLIC_URL=/).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from deploy_platform.build.config_files import read_json_object, read_text
from deploy_platform.build.settings import check_relative_path
from deploy_platform.contracts.errors import BuildFailed

__all__ = [
    "Framework",
    "FRAMEWORKS",
    "FRAMEWORK_NAMES",
    "VERCEL_FRAMEWORKS",
    "FrameworkFacts",
    "detect_framework",
    "STATIC_OUTPUTS",
    "CUSTOM_OUTPUTS",
]

#: A site without package.json: the root when it has index.html, else these (as before).
STATIC_OUTPUTS = (".", "public", "dist", "build")
#: Nothing detected but a build command: where builds usually write.
CUSTOM_OUTPUTS = ("dist", "build", "public", "out")


@dataclass(frozen=True)
class Framework:
    name: str
    dependencies: tuple[str, ...]
    outputs: tuple[str, ...]
    # The framework's own build command, used when package.json has no "build" script.
    cli: tuple[str, ...] | None
    # Files that name the framework without its dependency (run then with `fetch`).
    config_files: tuple[str, ...] = ()
    # Its build command when it is not installed: fetched from the registry and run.
    fetch: tuple[str, ...] | None = None


FRAMEWORKS: tuple[Framework, ...] = (
    Framework("nextjs", ("next",), ("out",), ("next", "build")),
    Framework("gatsby", ("gatsby",), ("public",), ("gatsby", "build")),
    Framework("docusaurus", ("@docusaurus/core",), ("build",), ("docusaurus", "build")),
    Framework("astro", ("astro",), ("dist",), ("astro", "build")),
    Framework("sveltekit", ("@sveltejs/kit",), ("build",), ("vite", "build")),
    Framework("create-react-app", ("react-scripts",), ("build",), ("react-scripts", "build")),
    Framework("vue-cli", ("@vue/cli-service",), ("dist",), ("vue-cli-service", "build")),
    Framework("vite", ("vite",), ("dist",), ("vite", "build")),
    # Cloudflare Pages' preset: `npx @11ty/eleventy`, output _site (the presets table of
    # https://developers.cloudflare.com/pages/configuration/build-configuration/).
    Framework(
        "eleventy",
        ("@11ty/eleventy",),
        ("_site",),
        ("eleventy",),
        config_files=(
            ".eleventy.js",
            "eleventy.config.js",
            "eleventy.config.cjs",
            "eleventy.config.mjs",
            "eleventy.config.ts",
        ),
        fetch=("npx", "--yes", "@11ty/eleventy"),
    ),
    Framework("parcel", ("parcel", "parcel-bundler"), ("dist",), None),
    # The Svelte/Rollup templates write bundles into public/ next to index.html.
    Framework("rollup", ("rollup",), ("public", "dist", "build"), ("rollup", "-c")),
    Framework("webpack", ("webpack", "webpack-cli"), ("dist", "public", "build"), ("webpack",)),
)

FRAMEWORK_NAMES = ("static", "custom", *(f.name for f in FRAMEWORKS))

#: vercel.json "framework" slugs we know; null means Vercel's "Other" (no framework).
VERCEL_FRAMEWORKS = {
    "nextjs": "nextjs",
    "gatsby": "gatsby",
    "docusaurus": "docusaurus",
    "docusaurus-2": "docusaurus",
    "astro": "astro",
    "sveltekit": "sveltekit",
    "sveltekit-1": "sveltekit",
    "create-react-app": "create-react-app",
    "vue": "vue-cli",
    "vite": "vite",
    "eleventy": "eleventy",
    "parcel": "parcel",
}

_CONFIG_EXTENSIONS = ("js", "mjs", "cjs", "ts", "mts", "cts")


@dataclass
class FrameworkFacts:
    name: str
    outputs: list[str]
    cli: list[str] | None
    notes: list[str] = field(default_factory=list)
    # Said when the output is missing after the build (a Next app without static export).
    output_hint: str | None = None
    # Webpack 4 hashes with MD4, which OpenSSL 3 (Node >= 17) refuses.
    legacy_openssl: bool = False
    base_path: str | None = None
    # The whole build command when the framework is not a dependency (`Framework.fetch`).
    command: list[str] | None = None


def _dependencies(manifest: dict[str, Any]) -> dict[str, str]:
    deps: dict[str, str] = {}
    for key in ("devDependencies", "dependencies"):
        section = manifest.get(key)
        if isinstance(section, dict):
            deps.update({str(k): v if isinstance(v, str) else "" for k, v in section.items()})
    return deps


def _major_of_spec(spec: str) -> int | None:
    """The lowest major a dependency spec allows (`^4.0.3` → 4); None for tags and URLs."""
    match = re.match(r"^\s*(?:[\^~]|>=|=|v)*\s*(\d+)", spec)
    return int(match.group(1)) if match else None


def _locked_major(app_dir: Path, source_dir: Path, package: str) -> int | None:
    try:
        lock = read_json_object(app_dir / "package-lock.json", source_dir, 256 * 1024 * 1024)
    except BuildFailed:
        # A broken lockfile is npm's to report (npm ci names it); fall back to the spec.
        return None
    if lock is None:
        return None
    # lockfileVersion 2 and 3 list "packages" by path; version 1 nests "dependencies".
    entry: object = None
    for section, key in (("packages", f"node_modules/{package}"), ("dependencies", package)):
        table = lock.get(section)
        if isinstance(table, dict) and isinstance(table.get(key), dict):
            entry = table[key]
            break
    if isinstance(entry, dict) and isinstance(entry.get("version"), str):
        return _major_of_spec(entry["version"])
    return None


def _config_literal(
    app_dir: Path, source_dir: Path, stems: tuple[str, ...], key: str
) -> tuple[str, str] | None:
    """(value, file) for `key: 'literal'` in the first config file that sets it."""
    pattern = re.compile(rf"\b{key}\s*:\s*['\"`]([^'\"`$]+)['\"`]")
    for stem in stems:
        for ext in _CONFIG_EXTENSIONS:
            path = app_dir / f"{stem}.{ext}"
            text = read_text(path, source_dir)
            if text is None:
                continue
            match = pattern.search(text)
            if match:
                return match.group(1), path.name
    return None


def _configured_output(
    facts: FrameworkFacts, app_dir: Path, source_dir: Path, stems: tuple[str, ...], key: str
) -> None:
    found = _config_literal(app_dir, source_dir, stems, key)
    if found is None:
        return
    value, filename = found
    try:
        output = check_relative_path(value.removeprefix("./"), f"{key} in {filename}")
    except ValueError as exc:
        facts.notes.append(f"{exc}; looking in {', '.join(facts.outputs)} instead")
        return
    facts.outputs = [output]
    facts.notes.append(f"output {output}/ from {key} in {filename}")


def _next_export(facts: FrameworkFacts, app_dir: Path, source_dir: Path, script: str) -> None:
    exported = _config_literal(app_dir, source_dir, ("next.config",), "output")
    if exported is not None and exported[0] == "export":
        facts.notes.append(f"Next.js static export (output: 'export' in {exported[1]}) → out/")
    elif re.search(r"\bnext\s+export\b", script):
        facts.notes.append("Next.js static export (`next export` in the build script) → out/")
    else:
        facts.output_hint = (
            "this Next.js app is not a static export, and only static sites can be published: "
            "add output: 'export' to next.config.js (Next.js 13.3 or later)"
        )
        facts.notes.append("Next.js without output: 'export': the build will produce no out/")


def _sveltekit(
    facts: FrameworkFacts, app_dir: Path, source_dir: Path, deps: dict[str, str]
) -> None:
    if "@sveltejs/adapter-static" in deps:
        facts.notes.append("SvelteKit with @sveltejs/adapter-static → build/")
        _configured_output(facts, app_dir, source_dir, ("svelte.config",), "pages")
    else:
        facts.output_hint = (
            "this SvelteKit app does not use @sveltejs/adapter-static, and only static sites "
            "can be published: install it and set it as the adapter in svelte.config.js"
        )
        facts.notes.append("SvelteKit without @sveltejs/adapter-static: no static output expected")


def _public_path(value: str) -> str | None:
    """The sub-path a CRA `homepage`/PUBLIC_URL puts assets under; None for the root or '.'."""
    value = value.strip()
    if value in ("", ".", "./"):
        return None
    path = urlsplit(value).path if "://" in value else value
    path = "/" + path.strip("/")
    return None if path == "/" else path


def _create_react_app(
    facts: FrameworkFacts,
    app_dir: Path,
    source_dir: Path,
    manifest: dict[str, Any],
    deps: dict[str, str],
    env: dict[str, str],
) -> None:
    major = _locked_major(app_dir, source_dir, "react-scripts")
    if major is None:
        major = _major_of_spec(deps.get("react-scripts", ""))
    if major is not None and major < 5:
        facts.legacy_openssl = True
        facts.notes.append(
            f"react-scripts {major}.x uses webpack 4: NODE_OPTIONS=--openssl-legacy-provider "
            "is added when building on Node 17 or later"
        )
    if "BUILD_PATH" in env:
        try:
            facts.outputs = [check_relative_path(env["BUILD_PATH"], "BUILD_PATH")]
            facts.notes.append(f"output {facts.outputs[0]}/ from the BUILD_PATH build variable")
        except ValueError as exc:
            facts.notes.append(f"{exc}; looking in build/ instead")
    homepage = manifest.get("homepage")
    if "PUBLIC_URL" in env:
        facts.base_path = _public_path(env["PUBLIC_URL"])
        facts.notes.append("PUBLIC_URL set by the project: package.json homepage not used")
    elif isinstance(homepage, str) and (base := _public_path(homepage)) is not None:
        facts.base_path = base
        facts.notes.append(
            f"package.json homepage puts the app under {base}/: built with that sub-path and "
            f"published under {base}/ (the root redirects there); set the build variable "
            "PUBLIC_URL=/ to build it for the root of the site instead"
        )


def _webpack4(facts: FrameworkFacts, deps: dict[str, str]) -> None:
    major = _major_of_spec(deps.get("webpack", ""))
    if major is not None and major < 5:
        facts.legacy_openssl = True
        facts.notes.append(
            f"webpack {major}.x: NODE_OPTIONS=--openssl-legacy-provider is added on Node 17+"
        )


def _detected(deps: dict[str, str]) -> tuple[Framework, str] | None:
    for framework in FRAMEWORKS:
        for dependency in framework.dependencies:
            if dependency in deps:
                return framework, dependency
    return None


def _by_config_file(app_dir: Path, has_build_command: bool) -> FrameworkFacts | None:
    """A framework named only by its config file: built by fetching it, unless the project
    has a build command of its own (then only its output directory is taken)."""
    for framework in FRAMEWORKS:
        for filename in framework.config_files:
            if (app_dir / filename).is_file() and framework.fetch is not None:
                facts = FrameworkFacts(
                    framework.name,
                    list(framework.outputs),
                    None,
                    [f"framework {framework.name} ({filename}, not a dependency)"],
                )
                if not has_build_command:
                    facts.command = list(framework.fetch)
                return facts
    return None


def detect_framework(
    app_dir: Path,
    source_dir: Path,
    manifest: dict[str, Any] | None,
    forced: str | None,
    forced_by: str | None,
    env: dict[str, str],
    has_build_command: bool,
) -> FrameworkFacts:
    """Name the framework (or honor `forced`, a name from FRAMEWORK_NAMES) and its outputs."""
    if manifest is None:
        configured = _by_config_file(app_dir, has_build_command)
        if configured is not None:
            return configured
        name = "custom" if has_build_command else "static"
        outputs = CUSTOM_OUTPUTS if has_build_command else STATIC_OUTPUTS
        why = "a build command but no package.json" if has_build_command else "no package.json"
        return FrameworkFacts(name, list(outputs), None, [f"framework {name}: {why}"])
    deps = _dependencies(manifest)
    by_name = {f.name: f for f in FRAMEWORKS}
    framework: Framework | None
    if forced is not None:
        framework = by_name.get(forced)
        reason = f"framework {forced} from {forced_by}"
    else:
        found = _detected(deps)
        framework = found[0] if found else None
        reason = f"framework {found[0].name} (dependency {found[1]})" if found else ""
    scripts = manifest.get("scripts")
    script = scripts.get("build") if isinstance(scripts, dict) else None
    script = script if isinstance(script, str) else ""
    if framework is None and forced is None:
        configured = _by_config_file(app_dir, has_build_command or bool(script))
        if configured is not None:
            return configured
    if framework is None:
        name = "custom" if has_build_command or script else "static"
        outputs = CUSTOM_OUTPUTS if name == "custom" else STATIC_OUTPUTS
        why = "a build command" if name == "custom" else "no build script"
        return FrameworkFacts(
            name, list(outputs), None, [reason or f"framework {name}: no framework found, {why}"]
        )
    facts = FrameworkFacts(
        framework.name,
        list(framework.outputs),
        list(framework.cli) if framework.cli else None,
        [reason],
    )
    if framework.name == "nextjs":
        _next_export(facts, app_dir, source_dir, script)
    elif framework.name == "vite":
        _configured_output(facts, app_dir, source_dir, ("vite.config",), "outDir")
    elif framework.name == "astro":
        _configured_output(facts, app_dir, source_dir, ("astro.config",), "outDir")
    elif framework.name == "vue-cli":
        _configured_output(facts, app_dir, source_dir, ("vue.config",), "outputDir")
    elif framework.name == "sveltekit":
        _sveltekit(facts, app_dir, source_dir, deps)
    elif framework.name == "create-react-app":
        _create_react_app(facts, app_dir, source_dir, manifest, deps, env)
    if framework.name in ("webpack", "vue-cli", "gatsby"):
        _webpack4(facts, deps)
    return facts
