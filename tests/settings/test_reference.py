"""docs/reference/configuration.md is what the registry says today."""

from __future__ import annotations

from pathlib import Path

from deploy_platform.settings import reference
from deploy_platform.settings.registry import VARIABLES

REPO = Path(__file__).resolve().parents[2]


def test_the_committed_page_is_generated_from_the_registry() -> None:
    page = REPO / reference.PAGE
    assert page.exists(), f"{reference.PAGE} is missing: run `{reference.REGENERATE}`"
    assert page.read_text(encoding="utf-8") == reference.render(), (
        f"{reference.PAGE} differs from the registry: run `{reference.REGENERATE}` and commit it"
    )


def test_the_page_lists_every_variable_once() -> None:
    text = reference.render()
    for name in VARIABLES:
        assert text.count(f"| `{name}` |") == 1, name


def test_check_says_when_the_page_is_stale(tmp_path: Path) -> None:
    assert reference.main(["--root", str(tmp_path), "--check"]) == 1
    assert reference.main(["--root", str(tmp_path)]) == 0
    assert reference.main(["--root", str(tmp_path), "--check"]) == 0
