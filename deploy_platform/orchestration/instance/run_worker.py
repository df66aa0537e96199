"""A Dagster run worker started before its run exists (see `instance/launcher.py`).

It imports dagster and the code location's module, then waits on stdin for
one line: the `dagster api execute_run` arguments of the run to execute. The run
then goes through Dagster's own command-line entry point, exactly as a run
worker started by `python -m dagster api execute_run ...` would, minus the
second or so of imports that happened while it waited.

    python -m deploy_platform.orchestration.instance.run_worker <module-to-preload>
"""

from __future__ import annotations

import importlib
import sys

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    from dagster._cli import main as dagster_main

    for module in args:
        importlib.import_module(module)
    line = sys.stdin.readline().strip()
    if not line:
        return 0  # the launcher retired this standby without giving it a run
    sys.argv = ["dagster", "api", "execute_run", line]
    dagster_main()  # type: ignore[no-untyped-call]
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
