"""Build times of the Vite React fixture: by hand vs the platform, cold and warm.

In one run, interleaved round by round so that machine noise hits all three alike:
  by hand   `npm ci && npm run build` in a fresh copy with an empty npm cache
            (a fresh CI machine), with the machine's own node and npm;
  cold      the platform's build step (`deploy_platform.build.runner.run_build`:
            detect, toolchain, cache restore, sandboxed install and build, cache
            save, output checks) with an empty build cache;
  warm      the same with the build cache the previous cold build saved.
The platform's Node toolchain is provisioned once before timing (it is kept per
version on the machine, not per build).

    .venv/bin/python -m benchmarks.build_times [--rounds 5]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from deploy_platform.build.runner import BuildRequest, run_build
from deploy_platform.build.sandbox import Limits
from deploy_platform.build.settings import BuildSettings
from deploy_platform.storage.local import LocalObjectStore

APP = Path(__file__).parents[1] / "tests" / "fixtures" / "apps" / "vite-react"


def by_hand(work: Path) -> tuple[float, float]:
    source = work / "hand"
    shutil.copytree(APP, source)
    env = dict(os.environ, npm_config_cache=str(work / "npm-cache"))
    started = time.monotonic()
    subprocess.run(["npm", "ci"], cwd=source, env=env, check=True, capture_output=True)
    installed = time.monotonic()
    subprocess.run(["npm", "run", "build"], cwd=source, env=env, check=True, capture_output=True)
    return time.monotonic() - started, installed - started


def platform(work: Path, store: LocalObjectStore, tools: Path, name: str) -> tuple[float, float]:
    source = work / name
    shutil.copytree(APP, source)
    started = time.monotonic()
    outcome = run_build(
        source,
        BuildRequest(project="bench", settings=BuildSettings()),
        store=store,
        tool_cache=tools,
        limits=Limits(),
        log=lambda _line: None,
        output=lambda _line: None,
    )
    # Installing, for the platform, includes restoring the cache it installs from.
    meta = outcome.metadata
    return time.monotonic() - started, float(meta["install_s"]) + float(meta["cache_restore_s"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--tools",
        type=Path,
        default=Path.home() / ".cache" / "deploy-platform-tests" / "toolchains",
    )
    args = parser.parse_args()
    results: dict[str, list[tuple[float, float]]] = {"by hand": [], "cold": [], "warm": []}
    with tempfile.TemporaryDirectory(prefix="dp-build-bench-") as tmp:
        root = Path(tmp)
        # Provision the toolchain once (a machine keeps it per version).
        platform(root / "warmup", LocalObjectStore(root / "warmup-store"), args.tools, "app")
        for n in range(args.rounds):
            work = root / f"round-{n}"
            work.mkdir()
            store = LocalObjectStore(work / "store")  # empty: a cold build
            results["by hand"].append(by_hand(work))
            results["cold"].append(platform(work, store, args.tools, "cold"))
            results["warm"].append(platform(work, store, args.tools, "warm"))
            print(
                f"round {n + 1}: "
                + "  ".join(
                    f"{k} {v[-1][0]:.2f} s (install {v[-1][1]:.2f} s)" for k, v in results.items()
                ),
                flush=True,
            )
    med = {k: statistics.median(t for t, _ in v) for k, v in results.items()}
    inst = {k: statistics.median(i for _, i in v) for k, v in results.items()}
    print()
    print(f"Vite React fixture, {args.rounds} rounds, medians:")
    for k in results:
        print(f"  {k:8} total {med[k]:.2f} s   install {inst[k]:.2f} s")
    print(f"  cold / by hand          {med['cold'] / med['by hand']:.2f}  (goal <= 1.10)")
    print(f"  by hand / warm          {med['by hand'] / med['warm']:.2f}  (goal >= 2)")
    print(
        f"  cold install / warm     {inst['cold'] / inst['warm']:.1f}  (goal >= 3; install"
        " includes the cache restore)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
