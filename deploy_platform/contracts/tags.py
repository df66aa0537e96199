"""The tags a deployment carries in Dagster: on its runs, and on each materialization.

Run tags (the UI's run list filters by them; any text allowed):
  deploy/project       the project
  deploy/ref           the branch or tag deployed, as given (`feature/login`)
  deploy/commit        the pinned commit
  deploy/environment   production or preview
  deploy/source        git or upload
  deploy/trigger       api or webhook: set only by the queue sensor, so a run without
                       it was started by hand (see `trigger_of`)
  .dagster/deploy_enqueued_at
                       when the control API queued it (ISO 8601, UTC): a hidden tag
                       (Dagster's `.dagster/` prefix), kept with the run for the
                       history but not shown in the UI's run list, where a timestamp
                       is no filter; runs from before it was hidden carry it as
                       `deploy/enqueued_at` (see `enqueued_of`)
  deploy/retry_of      on a run the recovery sensor started again: the crashed run,
                       or the run that failed for an infrastructure fault
  deploy/infra_retry   on a run started again after an infrastructure fault: how many
                       runs of this deployment had failed for one (1, 2, ...)

Materialization tags (Dagster holds asset event tags to at most 63 characters of
letters, digits, `_`, `.` and `-`, so the branch is its host-label slug):
  deploy/project, deploy/commit, deploy/environment, deploy/branch (`feature-login`)

No build variable, repository URL or other secret ever becomes a tag: tags are
shown to everyone who can see runs.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime

from deploy_platform.contracts.names import branch_slug
from deploy_platform.contracts.records import DeploymentRecord, Status

__all__ = [
    "PROJECT_TAG",
    "REF_TAG",
    "COMMIT_TAG",
    "ENVIRONMENT_TAG",
    "SOURCE_TAG",
    "TRIGGER_TAG",
    "ENQUEUED_TAG",
    "LEGACY_ENQUEUED_TAG",
    "enqueued_of",
    "BRANCH_TAG",
    "BACKFILL_TAG",
    "PARTITION_TAG",
    "WILL_RETRY_TAG",
    "AUTO_RETRY_RUN_ID_TAG",
    "RETRY_OF_TAG",
    "INFRA_RETRY_TAG",
    "UI_TRIGGER",
    "CHECKS_JOB",
    "DEPLOY_JOB",
    "BACKFILL_TRIGGER",
    "run_tags",
    "label_tags",
    "materialization_tags",
    "trigger_of",
    "iso_time",
]

PROJECT_TAG = "deploy/project"
REF_TAG = "deploy/ref"
COMMIT_TAG = "deploy/commit"
ENVIRONMENT_TAG = "deploy/environment"
SOURCE_TAG = "deploy/source"
TRIGGER_TAG = "deploy/trigger"
ENQUEUED_TAG = ".dagster/deploy_enqueued_at"
LEGACY_ENQUEUED_TAG = "deploy/enqueued_at"
BRANCH_TAG = "deploy/branch"
RETRY_OF_TAG = "deploy/retry_of"
INFRA_RETRY_TAG = "deploy/infra_retry"
# Dagster's own tags.
BACKFILL_TAG = "dagster/backfill"
PARTITION_TAG = "dagster/partition"
# Whether Dagster will retry a failed run (run_retries), and the retry it started.
WILL_RETRY_TAG = "dagster/will_retry"
AUTO_RETRY_RUN_ID_TAG = "dagster/auto_retry_run_id"

# The job the queue sensor starts for each deployment (orchestration/jobs/deploy.py).
DEPLOY_JOB = "deploy"
# The job that checks a published deployment, in a run of its own after its deploy
# run: that run carries the partition tag too, but builds nothing.
CHECKS_JOB = "deployment_checks"

UI_TRIGGER = "ui-rematerialization"
BACKFILL_TRIGGER = "backfill"

_STRICT_VALUE = re.compile(r"^[A-Za-z0-9_.-]{0,63}$")


def iso_time(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def label_tags(record: DeploymentRecord) -> dict[str, str]:
    """What a person filters runs by: project, ref, commit, environment, source."""
    tags = {
        PROJECT_TAG: record.project,
        SOURCE_TAG: record.source.value,
        ENVIRONMENT_TAG: record.environment.value,
    }
    if record.ref:
        tags[REF_TAG] = record.ref
    if record.commit:
        tags[COMMIT_TAG] = record.commit
    return tags


def run_tags(record: DeploymentRecord) -> dict[str, str]:
    """The queue sensor's run tags: the labels, the trigger and when it was queued."""
    tags = {**label_tags(record), TRIGGER_TAG: record.trigger}
    queued = record.timestamps.get(Status.QUEUED.value)
    if queued is not None:
        tags[ENQUEUED_TAG] = iso_time(queued)
    return tags


def materialization_tags(record: DeploymentRecord) -> dict[str, str]:
    """Asset event tags, each within Dagster's strict rules (a value that is not is left out)."""
    tags = {
        PROJECT_TAG: record.project,
        ENVIRONMENT_TAG: record.environment.value,
    }
    if record.commit:
        tags[COMMIT_TAG] = record.commit
    if record.ref:
        tags[BRANCH_TAG] = branch_slug(record.ref)
    return {name: value for name, value in tags.items() if _STRICT_VALUE.match(value)}


def enqueued_of(tags: Mapping[str, str]) -> str | None:
    """When the control API queued a run's deployment, from its tags (old runs too)."""
    return tags.get(ENQUEUED_TAG) or tags.get(LEGACY_ENQUEUED_TAG)


def trigger_of(tags: Mapping[str, str]) -> str:
    """What started a run, from its tags: the queue sensor's `deploy/trigger` (api,
    webhook), else a backfill, else a person materializing it by hand in the UI."""
    trigger = tags.get(TRIGGER_TAG)
    if trigger:
        return str(trigger)
    if BACKFILL_TAG in tags:
        return BACKFILL_TRIGGER
    return UI_TRIGGER
