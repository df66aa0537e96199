"""The Worker's optional KV alias index, written by the publisher (dagster-free).

The Cloudflare Worker (`edge-worker/`) reads an alias from its KV namespace
ALIASES before the R2 pointer `aliases/<name>.json`: key the alias name, value
the same JSON bytes as that pointer. This module keeps KV in step: after the
publisher writes a pointer, `KVAliasIndex.pointer_written` copies the stored
bytes to KV through the Cloudflare API

    PUT {DP_CF_API_URL}/accounts/{DP_CF_ACCOUNT_ID}/storage/kv/namespaces/
        {DP_CF_KV_NAMESPACE_ID}/values/{alias}      Authorization: Bearer {DP_CF_API_TOKEN}

(the body is the value; Cloudflare answers `{"success": true, ...}`). With none
of account, namespace and token set, there is no index (`KVConfig.from_values`
returns None); with some set, a `KVConfigError` names the ones missing.

The R2 pointer is the source of truth, so a failed KV write never fails a
deployment. It is not harmless either: the Worker trusts a KV value it can
parse, so a key left on the previous deployment would keep serving it. So on a
failed write the key is deleted (the Worker then reads R2), the failure is
logged as a warning and recorded in Redis (`<prefix>kv-alias-failures`: alias ->
JSON reason); the alias's next successful write clears its record. A record
whose `kv` says `stale` is an alias whose key could not be deleted either: KV
may name an old deployment until that alias is written again. (Retrying other
aliases from here would race with their own writers, which hold their locks.)

Every request has a timeout (`timeout_seconds`, 10 s); errors are
`KVWriteError` with Cloudflare's own error messages when it gave any.
"""

from __future__ import annotations

import json
import logging
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass

from deploy_platform.errors import DeploymentFailed
from deploy_platform.manifest import alias_key
from deploy_platform.state import PlatformState
from deploy_platform.storage import ObjectNotFound, ObjectStore

__all__ = [
    "DEFAULT_API_URL",
    "KVConfig",
    "KVConfigError",
    "KVWriteError",
    "CloudflareKV",
    "KVAliasIndex",
]

DEFAULT_API_URL = "https://api.cloudflare.com/client/v4"
_TIMEOUT_SECONDS = 10.0
_FAILURES_KEY = "kv-alias-failures"
_log = logging.getLogger(__name__)


class KVConfigError(DeploymentFailed, ValueError):
    """The DP_CF_* settings are incomplete or malformed; the message names them.

    A DeploymentFailed, so a deploy that meets it fails before publishing, with
    this message as its error (and `up` refuses to start with it).
    """


class KVWriteError(Exception):
    """Cloudflare did not store (or delete) a value."""


@dataclass(frozen=True)
class KVConfig:
    api_url: str
    account_id: str
    namespace_id: str
    api_token: str
    timeout_seconds: float = _TIMEOUT_SECONDS

    @classmethod
    def from_values(
        cls, api_url: str, account_id: str, namespace_id: str, api_token: str
    ) -> KVConfig | None:
        """From DP_CF_API_URL, DP_CF_ACCOUNT_ID, DP_CF_KV_NAMESPACE_ID, DP_CF_API_TOKEN."""
        given = {
            "DP_CF_ACCOUNT_ID": account_id.strip(),
            "DP_CF_KV_NAMESPACE_ID": namespace_id.strip(),
            "DP_CF_API_TOKEN": api_token.strip(),
        }
        missing = [name for name, value in given.items() if not value]
        if len(missing) == len(given):
            return None
        if missing:
            raise KVConfigError(
                f"the Worker's KV alias index needs {', '.join(missing)} as well "
                "(or leave all DP_CF_* unset to write no index)"
            )
        url = (api_url.strip() or DEFAULT_API_URL).rstrip("/")
        parsed = urllib.parse.urlsplit(url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc or parsed.query:
            raise KVConfigError(
                f"DP_CF_API_URL {api_url!r} is not an http(s) URL (default {DEFAULT_API_URL})"
            )
        for name in ("DP_CF_ACCOUNT_ID", "DP_CF_KV_NAMESPACE_ID"):
            if not given[name].isalnum():
                raise KVConfigError(f"{name} {given[name]!r} must be letters and digits only")
        return cls(
            api_url=url,
            account_id=given["DP_CF_ACCOUNT_ID"],
            namespace_id=given["DP_CF_KV_NAMESPACE_ID"],
            api_token=given["DP_CF_API_TOKEN"],
        )

    def __repr__(self) -> str:  # never print the token
        return (
            f"KVConfig(api_url={self.api_url!r}, account_id={self.account_id!r}, "
            f"namespace_id={self.namespace_id!r}, api_token='***')"
        )


class CloudflareKV:
    """Values of one KV namespace, through the Cloudflare API (stdlib HTTP, sync)."""

    def __init__(self, config: KVConfig) -> None:
        self.config = config

    def put(self, key: str, value: bytes) -> None:
        self._request("PUT", key, value)

    def delete(self, key: str) -> None:
        self._request("DELETE", key, None)

    def _url(self, key: str) -> str:
        c = self.config
        # The key is one path segment: quote "/" too.
        return (
            f"{c.api_url}/accounts/{c.account_id}/storage/kv/namespaces/{c.namespace_id}"
            f"/values/{urllib.parse.quote(key, safe='')}"
        )

    def _request(self, method: str, key: str, body: bytes | None) -> None:
        headers = {"Authorization": f"Bearer {self.config.api_token}"}
        if body is not None:
            headers["Content-Type"] = "application/octet-stream"
        request = urllib.request.Request(self._url(key), data=body, headers=headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=self.config.timeout_seconds) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as exc:
            status, raw = exc.code, exc.read()
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
            raise KVWriteError(
                f"{method} KV {key!r}: {self.config.api_url} unreachable: {reason}"
            ) from None
        try:
            answer = json.loads(raw)
        except ValueError:
            answer = None
        if 200 <= status < 300 and isinstance(answer, dict) and answer.get("success") is True:
            return
        raise KVWriteError(f"{method} KV {key!r}: HTTP {status}: {_errors(answer, raw)}")


def _errors(answer: object, raw: bytes) -> str:
    if isinstance(answer, dict) and isinstance(answer.get("errors"), list) and answer["errors"]:
        return "; ".join(
            f"{e.get('code', '?')} {e.get('message', '')}".strip()
            if isinstance(e, dict)
            else str(e)
            for e in answer["errors"]
        )
    return raw[:200].decode("utf-8", "replace") or "(empty answer)"


class KVAliasIndex:
    """The publisher's hook: copies each alias pointer just written to KV (see module doc)."""

    def __init__(
        self,
        kv: CloudflareKV,
        state: PlatformState,
        warn: Callable[[str], None] | None = None,
    ) -> None:
        self.kv = kv
        self.state = state
        self.warn = warn or _log.warning

    def pointer_written(self, store: ObjectStore, alias: str) -> bool:
        """Mirror `aliases/<alias>.json` to KV; True when KV now holds it. Never raises.

        Called under the alias's lock (deploy_platform.publish), so two writers of
        one alias reach KV in the order their pointers reached the store.
        """
        return self._mirror(store, alias)

    def failures(self) -> dict[str, dict[str, object]]:
        """Aliases whose KV value is not (known to be) their pointer: alias -> reason."""
        raw = self.state.redis.hgetall(self.state.key(_FAILURES_KEY))
        return {key.decode(): json.loads(value) for key, value in raw.items()}

    def _mirror(self, store: ObjectStore, alias: str) -> bool:
        failures_key = self.state.key(_FAILURES_KEY)
        try:
            # The stored bytes, whatever fields the pointer has: KV must equal R2.
            self.kv.put(alias, store.get_bytes(alias_key(alias)))
        except ObjectNotFound:
            return self._drop(alias, "its pointer is gone from the object store")
        except Exception as exc:  # noqa: BLE001 - a KV problem must never fail a deploy
            return self._failed(alias, exc)
        self.state.redis.hdel(failures_key, alias)
        return True

    def _drop(self, alias: str, why: str) -> bool:
        try:
            self.kv.delete(alias)
        except Exception as exc:  # noqa: BLE001
            return self._failed(alias, exc)
        self.state.redis.hdel(self.state.key(_FAILURES_KEY), alias)
        _log.info("KV alias %s deleted: %s", alias, why)
        return True

    def _failed(self, alias: str, error: Exception) -> bool:
        try:
            self.kv.delete(alias)
            outcome, effect = "deleted", "deleted the key, so the Worker reads the R2 pointer"
        except Exception:  # noqa: BLE001
            outcome = "stale"
            effect = "could not delete it either: KV may still name the previous deployment"
        self.state.redis.hset(
            self.state.key(_FAILURES_KEY),
            alias,
            json.dumps({"error": str(error), "kv": outcome, "at": time.time()}),
        )
        self.warn(
            f"KV alias index: alias {alias} not written ({error}); {effect}. "
            "The deploy goes on (the R2 pointer is the source of truth); recorded in Redis "
            f"{self.state.key(_FAILURES_KEY)} until the alias is written again."
        )
        return False
