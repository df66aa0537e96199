"""Asset checks on `published_deployment`, run for each deployment after it is published.

  index_served   the edge-origin answers 200 for the deployment's front page
                 (`<id>.<base domain>`, the directory of its shallowest index.html)
                 with exactly the bytes the manifest names; a site without any
                 index.html passes as "not applicable" (it is published all the same,
                 as on Cloudflare Pages, so there is no front page to ask for)
  bodies_stored  every body the manifest names (each file, and its Brotli and gzip
                 variants) is in the object store

A failed check is an ERROR on the asset in the Dagster UI (the deployment stays as
it is: the check reports, it does not undo). They never raise: a check that cannot
look (no manifest, the edge-origin unreachable) fails with what went wrong.
"""

# No `from __future__ import annotations`: Dagster reads these annotations at runtime
# to find the context and resource parameters.

import dagster as dg

from deploy_platform.contracts.manifest import InvalidManifest, Manifest, blob_key, manifest_key
from deploy_platform.orchestration.assets.partitions import deployments_partitions
from deploy_platform.orchestration.assets.published_deployment import published_deployment
from deploy_platform.orchestration.resources.edge_origin import (
    EDGE_ERRORS,
    EdgeNotConfigured,
    EdgeOriginResource,
)
from deploy_platform.orchestration.resources.object_store import ObjectStoreResource
from deploy_platform.storage import ObjectNotFound, ObjectStore, ObjectStoreError

__all__ = ["index_served", "bodies_stored", "deployment_checks"]

_SHOWN_MISSING = 20


def _manifest(store: ObjectStore, deployment_id: str) -> Manifest | str:
    """The deployment's manifest, or why there is none to check."""
    key = manifest_key(deployment_id)
    try:
        return Manifest.from_json(store.get_bytes(key))
    except ObjectNotFound:
        return f"{key} is not in the object store: the deployment does not exist there"
    except InvalidManifest as exc:
        return f"{key} is not a valid manifest: {exc}"
    except ObjectStoreError as exc:
        return f"cannot read {key}: {exc}"


def _failed(description: str, **metadata: dg.MetadataValue) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        passed=False,
        severity=dg.AssetCheckSeverity.ERROR,
        description=description,
        metadata=metadata,
    )


def _front_page(manifest: Manifest) -> tuple[str, str] | None:
    """(URL path to ask for, manifest path of the index.html it serves), shallowest first."""
    pages = [path for path in manifest.files if path.rsplit("/", 1)[-1] == "index.html"]
    if not pages:
        return None
    page = min(pages, key=lambda path: (path.count("/"), path))
    return page.removesuffix("index.html"), page


@dg.asset_check(
    asset=published_deployment,
    partitions_def=deployments_partitions,
    description=(
        "The deployment's front page is served: `GET /` (or the folder of its top-most "
        "index.html) with the host `<id>.<base domain>` answers 200 with the bytes of that "
        "index.html. A site without any index.html has no front page: the check passes "
        "and says it was not applicable."
    ),
)
def index_served(
    context: dg.AssetCheckExecutionContext,
    object_store: ObjectStoreResource,
    edge_origin: EdgeOriginResource,
) -> dg.AssetCheckResult:
    deployment_id = context.partition_key
    try:
        manifest = _manifest(object_store.store(), deployment_id)
    except Exception as exc:  # a check reports, it never fails the run
        return _failed(f"cannot open the object store: {exc}")
    if isinstance(manifest, str):
        return _failed(manifest)
    front = _front_page(manifest)
    if front is None:
        return dg.AssetCheckResult(
            passed=True,
            description=(
                "not applicable: the site has no index.html, so there is no front page to "
                "ask the edge-origin for (the site is published all the same)"
            ),
            metadata={"skipped": dg.MetadataValue.text("no index.html in the manifest")},
        )
    path, page = front
    host = edge_origin.host_of(deployment_id)
    try:
        answer = edge_origin.fetch(deployment_id, path)
    except EdgeNotConfigured as exc:
        return _failed(str(exc))
    except EDGE_ERRORS as exc:
        return _failed(
            f"the edge-origin at {edge_origin.url} did not answer GET {path} for {host}: {exc}"
        )
    metadata = {
        "host": dg.MetadataValue.text(host),
        "path": dg.MetadataValue.text(path),
        "status": dg.MetadataValue.int(answer.status),
        "bytes": dg.MetadataValue.int(answer.body_bytes),
        "edge_origin": dg.MetadataValue.url(answer.url),
    }
    expected = manifest.files[page]
    if answer.status != 200:
        where = f" to {answer.location}" if answer.location else ""
        return _failed(
            f"GET {path} for {host} answered {answer.status}{where}, not 200", **metadata
        )
    if answer.body_sha256 != expected.blob:
        return _failed(
            f"GET {path} for {host} answered 200 with other bytes than {page} "
            f"(sha256 {answer.body_sha256[:12]}, the manifest says {expected.blob[:12]})",
            **metadata,
        )
    return dg.AssetCheckResult(
        passed=True, description=f"{host}{path} serves {page}", metadata=metadata
    )


@dg.asset_check(
    asset=published_deployment,
    partitions_def=deployments_partitions,
    description=(
        "Every file of the deployment, and its Brotli and gzip copies, is in the object "
        "store (at `blobs/<sha256>`), so every page can be served."
    ),
)
def bodies_stored(
    context: dg.AssetCheckExecutionContext, object_store: ObjectStoreResource
) -> dg.AssetCheckResult:
    deployment_id = context.partition_key
    try:
        store = object_store.store()
        manifest = _manifest(store, deployment_id)
        if isinstance(manifest, str):
            return _failed(manifest)
        needed: dict[str, str] = {}
        for path, entry in sorted(manifest.files.items()):
            needed.setdefault(blob_key(entry.blob), path)
            for coding, ref in sorted(entry.encodings.items()):
                needed.setdefault(blob_key(ref.blob), f"{path} ({coding})")
        missing = store.missing(needed)
    except Exception as exc:  # a check reports, it never fails the run
        return _failed(f"cannot list the deployment's bodies in the object store: {exc}")
    metadata: dict[str, dg.MetadataValue] = {
        "files": dg.MetadataValue.int(len(manifest.files)),
        "bodies": dg.MetadataValue.int(len(needed)),
        "missing": dg.MetadataValue.int(len(missing)),
    }
    if missing:
        paths = sorted(needed[key] for key in missing)
        shown = ", ".join(paths[:_SHOWN_MISSING]) + (" ..." if len(paths) > _SHOWN_MISSING else "")
        metadata["missing_files"] = dg.MetadataValue.text(shown)
        return _failed(
            f"{len(missing)} of {len(needed)} bodies are missing from the store: {shown}. "
            "Materialize published_deployment again to upload them.",
            **metadata,
        )
    return dg.AssetCheckResult(
        passed=True,
        description=f"all {len(needed)} bodies of {len(manifest.files)} files are stored",
        metadata=metadata,
    )


deployment_checks = [index_served, bodies_stored]
