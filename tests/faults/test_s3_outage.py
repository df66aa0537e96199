"""S3 stops answering in the middle of a publish, for longer than the calls ride out.

A real SeaweedFS this module started is killed (`kill -9`) as published_deployment
starts, and started again on the same ports and data a while later. The run fails
with the object store named; the deployment is not failed: it waits, and the
recovery sensor runs it again once the store answers, and it ends `ready`, its
only final state.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from deploy_platform.contracts.records import Status
from deploy_platform.contracts.tags import INFRA_RETRY_TAG, RETRY_OF_TAG
from deploy_platform.orchestration.resources.object_store import ObjectStoreResource
from deploy_platform.orchestration.sensors.infra_retry import InfraRetryPolicy
from deploy_platform.orchestration.sensors.recovery_sensor import recover
from deploy_platform.processes.redis_server import RedisServer
from deploy_platform.storage.redis_state import PlatformState
from deploy_platform.storage.s3 import S3ObjectStore
from tests.faults.infra_support import (
    HookedAliasIndex,
    kill_s3,
    on,
    restart_s3,
    retry_when_due,
    run_resources,
)
from tests.orchestration.support import Deployer, pack_site, queue_upload, served_text, unique
from tests.orchestration.test_sensors import evaluate_failure_sensor
from tests.support.s3_fixtures import S3Server

pytestmark = pytest.mark.slow

# Long enough that only the store answering again, not the backoff, starts the retry.
POLICY = InfraRetryPolicy(max_retries=3, backoff_seconds=600.0)


@pytest.fixture(scope="module")
def own_s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """A SeaweedFS of this module's own: the test kills it, so no other test may share it."""
    server = S3Server(tmp_path_factory.mktemp("own-seaweedfs")).start()
    yield server
    server.stop()


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test() as test_instance:
        yield test_instance


def test_s3_down_during_publish_is_waited_out_and_the_deployment_ends_ready(
    own_s3: S3Server,
    instance: dg.DagsterInstance,
    redis_server: RedisServer,
    state: PlatformState,
    tmp_path: Path,
) -> None:
    bucket = own_s3.make_bucket()
    object_store = ObjectStoreResource(
        url=own_s3.store_url(bucket),
        access_key_id=own_s3.access_key_id,
        secret_access_key=own_s3.secret_access_key,
    )
    store: S3ObjectStore = own_s3.open_store(bucket)
    record = queue_upload(
        state, store, unique("outage"), pack_site(tmp_path, {"index.html": "<h1>back</h1>"})
    )
    stopped_at: list[float] = []

    def stop_s3() -> None:
        if not stopped_at:  # only the first publish meets the outage
            kill_s3(own_s3)
            stopped_at.append(time.time())

    faulty = run_resources(
        redis_server.url,
        state.prefix,
        object_store,
        alias_index=HookedAliasIndex(hook=on(stop_s3)),
    )

    first = Deployer(instance, faulty).run(record.id)

    assert stopped_at, "S3 was never stopped: the test proved nothing"
    assert not first.success
    [step_failure] = [e for e in first.all_events if e.is_step_failure]
    assert step_failure.step_key == "published_deployment"
    waiting = state.get(record.id)
    assert waiting.status is Status.PUBLISHING and waiting.error is None
    assert waiting.retrying is not None and waiting.retrying["component"] == "object-store"
    assert f"s3://{bucket} at {own_s3.endpoint_url}" in waiting.retrying["error"]

    # While S3 is down: the failure sensor leaves the deployment alone, the recovery
    # sensor waits for the store and says so on the record.
    evaluate_failure_sensor(instance, faulty, first)
    tick = recover(instance, state, time.time() + 10, policy=POLICY)
    assert tick.retries == [] and tick.failed == []
    still = state.get(record.id)
    assert still.status is Status.PUBLISHING and still.error is None
    assert still.retrying is not None
    assert "waiting for the object store" in still.retrying["message"]
    assert still.retrying["runs_failed"] == 1 and still.retrying["max_runs"] == 4

    restart_s3(own_s3)
    ticks, request = retry_when_due(instance, faulty, first, POLICY, seconds=120)

    assert request.partition_key == record.id
    assert request.run_key == f"infra-retry-of-{first.run_id}"
    assert request.tags[RETRY_OF_TAG] == first.run_id
    assert request.tags[INFRA_RETRY_TAG] == "1"
    note = state.get(record.id).retrying
    assert note is not None and "running it again now (it answers again)" in note["message"]

    retried = Deployer(instance, faulty).run(record.id, extra_tags=dict(request.tags))

    assert retried.success
    done = state.get(record.id)
    assert done.status is Status.READY and done.error is None and done.retrying is None
    assert Status.FAILED.value not in done.timestamps  # one final state: never failed
    assert served_text(store, record.id, "/index.html") == "<h1>back</h1>"
    assert state.get_alias(record.project) == record.id
    # Settled: nothing more to do for it.
    after = recover(instance, state, time.time() + 3600, policy=POLICY)
    assert after.retries == [] and after.failed == []
    store.close()
