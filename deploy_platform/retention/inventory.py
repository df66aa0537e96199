"""What retention looks at: deployment records, alias pointers, stored objects (dagster-free).

Deployments are the records in Redis (`P deployment:<id>`); a manifest whose
record is gone (Redis rebuilt from the store) has no project or branch to
judge it by, so it is left alone and counted. Aliases are read from both the
durable pointers `aliases/<name>.json` (with their `previous` and skew history)
and the Redis index `P alias:<name>`: whatever either says is needed stays.
"""

from __future__ import annotations

import json
import logging
import re
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field

from deploy_platform.contracts.ids import is_deployment_id
from deploy_platform.contracts.manifest import alias_key
from deploy_platform.contracts.records import DeploymentRecord
from deploy_platform.contracts.skew import history_from_pointer, within_grace
from deploy_platform.storage import ObjectNotFound, ObjectStore
from deploy_platform.storage.redis_state import PlatformState

__all__ = ["deployment_records", "needed_by_aliases", "StoredBytes", "stored_bytes"]

log = logging.getLogger(__name__)

_ALIAS_POINTER = re.compile(r"^aliases/(.+)\.json$")
_OWN_KEYS = (
    re.compile(r"^sources/([a-z0-9]+)\.tar\.gz$"),
    re.compile(r"^artifacts/([a-z0-9]+)\.(?:tar\.gz|routing\.json)$"),
    re.compile(r"^deployments/([a-z0-9]+)/.+$"),
)
_SCAN_PAGE = 500


def _glob_escape(text: str) -> str:
    return re.sub(r"([*?\[\]\\])", r"\\\1", text)


def deployment_records(state: PlatformState) -> Iterator[DeploymentRecord]:
    """Every deployment record in Redis; unreadable ones are logged and skipped (kept)."""
    keys: list[bytes] = []
    for key in state.redis.scan_iter(
        match=_glob_escape(state.key("deployment", "")) + "*", count=_SCAN_PAGE
    ):
        keys.append(key)
        if len(keys) == _SCAN_PAGE:
            yield from _load(state, keys)
            keys = []
    yield from _load(state, keys)


def _load(state: PlatformState, keys: list[bytes]) -> Iterator[DeploymentRecord]:
    if not keys:
        return
    for key, raw in zip(keys, state.redis.mget(keys), strict=True):
        if raw is None:
            continue  # deleted since the scan
        try:
            yield DeploymentRecord.from_json(raw)
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("record %s is unreadable (%s); left alone", key.decode(), exc)


def needed_by_aliases(
    store: ObjectStore, state: PlatformState, now: float, grace_seconds: float
) -> dict[str, list[str]]:
    """deployment id -> why an alias needs it (pointed at, rollback target, skew grace)."""
    needed: dict[str, list[str]] = defaultdict(list)
    for info in store.list("aliases/"):
        match = _ALIAS_POINTER.match(info.key)
        if match is None:
            continue
        alias = match.group(1)
        pointer = _pointer(store, alias)
        if pointer is None:
            continue
        current, previous = pointer.get("deployment"), pointer.get("previous")
        if isinstance(current, str):
            needed[current].append(f"alias {alias}")
        if isinstance(previous, str) and previous != current:
            needed[previous].append(f"previous deployment of alias {alias} (rollback)")
        history = history_from_pointer(pointer)
        for deployment in within_grace(history, now, grace_seconds):
            needed[deployment].append(f"skew protection of alias {alias}")
    prefix = state.key("alias", "")
    alias_keys = list(state.redis.scan_iter(match=_glob_escape(prefix) + "*", count=_SCAN_PAGE))
    if alias_keys:
        for key, value in zip(alias_keys, state.redis.mget(alias_keys), strict=True):
            if value is not None:
                alias, deployment = key.decode()[len(prefix) :], value.decode()
                if f"alias {alias}" not in needed[deployment]:
                    needed[deployment].append(f"alias {alias}")
    return {deployment: reasons for deployment, reasons in needed.items() if reasons}


def _pointer(store: ObjectStore, alias: str) -> dict[str, object] | None:
    try:
        data = json.loads(store.get_bytes(alias_key(alias)))
    except ObjectNotFound:
        return None
    except ValueError:
        # Unreadable: what it points at is unknown, so nothing may go; say so.
        raise ValueError(
            f"alias pointer {alias_key(alias)} is not JSON; fix or remove it before collecting "
            "garbage (retention cannot tell which deployment it keeps alive)"
        ) from None
    return data if isinstance(data, dict) else None


@dataclass
class StoredBytes:
    """Objects a deployment owns (source, artifact, manifest): id -> keys and sizes."""

    keys: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    sizes: dict[str, int] = field(default_factory=lambda: defaultdict(int))


def stored_bytes(store: ObjectStore) -> StoredBytes:
    """One listing per prefix, not a request per deployment."""
    owned = StoredBytes()
    for prefix in ("sources/", "artifacts/", "deployments/"):
        for info in store.list(prefix):
            for pattern in _OWN_KEYS:
                match = pattern.match(info.key)
                if match and is_deployment_id(match.group(1)):
                    owned.keys[match.group(1)].append(info.key)
                    owned.sizes[match.group(1)] += info.size
                    break
    return owned
