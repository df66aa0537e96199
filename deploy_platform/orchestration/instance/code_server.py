"""The one long-lived Dagster code server `deploy-platform up` runs.

Dagster's production shape: a gRPC code server started once, which workspace.yaml
names as a `grpc_server` location (see `home.py`), shared by the daemon and the
webserver. With a `python_module` location instead, each of them spawns a code
server of its own, and the daemon renews its one about every minute, importing
dagster and the definitions again every time.

`python -m dagster api grpc` loads the definitions before it binds its port, so
the port answering means the code location is loaded; a definitions module that
fails to import makes the server exit, with the error in its log. No heartbeat:
the server lives until `up` stops it (its process group is taken down with the
other children's). Plain `api grpc` rather than `dagster code-server start`,
which adds a proxy process in front of the same server.

Not imported by anything that imports dagster: `up` uses this module as is.
"""

from __future__ import annotations

import sys
from pathlib import Path

import deploy_platform
from deploy_platform.processes.ports import is_listening

__all__ = [
    "CODE_LOCATION",
    "CODE_SERVER_HOST",
    "CODE_SERVER_THREADS",
    "DEFINITIONS_MODULE",
    "code_server_argv",
    "code_server_ready",
    "project_root",
]

#: The code location's name, in workspace.yaml and on every run.
CODE_LOCATION = "deploy_platform"
DEFINITIONS_MODULE = "deploy_platform.definitions"
CODE_SERVER_HOST = "127.0.0.1"
#: The server answers each queue-sensor lane's long-poll on a thread of its own; the
#: default pool (cores + 4) would leave too few for the rest (the UI, other sensors).
CODE_SERVER_THREADS = 16


def project_root() -> Path:
    """The directory holding the `deploy_platform` package: on sys.path for the
    code server, so a checkout works without being installed."""
    return Path(deploy_platform.__file__).resolve().parent.parent


def code_server_argv(port: int, python: str | None = None) -> list[str]:
    """The command line of the code server, listening on 127.0.0.1:`port`."""
    return [
        python or sys.executable,
        "-m",
        "dagster",
        "api",
        "grpc",
        "--module-name",
        DEFINITIONS_MODULE,
        "--working-directory",
        str(project_root()),
        "--host",
        CODE_SERVER_HOST,
        "--port",
        str(port),
        "--location-name",
        CODE_LOCATION,
        "--max-workers",
        str(CODE_SERVER_THREADS),
        # Run workers are started with this interpreter (`python -m dagster`), not
        # whatever `dagster` is first on PATH.
        "--use-python-environment-entry-point",
    ]


def code_server_ready(port: int) -> bool:
    """The code server's port answers (it binds only once the definitions loaded)."""
    return is_listening(port, CODE_SERVER_HOST)
