"""Real builds: detect what a repository is, provision its toolchain, build it sandboxed.

Dagster-free. `settings` (per-project overrides), `detect` (what to run and where
the output lands), `node_versions` (npm-compatible ranges, choosing a Node) decide;
the sibling modules `toolchain`, `sandbox` and `cache` act on those decisions.
"""
