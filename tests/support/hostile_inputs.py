"""Bad inputs a stranger sends the control API, and how to see what they left behind.

Shared by `tests/security/test_cheap_refusals.py` (each is refused, leaving nothing)
and `benchmarks/hostile_inputs.py` (how fast, and at what memory cost).
"""

from __future__ import annotations

import gzip
import io
import os
import tarfile
from pathlib import Path

__all__ = [
    "FAKE_SIGNATURE",
    "MB",
    "deep_json",
    "deep_tree_upload",
    "delivery_headers",
    "flood_body",
    "leftovers",
    "many_entries_upload",
    "memory_kib",
    "targz",
]

MB = 1024 * 1024
#: Shaped like `X-Hub-Signature-256`, matching no secret.
FAKE_SIGNATURE = "sha256=" + "0" * 64


def deep_json(depth: int = 60_000) -> bytes:
    """`[[[[...`: what the probe sent, under the API's 64 KiB limit for JSON bodies."""
    return b"[" * depth


def flood_body() -> bytes:
    """`[{},{},...]`, just over 24 MB (under GitHub's 25 MB cap): 8 Mi empty objects."""
    return b"[" + b",".join([b"{}"] * (8 * MB)) + b"]"


def targz(members: list[tuple[str, bytes | None]]) -> bytes:
    """A .tar.gz of (name, content) pairs; None makes a directory."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, content in members:
            info = tarfile.TarInfo(name)
            if content is None:
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            else:
                info.size = len(content)
                tar.addfile(info, io.BytesIO(content))
    return gzip.compress(raw.getvalue(), compresslevel=1)


def deep_tree_upload(levels: int = 1200) -> bytes:
    """An upload whose one file sits `levels` directories deep."""
    deep_dirs = "/".join(["d"] * levels)
    return targz([(deep_dirs, None), (deep_dirs + "/index.html", b"deep")])


def many_entries_upload(count: int = 120_000) -> bytes:
    """An upload of `count` empty files, `files/000000.txt` onwards."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for index in range(count):
            tar.addfile(tarfile.TarInfo(f"files/{index:06d}.txt"))
    return gzip.compress(raw.getvalue(), compresslevel=1)


def delivery_headers(signature: str | None) -> dict[str, str]:
    """A `push` delivery's headers, with `X-Hub-Signature-256: signature` unless None."""
    headers = {
        "Content-Type": "application/json",
        "X-GitHub-Event": "push",
        "X-GitHub-Delivery": "d-" + os.urandom(6).hex(),
    }
    if signature is not None:
        headers["X-Hub-Signature-256"] = signature
    return headers


def leftovers(scratch: Path) -> list[str]:
    """What requests left in the scratch directory (the webhook spool leaves no name)."""
    if not scratch.exists():
        return []
    return sorted(str(path.relative_to(scratch)) for path in scratch.rglob("*"))


def memory_kib(pid: int, field: str) -> int:
    """`VmRSS` (now) or `VmHWM` (peak) of process `pid`, in KiB, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise LookupError(f"no {field} in /proc/{pid}/status")
