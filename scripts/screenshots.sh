#!/usr/bin/env bash
# Screenshots of the Dagster UI for the docs (docs/images/dagster-*.png): starts the
# platform on free ports in a temporary state directory, deploys the sample site and
# a failing build, and renders the pages with headless Chromium (scripts/screenshots.py).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || bash scripts/setup.sh
if ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    apt_install() { apt-get install -y -qq --no-install-recommends chromium >/dev/null; }
    apt_install || { apt-get update -qq >/dev/null && apt_install; }
  else
    echo "screenshots need Chromium (as root: apt-get install chromium)" >&2
    exit 1
  fi
fi
exec .venv/bin/python scripts/screenshots.py "$@"
