"""deploy_platform.api.scratch: the sweep at start removes only the API's own directories
that no live process holds."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from deploy_platform.api.scratch import make_scratch, sweep


def test_the_sweep_removes_abandoned_api_directories_only(tmp_path: Path) -> None:
    root = tmp_path / "tmp"
    live = make_scratch(root)  # held by this (live) process
    (live.path / "source.tar.gz").write_bytes(b"x" * 1000)
    # Left by a process that died: its lock was released with it.
    script = (
        "import sys; from pathlib import Path; "
        "from deploy_platform.api.scratch import make_scratch; "
        "s = make_scratch(Path(sys.argv[1])); (s.path / 'part').write_bytes(b'y'); print(s.path)"
    )
    dead = Path(
        subprocess.run(
            [sys.executable, "-c", script, str(root)], check=True, capture_output=True, text=True
        ).stdout.strip()
    )
    # Made a moment ago and not locked yet (between mkdir and flock): young, so kept.
    young = root / "api-1-young"
    young.mkdir()
    old_unlocked = root / "api-2-old"
    old_unlocked.mkdir()
    long_ago = time.time() - 3600
    os.utime(old_unlocked, (long_ago, long_ago))
    foreign = root / "upload-not-ours"
    foreign.mkdir()

    assert dead.is_dir() and (dead / "part").exists()
    assert sweep(root) == 2

    assert not dead.exists() and not old_unlocked.exists()
    assert live.path.is_dir() and young.is_dir() and foreign.is_dir()
    live.remove()
    assert not live.path.exists()
    assert sweep(tmp_path / "missing") == 0
