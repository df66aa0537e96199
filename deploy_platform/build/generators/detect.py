"""Which non-Node generator a repository uses, and how Pages' presets build it.

Only a root directory without package.json is looked at: with one, the Node
detection decides (a Hugo site built by `npm run build` stays a Node build).
The generator's configuration file decides, before the static-site rule (an
index.html): a Hugo site often has one in `static/` or `layouts/`.

- hugo: hugo.{toml,yaml,yml,json}, a config/_default/ directory, or
  config.{toml,yaml,yml,json} next to content/, layouts/, archetypes/ or themes/;
  `hugo`, output `public`.
- mkdocs: mkdocs.yml or mkdocs.yaml; `mkdocs build`, output `site`.
- pelican: pelicanconf.py; `pelican content`, output `output`.
- sphinx: a conf.py that reads as Sphinx's in ., docs/, source/, docs/source/ or
  doc/ (only the root's when the root holds an index.html: a static site with its
  documentation's sources beside it stays a static site);
  `sphinx-build -M html <its directory> build` (what `make html` runs), output
  `build/html` as in Pages' preset.
- python: none of these, but a requirements.txt and a build command of the
  project's: the command runs with the requirements installed; the usual
  output directories are searched.

A plainly written `publishDir` (Hugo) or `site_dir` (MkDocs) replaces the
default output; the project's settings (build command, output directory,
install command) win over all of it, as for Node builds.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from pathlib import Path

from deploy_platform.build.config_files import read_text
from deploy_platform.build.detect import BuildPlan
from deploy_platform.build.frameworks import CUSTOM_OUTPUTS, STATIC_OUTPUTS

__all__ = ["GeneratorPlan", "detect_generator", "GENERATORS", "PYTHON_GENERATORS"]

GENERATORS = ("hugo", "mkdocs", "sphinx", "pelican", "python")
#: The generators that are Python programs, installed into the build's virtualenv.
PYTHON_GENERATORS = {"mkdocs": "mkdocs", "sphinx": "sphinx", "pelican": "pelican[markdown]"}

# Notes of the Node detection that say nothing true about a generator build.
_NODE_NOTES = (
    "framework static",
    "framework custom",
    "no package.json",
    "output: the first of",
    "no Node version",
    "Node must satisfy",
)
_HUGO_FILES = tuple(f"hugo.{ext}" for ext in ("toml", "yaml", "yml", "json"))
_CONFIG_FILES = tuple(f"config.{ext}" for ext in ("toml", "yaml", "yml", "json"))
_SPHINX_DIRS = (".", "docs", "source", "docs/source", "doc")
_SPHINX_MARKERS = re.compile(r"\b(html_theme|extensions|sphinx|master_doc|root_doc)\b")
_HUGO_PUBLISH = re.compile(r"""^\s*"?publishDir"?\s*[=:]\s*["']?([\w./-]+)["']?\s*,?\s*$""", re.M)
_MKDOCS_SITE = re.compile(r"""^site_dir\s*:\s*["']?([\w./-]+)["']?\s*$""", re.M)


@dataclass(frozen=True)
class GeneratorPlan:
    """What a generator build needs besides the `BuildPlan`: its tools and where they come from."""

    name: str  # one of GENERATORS ("python": the project's own command, requirements.txt)
    # requirements.txt in the root directory (Pages installs it when present), or None.
    requirements: Path | None
    # Installed into the virtualenv when there is no requirements.txt (see the guide: we
    # differ from Pages here, where the build would stop at "command not found").
    default_packages: tuple[str, ...]
    # Whether the build gets a Python virtualenv at all.
    needs_python: bool
    # Where this build differs from what Pages would do with the same repository.
    warnings: tuple[str, ...] = ()

    def to_metadata(self) -> dict[str, object]:
        return {
            "generator": self.name,
            "requirements": self.requirements.name if self.requirements else None,
            "default_packages": list(self.default_packages),
        }


def _is_sphinx_conf(path: Path, source_dir: Path) -> bool:
    text = read_text(path, source_dir)
    return text is not None and _SPHINX_MARKERS.search(text) is not None


def _hugo_config(app_dir: Path) -> Path | None:
    for name in _HUGO_FILES:
        if (app_dir / name).is_file():
            return app_dir / name
    if (app_dir / "config" / "_default").is_dir():
        return app_dir / "config" / "_default"
    # config.toml alone is too common a name; Hugo's own directories make it Hugo's.
    if any((app_dir / d).is_dir() for d in ("content", "layouts", "archetypes", "themes")):
        for name in _CONFIG_FILES:
            if (app_dir / name).is_file():
                return app_dir / name
    return None


def _which(app_dir: Path, source_dir: Path) -> tuple[str, Path] | None:
    """(generator, the file that says so)."""
    hugo = _hugo_config(app_dir)
    if hugo is not None:
        return "hugo", hugo
    for name in ("mkdocs.yml", "mkdocs.yaml"):
        if (app_dir / name).is_file():
            return "mkdocs", app_dir / name
    if (app_dir / "pelicanconf.py").is_file():
        return "pelican", app_dir / "pelicanconf.py"
    # A static site that keeps its Sphinx sources in docs/ is still that static site.
    root_site = (app_dir / "index.html").is_file()
    for directory in _SPHINX_DIRS:
        if root_site and directory != ".":
            continue
        conf = app_dir / directory / "conf.py"
        if conf.is_file() and _is_sphinx_conf(conf, source_dir):
            return "sphinx", conf
    return None


def _configured(pattern: re.Pattern[str], config: Path, source_dir: Path) -> str | None:
    if not config.is_file():
        return None
    text = read_text(config, source_dir)
    match = pattern.search(text) if text else None
    if match is None:
        return None
    value = match.group(1).strip("/")
    # A plain relative directory only: anything else keeps the default (and says so).
    if not value or value.startswith(".") or ".." in value.split("/"):
        return None
    return value


def _defaults(
    name: str, config: Path, app_dir: Path, source_dir: Path
) -> tuple[list[str], str, str]:
    """(command, output, why) as Pages' preset for `name` builds it."""
    shown = config.relative_to(source_dir).as_posix()
    if name == "hugo":
        output = _configured(_HUGO_PUBLISH, config, source_dir) or "public"
        return ["hugo"], output, f"Hugo configuration {shown}"
    if name == "mkdocs":
        output = _configured(_MKDOCS_SITE, config, source_dir) or "site"
        return ["mkdocs", "build"], output, f"MkDocs configuration {shown}"
    if name == "pelican":
        return ["pelican", "content"], "output", f"Pelican configuration {shown}"
    conf_dir = config.parent.relative_to(app_dir).as_posix()
    return ["sphinx-build", "-M", "html", conf_dir, "build"], "build/html", f"Sphinx {shown}"


def detect_generator(plan: BuildPlan) -> tuple[BuildPlan, GeneratorPlan] | None:
    """The plan for a generator build of `plan.app_dir`, or None when it is not one."""
    if plan.package_manager != "none":
        return None
    requirements = plan.app_dir / "requirements.txt"
    has_requirements = requirements.is_file() and not requirements.is_symlink()
    found = _which(plan.app_dir, plan.source_dir)
    notes = [note for note in plan.notes if not note.startswith(_NODE_NOTES)]
    build = plan.build_command
    outputs = plan.output_candidates
    if found is not None:
        name, config = found
        command, output, why = _defaults(name, config, plan.app_dir, plan.source_dir)
        notes.append(f"generator {name}: {why}")
        if build is None:
            build = command
            notes.append(f"build command {' '.join(command)} (Pages' {name} preset)")
        if outputs in (list(STATIC_OUTPUTS), list(CUSTOM_OUTPUTS)):
            outputs = [output]
            notes.append(f"output {output}/ (Pages' {name} preset)")
    elif has_requirements and build is not None:
        # A build command of the project's own and a requirements.txt: Pages installs it
        # for any build, so the command finds its Python packages.
        name = "python"
        notes.append("a build command and requirements.txt: a Python build")
    else:
        return None
    default = PYTHON_GENERATORS.get(name)
    defaults: tuple[str, ...] = ()
    warnings: list[str] = []
    if has_requirements:
        notes.append("requirements.txt: installed into the build's virtualenv")
    elif default is not None:
        defaults = (default,)
        where = plan.app_dir.relative_to(plan.source_dir).as_posix()
        shown = "requirements.txt" if where == "." else f"{where}/requirements.txt"
        warnings.append(
            f"{shown}: missing: installed the newest {default} instead; pin it in a "
            "requirements.txt (Cloudflare Pages installs nothing without one)"
        )
        notes.append(f"no requirements.txt: installing the newest {default}")
    generator = GeneratorPlan(
        name=name,
        requirements=requirements if has_requirements else None,
        default_packages=defaults,
        needs_python=has_requirements or default is not None,
        warnings=tuple(warnings),
    )
    framework_plan = dataclasses.replace(
        plan,
        framework=name,
        build_command=build,
        output_candidates=outputs,
        notes=notes,
        node_constraints=[],
    )
    return framework_plan, generator
