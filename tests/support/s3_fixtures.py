"""A real S3 server (SeaweedFS) on loopback (filled in by the storage work)."""
