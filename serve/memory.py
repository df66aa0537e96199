"""What the edge-origin keeps in memory, and what each cached thing is counted as.

Every cache the edge holds is bounded, so resident memory stays under the
configured cache size (`EdgeConfig.cache_bytes`) plus a fixed allowance for the
interpreter, its libraries and connections (150 MB is the goal, measured by
`benchmarks/edge_memory.py` with 10,000 deployments):

  manifests      LRU, by estimated bytes      DP_EDGE_MANIFEST_CACHE_BYTES
  file bodies    LRU, by bytes + overhead     DP_EDGE_BODY_CACHE_BYTES
  alias answers  TTL, ALIAS_ENTRIES entries   fixed, a few MB at most
  domain answers, alias histories: the same
  "no such ..."  TTL, NEGATIVE_ENTRIES each   fixed, a few MB at most
  single-flight  one task per lookup or small-body read in flight (bounded
                 by open requests)

Manifests differ a thousandfold in size (a 3-file site, a 20,000-file docs
site), so counting them would bound nothing; they are weighed instead. The
weight is estimated from the manifest's JSON, which is on hand when it is read
and grows with every field a manifest carries (paths, blobs, variants, header
overrides). Parsed, a manifest's file entries take about 2.4 times their JSON
size in Python objects; each compiled routing rule costs 1.4 to 2 KB, far
more than its JSON (measured with tracemalloc: `tests/serve/test_memory.py`).
The estimate errs on the high side, so the cache stays within its budget.

A cached body costs its length plus the entry around it (the bytes object's
header, the 64-character key, the LRU's bookkeeping); without that overhead a
cache full of tiny bodies would hold several times its budget.
"""

from __future__ import annotations

from deploy_platform.contracts.manifest import Manifest

__all__ = [
    "ALIAS_ENTRIES",
    "NEGATIVE_ENTRIES",
    "BODY_ENTRY_OVERHEAD",
    "body_weight",
    "manifest_weight",
]

#: Alias answers kept (each a name and an id: ~300 bytes with its bookkeeping).
ALIAS_ENTRIES = 10_000
#: "No such alias / deployment" answers kept, so random hosts cannot grow memory.
NEGATIVE_ENTRIES = 10_000
#: Bytes a cached body costs beyond its own length.
BODY_ENTRY_OVERHEAD = 400

_MANIFEST_BASE = 3072  # the Manifest and its dicts, even when nearly empty
_JSON_FACTOR = 3  # parsed entries take ~2.4x their JSON; rounded up to stay on the safe side
_RULE_COST = 2048  # a compiled redirect or header rule (regex, tuples, strings)


def manifest_weight(raw_json_bytes: int, manifest: Manifest) -> int:
    """Estimated bytes the parsed `manifest` occupies, from the size of its JSON."""
    rules = 0
    if manifest.routes is not None:
        rules = len(manifest.routes.redirects) + len(manifest.routes.headers)
    return _MANIFEST_BASE + _JSON_FACTOR * raw_json_bytes + _RULE_COST * rules


def body_weight(body: bytes) -> int:
    """Bytes a cached body costs: its length plus the cache entry around it."""
    return len(body) + BODY_ENTRY_OVERHEAD
