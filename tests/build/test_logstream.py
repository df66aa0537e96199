"""Log lines from raw pipe chunks: redaction across chunk boundaries, escapes, caps."""

from __future__ import annotations

from deploy_platform.build.logstream import LogStream


def _lines(chunks: list[bytes], secrets: tuple[str, ...] = (), **caps: int) -> list[str]:
    lines: list[str] = []
    stream = LogStream(lines.append, secrets, **caps)
    for chunk in chunks:
        stream.feed(chunk)
    stream.close()
    return lines


def test_a_secret_split_over_many_chunks_is_redacted() -> None:
    secret = "s3cr3t-value-0123456789"
    data = f"key {secret} end\n".encode()
    chunks = [data[i : i + 3] for i in range(0, len(data), 3)]
    assert _lines(chunks, (secret,)) == ["key *** end"]


def test_a_secret_containing_another_is_replaced_whole() -> None:
    assert _lines([b"abc-long-abc\n"], ("abc", "abc-long-abc")) == ["***"]


def test_each_line_of_a_multiline_secret_is_redacted() -> None:
    key = "-----BEGIN KEY-----\nMIIEvQIBADANBgkqhkiG9w0B\n-----END KEY-----"
    assert _lines([b"MIIEvQIBADANBgkqhkiG9w0B\n"], (key,)) == ["***"]


def test_colours_and_progress_bars_become_plain_lines() -> None:
    data = b"\x1b[32mdone\x1b[0m in 2s\r\n 10%\r 50%\r100%\n"
    assert _lines([data]) == ["done in 2s", "100%"]


def test_a_secret_hidden_by_colour_codes_is_still_redacted() -> None:
    assert _lines([b"to\x1b[1mk\x1b[0men\n"], ("token",)) == ["***"]


def test_a_secret_at_the_cut_of_a_long_line_never_shows_in_part() -> None:
    secret = "ABCDEFGHIJKLMNOP"
    lines = _lines(
        [b"x" * 95 + secret.encode() + b"y" * 500 + b"\n"], (secret,), max_line_bytes=100
    )
    assert lines == ["x" * 95 + "***yy [line cut]"]
    assert "ABCDE" not in lines[0]


def test_an_unfinished_last_line_is_emitted_on_close() -> None:
    assert _lines([b"first\nlast without newline"]) == ["first", "last without newline"]


def test_the_total_cap_says_so_once_and_the_tail_keeps_the_end() -> None:
    lines: list[str] = []
    stream = LogStream(lines.append, log_bytes=50, tail_lines=3)
    for i in range(100):
        stream.feed(f"line {i}\n".encode())
    stream.close()
    assert stream.truncated
    assert sum(len(line) + 1 for line in lines if not line.startswith("[log truncated")) <= 50
    assert sum(line.startswith("[log truncated") for line in lines) == 1
    assert stream.tail == "line 97\nline 98\nline 99"
