"""Ref strings are checked without git: the pure `source.refs` and who may import it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from deploy_platform.contracts.errors import InvalidRequest
from deploy_platform.source.refs import is_commit_sha, validate_ref

REPO = Path(__file__).resolve().parents[2]
#: Modules that check a ref or a commit string and nothing more of git.
REF_CHECKERS = (
    "deploy_platform.source.refs",
    "deploy_platform.projects",
    "deploy_platform.projects.model",
    "deploy_platform.github.webhooks.plan",
    "deploy_platform.github.webhooks.events",
)
_LOADED_GIT = """
import importlib, sys
importlib.import_module(sys.argv[1])
git = ("git", "deploy_platform.source.git")
print(sorted(m for m in sys.modules if m in git or m.startswith(tuple(p + "." for p in git))))
"""


@pytest.mark.parametrize("module", REF_CHECKERS)
def test_checking_a_ref_loads_neither_gitpython_nor_the_fetch(module: str) -> None:
    """Guards the split of source/git.py: validating a ref must not pull in the git client."""
    result = subprocess.run(
        [sys.executable, "-c", _LOADED_GIT, module],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]", f"{module} loads {result.stdout.strip()}"


@pytest.mark.parametrize("ref", ["main", "feature/x", "v1.2.3", "refs/heads/main", "HEAD"])
def test_valid_refs_pass(ref: str) -> None:
    assert validate_ref(ref) == ref


@pytest.mark.parametrize("ref", ["", "-x", "a b", "a..b", "a~1", "x.lock", ".hidden", "a//b", "@"])
def test_invalid_refs_are_refused_naming_the_field(ref: str) -> None:
    with pytest.raises(InvalidRequest) as raised:
        validate_ref(ref)
    assert raised.value.field == "ref"


def test_full_shas_in_either_case_and_length() -> None:
    assert is_commit_sha("A" * 40)
    assert is_commit_sha("0" * 64)
    assert not is_commit_sha("0" * 39)
    assert not is_commit_sha("g" * 40)
