#!/usr/bin/env bash
# Fresh machine to test results: install with test tools, lint, type-check, test.
# Extra arguments go to pytest (for example: scripts/test.sh tests/serve -x). The fast
# subset, with no platform processes, no downloads and no long waits:
#   bash scripts/test.sh -m "not e2e and not slow"
# (every `network` test, which downloads Node.js or npm packages, is also `slow`).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh test
.venv/bin/ruff check deploy_platform serve tests benchmarks
.venv/bin/mypy
# The import contracts in pyproject.toml ([tool.importlinter]): the folders' boundaries.
.venv/bin/lint-imports
# The docs build with every internal link checked (mkdocs.yml has strict: true); the site
# goes to a temporary directory, never into the repository.
site_dir="$(mktemp -d)"
.venv/bin/mkdocs build --strict -d "$site_dir"
rm -rf "$site_dir"
# pytest exits 5 when it ran no test: that is a failure here too.
.venv/bin/pytest "$@"
# The Cloudflare Worker in Miniflare (workerd comes from the npm registry), replaying
# the answers the Python edge-origin gave for the same requests: the whole run only, so a
# chosen part (any arguments, such as the fast subset) downloads nothing.
if [ "$#" -eq 0 ]; then
  (cd edge-worker && npm ci --no-audit --no-fund --loglevel=error && npm test)
fi
