"""S3, Cloudflare R2, SeaweedFS or MinIO as the object store, through boto3.

  s3://bucket[/prefix]?endpoint_url=https://<account>.r2.cloudflarestorage.com&region=auto

Query parameters: `endpoint_url` (omit for AWS), `region` (R2 wants `auto`) and
`addressing_style` (`path`, `virtual` or `auto`; `path` by default when an
endpoint is given, since SeaweedFS and MinIO need it and R2 accepts it).
Credentials never travel in the URL: they are arguments (Dagster passes them from
`dg.EnvVar`), and empty ones mean boto3's own chain (environment, profile, role).

One boto3 client per store. boto3 clients are thread-safe, so the edge-origin's
executor threads and the publisher's upload pool share it; the connection pool is
sized for that.

Faults, in two layers:
- botocore's "standard" retry mode retries each request on connection errors,
  timeouts, throttling and 5xx, `MAX_ATTEMPTS` (3) attempts in all; its backoff is
  tens of milliseconds, which rides out a dropped connection but not a restart;
- with `outage_seconds` (the run workers' and sensors' store: 15 s; the control
  API's and edge-origin's: 0, they answer at once rather than hold a request), a
  call that still finds the store unreachable is made again after 0.5, 1, 2, 4 s
  ... until that many seconds have passed, so a restart of a few seconds is
  ridden out inside the call.
A connect timeout of 3 s and a read timeout of 20 s keep a server that hangs
(stopped, not gone) from holding a call for minutes. What is still failing then
raises `StoreUnavailable` (an infrastructure fault: the run is run again once the
store answers, see sensors/infra_retry.py); a missing bucket or denied access is a
configuration error and stays a plain `ObjectStoreError`.

Modules: `store` (the `ObjectStore` methods), `client` (the URL, names, settings and
the boto3 client), `faults` (botocore's errors mapped, calls made again through an outage),
`bodies` (a GET's body streamed).
"""

from deploy_platform.storage.s3.faults import RUN_OUTAGE_SECONDS
from deploy_platform.storage.s3.store import S3ObjectStore

__all__ = ["S3ObjectStore", "RUN_OUTAGE_SECONDS"]
