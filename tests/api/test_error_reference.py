"""docs/reference/http-api.md lists every error code the control API answers with."""

from __future__ import annotations

import ast
import re
from itertools import pairwise
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PAGE = REPO / "docs" / "reference" / "http-api.md"
_CODE = re.compile(r"[a-z]+(?:_[a-z]+)*")


def _constant(node: ast.expr) -> object:
    return node.value if isinstance(node, ast.Constant) else None


def codes_in(source: str) -> set[str]:
    """The literal codes of calls made as `(status, "code", ...)` (`ApiError`, the error
    responses of middleware), `code="..."` keywords, and `code = "..."` class attributes
    (errors that carry their own code)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call):
            args = [_constant(a) for a in node.args]
            for status, code in pairwise(args):
                if isinstance(status, int) and 400 <= status < 600 and isinstance(code, str):
                    found.add(code)
            found |= {str(_constant(k.value)) for k in node.keywords if k.arg == "code"} - {"None"}
        elif isinstance(node, ast.Assign) and [getattr(t, "id", "") for t in node.targets] == [
            "code"
        ]:
            if isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
                found.add(node.value.value)
    return {code for code in found if _CODE.fullmatch(code)}


def test_the_check_finds_codes_in_calls_and_classes() -> None:
    source = (
        'raise ApiError(404, "not_found", "no")\n'
        'answer = error_response(request, 413, "too_big", "smaller")\n'
        'ApiError(status=409, code="taken", message="x")\n'
        "class E(Exception):\n"
        '    code = "bad_x"\n'
    )

    assert codes_in(source) == {"not_found", "too_big", "taken", "bad_x"}


def test_every_error_code_is_documented() -> None:
    codes: set[str] = set()
    for path in (REPO / "deploy_platform").rglob("*.py"):
        codes |= codes_in(path.read_text())
    assert len(codes) > 40, "the scan no longer sees the API's errors"
    page = PAGE.read_text()
    missing = sorted(code for code in codes if f"`{code}`" not in page)
    assert missing == [], f"docs/reference/http-api.md does not list: {missing}"
