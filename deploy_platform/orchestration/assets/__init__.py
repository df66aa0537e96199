"""The three partitioned assets of a deployment, in pipeline order."""

from deploy_platform.orchestration.assets.built_artifact import built_artifact
from deploy_platform.orchestration.assets.partitions import deployments_partitions
from deploy_platform.orchestration.assets.published_deployment import published_deployment
from deploy_platform.orchestration.assets.source_archive import source_archive

__all__ = ["source_archive", "built_artifact", "published_deployment", "deployments_partitions"]
