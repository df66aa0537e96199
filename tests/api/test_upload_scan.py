"""deploy_platform.source.archive.scan reads tar headers as the bytes arrive: it counts what
tarfile counts, in every format and compression, and refuses at the limit."""

from __future__ import annotations

import io
import tarfile

import pytest

from deploy_platform.contracts.errors import UnsafeArchive
from deploy_platform.source.archive.scan import TarScanner

FORMATS = {"gnu": tarfile.GNU_FORMAT, "pax": tarfile.PAX_FORMAT, "ustar": tarfile.USTAR_FORMAT}


def archive(names: list[str], tar_format: int, compression: str) -> bytes:
    raw = io.BytesIO()
    mode = f"w:{compression}" if compression else "w"
    with tarfile.open(fileobj=raw, mode=mode, format=tar_format) as tar:  # type: ignore[call-overload]
        for index, name in enumerate(names):
            info = tarfile.TarInfo(name)
            if name.endswith("/"):
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            elif index % 5 == 4:
                info.type, info.linkname = tarfile.SYMTYPE, "index.html"
                tar.addfile(info)
            else:
                data = (name * 40).encode()[: 700 + index]
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return raw.getvalue()


def scan(data: bytes, max_files: int = 1000, chunk: int = 777) -> TarScanner:
    scanner = TarScanner(max_files, 1 << 30, 1 << 29)
    for start in range(0, len(data), chunk):
        scanner.feed(data[start : start + chunk])
    return scanner


NAMES = (
    ["index.html", "css/", "css/site.css"]
    + [f"{'long-directory-name/' * 6}file-{index}.html" for index in range(12)]  # > 100 bytes
    + ["x" * 99 + "/" + "y" * 120]  # needs a prefix, a long-name or a pax header
)


@pytest.mark.parametrize("compression", ["gz", "bz2", "xz", ""])
@pytest.mark.parametrize("tar_format", list(FORMATS))
def test_it_counts_every_entry_tarfile_sees(tar_format: str, compression: str) -> None:
    names = NAMES if tar_format != "ustar" else [n for n in NAMES if not n.startswith("x")]
    data = archive(names, FORMATS[tar_format], compression)
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        expected = len(tar.getmembers())

    scanner = scan(data)

    assert scanner.entries == expected == len(names)
    assert scanner.done  # it reached the end-of-archive marker


@pytest.mark.parametrize("tar_format", list(FORMATS))
def test_it_refuses_at_the_first_entry_past_the_limit(tar_format: str) -> None:
    names = [f"f/{index:03d}.txt" for index in range(30)]
    data = archive(names, FORMATS[tar_format], "gz")

    assert scan(data, max_files=30).entries == 30
    with pytest.raises(UnsafeArchive, match=r"more than 29 entries \(stopped at 'f/029.txt'\)"):
        scan(data, max_files=29)


def test_it_refuses_a_path_past_the_limits_and_reads_long_names_to_find_it() -> None:
    deep = "/".join(["d"] * 65) + "/x"
    for tar_format in FORMATS.values():
        if tar_format == tarfile.USTAR_FORMAT:
            continue  # ustar cannot store this name at all
        with pytest.raises(UnsafeArchive, match="the limit is 64 levels"):
            scan(archive(["ok.html", deep], tar_format, "gz"))


def test_a_damaged_stream_is_left_to_the_full_check() -> None:
    data = bytearray(archive(NAMES, tarfile.PAX_FORMAT, "gz"))
    data[len(data) // 2 : len(data) // 2 + 64] = bytes(64)
    scanner = scan(bytes(data))  # no exception: safe_extract names the damage later
    assert scanner.entries <= len(NAMES)
    garbage = scan(b"this is not an archive at all" * 100)
    assert garbage.entries == 0 and garbage.done


def test_a_compression_bomb_is_refused_by_its_expanded_size() -> None:
    data = archive(["big.bin"], tarfile.PAX_FORMAT, "gz")
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w:gz") as tar:
        info = tarfile.TarInfo("zeros.bin")
        info.size = 8 << 20
        tar.addfile(info, io.BytesIO(bytes(info.size)))
    scanner = TarScanner(100, 1 << 20, 1 << 19)
    with pytest.raises(UnsafeArchive, match="compression bomb"):
        scanner.feed(raw.getvalue())
    assert scan(data).entries == 1
