"""Retention runs on both stores: a local directory and S3 (SeaweedFS)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from deploy_platform.storage import ObjectStore
from deploy_platform.storage.local import LocalObjectStore


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, local_store_root: Path) -> Iterator[ObjectStore]:
    """Each retention test runs once on a local directory and once on a fresh S3 bucket."""
    if request.param == "local":
        yield LocalObjectStore(local_store_root)
    else:
        yield request.getfixturevalue("s3_store")
