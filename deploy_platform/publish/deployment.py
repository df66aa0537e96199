"""Publishing a directory as an immutable deployment: upload, deduplicate, manifest last.

Order matters, because readers (the edge-origin, the Worker) trust what they find:
1. every file body goes to `blobs/<sha256>`, and so does each precompressed
   variant (Brotli, gzip; `deploy_platform.publish.compression` says which files get
   them), under its own sha256; bodies the store already holds are not uploaded
   again, and bodies compressed by an earlier publish are not compressed again
   (`deploy_platform.publish.variants` records what it gave), so a redeploy that changed
   one file compresses one file and uploads it and its variants;
2. `deployments/<id>/manifest.json` is written LAST: a deployment without a
   manifest does not exist, so a half-published one is never served;
3. aliases move only after that (`deploy_platform.publish.aliases`).

Hidden files are not published: a name starting with `.` anywhere in the tree
(`.git/`, `.env`, `.npmrc`, `.DS_Store`, `src/.env.local`) is skipped, because a
static site is often published straight from its repository, and those files
hold history, credentials and machine settings (the same default as the Netlify
and Cloudflare Pages uploaders). The one exception is a `.well-known/` directory
(RFC 8615: `security.txt`, `assetlinks.json`, ACME challenges), whose non-hidden
files are published.

Routing rules (`deploy_platform.publish.rule_files`) are read and checked before anything is
uploaded. A `_redirects` / `_headers` line that cannot be used is skipped with a warning
(fatal with `strict_rules`); bad netlify.toml / vercel.json rules fail the deployment with
nothing stored and nothing live changed. The output's top-level `_redirects` and
`_headers` become the manifest's `routes` and are not published as files (Netlify and
Pages do not serve them either).
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
import tempfile
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deploy_platform.contracts.errors import UnsafeArchive
from deploy_platform.contracts.manifest import (
    BlobRef,
    FileEntry,
    Manifest,
    blob_key,
    content_type_for,
    manifest_key,
)
from deploy_platform.contracts.progress import Counter, Progress, no_progress
from deploy_platform.contracts.routing import Redirect, Routes, RoutingError
from deploy_platform.contracts.text_format import human_bytes
from deploy_platform.publish.compression import (
    MIN_SIZE,
    CompressedVariant,
    compress_file,
    is_compressible,
)
from deploy_platform.publish.early_hints import link_header_for_file
from deploy_platform.publish.rule_files import load_routes
from deploy_platform.publish.variants import read_variant_records, write_variant_records
from deploy_platform.storage import ObjectStore, ObjectStoreError
from deploy_platform.storage.fence import publishing_lease
from deploy_platform.storage.redis_state import PlatformState

__all__ = ["PublishResult", "publish_directory", "RULE_FILES", "WELL_KNOWN"]


@dataclass(frozen=True)
class _File:
    url_path: str
    disk_path: Path
    sha256: str
    size: int


@dataclass(frozen=True)
class PublishResult:
    """What a publish did. `*_reused` = not uploaded: already stored, or a duplicate body."""

    files: int
    bytes: int
    files_uploaded: int
    bytes_uploaded: int
    files_reused: int
    bytes_reused: int
    manifest: Manifest
    #: Precompressed variants (`deploy_platform.publish.compression`): distinct variant
    #: bodies in this deployment, their bytes, and how many of them were uploaded.
    variants: int = 0
    variant_bytes: int = 0
    variants_uploaded: int = 0
    variant_bytes_uploaded: int = 0
    #: Bodies compressed by this publish (the others' variants were known from
    #: their records, `deploy_platform.publish.variants`), and the time spent on variants.
    files_compressed: int = 0
    compress_seconds: float = 0.0
    #: Rule-file lines skipped, each with where and why (`_redirects line 4: ...`).
    warnings: tuple[str, ...] = ()


#: Rule files read from the top of the output into the manifest, never served.
RULE_FILES = ("/_redirects", "/_headers")
#: The one hidden directory that is published (RFC 8615 well-known URIs).
WELL_KNOWN = ".well-known"
_MAX_RULE_FILE_BYTES = 1024 * 1024

_UPLOAD_WORKERS = 8
# What a variant blob is, for anyone reading the bucket directly (the edge does not ask).
_VARIANT_CONTENT_TYPES = {"br": "application/x-brotli", "gzip": "application/gzip"}
_HASH_CHUNK = 1024 * 1024


def publish_directory(
    store: ObjectStore,
    deployment_id: str,
    root: Path,
    *,
    max_workers: int = _UPLOAD_WORKERS,
    routing_config: Mapping[str, Any] | None = None,
    state: PlatformState | None = None,
    strict_rules: bool = False,
    progress: Progress = no_progress,
) -> PublishResult:
    """Upload `root`'s files content-addressed, then write the deployment's manifest.

    `routing_config` is the repository's raw vercel.json / netlify.toml rules
    (`BuildPlan.routing`); with `_redirects` / `_headers` they become the manifest's
    routes. Raises `RoutingError` (a `DeploymentFailed`) before uploading anything.
    With `state`, a publishing lease is held from the first look at the store to
    the manifest, so garbage collection never sweeps a body this deployment
    reuses (`deploy_platform.storage.fence`). A rule-file line that cannot be used is
    skipped with a warning (`PublishResult.warnings`); with `strict_rules` it fails the
    publish instead. `progress` gets the milestones a person watches live: compression,
    the upload's count of bodies, the manifest.
    """
    config = dict(routing_config or {})
    base_path = _base_path(config.pop("base_path", None))
    paths = list(_walk(root))
    rule_files = {url: disk for url, disk in paths if url in RULE_FILES}
    paths = [(base_path + url, disk) for url, disk in paths if url not in RULE_FILES]
    routes, warnings = _routes(rule_files, config)
    if strict_rules and warnings:
        raise RoutingError(
            f"{len(warnings)} rule line(s) cannot be used and strict_rules is on: "
            + "; ".join(warnings)
        )
    if base_path:
        # An app built for a sub-path (CRA `homepage`) is mounted there; the root leads to it.
        home = Redirect(
            "/", f"{base_path}/", status=302, force=True, origin="package.json homepage"
        )
        routes = Routes((home, *routes.redirects), routes.headers)
    lease: AbstractContextManager[None] = (
        nullcontext() if state is None else publishing_lease(state, deployment_id)
    )
    with lease:
        published = _publish(store, deployment_id, paths, routes, max_workers, progress)
    return dataclasses.replace(published, warnings=tuple(warnings))


def _publish(
    store: ObjectStore,
    deployment_id: str,
    paths: list[tuple[str, Path]],
    routes: Routes,
    max_workers: int,
    progress: Progress,
) -> PublishResult:
    with (
        ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="publish") as pool,
        tempfile.TemporaryDirectory(prefix="dp-variants-") as workdir,
    ):
        files = list(pool.map(lambda item: _hash(*item), paths))
        first_by_blob: dict[str, _File] = {}
        for file in files:
            first_by_blob.setdefault(file.sha256, file)
        compress_started = time.monotonic()
        variants, compressed = _make_variants(store, pool, files, Path(workdir))
        compress_seconds = time.monotonic() - compress_started
        if compressed:
            count = f"{len(compressed)} file{'' if len(compressed) == 1 else 's'}"
            progress("compress", f"compressed {count} ({compress_seconds:.1f} s)")
        # A variant can equal a published body (a site that ships its own `x.js.br`).
        unique_variants = {
            v.sha256: v for vs in variants.values() for v in vs if v.sha256 not in first_by_blob
        }
        missing = store.missing(
            [blob_key(sha) for sha in first_by_blob] + [blob_key(sha) for sha in unique_variants]
        )
        to_upload = [f for sha, f in first_by_blob.items() if blob_key(sha) in missing]
        variants_to_upload = [v for sha, v in unique_variants.items() if blob_key(sha) in missing]
        bodies = len(to_upload) + len(variants_to_upload)
        size = sum(f.size for f in to_upload) + sum(v.size for v in variants_to_upload)
        if bodies:
            progress("upload", f"uploading {_bodies(bodies)} ({human_bytes(size)})")
        else:
            stored = len(first_by_blob) + len(unique_variants)
            progress("upload", f"nothing to upload: {_bodies(stored)} already stored")
        uploads = Counter(progress, "upload", bodies, lambda n, m: f"uploaded {n} of {_bodies(m)}")

        def put_file(f: _File) -> None:
            store.put_file(blob_key(f.sha256), f.disk_path, content_type_for(f.url_path))
            uploads.add()

        def put_variant(v: CompressedVariant) -> None:
            _put_variant(store, v)
            uploads.add()

        # list() drains the iterator so the first failed upload raises here.
        list(pool.map(put_file, to_upload))
        list(pool.map(put_variant, variants_to_upload))
        write_variant_records(store, pool, compressed)
        links = _early_hints(pool, files)
    manifest = Manifest(
        deployment=deployment_id,
        files={f.url_path: _entry(f, variants, links) for f in files},
        created_at=time.time(),
        routes=routes or None,
    )
    store.put_bytes(manifest_key(deployment_id), manifest.to_json(), "application/json")
    progress("manifest", f"manifest written ({len(files)} file{'' if len(files) == 1 else 's'})")
    total_bytes = sum(f.size for f in files)
    uploaded_bytes = sum(f.size for f in to_upload)
    return PublishResult(
        files=len(files),
        bytes=total_bytes,
        files_uploaded=len(to_upload),
        bytes_uploaded=uploaded_bytes,
        files_reused=len(files) - len(to_upload),
        bytes_reused=total_bytes - uploaded_bytes,
        manifest=manifest,
        variants=len(unique_variants),
        variant_bytes=sum(v.size for v in unique_variants.values()),
        variants_uploaded=len(variants_to_upload),
        variant_bytes_uploaded=sum(v.size for v in variants_to_upload),
        files_compressed=len(compressed),
        compress_seconds=compress_seconds,
    )


def _bodies(count: int) -> str:
    return f"{count} bod{'y' if count == 1 else 'ies'}"


def _make_variants(
    store: ObjectStore, pool: ThreadPoolExecutor, files: list[_File], workdir: Path
) -> tuple[dict[str, list[CompressedVariant]], dict[str, list[CompressedVariant]]]:
    """(blob sha256 -> its variants worth keeping, the part of that compressed now).

    Each body is compressed at most once, and not at all when a record of an
    earlier publish names its variants and they are still stored.
    """
    candidates: dict[str, _File] = {}
    for file in files:
        if file.size >= MIN_SIZE and is_compressible(content_type_for(file.url_path)):
            candidates.setdefault(file.sha256, file)
    known = read_variant_records(store, pool, candidates)
    todo = [f for sha, f in candidates.items() if sha not in known]
    made = pool.map(
        lambda f: compress_file(f.disk_path, f.size, content_type_for(f.url_path), workdir), todo
    )
    compressed = {f.sha256: variants for f, variants in zip(todo, made, strict=True)}
    return {**known, **compressed}, compressed


def _put_variant(store: ObjectStore, variant: CompressedVariant) -> None:
    if variant.path is None:  # known from a record, checked a moment ago, gone since
        raise ObjectStoreError(
            f"variant blob {blob_key(variant.sha256)} was deleted while publishing; publish again"
        )
    store.put_file(blob_key(variant.sha256), variant.path, _VARIANT_CONTENT_TYPES[variant.encoding])


def _early_hints(pool: ThreadPoolExecutor, files: list[_File]) -> dict[str, str]:
    """HTML body sha256 -> the `Link` header its hint elements make (`publish.early_hints`)."""
    pages = {f.sha256: f for f in files if content_type_for(f.url_path).startswith("text/html")}
    found = pool.map(lambda f: link_header_for_file(f.disk_path), pages.values())
    return {sha: link for sha, link in zip(pages, found, strict=True) if link}


def _entry(
    file: _File, variants: Mapping[str, list[CompressedVariant]], links: Mapping[str, str]
) -> FileEntry:
    # The same body can sit under a compressible and an incompressible name
    # (`a.txt`, `a.bin`); only the compressible one is offered compressed.
    encodings = (
        {v.encoding: BlobRef(v.sha256, v.size) for v in variants.get(file.sha256, [])}
        if is_compressible(content_type_for(file.url_path))
        else {}
    )
    entry = FileEntry.for_blob(file.url_path, file.sha256, file.size, encodings)
    link = links.get(file.sha256)
    if link and content_type_for(file.url_path).startswith("text/html"):
        # The page's early hints travel with it; both edges send the entry's headers.
        return dataclasses.replace(entry, headers={"Link": link})
    return entry


_BASE_PATH = re.compile(r"^(?:/[A-Za-z0-9._~-]+)+$")


def _base_path(value: object) -> str:
    if value in (None, "", "/"):
        return ""
    if not isinstance(value, str) or not _BASE_PATH.match(value) or "/../" in value + "/":
        raise RoutingError(f"the site's base path {value!r} is not a plain URL path like /app")
    return value.rstrip("/")


def _routes(
    rule_files: Mapping[str, Path], config: Mapping[str, Any] | None
) -> tuple[Routes, list[str]]:
    # A rule file never fails the deployment (as on Pages): what cannot be read is a warning.
    texts: dict[str, str | None] = {}
    warnings: list[str] = []
    for url in RULE_FILES:
        disk = rule_files.get(url)
        if disk is None:
            texts[url] = None
            continue
        name = url.lstrip("/")
        with disk.open("rb") as handle:
            data = handle.read(_MAX_RULE_FILE_BYTES + 1)
        if len(data) > _MAX_RULE_FILE_BYTES:
            data = data[:_MAX_RULE_FILE_BYTES].rsplit(b"\n", 1)[0]
            warnings.append(
                f"{name}: skipped everything after the first {_MAX_RULE_FILE_BYTES // 1024} KiB"
            )
        try:
            texts[url] = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            texts[url] = data.decode("utf-8-sig", errors="replace")
            warnings.append(
                f"{name}: not UTF-8 text ({exc.reason} at byte {exc.start}); "
                "the bytes that are not were replaced"
            )
    routes, skipped = load_routes(texts["/_redirects"], texts["/_headers"], config)
    return routes, warnings + skipped


def _walk(root: Path) -> Iterator[tuple[str, Path]]:
    """(URL path, file on disk) for every file under root that is not hidden (see above);
    symlinks must stay inside it."""
    real_root = Path(os.path.realpath(root))

    def visit(
        directory: Path, url_prefix: str, ancestors: frozenset[Path]
    ) -> Iterator[tuple[str, Path]]:
        real_dir = Path(os.path.realpath(directory))
        if real_dir in ancestors:  # a symlink loop: the directory contains itself
            return
        ancestors = ancestors | {real_dir}
        for entry in sorted(os.scandir(directory), key=lambda e: e.name):
            # SECURITY: `.git/`, `.env` and the like must never become public URLs.
            if entry.name.startswith(".") and not (entry.name == WELL_KNOWN and entry.is_dir()):
                continue
            path = Path(entry.path)
            url_path = f"{url_prefix}{entry.name}"
            if entry.is_symlink():
                target = Path(os.path.realpath(path))
                # SECURITY: a link out of the tree would publish files from the build host.
                if target != real_root and real_root not in target.parents:
                    raise UnsafeArchive(
                        f"{url_path} is a symlink that points outside the published directory"
                    )
            if entry.is_dir():
                yield from visit(path, url_path + "/", ancestors)
            elif entry.is_file():
                yield url_path, path

    yield from visit(root, "/", frozenset())


def _hash(url_path: str, path: Path) -> _File:
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as handle:
        while chunk := handle.read(_HASH_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return _File(url_path=url_path, disk_path=path, sha256=digest.hexdigest(), size=size)
