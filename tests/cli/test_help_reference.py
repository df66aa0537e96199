"""docs/reference/cli.md shows each command's own `--help`: the page and the parser agree."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

PAGE = Path(__file__).resolve().parents[2] / "docs" / "reference" / "cli.md"
#: A heading (`## deploy`, `### project create`) and the ```text block after it.
_SECTION = re.compile(r"^#{2,3} ([a-z][a-z_. -]*)\n\n```text\n(.*?)```$", re.M | re.S)


def documented() -> dict[str, str]:
    return {name.strip(): block for name, block in _SECTION.findall(PAGE.read_text())}


def help_of(name: str) -> str:
    """`deploy-platform <words> --help`, or `python -m <module> --help` for the processes."""
    words = [] if name == "deploy-platform" else name.split()
    if words[:2] == ["python", "-m"]:
        command = [sys.executable, *words[1:], "--help"]
    else:
        command = [sys.executable, "-m", "deploy_platform.cli", *words, "--help"]
    result = subprocess.run(
        command,
        capture_output=True,
        text=True,
        env={"COLUMNS": "80", "PATH": "/usr/bin:/bin"},
        timeout=60,
        check=True,
    )
    return result.stdout


def test_the_page_documents_every_command() -> None:
    names = set(documented())
    assert {"deploy-platform", "up", "deploy", "status", "rollback", "promote", "aliases"} <= names
    assert {"domains add", "project create", "history", "names", "gc"} <= names
    assert {"python -m serve", "python -m deploy_platform.api"} <= names


@pytest.mark.parametrize("name", sorted(documented()))
def test_a_documented_help_text_is_the_commands_own(name: str) -> None:
    assert documented()[name] == help_of(name), (
        f"docs/reference/cli.md's `{name}` section differs from that command's "
        "`--help` output (COLUMNS=80): paste the new output into the page"
    )
