"""deploy-platform: from a Git repository to a live URL, orchestrated by Dagster.

This package's top level imports nothing heavy: `serve/` imports the
dagster-free modules here (ids, names, storage, manifest, state), and must never
pull in dagster. Dagster code lives in `definitions`, `assets`, `sensors` and
`resources`.
"""

__version__ = "0.1.0"
