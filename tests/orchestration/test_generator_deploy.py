"""This repository's own docs (mkdocs.yml + docs/) deploy through the real pipeline: the
runner detects MkDocs, builds in the sandbox and the site is published."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from deploy_platform.contracts.records import Status
from deploy_platform.orchestration.resources.build_runner import NodeBuildRunner
from deploy_platform.storage import ObjectStore
from deploy_platform.storage.redis_state import PlatformState
from tests.orchestration.support import Deployer, pack_site, queue_upload, read_manifest, unique
from tests.support.environment import TOOLCHAIN_CACHE

REPOSITORY = Path(__file__).parents[2]


@pytest.mark.slow
@pytest.mark.network
def test_this_repository_docs_deploy(
    tmp_path: Path,
    deployer: Deployer,
    resources: dict[str, Any],
    state: PlatformState,
    store: ObjectStore,
) -> None:
    deployer.resources = {
        **resources,
        "build_runner": NodeBuildRunner(tool_cache_dir=str(TOOLCHAIN_CACHE)),
    }
    # Bytes: the docs hold screenshots (docs/images/*.png) besides Markdown.
    files: dict[str, str | bytes] = {"mkdocs.yml": (REPOSITORY / "mkdocs.yml").read_bytes()}
    for path in sorted((REPOSITORY / "docs").rglob("*")):
        if path.is_file():
            files[path.relative_to(REPOSITORY).as_posix()] = path.read_bytes()
    record = queue_upload(state, store, unique("docs"), pack_site(tmp_path, files))

    result = deployer.run(record.id)

    assert result.success, state.get(record.id).error
    deployed = state.get(record.id)
    assert deployed.status is Status.READY
    # No requirements.txt in this repository: MkDocs was installed unpinned, and it says so.
    assert any(w.startswith("requirements.txt: missing") for w in deployed.warnings)
    manifest = read_manifest(store, record.id)
    assert "/index.html" in manifest.files
    assert "/guides/build-settings/index.html" in manifest.files
    assert "/mkdocs.yml" not in manifest.files
    assert "/images/dagster-run.png" in manifest.files
