"""The Worker's optional KV indexes, written by the platform (dagster-free).

The Cloudflare Worker (`edge-worker/`) reads two optional KV namespaces before
the R2 objects they mirror, key -> the same JSON bytes as the object:

  ALIASES   alias name -> `aliases/<name>.json`     written by the publisher
                                                    (`KVAliasIndex.pointer_written`)
  DOMAINS   hostname   -> `domains/<hostname>.json` written by the control API
                                                    (`KVDomainIndex.domain_changed`)

through the Cloudflare API

    PUT|DELETE {DP_CF_API_URL}/accounts/{DP_CF_ACCOUNT_ID}/storage/kv/namespaces/
        {namespace id}/values/{key}      Authorization: Bearer {DP_CF_API_TOKEN}

(a PUT's body is the value; Cloudflare answers `{"success": true, ...}`).
Settings: DP_CF_ACCOUNT_ID, DP_CF_API_TOKEN and DP_CF_KV_NAMESPACE_ID (ALIASES)
turn the indexes on: all three or none (`KVConfig.from_values` returns None
when none is set; a `KVConfigError` names the ones missing). The domain index
is an optional addition: DP_CF_KV_DOMAINS_NAMESPACE_ID (DOMAINS) with those
three. Not on its own, because a domain lookup is always followed by an alias
lookup: an isolate that reads domains from KV and aliases from R2 would gain
little, and one namespace id without the other two settings is a half-set
configuration like any other.

The R2 object is the source of truth, so a failed KV write never fails a
deployment or an API call once the object is written. It is not harmless
either: the Worker trusts a KV value it can parse, so a key left on the
previous deployment (or on a removed domain's project) would keep serving it.
So on a failed write the key is deleted (the Worker then reads R2), the failure
is logged as a warning and recorded in Redis (`<prefix>kv-alias-failures` or
`<prefix>kv-domain-failures`: key -> JSON reason); the key's next successful
write clears its record. A record whose `kv` says `stale` is a key that could
not be deleted either: KV may hold the old value until that key is written
again (for a domain: until it is added or removed again). Retrying other keys
from here would race with their own writers, which hold their locks.

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
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import ClassVar

import redis

from deploy_platform.contracts.domains import domain_key
from deploy_platform.contracts.errors import DeploymentFailed
from deploy_platform.contracts.manifest import alias_key
from deploy_platform.storage import ObjectNotFound, ObjectStore
from deploy_platform.storage.redis_state import PlatformState

__all__ = [
    "DEFAULT_API_URL",
    "KVConfig",
    "KVConfigError",
    "KVWriteError",
    "CloudflareKV",
    "KVAliasIndex",
    "KVDomainIndex",
    "CF_VARIABLES",
]

DEFAULT_API_URL = "https://api.cloudflare.com/client/v4"
_TIMEOUT_SECONDS = 10.0
_log = logging.getLogger(__name__)
#: Every setting of the KV indexes, in `KVConfig.from_values`'s order.
CF_VARIABLES = (
    "DP_CF_API_URL",
    "DP_CF_ACCOUNT_ID",
    "DP_CF_KV_NAMESPACE_ID",
    "DP_CF_API_TOKEN",
    "DP_CF_KV_DOMAINS_NAMESPACE_ID",
)


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
    #: The DOMAINS namespace; empty: custom domains are not indexed in KV.
    domains_namespace_id: str = ""
    timeout_seconds: float = _TIMEOUT_SECONDS

    @classmethod
    def from_values(
        cls,
        api_url: str,
        account_id: str,
        namespace_id: str,
        api_token: str,
        domains_namespace_id: str = "",
    ) -> KVConfig | None:
        """From DP_CF_API_URL, DP_CF_ACCOUNT_ID, DP_CF_KV_NAMESPACE_ID, DP_CF_API_TOKEN
        and DP_CF_KV_DOMAINS_NAMESPACE_ID (the order of `CF_VARIABLES`)."""
        given = {
            "DP_CF_ACCOUNT_ID": account_id.strip(),
            "DP_CF_KV_NAMESPACE_ID": namespace_id.strip(),
            "DP_CF_API_TOKEN": api_token.strip(),
        }
        domains = domains_namespace_id.strip()
        missing = [name for name, value in given.items() if not value]
        if len(missing) == len(given) and not domains:
            return None
        if missing:
            raise KVConfigError(
                f"the Worker's KV alias index needs {', '.join(missing)} as well "
                "(or leave all DP_CF_* unset to write no index"
                + (
                    "; DP_CF_KV_DOMAINS_NAMESPACE_ID adds the domain index to the alias index)"
                    if domains
                    else ")"
                )
            )
        url = (api_url.strip() or DEFAULT_API_URL).rstrip("/")
        parsed = urllib.parse.urlsplit(url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc or parsed.query:
            raise KVConfigError(
                f"DP_CF_API_URL {api_url!r} is not an http(s) URL (default {DEFAULT_API_URL})"
            )
        ids = {**given, "DP_CF_KV_DOMAINS_NAMESPACE_ID": domains}
        for name in ("DP_CF_ACCOUNT_ID", "DP_CF_KV_NAMESPACE_ID", "DP_CF_KV_DOMAINS_NAMESPACE_ID"):
            if ids[name] and not ids[name].isalnum():
                raise KVConfigError(f"{name} {ids[name]!r} must be letters and digits only")
        return cls(
            api_url=url,
            account_id=given["DP_CF_ACCOUNT_ID"],
            namespace_id=given["DP_CF_KV_NAMESPACE_ID"],
            api_token=given["DP_CF_API_TOKEN"],
            domains_namespace_id=domains,
        )

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> KVConfig | None:
        """From the `CF_VARIABLES` in `env` (unset counts as empty)."""
        return cls.from_values(*(env.get(name, "") for name in CF_VARIABLES))

    def __repr__(self) -> str:  # never print the token
        return (
            f"KVConfig(api_url={self.api_url!r}, account_id={self.account_id!r}, "
            f"namespace_id={self.namespace_id!r}, "
            f"domains_namespace_id={self.domains_namespace_id!r}, api_token='***')"
        )


class CloudflareKV:
    """Values of one KV namespace, through the Cloudflare API (stdlib HTTP, sync)."""

    def __init__(self, config: KVConfig, namespace_id: str | None = None) -> None:
        """The namespace `namespace_id`; by default the alias index's (DP_CF_KV_NAMESPACE_ID)."""
        self.config = config
        self.namespace_id = config.namespace_id if namespace_id is None else namespace_id

    def put(self, key: str, value: bytes) -> None:
        self._request("PUT", key, value)

    def delete(self, key: str) -> None:
        self._request("DELETE", key, None)

    def _url(self, key: str) -> str:
        c = self.config
        # The key is one path segment: quote "/" too.
        return (
            f"{c.api_url}/accounts/{c.account_id}/storage/kv/namespaces/{self.namespace_id}"
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


@dataclass(frozen=True)
class _Mirrored:
    """One kind of R2 object a KV index mirrors, and the words its messages use."""

    #: What a key names, for messages ("alias", "domain").
    kind: str
    #: The Redis hash (under the prefix) of keys whose KV value is not known to be right.
    failures_key: str
    #: What a key KV could not delete may still do.
    stale_effect: str
    #: What goes on regardless of KV.
    goes_on: str
    #: The object store key a KV key mirrors.
    object_key: Callable[[str], str]


_ALIASES = _Mirrored(
    "alias",
    "kv-alias-failures",
    "KV may still name the previous deployment",
    "The deploy goes on",
    alias_key,
)
_DOMAINS = _Mirrored(
    "domain",
    "kv-domain-failures",
    "KV may still map the hostname to its old project",
    "The domain change stands",
    domain_key,
)


class _KVMirror:
    """Copies one kind of R2 object to KV, key by key, with the failure rules of the module doc."""

    mirrored: ClassVar[_Mirrored]

    def __init__(
        self,
        kv: CloudflareKV,
        state: PlatformState,
        warn: Callable[[str], None] | None = None,
    ) -> None:
        self.kv = kv
        self.state = state
        self.warn = warn or _log.warning

    def failures(self) -> dict[str, dict[str, object]]:
        """Keys whose KV value is not (known to be) their object: key -> reason."""
        raw = self.state.redis.hgetall(self.state.key(self.mirrored.failures_key))
        return {key.decode(): json.loads(value) for key, value in raw.items()}

    def _mirror(self, store: ObjectStore, key: str) -> bool:
        """Make KV hold what the store holds for `key` (or nothing); True if so. Never raises."""
        try:
            # The stored bytes, whatever fields the object has: KV must equal R2.
            self.kv.put(key, store.get_bytes(self.mirrored.object_key(key)))
        except ObjectNotFound:
            return self._drop(key, f"{self.mirrored.object_key(key)} is not in the object store")
        except Exception as exc:  # noqa: BLE001 - a KV problem must never fail the caller
            return self._failed(key, exc)
        self._record(key, None)
        return True

    def _drop(self, key: str, why: str) -> bool:
        try:
            self.kv.delete(key)
        except Exception as exc:  # noqa: BLE001
            return self._failed(key, exc)
        self._record(key, None)
        _log.info("KV %s %s deleted: %s", self.mirrored.kind, key, why)
        return True

    def _failed(self, key: str, error: Exception) -> bool:
        try:
            self.kv.delete(key)
            outcome, effect = "deleted", "deleted the key, so the Worker reads R2"
        except Exception:  # noqa: BLE001
            outcome = "stale"
            effect = f"could not delete it either: {self.mirrored.stale_effect}"
        self._record(key, {"error": str(error), "kv": outcome, "at": time.time()})
        mirrored = self.mirrored
        self.warn(
            f"KV {mirrored.kind} index: {mirrored.kind} {key} not written ({error}); {effect}. "
            f"{mirrored.goes_on} (R2 is the source of truth); recorded in Redis "
            f"{self.state.key(mirrored.failures_key)} until the {mirrored.kind} is written again."
        )
        return False

    def _record(self, key: str, failure: dict[str, object] | None) -> None:
        """Set or clear the key's failure record; Redis trouble is only worth a warning here."""
        name = self.state.key(self.mirrored.failures_key)
        try:
            if failure is None:
                self.state.redis.hdel(name, key)
            else:
                self.state.redis.hset(name, key, json.dumps(failure))
        except redis.RedisError as exc:
            kind = self.mirrored.kind
            self.warn(f"KV {kind} index: could not update {name}[{key}] in Redis: {exc}")


class KVAliasIndex(_KVMirror):
    """The publisher's hook: copies each alias pointer just written to KV ALIASES."""

    mirrored = _ALIASES

    def pointer_written(self, store: ObjectStore, alias: str) -> bool:
        """Mirror `aliases/<alias>.json` to KV; True when KV now holds it. Never raises.

        Called under the alias's lock (deploy_platform.publish.aliases), so two writers of
        one alias reach KV in the order their pointers reached the store.
        """
        return self._mirror(store, alias)


class KVDomainIndex(_KVMirror):
    """The control API's hook: copies each custom domain added or removed to KV DOMAINS."""

    mirrored = _DOMAINS

    def domain_changed(self, store: ObjectStore, hostname: str) -> bool:
        """PUT `domains/<hostname>.json`'s bytes to KV, or DELETE the key when there is
        none; True when KV now matches the store. Never raises.

        Called under the domain's lock (deploy_platform.projects.domains), so two changes of
        one hostname reach KV in the order they reached the store.
        """
        return self._mirror(store, hostname)
