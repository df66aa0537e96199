"""pack_directory, safe_extract and check_tree: round trips and hostile archives."""

from __future__ import annotations

import gzip
import io
import os
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

from deploy_platform.contracts.errors import UnsafeArchive
from deploy_platform.source.archive.pack import pack_directory
from deploy_platform.source.archive.tree import ArchiveStats, check_tree
from deploy_platform.source.archive.unpack import safe_extract

LIMITS = {"max_bytes": 1024 * 1024, "max_files": 100}


def make_tree(root: Path) -> Path:
    (root / "css").mkdir(parents=True)
    (root / "empty").mkdir()
    (root / "index.html").write_text("<h1>hi</h1>")
    (root / "css" / "site.css").write_text("body{}")
    (root / "run.sh").write_text("#!/bin/sh\n")
    (root / "run.sh").chmod(0o755)
    os.symlink("../index.html", root / "css" / "home.html")
    (root / ".git").mkdir()
    (root / ".git" / "config").write_text("secret")
    (root / "vendor" / ".git").mkdir(parents=True)
    (root / "vendor" / ".git" / "HEAD").write_text("x")
    return root


def build_tar(path: Path, *members: tuple[tarfile.TarInfo, bytes | None]) -> Path:
    with tarfile.open(path, "w:gz", format=tarfile.PAX_FORMAT) as tar:
        for info, data in members:
            if data is not None:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def file_entry(name: str, data: bytes = b"x") -> tuple[tarfile.TarInfo, bytes]:
    return tarfile.TarInfo(name), data


def link_entry(
    name: str, target: str, kind: bytes = tarfile.SYMTYPE
) -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    return info, None


def special_entry(name: str, kind: bytes) -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type = kind
    return info, None


@pytest.fixture
def sandbox(tmp_path: Path) -> Path:
    """A directory holding only `dest` (created by the extraction) and the archive's folder."""
    (tmp_path / "sandbox").mkdir()
    (tmp_path / "archives").mkdir()
    return tmp_path / "sandbox"


def outside_untouched(sandbox: Path) -> None:
    assert sorted(p.name for p in sandbox.iterdir()) in ([], ["dest"])
    assert not (sandbox.parent / "escaped").exists()
    assert not (sandbox.parent / "etc").exists()


# -- round trip ---------------------------------------------------------------------


def test_a_tree_round_trips_with_links_modes_and_without_git(tmp_path: Path) -> None:
    src = make_tree(tmp_path / "src")
    stats = pack_directory(src, tmp_path / "a.tar.gz")
    assert stats == ArchiveStats(files=4, bytes=len("<h1>hi</h1>body{}#!/bin/sh\n"))
    out = tmp_path / "out"
    assert safe_extract(tmp_path / "a.tar.gz", out, **LIMITS) == stats
    assert (out / "index.html").read_text() == "<h1>hi</h1>"
    assert os.readlink(out / "css" / "home.html") == "../index.html"
    assert (out / "css" / "home.html").read_text() == "<h1>hi</h1>"
    assert os.access(out / "run.sh", os.X_OK) and not os.access(out / "index.html", os.X_OK)
    assert (out / "empty").is_dir()
    assert not (out / ".git").exists() and not (out / "vendor" / ".git").exists()
    assert check_tree(out) == stats


def test_packing_is_reproducible(tmp_path: Path) -> None:
    src = make_tree(tmp_path / "src")
    pack_directory(src, tmp_path / "one.tar.gz")
    os.utime(src / "index.html", (1, 1))  # a different mtime must not change the bytes
    pack_directory(src, tmp_path / "two.tar.gz")
    assert (tmp_path / "one.tar.gz").read_bytes() == (tmp_path / "two.tar.gz").read_bytes()
    with tarfile.open(tmp_path / "one.tar.gz") as tar:
        names = tar.getnames()
        assert names == sorted(names, key=lambda n: n.split("/"))
        assert {(m.mtime, m.uid, m.gid, m.uname) for m in tar.getmembers()} == {(0, 0, 0, "")}


def test_packing_refuses_a_fifo(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    os.mkfifo(src / "pipe")
    with pytest.raises(UnsafeArchive, match="pipe"):
        pack_directory(src, tmp_path / "a.tar.gz")
    assert not (tmp_path / "a.tar.gz").exists()


# -- hostile archives ---------------------------------------------------------------

HOSTILE: dict[str, Callable[[], list[tuple[tarfile.TarInfo, bytes | None]]]] = {
    "absolute path": lambda: [file_entry("/tmp/escaped", b"pwned")],
    "dot-dot entry": lambda: [file_entry("ok.txt"), file_entry("../escaped", b"pwned")],
    "dot-dot in the middle": lambda: [file_entry("a/../../escaped", b"pwned")],
    "absolute symlink": lambda: [link_entry("passwd", "/etc/passwd")],
    "escaping symlink": lambda: [link_entry("up", "../../etc/passwd")],
    "symlink parent": lambda: [link_entry("dir", "."), file_entry("dir/x.txt")],
    "symlink parent outside": lambda: [link_entry("out", "/tmp"), file_entry("out/escaped")],
    "symlink then overwrite": lambda: [link_entry("x", "y"), file_entry("x", b"pwned")],
    "chained symlink escape": lambda: [
        link_entry("d/t", "s/../.."),
        link_entry("d/s", ".."),
    ],
    "hardlink outside": lambda: [link_entry("h", "../escaped", tarfile.LNKTYPE)],
    "hardlink absolute": lambda: [link_entry("h", "/etc/passwd", tarfile.LNKTYPE)],
    "hardlink to nothing yet": lambda: [link_entry("h", "later", tarfile.LNKTYPE)],
    "character device": lambda: [special_entry("tty", tarfile.CHRTYPE)],
    "block device": lambda: [special_entry("sda", tarfile.BLKTYPE)],
    "fifo": lambda: [special_entry("pipe", tarfile.FIFOTYPE)],
    "backslash": lambda: [file_entry("..\\escaped")],
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_archives_are_refused_without_writing_outside(case: str, sandbox: Path) -> None:
    members = HOSTILE[case]()
    archive = build_tar(sandbox.parent / "archives" / "evil.tar.gz", *members)
    dest = sandbox / "dest"
    with pytest.raises(UnsafeArchive) as info:
        safe_extract(archive, dest, **LIMITS)
    # The message names the entry (quoted with repr, so a backslash shows doubled).
    assert any(
        repr(info_.name) in str(info.value) or info_.name in str(info.value) for info_, _ in members
    )
    assert not dest.exists()  # nothing half-extracted is left behind
    outside_untouched(sandbox)


def test_the_refusal_names_the_entry(sandbox: Path) -> None:
    archive = build_tar(sandbox.parent / "archives" / "a.tar.gz", link_entry("leak", "/etc/passwd"))
    with pytest.raises(UnsafeArchive, match="'leak'.*/etc/passwd"):
        safe_extract(archive, sandbox / "dest", **LIMITS)


def test_more_entries_than_allowed_are_refused(sandbox: Path) -> None:
    archive = build_tar(
        sandbox.parent / "archives" / "many.tar.gz", *[file_entry(f"f{i}") for i in range(11)]
    )
    with pytest.raises(UnsafeArchive, match="more than 10 entries"):
        safe_extract(archive, sandbox / "dest", max_bytes=1 << 20, max_files=10)
    assert not (sandbox / "dest").exists()


def test_a_gzip_bomb_is_refused_by_declared_size(sandbox: Path) -> None:
    archive = sandbox.parent / "archives" / "bomb.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        info = tarfile.TarInfo("zeros.bin")
        info.size = 8 * 1024 * 1024
        tar.addfile(info, io.BytesIO(bytes(info.size)))
    assert archive.stat().st_size < 64 * 1024
    with pytest.raises(UnsafeArchive, match="limit of 1048576 bytes"):
        safe_extract(archive, sandbox / "dest", **LIMITS)
    assert not (sandbox / "dest").exists()


def test_many_small_files_past_the_byte_limit_are_refused(sandbox: Path) -> None:
    archive = build_tar(
        sandbox.parent / "archives" / "sum.tar.gz",
        *[file_entry(f"part{i}", bytes(300 * 1024)) for i in range(4)],
    )
    with pytest.raises(UnsafeArchive, match="'part3'"):
        safe_extract(archive, sandbox / "dest", **LIMITS)


def test_a_bomb_hidden_in_tar_headers_is_stopped(sandbox: Path) -> None:
    # A pax header is read whole before any entry is seen: cap the stream itself.
    archive = sandbox.parent / "archives" / "header-bomb.tar.gz"
    with tarfile.open(archive, "w:gz", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo("x")
        info.pax_headers = {"comment": "A" * (4 * 1024 * 1024)}
        tar.addfile(info, io.BytesIO(b""))
    with pytest.raises(UnsafeArchive, match="expands to more than"):
        safe_extract(archive, sandbox / "dest", max_bytes=1024, max_files=10)


def test_a_damaged_archive_is_refused_clearly(sandbox: Path) -> None:
    archive = sandbox.parent / "archives" / "junk.tar.gz"
    archive.write_bytes(gzip.compress(b"not a tar at all" * 100))
    with pytest.raises(UnsafeArchive, match="damaged or not a tar"):
        safe_extract(archive, sandbox / "dest", **LIMITS)


def test_inside_links_and_hardlinks_are_fine(sandbox: Path) -> None:
    archive = build_tar(
        sandbox.parent / "archives" / "ok.tar.gz",
        file_entry("docs/a.html", b"<p>a</p>"),
        link_entry("docs/b.html", "a.html"),
        link_entry("latest", "docs"),
        link_entry("copy.html", "docs/a.html", tarfile.LNKTYPE),
    )
    stats = safe_extract(archive, sandbox / "dest", **LIMITS)
    assert stats == ArchiveStats(files=4, bytes=8)
    assert (sandbox / "dest" / "latest" / "b.html").read_bytes() == b"<p>a</p>"
    assert (sandbox / "dest" / "copy.html").stat().st_nlink == 2


def test_a_used_destination_is_refused(tmp_path: Path) -> None:
    src = make_tree(tmp_path / "src")
    pack_directory(src, tmp_path / "a.tar.gz")
    (tmp_path / "dest").mkdir()
    (tmp_path / "dest" / "mine").write_text("keep")
    with pytest.raises(ValueError, match="new or empty"):
        safe_extract(tmp_path / "a.tar.gz", tmp_path / "dest", **LIMITS)
    assert (tmp_path / "dest" / "mine").read_text() == "keep"


# -- check_tree ---------------------------------------------------------------------


@pytest.fixture
def out(tmp_path: Path) -> Path:
    """A build output directory with one page."""
    root = tmp_path / "dist"
    root.mkdir()
    (root / "index.html").write_text("hi")
    return root


def test_a_clean_tree_passes_with_inside_links(out: Path) -> None:
    (out / "sub").mkdir()
    os.symlink("../index.html", out / "sub" / "home.html")
    os.symlink("missing.html", out / "dangling.html")
    os.link(out / "index.html", out / "same.html")
    assert check_tree(out) == ArchiveStats(files=4, bytes=4)


@pytest.mark.parametrize(
    ("name", "target", "says"),
    [
        ("passwd", "/etc/passwd", "absolute path /etc/passwd"),
        ("inside-but-absolute", "{root}/index.html", "absolute path"),
        ("up", "../secret.txt", "leaves the tree"),
        ("root-escape", "..", "leaves the tree"),
    ],
)
def test_symlinks_leaving_the_tree_are_refused(
    out: Path, name: str, target: str, says: str
) -> None:
    (out.parent / "secret.txt").write_text("secret")
    os.symlink(target.format(root=out), out / name)
    with pytest.raises(UnsafeArchive, match=says) as info:
        check_tree(out)
    assert name in str(info.value)


def test_a_symlink_chain_that_escapes_is_refused(out: Path) -> None:
    (out / "d").mkdir()
    os.symlink("..", out / "d" / "s")  # points at the root: inside
    os.symlink("s/..", out / "d" / "t")  # root/.. : outside
    with pytest.raises(UnsafeArchive, match="d/t"):
        check_tree(out)


def test_a_hardlink_to_a_file_outside_is_refused(out: Path) -> None:
    secret = out.parent / "secret.txt"
    secret.write_text("secret")
    os.link(secret, out / "innocent.txt")
    with pytest.raises(UnsafeArchive, match="innocent.txt.*hard link"):
        check_tree(out)


def test_a_fifo_in_the_output_is_refused(out: Path) -> None:
    os.mkfifo(out / "pipe")
    with pytest.raises(UnsafeArchive, match="pipe"):
        check_tree(out)
