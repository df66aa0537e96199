"""What each materialization and run shows besides the asset's own numbers: tags to
filter by, clickable links, and the data version that ties the lineage together.

Data versions (what Dagster compares to tell whether downstream is stale, and what
`deploy-platform history` reports as lineage) are content hashes:
  source_archive        sha256 of sources/<id>.tar.gz (packed reproducibly)
  built_artifact        sha256 of artifacts/<id>.tar.gz (packed reproducibly)
  published_deployment  sha256 of the manifest's files and routes (`manifest_version`)
so re-materializing a partition that produces the same bytes keeps the same version.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from pathlib import Path

import dagster as dg

from deploy_platform.contracts.manifest import Manifest
from deploy_platform.contracts.records import DeploymentRecord
from deploy_platform.contracts.tags import label_tags
from deploy_platform.github.status_api import github_repo

__all__ = [
    "label_run",
    "deployment_links",
    "lead_with",
    "file_version",
    "warnings_metadata",
    "chunks_version",
    "manifest_version",
]

_CHUNK = 1024 * 1024


def label_run(context: dg.AssetExecutionContext, record: DeploymentRecord) -> None:
    """Give a run started by hand (the UI's "Materialize") the queue sensor's labels, so
    the run list filters it by project, ref and commit too. Never `deploy/trigger`:
    its absence is how a run started by hand is told apart."""
    present = context.run.tags
    missing = {name: value for name, value in label_tags(record).items() if name not in present}
    if not missing:
        return
    try:
        context.instance.add_run_tags(context.run_id, missing)
    except Exception as exc:  # labels are a convenience; the deployment goes on
        context.log.warning(f"could not tag run {context.run_id}: {exc!r}")


def deployment_links(record: DeploymentRecord) -> dict[str, dg.MetadataValue]:
    """`url`: the deployment's own URL; `commit_url`: the commit on GitHub, when it is there."""
    links: dict[str, dg.MetadataValue] = {}
    url = record.urls.get("deployment")
    if url:
        links["url"] = dg.MetadataValue.url(url)
    repo = github_repo(record.repo_url, "github.com")
    if repo is not None and record.commit:
        links["commit_url"] = dg.MetadataValue.url(
            f"https://github.com/{repo}/commit/{record.commit}"
        )
    return links


# After the deployment's own labels, the numbers a person looks at first.
_LEADING = ("files", "bytes", "duration_s", "install_s", "build_s", "enqueue_to_ready_s")


def lead_with(
    record: DeploymentRecord, metadata: dict[str, dg.MetadataValue]
) -> dict[str, dg.MetadataValue]:
    """`metadata` in the order the UI should show it: the deployment's URL, project,
    branch and commit first (the partition key is an opaque id: these say which
    deployment it is), then files, bytes and durations, then the rest as given."""
    labels: dict[str, dg.MetadataValue] = {}
    links = deployment_links(record)
    if "url" in links:
        labels["url"] = links["url"]
    labels["project"] = dg.MetadataValue.text(record.project)
    if record.ref:
        labels["branch"] = dg.MetadataValue.text(record.ref)
    if record.commit:
        labels["commit"] = dg.MetadataValue.text(record.commit)
    if "commit_url" in links:
        labels["commit_url"] = links["commit_url"]
    ordered = {**labels, **{key: metadata[key] for key in _LEADING if key in metadata}}
    # The asset's own value wins where both name a key (a fresher URL, the fetched commit).
    return {**ordered, **metadata}


def chunks_version(chunks: Iterable[bytes]) -> dg.DataVersion:
    digest = hashlib.sha256()
    for chunk in chunks:
        digest.update(chunk)
    return dg.DataVersion(digest.hexdigest())


def file_version(path: Path) -> dg.DataVersion:
    with open(path, "rb") as handle:
        return chunks_version(iter(lambda: handle.read(_CHUNK), b""))


def manifest_version(manifest: Manifest) -> dg.DataVersion:
    """What is served, not when or under which id: two deployments of the same tree
    with the same rules have the same version."""
    body: dict[str, object] = {
        "files": {path: entry.to_dict() for path, entry in sorted(manifest.files.items())}
    }
    if manifest.routes:
        body["routes"] = manifest.routes.to_json()
    raw = json.dumps(body, separators=(",", ":"), sort_keys=True).encode()
    return dg.DataVersion(hashlib.sha256(raw).hexdigest())


def warnings_metadata(warnings: Sequence[str]) -> dg.MetadataValue:
    """A stage's warnings as a Markdown list (each line literal), or "(none)"."""
    if not warnings:
        return dg.MetadataValue.text("(none)")
    return dg.MetadataValue.md("\n".join(f"- `{w.replace('`', chr(39))}`" for w in warnings))
