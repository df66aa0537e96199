#!/usr/bin/env bash
# Create .venv and install the project into it (editable), with extras when asked:
#   scripts/setup.sh            the platform
#   scripts/setup.sh test       the platform plus test tools
# Re-running is cheap: nothing is reinstalled while pyproject.toml is unchanged.
set -euo pipefail
cd "$(dirname "$0")/.."
extra="${1:-}"
python="${PYTHON:-python3.11}"
command -v "$python" >/dev/null 2>&1 || python=python3
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
stamp=".venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)${extra:+-$extra}"
if [ ! -f "$stamp" ]; then
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
  if [ -n "$extra" ]; then
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".[$extra]"
  else
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -e .
  fi
  touch "$stamp"
fi

# Build isolation (deploy_platform/build/isolation.py) needs bubblewrap and slirp4netns
# (nsenter and ip come with util-linux and iproute2). Installed here when running as
# root with apt-get; otherwise said, since builds then run without the full boundary.
missing=()
command -v bwrap >/dev/null 2>&1 || missing+=(bubblewrap)
command -v slirp4netns >/dev/null 2>&1 || missing+=(slirp4netns)
command -v ip >/dev/null 2>&1 || missing+=(iproute2)
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    apt_install() { apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; }
    apt_install || { apt-get update -qq >/dev/null && apt_install; } || \
      echo "setup: could not install ${missing[*]}; builds will not be isolated" >&2
  else
    echo "setup: builds will not be isolated until ${missing[*]} is installed" \
      "(as root: apt-get install ${missing[*]})" >&2
  fi
fi
