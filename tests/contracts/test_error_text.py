"""A failure message as people read it: its headline, and cut at a line's end."""

from __future__ import annotations

from deploy_platform.contracts.text_format import cut_at_line, error_headline

BUILD_FAILED = (
    "build failed: `npm run build` exited with 1. Last lines:\n"
    "Error: ENOENT: no such file or directory, open 'site.config.json'\n"
    "    at Object.readFileSync (node:fs:624:20)"
)


def test_the_headline_is_the_first_line_without_the_build_output_it_announces() -> None:
    assert error_headline(BUILD_FAILED) == "build failed: `npm run build` exited with 1."
    assert error_headline("no index.html to publish") == "no index.html to publish"
    assert error_headline("") == ""


def test_a_headline_too_wide_for_its_cell_ends_with_an_ellipsis() -> None:
    assert error_headline(BUILD_FAILED, 20) == "build failed: `npm\u2026"
    assert len(error_headline(BUILD_FAILED, 20)) <= 20
    assert error_headline("short", 20) == "short"


def test_a_long_message_is_cut_after_its_last_whole_line() -> None:
    assert cut_at_line(BUILD_FAILED, 1000) == BUILD_FAILED
    cut = cut_at_line(BUILD_FAILED, len(BUILD_FAILED) - 5)
    assert cut == BUILD_FAILED.rsplit("\n", 1)[0]
    assert cut_at_line("x" * 50, 10) == "x" * 9 + "\u2026"
