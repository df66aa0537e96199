"""The settings registry declares every variable the source reads, and nothing else."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from deploy_platform.settings.registry import VARIABLES, Kind, Reader, read_by

REPO = Path(__file__).resolve().parents[2]
#: Where the names are declared, not read.
DECLARATIONS = {
    REPO / "deploy_platform" / "settings" / "registry.py",
    REPO / "deploy_platform" / "settings" / "variables.toml",
}
SOURCES = ("deploy_platform", "serve")
SUFFIXES = {".py", ".md", ".yaml", ".toml", ".txt"}
#: A name, and whether `*` follows it (`DP_INFRA_RETRY*`: a family, not a variable).
NAME = re.compile(r"\b(DP_[A-Z0-9_]+)(\*?)")


def _mentions() -> dict[str, set[str]]:
    """Every DP_* name in the source -> the files naming it; families (`DP_CF_*`,
    `DP_EDGE_`) are left out and returned under the key ``"<family>"``."""
    found: dict[str, set[str]] = {}
    for top in SOURCES:
        for path in sorted((REPO / top).rglob("*")):
            if path.suffix not in SUFFIXES or path in DECLARATIONS or "__pycache__" in path.parts:
                continue
            for name, star in NAME.findall(path.read_text(encoding="utf-8")):
                key = name if not (star or name.endswith("_")) else f"<family>{name}"
                found.setdefault(key, set()).add(str(path.relative_to(REPO)))
    return found


def test_every_variable_the_source_names_is_declared() -> None:
    mentions = _mentions()
    undeclared = {
        name: sorted(files)
        for name, files in mentions.items()
        if not name.startswith("<family>") and name not in VARIABLES
    }
    assert not undeclared, (
        "declare these in deploy_platform/settings/variables.toml, then run "
        f"`python -m deploy_platform.settings.reference`: {undeclared}"
    )
    families = {name.removeprefix("<family>").rstrip("_") for name in mentions if "<" in name}
    for family in families:
        assert any(name.startswith(family) for name in VARIABLES), f"no variable is {family}*"


def test_every_declared_variable_is_read_somewhere() -> None:
    mentions = _mentions()
    unread = [name for name in VARIABLES if name.startswith("DP_") and name not in mentions]
    assert not unread, f"declared but named nowhere in {SOURCES}: {unread}"


def test_every_declaration_is_complete() -> None:
    for name, variable in VARIABLES.items():
        assert variable.name == name and variable.readers and variable.help.strip(), name
        assert "\n" not in variable.help, f"{name}: the help is one line"
        assert len(set(variable.readers)) == len(variable.readers), name
        assert (variable.kind is Kind.CHOICE) == bool(variable.choices), name
        if variable.kind is Kind.CHOICE and variable.default:
            assert variable.default in variable.choices, name
        if variable.default and variable.kind is Kind.INTEGER:
            int(variable.default)
        if variable.default and variable.kind is Kind.NUMBER:
            float(variable.default)


def test_the_edge_source_names_only_the_edge_s_variables() -> None:
    edge = set(read_by(Reader.EDGE))
    for path in sorted((REPO / "serve").rglob("*.py")):
        for name, star in NAME.findall(path.read_text(encoding="utf-8")):
            if not (star or name.endswith("_")):
                assert name in edge, f"{path.relative_to(REPO)} names {name}, not the edge's"


def test_the_registry_loads_nothing_but_the_standard_library() -> None:
    """A leaf: the edge, the CLI and the page generator import it without the platform."""
    code = (
        "import sys; before = set(sys.modules)\n"
        "import deploy_platform.settings.registry\n"
        "print(sorted(m for m in set(sys.modules) - before if m.split('.')[0] not in "
        "sys.stdlib_module_names and m not in ('deploy_platform', 'deploy_platform.settings', "
        "'deploy_platform.settings.registry')))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
