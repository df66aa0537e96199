"""Mark and sweep of file bodies (`blobs/<sha256>`) no manifest references (dagster-free).

Mark: read every manifest in the store (`deployments/<id>/manifest.json`) and
collect the bodies and precompressed variants it names. Sweep: delete the
bodies under `blobs/` that no manifest names, with their variant records
(`variants/<sha256>.json`, a cache). A manifest that cannot be read stops the
sweep: what it references is unknown, so nothing may go.

Two guards make it safe while deployments publish:
  - only bodies written before the mark began (less a margin for the store's
    clock) are candidates, so bodies a publish uploads meanwhile are never
    swept, even by a publisher that holds no lease (an older platform version
    during a rolling upgrade, or a script);
  - each batch is deleted under the sweep fence (`storage/fence.py`), after re-reading
    the manifests written since the mark: a publish that *reused* an old body
    (it was stored, so not uploaded again) has either written its manifest by
    then, or starts after the fence and uploads what is gone.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from deploy_platform.contracts.manifest import InvalidManifest, Manifest, blob_key
from deploy_platform.publish.variants import variants_key
from deploy_platform.storage import ObjectNotFound, ObjectStore
from deploy_platform.storage.fence import FenceBusy, sweep_fence
from deploy_platform.storage.redis_state import PlatformState

__all__ = ["Mark", "mark", "unreferenced", "sweep", "SweepResult", "CLOCK_MARGIN_SECONDS"]

#: Bodies written less than this before the mark began are left for the next
#: run: the store's clock (S3: whole seconds, another machine) may differ from ours.
CLOCK_MARGIN_SECONDS = 300.0
_BATCH = 500
_READERS = 8


@dataclass
class Mark:
    started_at: float
    #: Manifest keys read, and the blob sha256s they reference.
    manifests: set[str] = field(default_factory=set)
    referenced: set[str] = field(default_factory=set)


def manifest_keys(store: ObjectStore) -> list[str]:
    return [i.key for i in store.list("deployments/") if i.key.endswith("/manifest.json")]


def _blobs_of(store: ObjectStore, key: str) -> set[str] | None:
    try:
        manifest = Manifest.from_json(store.get_bytes(key))
    except ObjectNotFound:
        return None  # removed since it was listed
    except InvalidManifest as exc:
        raise InvalidManifest(
            f"{key} cannot be read ({exc}); bodies are not swept while a manifest is unreadable"
        ) from None
    blobs = set()
    for entry in manifest.files.values():
        blobs.add(entry.blob)
        blobs.update(ref.blob for ref in entry.encodings.values())
    return blobs


def mark(store: ObjectStore, *, skip: Iterable[str] = (), into: Mark | None = None) -> Mark:
    """Read the manifests not read yet (and not in `skip`) and add what they reference."""
    result = into or Mark(started_at=time.time())
    todo = [k for k in manifest_keys(store) if k not in result.manifests and k not in set(skip)]
    with ThreadPoolExecutor(max_workers=_READERS, thread_name_prefix="gc-mark") as pool:
        for key, blobs in zip(todo, pool.map(lambda k: _blobs_of(store, k), todo), strict=True):
            result.manifests.add(key)
            result.referenced.update(blobs or ())
    return result


def unreferenced(
    store: ObjectStore, marked: Mark, *, clock_margin_seconds: float = CLOCK_MARGIN_SECONDS
) -> dict[str, int]:
    """blob sha256 -> size of the bodies the mark does not reference, old enough to sweep."""
    cutoff = marked.started_at - clock_margin_seconds
    found = {}
    for info in store.list("blobs/"):
        sha = info.key.removeprefix("blobs/")
        if sha in marked.referenced or "/" in sha:
            continue
        if info.last_modified is None or info.last_modified >= cutoff:
            continue  # written during or just before the mark (or age unknown): spared
        found[sha] = info.size
    return found


@dataclass
class SweepResult:
    removed: dict[str, int] = field(default_factory=dict)
    #: Why the sweep stopped early, if it did (retried by the next run).
    deferred: str | None = None


def sweep(
    store: ObjectStore,
    state: PlatformState,
    marked: Mark,
    candidates: dict[str, int],
    *,
    wait_seconds: float = 60.0,
    skip_manifests: Iterable[str] = (),
    on_batch: Callable[[list[str]], None] | None = None,
) -> SweepResult:
    """Delete `candidates` in batches, each under the fence after a fresh look at manifests."""
    result = SweepResult()
    todo = sorted(candidates)
    skip = set(skip_manifests)
    while todo:
        batch, todo = todo[:_BATCH], todo[_BATCH:]
        if on_batch is not None:
            on_batch(batch)
        try:
            with sweep_fence(state, wait_seconds=wait_seconds):
                mark(store, skip=skip, into=marked)  # manifests written since the mark
                doomed = [sha for sha in batch if sha not in marked.referenced]
                _delete(store, doomed)
        except FenceBusy as exc:
            result.deferred = str(exc)
            return result
        result.removed.update((sha, candidates[sha]) for sha in doomed)
    return result


def _delete(store: ObjectStore, shas: list[str]) -> None:
    keys = [blob_key(sha) for sha in shas] + [variants_key(sha) for sha in shas]
    with ThreadPoolExecutor(max_workers=_READERS, thread_name_prefix="gc-sweep") as pool:
        list(pool.map(store.delete, keys))
