#!/usr/bin/env bash
# Fresh machine to running platform: install, start everything on embedded
# defaults, deploy the bundled sample site and print its URL. Ctrl-C stops it all.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/deploy-platform up --sample "$@"
