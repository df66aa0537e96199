"""The object store as a Dagster resource: a local directory, or S3/R2 through boto3.

Assets declare `ObjectStoreResource` and call `store()`; the URL picks the
implementation (see `deploy_platform.storage.open_store`), so a test swaps the
URL, never a patch.

Credentials through `dg.EnvVar` (checked with Dagster 1.13.27):
- an environment variable that is *unset* fails the run (or sensor tick) before
  any step starts, with `DagsterInvalidConfigError`: 'You have attempted to fetch
  the environment variable "DP_S3_ACCESS_KEY_ID" which is not set'. The field's
  default (`""`) does not apply once an `EnvVar` is given.
- a variable set to the *empty string* resolves to `""`, which `store()` treats as
  "no explicit credentials": boto3's own chain (environment, profile, IAM role).
So whoever starts Dagster sets DP_S3_ACCESS_KEY_ID / DP_S3_SECRET_ACCESS_KEY,
empty when unused (`deploy-platform up` does).
- outside a run (a resource built in a script or test and used directly) Dagster
  does not resolve the fields: they still hold the `EnvVar`, whose string value
  is the variable's *name*. `store()` resolves such fields itself, so the name is
  never mistaken for a credential.
"""

from __future__ import annotations

import threading

import dagster as dg
from pydantic import PrivateAttr

from deploy_platform.orchestration.resources.env_values import resolved
from deploy_platform.storage import ObjectStore, ObjectStoreError, open_store

__all__ = ["ObjectStoreResource"]


class ObjectStoreResource(dg.ConfigurableResource):  # type: ignore[type-arg]
    """Where sources, artifacts, file bodies, manifests and aliases are stored."""

    url: str
    access_key_id: str = ""
    secret_access_key: str = ""

    # One client per resource instance: Dagster builds a resolved copy of the
    # resource for each run or tick, and that copy opens the store on first use.
    _store: ObjectStore | None = PrivateAttr(default=None)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    def store(self) -> ObjectStore:
        """The opened store (checked once: a missing bucket fails here, clearly)."""
        with self._lock:
            if self._store is None:
                url = resolved(self.url).strip()
                if not url:
                    raise ObjectStoreError(
                        "DP_STORAGE_URL is empty: set it to file:///path/to/objects or "
                        "s3://bucket/prefix?endpoint_url=..."
                    )
                # Imported here, not at the top: it imports boto3, which the code server
                # (it imports the definitions, and so this module) never needs over a
                # local directory store.
                from deploy_platform.storage.s3 import RUN_OUTAGE_SECONDS

                # Runs and sensors ride out a store restart inside the call.
                store = open_store(
                    url,
                    resolved(self.access_key_id) or None,
                    resolved(self.secret_access_key) or None,
                    outage_seconds=RUN_OUTAGE_SECONDS,
                )
                try:
                    store.check()
                except BaseException:
                    store.close()
                    raise
                self._store = store
            return self._store

    def answers(self) -> bool:
        """Whether the store answers now: one quick look, no riding out an outage
        (the recovery sensor's health check before running a deployment again)."""
        try:
            store = open_store(
                resolved(self.url).strip(),
                resolved(self.access_key_id) or None,
                resolved(self.secret_access_key) or None,
            )
        except ObjectStoreError:
            return False
        try:
            store.check()
            store.head("deployments/.health-probe")
        except ObjectStoreError:
            return False
        finally:
            store.close()
        return True

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        with self._lock:
            if self._store is not None:
                self._store.close()
                self._store = None
