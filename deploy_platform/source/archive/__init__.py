"""Source and build archives (gzip tars) and the trees they hold. Dagster-free."""
