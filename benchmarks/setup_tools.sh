#!/usr/bin/env bash
# Installs what benchmarks/edge_throughput.py runs besides the project's own
# Python: nginx (the baseline that serves the same files from local disk) and
# wrk (the load generator). Debian packages, through apt-get, only when missing.
# Needs root (or sudo); safe to run again.
set -euo pipefail

missing=()
command -v nginx >/dev/null 2>&1 || missing+=(nginx-light)
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
if [ ${#missing[@]} -eq 0 ]; then
    echo "nginx and wrk are installed"
    exit 0
fi

sudo_=()
if [ "$(id -u)" -ne 0 ]; then
    sudo_=(sudo)
fi
echo "installing: ${missing[*]}"
"${sudo_[@]}" apt-get update -q
DEBIAN_FRONTEND=noninteractive "${sudo_[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
# The package starts a system nginx on port 80; the benchmark runs its own.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet nginx 2>/dev/null; then
    "${sudo_[@]}" systemctl stop nginx || true
fi
command -v nginx && command -v wrk
