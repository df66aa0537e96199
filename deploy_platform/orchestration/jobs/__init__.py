"""The Dagster jobs: `deploy` (the queue sensor's) and `retention` (daily)."""
