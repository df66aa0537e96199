"""Build times of a Hugo site and an MkDocs site: by hand vs the platform, cold and warm.

In one run, interleaved round by round so that machine noise hits all alike:
  by hand   MkDocs: `python3 -m venv venv && venv/bin/pip install -r requirements.txt &&
            venv/bin/mkdocs build` in a fresh copy with an empty pip cache (a fresh
            CI machine); Hugo: `hugo` in a fresh copy, with the same Hugo binary;
  cold      the platform's build step (`deploy_platform.build.runner.run_build`:
            detect, tools, cache restore, sandboxed install and build, cache save,
            output checks) with an empty build cache;
  warm      the same with the build cache the previous cold build saved.
Hugo's binary is provisioned once before timing (a machine keeps it per version, as
it keeps Node). The Hugo site is the `hugo-site` fixture plus `--pages` generated
posts, so that the build itself, not the start-up, is what is timed.

    .venv/bin/python -m benchmarks.ssg_builds [--rounds 5] [--pages 1000]
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

from deploy_platform.build.generators.hugo import hugo_request, provision_hugo
from deploy_platform.build.generators.python_env import installed_pythons
from deploy_platform.build.runner import BuildRequest, run_build
from deploy_platform.build.sandbox import Limits
from deploy_platform.build.settings import BuildSettings
from deploy_platform.storage.local import LocalObjectStore

APPS = Path(__file__).parents[1] / "tests" / "fixtures" / "apps"
KINDS = ("by hand", "cold", "warm")


def hugo_source(target: Path, pages: int) -> Path:
    shutil.copytree(APPS / "hugo-site", target)
    posts = target / "content" / "posts"
    for n in range(pages):
        body = "\n\n".join(f"Paragraph {p} of post {n}, with *some* Markdown." for p in range(20))
        (posts / f"post-{n}.md").write_text(
            f"---\ntitle: Post {n}\ndate: 2024-01-01\n---\n{body}\n"
        )
    return target


def mkdocs_source(target: Path, _pages: int) -> Path:
    shutil.copytree(APPS / "mkdocs-site", target)
    return target


def hand_env(work: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    # The platform's pip reads no machine configuration; by hand the same.
    env.update(PIP_CONFIG_FILE=os.devnull, PIP_CACHE_DIR=str(work / "pip-cache"))
    return env


def mkdocs_by_hand(work: Path, source: Path, _hugo: Path) -> float:
    env = hand_env(work)
    python = str(installed_pythons()[0].path)
    started = time.monotonic()
    venv = work / "venv"
    for argv in (
        [python, "-m", "venv", str(venv)],
        [str(venv / "bin" / "pip"), "install", "-q", "-r", "requirements.txt"],
        [str(venv / "bin" / "mkdocs"), "build", "-q"],
    ):
        subprocess.run(argv, cwd=source, env=env, check=True, capture_output=True)
    return time.monotonic() - started


def hugo_by_hand(work: Path, source: Path, hugo: Path) -> float:
    started = time.monotonic()
    subprocess.run([str(hugo / "hugo")], cwd=source, check=True, capture_output=True)
    return time.monotonic() - started


def platform(source: Path, store: LocalObjectStore, tools: Path) -> float:
    started = time.monotonic()
    run_build(
        source,
        BuildRequest(project="bench", settings=BuildSettings()),
        store=store,
        tool_cache=tools,
        limits=Limits(),
        log=lambda _line: None,
        output=lambda _line: None,
    )
    return time.monotonic() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--pages", type=int, default=1000)
    parser.add_argument(
        "--tools",
        type=Path,
        default=Path.home() / ".cache" / "deploy-platform-tests" / "toolchains",
    )
    args = parser.parse_args()
    _, hugo = provision_hugo(args.tools, hugo_request({}), print)
    sites = {"Hugo": (hugo_source, hugo_by_hand), "MkDocs": (mkdocs_source, mkdocs_by_hand)}
    results: dict[str, dict[str, list[float]]] = {s: {k: [] for k in KINDS} for s in sites}
    with tempfile.TemporaryDirectory(prefix="dp-ssg-bench-") as tmp:
        root = Path(tmp)
        for n in range(args.rounds):
            for site, (make, by_hand) in sites.items():
                work = root / f"round-{n}-{site}"
                work.mkdir()
                store = LocalObjectStore(work / "store")  # empty: a cold build
                times = results[site]
                times["by hand"].append(by_hand(work, make(work / "hand", args.pages), hugo))
                times["cold"].append(platform(make(work / "cold", args.pages), store, args.tools))
                times["warm"].append(platform(make(work / "warm", args.pages), store, args.tools))
                print(
                    f"round {n + 1} {site}: "
                    + "  ".join(f"{k} {v[-1]:.2f} s" for k, v in times.items()),
                    flush=True,
                )
                shutil.rmtree(work)
    print()
    print(f"{args.rounds} rounds, medians (Hugo site: {args.pages} generated posts):")
    for site, times in results.items():
        med = {k: statistics.median(v) for k, v in times.items()}
        print(
            f"  {site:7} by hand {med['by hand']:.2f} s  cold {med['cold']:.2f} s  "
            f"warm {med['warm']:.2f} s  cold/by hand {med['cold'] / med['by hand']:.2f} "
            f"(goal <= 1.10)  by hand/warm {med['by hand'] / med['warm']:.2f} (goal >= 2)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
