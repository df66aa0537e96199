"""ObjectStoreResource inside real Dagster runs, with credentials through dg.EnvVar."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from deploy_platform.orchestration.resources.object_store import ObjectStoreResource
from deploy_platform.storage import ObjectStoreError
from tests.support.s3_fixtures import S3Server


@dg.asset
def stored_note(object_store: ObjectStoreResource) -> dg.MaterializeResult:
    """Writes one object and reads it back through the resource."""
    store = object_store.store()
    store.put_bytes("notes/hello.txt", b"hello from a run", "text/plain")
    assert object_store.store() is store  # one client per resource instance
    body = store.get_bytes("notes/hello.txt")
    return dg.MaterializeResult(metadata={"store": store.description, "bytes": len(body)})


def _materialize(resource: ObjectStoreResource) -> dg.ExecuteInProcessResult:
    return dg.materialize([stored_note], resources={"object_store": resource})


def _metadata(result: dg.ExecuteInProcessResult) -> dict[str, object]:
    [event] = result.asset_materializations_for_node("stored_note")
    return {key: value.value for key, value in event.metadata.items()}


def test_s3_with_credentials_from_env_vars(
    s3_server: S3Server, s3_store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DP_TEST_STORAGE_URL", s3_store_url)
    monkeypatch.setenv("DP_TEST_S3_KEY", s3_server.access_key_id)
    monkeypatch.setenv("DP_TEST_S3_SECRET", s3_server.secret_access_key)

    result = _materialize(
        ObjectStoreResource(
            url=dg.EnvVar("DP_TEST_STORAGE_URL"),
            access_key_id=dg.EnvVar("DP_TEST_S3_KEY"),
            secret_access_key=dg.EnvVar("DP_TEST_S3_SECRET"),
        )
    )

    assert result.success
    metadata = _metadata(result)
    assert metadata["bytes"] == len(b"hello from a run")
    assert "S3 bucket" in str(metadata["store"])
    assert s3_server.secret_access_key not in str(metadata["store"])
    # Checked from outside the run, with the server's own client.
    bucket = s3_store_url.removeprefix("s3://").split("?")[0]
    stored = s3_server.admin.get_object(Bucket=bucket, Key="notes/hello.txt")
    assert stored["Body"].read() == b"hello from a run"


def test_empty_credentials_mean_boto3_default_chain(
    s3_server: S3Server, s3_store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DP_TEST_S3_KEY", "")
    monkeypatch.setenv("DP_TEST_S3_SECRET", "")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3_server.access_key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3_server.secret_access_key)

    result = _materialize(
        ObjectStoreResource(
            url=s3_store_url,
            access_key_id=dg.EnvVar("DP_TEST_S3_KEY"),
            secret_access_key=dg.EnvVar("DP_TEST_S3_SECRET"),
        )
    )

    assert result.success


def test_local_directory(tmp_path: Path) -> None:
    result = _materialize(ObjectStoreResource(url=(tmp_path / "objects").as_uri()))

    assert result.success
    assert (tmp_path / "objects" / "notes" / "hello.txt").read_bytes() == b"hello from a run"


def test_unset_env_var_fails_the_run_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Guards the module docstring: unset is an error, the field default does not apply."""
    monkeypatch.delenv("DP_TEST_UNSET_S3_KEY", raising=False)

    with pytest.raises(dg.DagsterInvalidConfigError, match="DP_TEST_UNSET_S3_KEY"):
        _materialize(
            ObjectStoreResource(
                url=(tmp_path / "objects").as_uri(),
                access_key_id=dg.EnvVar("DP_TEST_UNSET_S3_KEY"),
            )
        )


def test_missing_bucket_fails_the_run_clearly(s3_server: S3Server) -> None:
    resource = ObjectStoreResource(
        url=s3_server.store_url("bucket-that-was-never-made"),
        access_key_id=s3_server.access_key_id,
        secret_access_key=s3_server.secret_access_key,
    )

    result = dg.materialize(
        [stored_note], resources={"object_store": resource}, raise_on_error=False
    )

    assert not result.success
    [failure] = result.get_step_failure_events()
    error = failure.step_failure_data.error
    message = (error.cause or error) if error is not None else ""
    assert "bucket 'bucket-that-was-never-made' does not exist" in str(message)


def test_used_outside_a_run_resolves_env_vars(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Outside a run Dagster leaves the EnvVar (whose text is the variable's name) in place."""
    monkeypatch.setenv("DP_TEST_STORAGE_URL", (tmp_path / "objects").as_uri())
    resource = ObjectStoreResource(url=dg.EnvVar("DP_TEST_STORAGE_URL"))

    store = resource.store()

    assert store.description == f"local directory {tmp_path / 'objects'}"


def test_empty_storage_url_says_what_to_set() -> None:
    with pytest.raises(ObjectStoreError, match="DP_STORAGE_URL is empty"):
        ObjectStoreResource(url="").store()
