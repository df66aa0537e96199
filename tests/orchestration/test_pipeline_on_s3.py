"""The whole pipeline publishing to a real S3 server (SeaweedFS), as on S3 or R2."""

from __future__ import annotations

from typing import Any

from deploy_platform.contracts.records import Status
from deploy_platform.orchestration.resources.object_store import ObjectStoreResource
from deploy_platform.publish.aliases import read_alias
from deploy_platform.storage import open_store
from deploy_platform.storage.redis_state import PlatformState
from tests.orchestration.support import Deployer, queue_git, read_manifest, served_text, unique


def test_two_deploys_to_s3_upload_only_the_changed_body(
    git_http: Any,
    instance: Any,
    resources: dict[str, Any],
    state: PlatformState,
    s3_server: Any,
    s3_store_url: str,
) -> None:
    keys = {
        "access_key_id": s3_server.access_key_id,
        "secret_access_key": s3_server.secret_access_key,
    }
    deployer = Deployer(
        instance, {**resources, "object_store": ObjectStoreResource(url=s3_store_url, **keys)}
    )
    store = open_store(s3_store_url, **keys)
    project = unique("s3site")
    site = {f"page-{n}.html": f"<p>page {n}</p>" for n in range(5)} | {"index.html": "<h1>v1</h1>"}
    repo = git_http.create_repo(unique("s3repo"), site)

    first = queue_git(state, repo, project)
    assert deployer.run(first.id).success, state.get(first.id).error
    repo.commit({"index.html": "<h1>v2</h1>"})
    second = queue_git(state, repo, project)
    assert deployer.run(second.id).success, state.get(second.id).error

    done = state.get(second.id)
    assert done.status is Status.READY
    assert (done.files_uploaded, done.files_reused) == (1, len(site) - 1)
    assert read_alias(store, project) == second.id
    assert served_text(store, first.id, "/index.html") == "<h1>v1</h1>"
    assert served_text(store, second.id, "/index.html") == "<h1>v2</h1>"
    assert len(read_manifest(store, second.id).files) == len(site)
