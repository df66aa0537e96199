"""Every part of the platform on one machine, embedded defaults: what `deploy-platform up`
(`cli/up.py`) runs.

Starts, each as a supervised child process (see `processes/supervisor.py`):
  redis        a private redis-server when DP_REDIS_URL is not set (restarted like
               the others; password, port and append-only file in <state>/redis,
               see `processes/private_redis.py`)
  api          the control API            (python -m deploy_platform.api)
  edge         the edge-origin            (python -m serve: one worker per CPU)
  code-server  the Dagster code server: the definitions, loaded once, on a free
               loopback port (`orchestration/instance/code_server.py`); the daemon
               and the UI both use it and spawn none of their own. Reloading the
               code means restarting `up`.
  daemon       the Dagster daemon: queue sensor, run queue, run monitoring
  webserver    the Dagster UI, behind a gate on its port that starts
               `dagster-webserver` on the first visit and stops it after
               DP_UI_IDLE_MINUTES without one (`processes/ui_gate.py`)
started in that order: the daemon and the UI once the code server answers.
with DAGSTER_HOME under the state directory (persistent: the deployment history
lives there, or in PostgreSQL with DP_DAGSTER_POSTGRES_URL; `settings/instance.py`
has the instance's settings), a local object directory when DP_STORAGE_URL is
not set, and an API token generated into `<state>/api-token` when DP_API_TOKEN
is not set. The private Redis's URL (with its password) is written to
`<state>/run/redis.url` for commands run beside `up` on the same machine
(`deploy-platform gc`). The state directory is 0700, every secret in it 0600.
A child that exits while `up` starts is reported at once with the last lines of
its log; `up` then stops and exits non-zero.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from types import FrameType
from typing import IO

from deploy_platform.build import isolation
from deploy_platform.orchestration.instance.code_server import (
    code_server_argv,
    code_server_ready,
)
from deploy_platform.orchestration.instance.storage import prepare_storage
from deploy_platform.processes.leftovers import stop_leftovers
from deploy_platform.processes.ports import is_listening, restartable_port
from deploy_platform.processes.private_files import (
    make_private_dir,
    read_or_create_secret,
    write_private,
)
from deploy_platform.processes.private_redis import REDIS_URL_FILE, PrivateRedis
from deploy_platform.processes.supervisor import ChildFailed, ChildSpec, Supervisor
from deploy_platform.processes.warden import Warden
from deploy_platform.publish.cloudflare_kv import KVConfig
from deploy_platform.settings.instance import (
    POSTGRES_URL_VARIABLE,
    InstanceSettings,
    check_postgres,
    with_sqlalchemy_url,
)
from deploy_platform.settings.platform import Settings
from deploy_platform.settings.registry import default_state_dir, passed_by_up

__all__ = ["run_up", "SAMPLE_SITE"]

SAMPLE_SITE = Path(__file__).parent / "sample_site"
# How long a child may take to answer after it started (a loaded 2-core machine).
_START_TIMEOUT = 90.0


def _api_token(state_dir: Path) -> str:
    return read_or_create_secret(state_dir / "api-token", lambda: secrets.token_urlsafe(24))


def _bin(name: str) -> str:
    """A console script installed beside this interpreter (the project's venv)."""
    candidate = Path(sys.executable).parent / name
    return str(candidate) if candidate.exists() else name


def _child_env(settings: Settings, dagster_home: Path, base: dict[str, str]) -> dict[str, str]:
    env = dict(base)
    # The registry's `passed_by_up` variables are always set: the Dagster definitions
    # read theirs through dg.EnvVar, which fails on an unset one. Empty when not given,
    # the resolved value for those `Settings` holds.
    env.update({name: base.get(name, "") for name in passed_by_up()})
    env.update(settings.to_env())
    env.update(
        {
            "DAGSTER_HOME": str(dagster_home),
            "PYTHONUNBUFFERED": "1",
        }
    )
    # A queue-lane or wait-sensor tick long-polls up to ~100 s (sensors/queue_sensor.py);
    # Dagster's default 60 s evaluation timeout would end it.
    env.setdefault("DAGSTER_SENSOR_GRPC_TIMEOUT_SECONDS", "180")
    # glibc gives every thread that allocates an arena of its own (up to 8 per core),
    # and the Dagster processes run dozens of threads (sensor and gRPC workers) that
    # each keep freed memory in theirs: two arenas keep their resident memory lower.
    env.setdefault("MALLOC_ARENA_MAX", "2")
    return env


class UpError(Exception):
    """`up` cannot start; the message says what to change."""


def _check_ports(args: argparse.Namespace) -> None:
    ports = {"--api-port": args.api_port, "--edge-port": args.edge_port, "--ui-port": args.ui_port}
    if len(set(ports.values())) != len(ports):
        raise UpError(f"the ports must differ: {ports}")
    for flag, port in ports.items():
        if not 0 < port < 65536:
            raise UpError(f"{flag} {port} is not a TCP port")
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                raise UpError(
                    f"port {port} is already in use; stop what listens there or pass {flag} PORT"
                ) from None


def _lock_state_dir(state_dir: Path) -> IO[bytes]:
    """One `up` per state directory: two would share Redis data and DAGSTER_HOME."""
    handle = open(state_dir / "up.lock", "wb")  # noqa: SIM115 - held until exit
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise UpError(
            f"another `deploy-platform up` is running with state directory {state_dir}; "
            "stop it or pass --state-dir DIR"
        ) from None
    return handle


def run_up(args: argparse.Namespace, deploy_sample: Callable[[Path], int]) -> int:
    """Run until stopped; with `args.sample`, `deploy_sample(SAMPLE_SITE)` once running
    (the caller's way to deploy a directory: the command line's own `deploy`)."""
    try:
        return _run_up(args, deploy_sample)
    except UpError as exc:
        print(f"deploy-platform up: {exc}", file=sys.stderr)
        return 2


def _run_up(args: argparse.Namespace, deploy_sample: Callable[[Path], int]) -> int:
    from deploy_platform.orchestration.instance.home import write_dagster_home

    env = dict(os.environ)
    state_dir = Path(args.state_dir or env.get("DP_STATE_DIR") or default_state_dir()).resolve()
    try:
        make_private_dir(state_dir)
    except OSError as exc:
        raise UpError(f"cannot make the state directory private (0700): {exc}") from None
    lock = _lock_state_dir(state_dir)
    _check_ports(args)
    left = stop_leftovers(state_dir / "run")
    if left:
        print(f"[up] stopped what an earlier up left running: {', '.join(left)}", flush=True)
    # Builds run strangers' code: make the build user (root) and say how they are isolated.
    try:
        print(f"[up] {isolation.announce_for_up(env)}", flush=True)
    except (ValueError, isolation.IsolationUnavailable) as exc:
        raise UpError(str(exc)) from None
    env["DP_STATE_DIR"] = str(state_dir)
    env.setdefault("DP_PUBLIC_PORT", str(args.edge_port))
    env.setdefault("DP_EDGE_ORIGIN_URL", f"http://127.0.0.1:{args.edge_port}")
    env["DP_API_URL"] = f"http://127.0.0.1:{args.api_port}"
    # Kept when set: behind a proxy the UI's public address is what a person opens.
    if not env.get("DP_DAGSTER_UI_URL", "").strip():
        env["DP_DAGSTER_UI_URL"] = f"http://127.0.0.1:{args.ui_port}"
    if not env.get("DP_API_TOKEN"):
        env["DP_API_TOKEN"] = _api_token(state_dir)

    redis: PrivateRedis | None = None
    if not env.get("DP_REDIS_URL"):
        redis = PrivateRedis.prepare(state_dir / "redis")
        env["DP_REDIS_URL"] = redis.url
    try:
        settings = Settings.from_env(env)
        KVConfig.from_env(env)
        settings.github_config()
        instance = InstanceSettings.from_env(env)
        if instance.postgres_url:
            check_postgres(instance.postgres_url)
    except ValueError as exc:
        raise UpError(f"bad setting in the environment: {exc}") from None
    (state_dir / "objects").mkdir(exist_ok=True)

    dagster_home = state_dir / "dagster"
    # Kept for this `up`'s life: a restarted code server comes back on the same port,
    # where the daemon and the UI reconnect to it.
    taken = {args.api_port, args.edge_port, args.ui_port, *([redis.port] if redis else [])}
    code_server_port = restartable_port(avoid=taken)
    write_dagster_home(
        dagster_home,
        max_concurrent_runs=instance.max_concurrent_builds,
        builds_per_project=instance.builds_per_project,
        postgres_url_env=POSTGRES_URL_VARIABLE if instance.postgres_url else None,
        run_launcher=instance.run_launcher,
        code_server_port=code_server_port,
    )
    child_env = with_sqlalchemy_url(_child_env(settings, dagster_home, env))
    try:
        prepare_storage(child_env, dagster_home)
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        raise UpError(str(exc)) from None
    workspace = str(dagster_home / "workspace.yaml")
    python = sys.executable
    specs = [
        ChildSpec(
            "api", [python, "-m", "deploy_platform.api", "--port", str(args.api_port)], child_env
        ),
        ChildSpec("edge", [python, "-m", "serve", "--port", str(args.edge_port)], child_env),
    ]
    code_server = ChildSpec(
        "code-server", code_server_argv(code_server_port, python), child_env, dagster_home
    )
    dagster_specs = [
        ChildSpec(
            "daemon", [_bin("dagster-daemon"), "run", "-w", workspace], child_env, dagster_home
        ),
        # The UI's port is the gate's: it starts the webserver on the first visit and
        # stops it after DP_UI_IDLE_MINUTES without one (processes/ui_gate.py).
        ChildSpec(
            "webserver",
            [
                python,
                "-m",
                "deploy_platform.processes.ui_gate",
                "--port",
                str(args.ui_port),
                "--idle-seconds",
                f"{instance.ui_idle_minutes * 60:g}",
                "--",
                _bin("dagster-webserver"),
                "-h",
                "127.0.0.1",
                "-p",
                "{port}",
                "-w",
                workspace,
            ],
            child_env,
            dagster_home,
        ),
    ]
    run_dir = state_dir / "run"
    run_dir.mkdir(exist_ok=True)
    # The warden needs no setting, and no secret, of the platform's.
    warden = Warden.start({"PATH": env.get("PATH", ""), "DP_STATE_DIR": str(state_dir)})
    (run_dir / "warden.pid").write_text(f"{warden.pid}\n")
    supervisor = Supervisor(run_dir=run_dir, log_dir=state_dir / "logs", warden=warden)
    stopping = False

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    redis_url_file = state_dir / REDIS_URL_FILE
    try:
        if redis is not None:
            _start_redis(supervisor, redis, state_dir)
            write_private(redis_url_file, redis.url + "\n")
        _forget_queue_tick(settings)
        for spec in specs:
            supervisor.start(spec)
        # The daemon and the UI load the code location from the code server as they start.
        supervisor.start(code_server)
        supervisor.wait_ready(
            {code_server.name: partial(code_server_ready, code_server_port)},
            timeout=_START_TIMEOUT,
        )
        for spec in dagster_specs:
            supervisor.start(spec)
        listening = {"api": args.api_port, "edge": args.edge_port, "webserver": args.ui_port}
        supervisor.wait_ready(
            {name: partial(is_listening, port) for name, port in listening.items()},
            timeout=_START_TIMEOUT,
        )
        print(f"[up] state directory   {state_dir}", flush=True)
        print(f"[up] control API       {settings.api_url}  (token in {state_dir}/api-token)")
        print(
            f"[up] edge-origin       http://127.0.0.1:{args.edge_port}  (*.{settings.base_domain})"
        )
        on_demand = (
            f"  (starts on the first visit, stops after {instance.ui_idle_minutes:g} min unused)"
            if instance.ui_idle_minutes
            else ""
        )
        print(f"[up] Dagster UI        http://127.0.0.1:{args.ui_port}{on_demand}")
        print(f"[up] code server       127.0.0.1:{code_server_port}  (restart up to reload code)")
        print(f"[up] logs              {state_dir}/logs/", flush=True)
        sample_done = threading.Event()
        if args.sample and not stopping:
            os.environ.update(
                {k: child_env[k] for k in ("DP_API_URL", "DP_API_TOKEN", "DP_STATE_DIR")}
            )
            # On a thread, so the children stay supervised while the sample deploys.
            threading.Thread(
                target=_deploy_sample,
                args=(sample_done, deploy_sample),
                name="sample",
                daemon=True,
            ).start()
        else:
            sample_done.set()
        announced = False
        while not stopping:
            supervisor.poll()
            if sample_done.is_set() and not announced:
                print("[up] running; press Ctrl-C to stop", flush=True)
                announced = True
            time.sleep(0.2)
        return 0
    except ChildFailed as exc:
        raise UpError(str(exc)) from None
    finally:
        print("[up] stopping...", flush=True)
        supervisor.stop()
        warden.close()
        (run_dir / "warden.pid").unlink(missing_ok=True)
        redis_url_file.unlink(missing_ok=True)
        lock.close()
        print("[up] stopped", flush=True)


def _forget_queue_tick(settings: Settings) -> None:
    """Until the new daemon's queue sensor ticks, a queued deployment waits for the daemon
    to start (`api/waiting.py`); the tick an earlier `up` left would hide that."""
    import redis as redis_client

    from deploy_platform.storage.redis_state import API_RETRIES, PlatformState

    try:
        state = PlatformState.from_url(settings.redis_url, settings.redis_prefix, 5.0, API_RETRIES)
        try:
            state.forget_queue_tick()
        finally:
            state.redis.close()
    except redis_client.RedisError as exc:  # the API says Redis is down soon enough
        print(f"[up] could not reach Redis yet: {exc}", flush=True)


def _deploy_sample(done: threading.Event, deploy: Callable[[Path], int]) -> None:
    try:
        code = deploy(SAMPLE_SITE)
        if code != 0:
            print("[up] the sample deployment failed; the platform keeps running", flush=True)
    finally:
        done.set()


def _start_redis(supervisor: Supervisor, redis: PrivateRedis, state_dir: Path) -> None:
    """The private Redis, first: every other child connects to it at start."""
    if redis.moved_from:
        print(f"[up] port {redis.moved_from} of the private Redis was taken: now {redis.port}")
    # Only the state directory in its environment: the password is in its 0600 config.
    env = {"PATH": os.environ.get("PATH", ""), "DP_STATE_DIR": str(state_dir)}
    try:
        argv = redis.argv()
    except RuntimeError as exc:  # no redis-server anywhere
        raise UpError(f"{exc}; install redis-server or set DP_REDIS_URL") from None
    supervisor.start(ChildSpec("redis", argv, env, redis.data_dir, stop_last=True))
    supervisor.wait_ready({"redis": redis.ready}, timeout=_START_TIMEOUT)
    print(
        f"[up] Redis             127.0.0.1:{redis.port}  (password in {redis.data_dir}/password,"
        f" append-only file in {redis.data_dir})",
        flush=True,
    )
