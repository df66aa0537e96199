"""The architecture's boundaries, checked rather than promised.

- The dagster-free packages (and the edge-origin) load no Dagster module, not even
  through something they import: they run in processes that must stay small
  (the edge, the control API) or outside any code location.
- Assets never reach an outside system themselves: no boto3/botocore, git or
  subprocess in `deploy_platform/orchestration/assets/`; resources do that, so tests swap them.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
#: The same list as the import contract in pyproject.toml; this checks what loads at run
#: time (an import inside a function too), the contract what the source says.
DAGSTER_FREE = (
    "serve",
    "deploy_platform.build",
    "deploy_platform.contracts",
    "deploy_platform.github",
    "deploy_platform.processes",
    "deploy_platform.projects",
    "deploy_platform.publish",
    "deploy_platform.retention",
    "deploy_platform.settings",
    "deploy_platform.source",
    "deploy_platform.storage",
)
ASSETS = sorted((REPO / "deploy_platform" / "orchestration" / "assets").glob("*.py"))
#: Top-level modules an asset may not import: resources hold these.
OUTSIDE_SYSTEMS = {"boto3", "botocore", "git", "subprocess"}
#: Ways to start a process without importing subprocess.
PROCESS_CALLS = {"system", "popen", "spawnv", "spawnvp", "execv", "execvp", "execve", "fork"}

_LOADED_DAGSTER = """
import importlib, pkgutil, sys
package = importlib.import_module(sys.argv[1])
for module in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
    if not module.name.endswith("__main__"):
        importlib.import_module(module.name)
print(sorted(m for m in sys.modules if m.split(".")[0].startswith("dagster")))
"""


@pytest.mark.parametrize("package", DAGSTER_FREE)
def test_dagster_free_packages_load_no_dagster(package: str) -> None:
    result = subprocess.run(
        [sys.executable, "-c", _LOADED_DAGSTER, package],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]", f"{package} loads Dagster: {result.stdout.strip()}"


def forbidden_uses(source: str) -> list[str]:
    """What in `source` reaches an outside system directly (imports and os process calls)."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.split(".")[0] in OUTSIDE_SYSTEMS]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module.split(".")[0] in OUTSIDE_SYSTEMS:
                found.append(node.module)
        elif isinstance(node, ast.Attribute) and node.attr in PROCESS_CALLS:
            if isinstance(node.value, ast.Name) and node.value.id == "os":
                found.append(f"os.{node.attr}")
    return found


def test_the_check_sees_a_direct_call_to_an_outside_system() -> None:
    source = "import boto3\nfrom git import Repo\nimport os\nos.system('git fetch')\n"

    assert forbidden_uses(source) == ["boto3", "git", "os.system"]


def test_the_assets_are_where_the_check_looks() -> None:
    assert {p.name for p in ASSETS} >= {"source_archive.py", "built_artifact.py"}


@pytest.mark.parametrize("path", ASSETS, ids=lambda p: p.name)
def test_assets_leave_outside_systems_to_resources(path: Path) -> None:
    assert forbidden_uses(path.read_text()) == [], f"{path.name} reaches an outside system"
