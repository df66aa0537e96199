"""GitSourceResource inside a real Dagster materialization.

No `from __future__ import annotations` here: Dagster reads the asset's config
annotation at definition time and needs the real class, not a string.
"""

import tempfile
import uuid
from pathlib import Path

import dagster as dg
import pytest

from deploy_platform.orchestration.resources.git_source import GitSourceResource
from deploy_platform.source.archive.unpack import safe_extract
from tests.support.git_fixtures import GitHttpServer

SITE = {"index.html": "<h1>v1</h1>", "about/index.html": "about"}


class SourceConfig(dg.Config):
    url: str
    ref: str
    out_dir: str


@dg.asset
def fetched_source(
    context: dg.AssetExecutionContext, config: SourceConfig, git_source: GitSourceResource
) -> dg.MaterializeResult:
    """Pins the ref, then fetches and packs that commit."""
    commit = git_source.resolve(config.url, config.ref)
    fetched = git_source.fetch_archive(config.url, commit, Path(config.out_dir) / "source.tar.gz")
    context.log.info(f"fetched {fetched.files} files at {fetched.commit}")
    return dg.MaterializeResult(
        metadata={
            "commit": fetched.commit,
            "files": fetched.files,
            "bytes": fetched.bytes,
            "archive_bytes": fetched.archive_bytes,
            "message": fetched.message or "",
            "author": fetched.author or "",
        }
    )


def materialize(
    resource: GitSourceResource, url: str, ref: str, out_dir: Path
) -> dg.ExecuteInProcessResult:
    with dg.DagsterInstance.ephemeral() as instance:
        return dg.materialize(
            [fetched_source],
            resources={"git_source": resource},
            instance=instance,
            run_config=dg.RunConfig(
                {"fetched_source": SourceConfig(url=url, ref=ref, out_dir=str(out_dir))}
            ),
            raise_on_error=False,
        )


def failure_message(result: dg.ExecuteInProcessResult) -> str:
    failures = [event for event in result.all_events if event.is_step_failure]
    assert failures, "the step should have failed"
    error = failures[0].step_failure_data.error
    messages = []
    while error is not None:  # Dagster wraps the resource's exception; read the chain
        messages.append(error.message)
        error = error.cause
    return "\n".join(messages)


def test_the_resource_resolves_fetches_and_packs_in_a_real_run(
    git_http: GitHttpServer, git_allow_hosts: tuple[str, ...], tmp_path: Path
) -> None:
    repo = git_http.create_repo(f"dagster-{uuid.uuid4().hex[:8]}", SITE)
    head = repo.head()
    resource = GitSourceResource(allow_hosts=",".join(git_allow_hosts), timeout_seconds=60)
    result = materialize(resource, repo.url, "main", tmp_path)
    assert result.success
    [materialization] = result.asset_materializations_for_node("fetched_source")
    metadata = {key: value.value for key, value in materialization.metadata.items()}
    assert metadata["commit"] == head
    assert (metadata["files"], metadata["bytes"]) == (2, len("<h1>v1</h1>about"))
    archive = tmp_path / "source.tar.gz"
    assert metadata["archive_bytes"] == archive.stat().st_size
    with tempfile.TemporaryDirectory() as out:
        safe_extract(archive, Path(out) / "tree", max_bytes=1 << 20, max_files=10)
        assert (Path(out) / "tree" / "index.html").read_text() == "<h1>v1</h1>"
        assert not (Path(out) / "tree" / ".git").exists()


def test_the_commit_s_subject_and_author_come_with_the_archive(
    git_http: GitHttpServer, git_allow_hosts: tuple[str, ...], tmp_path: Path
) -> None:
    repo = git_http.create_repo(f"message-{uuid.uuid4().hex[:8]}", SITE)
    repo.commit({"index.html": "<h1>v2</h1>"}, message="Fix the header\n\nA longer body.")
    resource = GitSourceResource(allow_hosts=",".join(git_allow_hosts), timeout_seconds=60)
    result = materialize(resource, repo.url, "main", tmp_path)
    assert result.success
    [materialization] = result.asset_materializations_for_node("fetched_source")
    metadata = {key: value.value for key, value in materialization.metadata.items()}
    assert (metadata["message"], metadata["author"]) == ("Fix the header", "Fixture Author")


@pytest.mark.parametrize(
    ("allow", "max_bytes", "says"),
    [
        ("", 1 << 20, "loopback"),
        ("127.0.0.1", 64 * 1024, "DP_MAX_REPO_BYTES"),
    ],
)
def test_refusals_fail_the_run_with_a_readable_reason(
    git_http: GitHttpServer, tmp_path: Path, allow: str, max_bytes: int, says: str
) -> None:
    repo = git_http.create_repo(
        f"refused-{uuid.uuid4().hex[:8]}", {"index.html": "x", "big.txt": "y" * 200_000}
    )
    resource = GitSourceResource(allow_hosts=allow, max_repo_bytes=max_bytes, timeout_seconds=60)
    result = materialize(resource, repo.url, "main", tmp_path)
    assert not result.success
    assert says in failure_message(result)
    assert not (tmp_path / "source.tar.gz").exists()
