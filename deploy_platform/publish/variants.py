"""Variant records: what compressing a body gave, so a redeploy need not compress it again.

Brotli at quality 11 runs at well under 1 MB/s, and the hash of a variant is
only known after compressing; without a record, every deployment would
compress every file again just to learn the names of blobs already stored.
After its variants are stored, each compressed body gets a record:

  variants/<sha256 of the body>.json
    {"settings": "<compression.SETTINGS>",
     "encodings": {"br": {"blob": "<sha256>", "size": 41}, "gzip": {...}}}

(`encodings` is empty when no variant was worth keeping.) A record is used only
when its settings equal the current ones and every blob it names is in the
store; anything else (missing, unreadable, other settings, a deleted blob) just
means compressing again. Records are a cache: deleting them loses nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from concurrent.futures import Executor

from deploy_platform.contracts.manifest import BlobRef, InvalidManifest, blob_key
from deploy_platform.publish.compression import SETTINGS, CompressedVariant
from deploy_platform.storage import ObjectNotFound, ObjectStore

__all__ = ["variants_key", "read_variant_records", "write_variant_records"]


def variants_key(sha256: str) -> str:
    return f"variants/{sha256}.json"


def read_variant_records(
    store: ObjectStore, pool: Executor, shas: Iterable[str]
) -> dict[str, list[CompressedVariant]]:
    """body sha256 -> its stored variants, for the bodies with a usable record."""
    wanted = list(shas)
    found = {
        sha: variants
        for sha, variants in zip(
            wanted, pool.map(lambda sha: _read(store, sha), wanted), strict=True
        )
        if variants is not None
    }
    named = {blob_key(v.sha256) for variants in found.values() for v in variants}
    gone = store.missing(named) if named else set()
    return {
        sha: variants
        for sha, variants in found.items()
        if not any(blob_key(v.sha256) in gone for v in variants)
    }


def write_variant_records(
    store: ObjectStore, pool: Executor, compressed: Mapping[str, list[CompressedVariant]]
) -> None:
    """Record what compressing each body gave; call once its variant blobs are stored."""

    def write(item: tuple[str, list[CompressedVariant]]) -> None:
        sha, variants = item
        record = {
            "settings": SETTINGS,
            "encodings": {v.encoding: BlobRef(v.sha256, v.size).to_dict() for v in variants},
        }
        body = json.dumps(record, sort_keys=True).encode()
        store.put_bytes(variants_key(sha), body, "application/json")

    list(pool.map(write, compressed.items()))


def _read(store: ObjectStore, sha: str) -> list[CompressedVariant] | None:
    try:
        record = json.loads(store.get_bytes(variants_key(sha)))
        if not isinstance(record, dict) or record.get("settings") != SETTINGS:
            return None
        encodings = record["encodings"]
        if not isinstance(encodings, dict):
            return None
        refs = {coding: BlobRef.from_dict(ref) for coding, ref in encodings.items()}
    except (ObjectNotFound, ValueError, KeyError, TypeError, InvalidManifest):
        return None
    return [CompressedVariant(coding, None, ref.blob, ref.size) for coding, ref in refs.items()]
