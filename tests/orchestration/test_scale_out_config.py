"""From one machine to many: the dagster.yaml `up` writes for PostgreSQL storage,
per-project build limits and container run launchers loads as a real Dagster instance."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import yaml
from dagster._core.run_coordinator import QueuedRunCoordinator
from dagster._utils.tags import TagConcurrencyLimitsCounter

from deploy_platform.contracts.records import SourceKind
from deploy_platform.orchestration.instance.home import PROJECT_RUN_TAG, write_dagster_home
from deploy_platform.orchestration.sensors.queue_sensor import run_tags
from deploy_platform.settings.instance import (
    POSTGRES_URL_VARIABLE,
    load_run_launcher,
    sqlalchemy_url,
)
from deploy_platform.storage import ObjectStore
from deploy_platform.storage.redis_state import PlatformState
from tests.orchestration.support import Deployer, make_record, pack_site, queue_upload, unique

EXAMPLES = Path(__file__).parents[2] / "examples" / "scale-out"


def _instance(home: Path) -> dg.DagsterInstance:
    return dg.DagsterInstance.from_config(str(home))


@contextmanager
def launcher_of(home: Path) -> Iterator[object]:
    """The run launcher of the instance in `home` (built, so its config is checked)."""
    instance = _instance(home)
    try:
        yield instance.run_launcher
    finally:
        instance.dispose()


def test_postgres_storage_keeps_runs_partitions_and_materializations(
    tmp_path: Path,
    postgres_url: str,
    monkeypatch: pytest.MonkeyPatch,
    resources: dict[str, Any],
    state: PlatformState,
    store: ObjectStore,
) -> None:
    from dagster_postgres import PostgresEventLogStorage, PostgresRunStorage

    # What `up` hands its children (`with_sqlalchemy_url`) for the URL a person sets.
    monkeypatch.setenv(POSTGRES_URL_VARIABLE, sqlalchemy_url(postgres_url))
    home = tmp_path / "dagster"
    write_dagster_home(home, postgres_url_env=POSTGRES_URL_VARIABLE)
    assert postgres_url not in (home / "dagster.yaml").read_text()  # the variable, not the URL

    record = queue_upload(state, store, unique("pg"), pack_site(tmp_path, {"index.html": "hi"}))
    instance = _instance(home)
    try:
        assert isinstance(instance.run_storage, PostgresRunStorage)
        assert isinstance(instance.event_log_storage, PostgresEventLogStorage)
        result = Deployer(instance, resources).run(record.id)
        assert result.success
    finally:
        instance.dispose()

    # Another daemon or webserver with the same dagster.yaml (another machine's
    # DAGSTER_HOME) sees the same history.
    other_home = tmp_path / "elsewhere"
    write_dagster_home(other_home, postgres_url_env=POSTGRES_URL_VARIABLE)
    other = _instance(other_home)
    try:
        runs = other.get_runs(dg.RunsFilter(tags={"dagster/partition": record.id}))
        assert [run.status for run in runs] == [dg.DagsterRunStatus.SUCCESS]
        assert record.id in other.get_dynamic_partitions("deployments")
        materialized = other.fetch_materializations(
            dg.AssetRecordsFilter(
                asset_key=dg.AssetKey("published_deployment"), asset_partitions=[record.id]
            ),
            limit=10,
        )
        assert len(materialized.records) == 1
    finally:
        other.dispose()
    assert not list(home.glob("history/*.db")) and not list(other_home.glob("history/*.db"))


def test_builds_per_project_limits_runs_of_one_project_only(tmp_path: Path) -> None:
    home = tmp_path / "dagster"
    write_dagster_home(home, max_concurrent_runs=4, builds_per_project=1)
    instance = _instance(home)
    try:
        coordinator = instance.run_coordinator
        assert isinstance(coordinator, QueuedRunCoordinator)
        queue = coordinator.get_run_queue_config()
        assert queue.max_concurrent_runs == 4
        assert queue.tag_concurrency_limits == [
            {"key": PROJECT_RUN_TAG, "value": {"applyLimitPerUniqueValue": True}, "limit": 1}
        ]

        def run_of(project: str) -> dg.DagsterRun:
            tags = run_tags(make_record(project=project, source=SourceKind.UPLOAD, ref=None))
            return dg.DagsterRun(job_name="deploy", tags=tags)

        # The queue sensor tags every run with its project, under the tag the limit counts.
        assert run_of("docs").tags[PROJECT_RUN_TAG] == "docs"
        # With one docs build running, Dagster's own counter holds the next docs build
        # back and lets a blog build start.
        counter = TagConcurrencyLimitsCounter(queue.tag_concurrency_limits, [run_of("docs")])
        assert counter.is_blocked(run_of("docs"))
        assert not counter.is_blocked(run_of("blog"))
    finally:
        instance.dispose()


def test_without_builds_per_project_there_is_no_tag_limit(tmp_path: Path) -> None:
    home = tmp_path / "dagster"
    write_dagster_home(home)
    instance = _instance(home)
    try:
        coordinator = instance.run_coordinator
        assert isinstance(coordinator, QueuedRunCoordinator)
        assert not coordinator.get_run_queue_config().tag_concurrency_limits
    finally:
        instance.dispose()


def test_the_docker_example_loads_as_the_instance_run_launcher(tmp_path: Path) -> None:
    from dagster_docker import DockerRunLauncher

    home = tmp_path / "dagster"
    section = load_run_launcher(EXAMPLES / "docker-run-launcher.yaml")
    write_dagster_home(home, run_launcher=section)
    with launcher_of(home) as launcher:
        assert isinstance(launcher, DockerRunLauncher)
        assert launcher.image == "registry.example.com/acme/deploy-platform:1.0.0"
        assert launcher.networks == ["deploy-platform"]
        # Every variable the code location reads reaches the run's container.
        from deploy_platform.definitions import ENV_VARS

        assert set(ENV_VARS) | {"DAGSTER_HOME", POSTGRES_URL_VARIABLE} <= set(launcher.env_vars)


def test_the_kubernetes_example_loads_as_the_instance_run_launcher(tmp_path: Path) -> None:
    from dagster_k8s import K8sRunLauncher

    section = load_run_launcher(EXAMPLES / "k8s-run-launcher.yaml")
    assert section["config"]["load_incluster_config"] is True
    # Outside a cluster, the same section with a kubeconfig instead of the pod's
    # service account (loading it reads the file; nothing connects).
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump(_kubeconfig()))
    section["config"].update(load_incluster_config=False, kubeconfig_file=str(kubeconfig))
    home = tmp_path / "dagster"
    write_dagster_home(home, run_launcher=section)
    with launcher_of(home) as launcher:
        assert isinstance(launcher, K8sRunLauncher)
        assert launcher.job_namespace == "deploy-platform"
        assert launcher.image_pull_policy == "IfNotPresent"
        assert launcher.resources["limits"] == {"cpu": "2", "memory": "4Gi"}
        assert launcher.env_secrets == ["deploy-platform-secrets"]


@pytest.mark.parametrize("example", ["docker-run-launcher.yaml", "k8s-run-launcher.yaml"])
def test_a_misspelt_launcher_setting_stops_the_instance_naming_it(
    tmp_path: Path, example: str
) -> None:
    section = load_run_launcher(EXAMPLES / example)
    section["config"]["imagee"] = "registry.example.com/acme/deploy-platform:1.0.0"
    home = tmp_path / "dagster"
    write_dagster_home(home, run_launcher=section)
    with pytest.raises(dg.DagsterInvalidConfigError, match='unexpected config entry "imagee"'):
        with launcher_of(home):
            pass


def _kubeconfig() -> dict[str, object]:
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:6443"}}],
        "users": [{"name": "u", "user": {"token": "not-a-real-token"}}],
        "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "x",
    }
