"""S3, Cloudflare R2, SeaweedFS or MinIO as the object store (`store`), through boto3."""

from deploy_platform.storage.s3.store import RUN_OUTAGE_SECONDS, S3ObjectStore

__all__ = ["S3ObjectStore", "RUN_OUTAGE_SECONDS"]
