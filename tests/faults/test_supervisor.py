"""The supervisor over small real child processes: what `up` says when a child fails.

A child that exits while `up` waits for it ends the wait at once with the child's
own last words; one that keeps exiting later is restarted (at once the first
time, then with backoff) and finally given up on, again with its last words.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from deploy_platform.supervisor import ChildFailed, ChildSpec, Supervisor


def _child(name: str, code: str) -> ChildSpec:
    return ChildSpec(name, [sys.executable, "-c", code], {"PATH": "/usr/bin:/bin"})


def test_a_child_exiting_while_waited_for_ends_the_wait_with_its_own_words(
    tmp_path: Path,
) -> None:
    supervisor = Supervisor(tmp_path / "run", tmp_path / "logs", echo=False)
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "api.log").write_text("an older run's line\n")
    supervisor.start(_child("api", "import time; time.sleep(60)"))
    supervisor.start(
        _child("broken", "import sys; print('cannot read settings.toml'); sys.exit(3)")
    )
    try:
        with pytest.raises(ChildFailed) as failed:
            supervisor.wait_ready({"api": lambda: False}, timeout=60)
    finally:
        supervisor.stop()
    message = str(failed.value)
    assert message.startswith("broken exited with code 3 while starting")
    assert "cannot read settings.toml" in message
    assert "an older run's line" not in supervisor.log_tail("api")


def test_a_child_that_keeps_crashing_is_restarted_then_given_up_with_its_last_lines(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    supervisor = Supervisor(tmp_path / "run", tmp_path / "logs", max_restarts=2)
    crash = "import sys; print('lost my database', flush=True); sys.exit(4)"
    supervisor.start(_child("worker", crash))
    deadline = time.monotonic() + 60
    with pytest.raises(ChildFailed) as failed:
        while time.monotonic() < deadline:
            supervisor.poll()
            time.sleep(0.05)
    supervisor.stop()
    assert "worker keeps exiting (3 times in a row)" in str(failed.value)
    assert "lost my database" in str(failed.value)
    said = capsys.readouterr().out
    assert said.count("[up] worker exited with code 4; last lines of") == 3
    assert "    lost my database" in said
    assert said.count("[up] restarting worker") == 2
