"""What precompressed variants cost at publish time, and what they save.

Publishes a built site into a fresh local object store several times
(`deploy_platform.publish.deployment.publish_directory`, 8 worker threads, as the
published_deployment asset does) and reports, as medians over the rounds:
the whole publish, the part spent compressing (Brotli 11 / 9 and gzip 9 of
every compressible file, `PublishResult.compress_seconds`), and a redeploy of
the same files into the same store (every body and variant already stored and
recorded: nothing is uploaded or compressed again, `deploy_platform.publish.variants`).

By default the site is the Vite React fixture's build output (`npm ci` and
`vite build` in a temporary copy, not timed); `--dir` publishes any directory.

    .venv/bin/python -m benchmarks.publish_compression [--rounds 5] [--dir PATH]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from deploy_platform.contracts.ids import new_deployment_id
from deploy_platform.publish.deployment import PublishResult, publish_directory
from deploy_platform.storage.local import LocalObjectStore

APP = Path(__file__).parents[1] / "tests" / "fixtures" / "apps" / "vite-react"


def build_fixture(work: Path) -> Path:
    source = work / "app"
    shutil.copytree(APP, source)
    for command in (["npm", "ci", "--no-audit", "--no-fund"], ["npx", "vite", "build"]):
        subprocess.run(command, cwd=source, check=True, capture_output=True)
    return source / "dist"


def publish(store: LocalObjectStore, site: Path) -> tuple[float, PublishResult]:
    started = time.monotonic()
    result = publish_directory(store, new_deployment_id(), site)
    return time.monotonic() - started, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--dir", type=Path, help="a built site to publish (default: the fixture)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dp-bench-compress-") as tmp:
        work = Path(tmp)
        site = args.dir or build_fixture(work)
        first, compress, again, again_compress = [], [], [], []
        result = None
        for round_number in range(args.rounds):
            store = LocalObjectStore(work / f"store-{round_number}")
            seconds, result = publish(store, site)
            first.append(seconds)
            compress.append(result.compress_seconds)
            seconds, repeat = publish(store, site)
            again.append(seconds)
            again_compress.append(repeat.compress_seconds)
            assert repeat.files_uploaded == 0 and repeat.variants_uploaded == 0
            assert repeat.files_compressed == 0
        assert result is not None
        files = result.manifest.files.values()
        by_coding: dict[str, int] = {}
        compressed_identity = 0
        for entry in files:
            if entry.encodings:
                compressed_identity += entry.size
            for coding, ref in entry.encodings.items():
                by_coding[coding] = by_coding.get(coding, 0) + ref.size
        print(f"site: {site} ({result.files} files, {result.bytes} bytes)")
        print(
            f"files with variants: {sum(1 for e in files if e.encodings)} "
            f"({compressed_identity} bytes uncompressed)"
        )
        for coding, size in sorted(by_coding.items()):
            print(f"  {coding:5} {size} bytes ({size / compressed_identity:.1%} of those)")
        print(f"rounds: {args.rounds} (median, min-max)")
        for label, values in (
            ("first publish, total", first),
            ("  of which compressing", compress),
            ("redeploy, total", again),
            ("  of which compressing", again_compress),
        ):
            print(
                f"  {label:26} {statistics.median(values):.3f} s  "
                f"({min(values):.3f}-{max(values):.3f})"
            )


if __name__ == "__main__":
    main()
