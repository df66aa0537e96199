"""The fingerprint rule, against the cases the Worker's tests read too."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from deploy_platform.contracts.fingerprint import is_fingerprinted

_CASES = json.loads(
    (Path(__file__).parents[1] / "fixtures" / "shared" / "fingerprint_cases.json").read_text()
)["cases"]


@pytest.mark.parametrize(("path", "expected"), sorted(_CASES.items()))
def test_fingerprinted_names(path: str, expected: bool) -> None:
    assert is_fingerprinted(path) is expected
