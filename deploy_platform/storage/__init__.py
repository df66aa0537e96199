"""Where the platform keeps things (dagster-free): the object stores, the source of truth
for what is live (this package's face), and beside them the Redis state
(`redis_state.py`: queue, records, alias and domain index) and the fence that keeps
publishing and sweeping bodies apart (`fence.py`).

Layout, one bucket or prefix per environment:
  sources/<id>.tar.gz            the pinned source tree
  artifacts/<id>.tar.gz          the build output
  blobs/<sha256>                 content-addressed file bodies, and their
                                 Brotli/gzip variants (each under its own hash)
  variants/<sha256>.json         what compressing body <sha256> gave (a cache
                                 for the publisher; see deploy_platform.publish.variants)
  deployments/<id>/manifest.json path -> blob; written last, so a deployment
                                 without a manifest does not exist
  aliases/<name>.json            durable alias pointers
  alias-moves/<project>/<stamp>-<nonce>.json
                                 the alias move log, one object per move
                                 (deploy_platform.publish.alias_moves)
  projects/<name>.json           project settings (deploy_platform.projects)
"""

from deploy_platform.storage.base import (
    ObjectInfo,
    ObjectNotFound,
    ObjectStore,
    ObjectStoreError,
    StoreDiskError,
    StoreUnavailable,
    check_key,
)
from deploy_platform.storage.factory import open_store

__all__ = [
    "ObjectInfo",
    "ObjectNotFound",
    "ObjectStore",
    "ObjectStoreError",
    "StoreDiskError",
    "StoreUnavailable",
    "check_key",
    "open_store",
]
