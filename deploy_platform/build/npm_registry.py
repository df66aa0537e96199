"""The little of the npm registry protocol the toolchain needs: versions, verified tarballs.

Plain HTTPS with the standard library, so provisioning works on a machine with
no Node at all. Metadata is the abbreviated ("corgi") document every npm
registry serves; a tarball is accepted only when its sha512 matches the
`dist.integrity` the registry published for that version, and it is unpacked
with the first path component (npm's `package/`) stripped and tarfile's `data`
filter, which refuses absolute paths, `..`, devices and links leaving the tree.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import tarfile
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deploy_platform.contracts.errors import BuildFailed
from deploy_platform.contracts.progress import Progress
from deploy_platform.contracts.text_format import human_bytes

__all__ = [
    "DEFAULT_REGISTRY",
    "Dist",
    "Packument",
    "fetch_packument",
    "download_verified",
    "download_reported",
    "unpack_package",
    "version_key",
    "newest_matching",
]

DEFAULT_REGISTRY = "https://registry.npmjs.org/"
_TIMEOUT_S = 60
_ABBREVIATED = "application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8"
_SEMVER = re.compile(r"^(\d+)\.(\d+)\.(\d+)(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$")


@dataclass(frozen=True)
class Dist:
    tarball: str
    integrity: str


@dataclass(frozen=True)
class Packument:
    name: str
    dist_tags: dict[str, str]
    dists: dict[str, Dist]

    @property
    def versions(self) -> list[str]:
        """Released (non-prerelease) versions, newest first."""
        stable = [v for v in self.dists if (m := _SEMVER.match(v)) and not m.group(4)]
        return sorted(stable, key=version_key, reverse=True)


def version_key(version: str) -> tuple[int, int, int]:
    match = _SEMVER.match(version)
    if not match:
        return (-1, -1, -1)
    return (int(match.group(1)), int(match.group(2)), int(match.group(3)))


def newest_matching(packument: Packument, prefix: str) -> str | None:
    """The newest release equal to `prefix` or starting with `prefix.` ("9" → 9.x.y)."""
    if prefix in packument.dists:
        return prefix
    for version in packument.versions:
        if version.startswith(prefix + "."):
            return version
    return None


def _open(url: str, accept: str) -> Any:
    request = urllib.request.Request(url, headers={"Accept": accept})
    return urllib.request.urlopen(request, timeout=_TIMEOUT_S)


def fetch_packument(registry: str, name: str) -> Packument:
    """A package's versions and tarballs; BuildFailed when unreachable or unknown."""
    url = registry.rstrip("/") + "/" + urllib.parse.quote(name, safe="@")
    try:
        with _open(url, _ABBREVIATED) as response:
            document = json.load(response)
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            raise BuildFailed(f"the npm registry at {registry} has no package {name!r}") from exc
        raise BuildFailed(
            f"the npm registry at {registry} answered HTTP {exc.code} for {name!r}; "
            "check the registry setting and try again"
        ) from exc
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise BuildFailed(
            f"cannot reach the npm registry at {registry} for {name!r} ({exc}); "
            "check the network and the registry setting, then try again"
        ) from exc
    dists: dict[str, Dist] = {}
    for version, manifest in (document.get("versions") or {}).items():
        dist = manifest.get("dist") or {}
        if isinstance(dist.get("tarball"), str):
            dists[version] = Dist(dist["tarball"], str(dist.get("integrity") or ""))
    return Packument(name, dict(document.get("dist-tags") or {}), dists)


def download_verified(dist: Dist, dest: Path) -> None:
    """Download `dist.tarball` to `dest`, refusing it unless its sha512 is the published one."""
    expected = next(
        (part[len("sha512-") :] for part in dist.integrity.split() if part.startswith("sha512-")),
        None,
    )
    if expected is None:
        raise BuildFailed(f"the registry publishes no sha512 integrity for {dist.tarball}")
    digest = hashlib.sha512()
    try:
        with _open(dist.tarball, "application/octet-stream") as response, dest.open("wb") as out:
            while chunk := response.read(1024 * 1024):
                digest.update(chunk)
                out.write(chunk)
    except (urllib.error.URLError, OSError) as exc:
        raise BuildFailed(
            f"downloading {dist.tarball} failed ({exc}); check the network and try again"
        ) from exc
    actual = base64.b64encode(digest.digest()).decode()
    if actual != expected:
        raise BuildFailed(
            f"{dist.tarball} does not match the sha512 the registry published "
            f"(expected {expected[:16]}…, got {actual[:16]}…); refusing to use it"
        )


def download_reported(dist: Dist, dest: Path, what: str, progress: Progress) -> None:
    """`download_verified`, reporting its start, then the size and time it took (the
    wait a person most wonders about on a first build: Node alone is ~40 MB)."""
    step = f"download {what.split()[0]}"  # one line per package: node's, then npm's
    progress(step, f"downloading {what}")
    started = time.monotonic()
    download_verified(dist, dest)
    took = time.monotonic() - started
    progress(step, f"{what} downloaded ({human_bytes(dest.stat().st_size)} in {took:.1f} s)")


def unpack_package(tarball: Path, dest: Path, only: str | None = None) -> None:
    """Unpack an npm tarball into `dest` without its top directory; `only` keeps one subtree."""
    with tarfile.open(tarball, "r:gz") as archive:
        members = []
        for member in archive.getmembers():
            _, _, inner = member.name.partition("/")
            if not inner or (only is not None and not inner.startswith(only)):
                continue
            members.append(member.replace(name=inner, deep=False))
        archive.extractall(dest, members=members, filter="data")
