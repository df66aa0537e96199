"""The Dagster UI on demand: started by the first visit, stopped when nobody has looked for a while.

`dagster-webserver` holds ~150 MB and wakes several times a second (its event loop,
its watch on the code server) whether anyone looks or not; on an idle platform it
was a quarter of the memory. A person opens the UI now and then, so `up` runs this
gate on the UI's port instead:

    python -m deploy_platform.processes.ui_gate --port P --idle-seconds S -- \\
        dagster-webserver -h 127.0.0.1 -p {port} -w workspace.yaml

The gate listens on P. A connection that sends a request starts the webserver
(its argv with `{port}` replaced by a free loopback port) unless it runs, waits
until it listens (a few seconds, once), and pipes bytes both ways: HTTP and the
UI's websockets alike, the webserver sees an ordinary client. A connection that
closes without a word (a port probe: `up`'s own, a health check) starts nothing.
Once no connection has been open for S seconds the webserver is stopped (SIGTERM,
SIGKILL after `STOP_GRACE_SECONDS`); the next visit starts it again. S = 0 starts
it with the gate and keeps it.

A webserver that dies is started again by the next connection; one that does not
come up within `START_TIMEOUT_SECONDS` gets the visitor a 503 that says so and
points at the log. The webserver inherits this process's output (`up`'s
logs/webserver.log) and group, and dies with it.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import time
from collections.abc import Sequence

from deploy_platform.processes.lifetime import die_with_parent
from deploy_platform.processes.ports import free_port

__all__ = ["UiGate", "main", "START_TIMEOUT_SECONDS", "STOP_GRACE_SECONDS"]

START_TIMEOUT_SECONDS = 120.0
STOP_GRACE_SECONDS = 10.0
_CHUNK = 65536
_PORT_FIELD = "{port}"


class UiUnavailable(Exception):
    """The webserver did not start; the message says what happened."""


class UiGate:
    """Starts `argv` on the first connection, proxies to it, stops it when idle."""

    def __init__(self, argv: Sequence[str], idle_seconds: float) -> None:
        if not any(_PORT_FIELD in arg for arg in argv):
            raise ValueError(f"the webserver's command must contain {_PORT_FIELD}: {argv}")
        self.argv = list(argv)
        self.idle_seconds = idle_seconds
        self.process: asyncio.subprocess.Process | None = None
        self.port = 0
        self.starts = 0
        self._lock = asyncio.Lock()
        self._open = 0
        self._quiet_since = time.monotonic()

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.returncode is None

    async def ensure_started(self) -> int:
        """The port of a running, listening webserver: started now if need be."""
        async with self._lock:
            if self.running:
                return self.port
            port = free_port()
            argv = [arg.replace(_PORT_FIELD, str(port)) for arg in self.argv]
            self.process = await asyncio.create_subprocess_exec(
                *argv, stdin=asyncio.subprocess.DEVNULL, preexec_fn=die_with_parent
            )
            self.starts += 1
            _say(f"starting the Dagster UI (pid {self.process.pid}, port {port})")
            started = time.monotonic()
            while time.monotonic() - started < START_TIMEOUT_SECONDS:
                if self.process.returncode is not None:
                    raise UiUnavailable(
                        f"the Dagster webserver exited with code {self.process.returncode} "
                        "as it started; its output is in up's logs/webserver.log"
                    )
                try:
                    _reader, writer = await asyncio.open_connection("127.0.0.1", port)
                except OSError:
                    await asyncio.sleep(0.1)
                    continue
                writer.close()
                self.port = port
                _say(f"the Dagster UI is up after {time.monotonic() - started:.1f} s")
                return port
            await self.stop()
            raise UiUnavailable(
                f"the Dagster webserver did not listen within {START_TIMEOUT_SECONDS:.0f} s; "
                "its output is in up's logs/webserver.log"
            )

    async def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.returncode is not None:
            return
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), STOP_GRACE_SECONDS)
        except TimeoutError:
            process.kill()
            await process.wait()

    async def handle(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        self._open += 1
        try:
            # A port probe (`up` and health checks connect and close) says nothing and
            # starts nothing; a visitor's request does.
            try:
                first = await client_r.read(_CHUNK)
            except (ConnectionError, OSError):
                return
            if not first:
                return
            try:
                port = await self.ensure_started()
                server_r, server_w = await asyncio.open_connection("127.0.0.1", port)
            except (UiUnavailable, OSError) as exc:
                client_w.write(_unavailable(str(exc)))
                await _drained(client_w)
                return
            server_w.write(first)
            try:
                await asyncio.gather(_pipe(client_r, server_w), _pipe(server_r, client_w))
            finally:
                server_w.close()
        finally:
            self._open -= 1
            if self._open == 0:
                self._quiet_since = time.monotonic()
            client_w.close()

    async def stop_when_idle(self) -> None:
        """Stop the webserver once no connection has been open for `idle_seconds`."""
        while True:
            await asyncio.sleep(max(1.0, min(30.0, self.idle_seconds / 4)))
            quiet = time.monotonic() - self._quiet_since
            if self.running and self._open == 0 and quiet >= self.idle_seconds:
                async with self._lock:
                    if self._open:  # a visitor arrived meanwhile: keep it
                        continue
                    _say(f"stopping the Dagster UI: no visitor for {quiet:.0f} s")
                    await self.stop()


async def _pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    """Copy until end of input, then pass the end on (a half-close, as HTTP allows)."""
    try:
        while data := await source.read(_CHUNK):
            sink.write(data)
            await sink.drain()
        if sink.can_write_eof():
            sink.write_eof()
    except (ConnectionError, OSError):
        sink.close()  # the other direction then ends too


async def _drained(writer: asyncio.StreamWriter) -> None:
    try:
        await writer.drain()
    except (ConnectionError, OSError):
        pass


def _unavailable(reason: str) -> bytes:
    body = f"The Dagster UI is not available: {reason}.\n".encode()
    head = (
        "HTTP/1.1 503 Service Unavailable\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\nRetry-After: 5\r\n\r\n"
    )
    return head.encode() + body


def _say(message: str) -> None:
    print(f"[ui] {message}", flush=True)


async def serve(host: str, port: int, gate: UiGate) -> None:
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    server = await asyncio.start_server(gate.handle, host, port, reuse_address=True)
    if gate.idle_seconds <= 0:
        await gate.ensure_started()
    watch = None if gate.idle_seconds <= 0 else asyncio.create_task(gate.stop_when_idle())
    try:
        await stopping.wait()
    finally:
        server.close()
        if watch is not None:
            watch.cancel()
        await gate.stop()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m deploy_platform.processes.ui_gate",
        description=(
            "Listen on --port; start the given webserver (its {port}: a free loopback port) "
            "on the first connection and pipe to it; stop it after --idle-seconds without one."
        ),
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument(
        "--idle-seconds", type=float, default=600.0, help="0: start at once, never stop"
    )
    parser.add_argument("webserver", nargs=argparse.REMAINDER, help="-- then the command")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    command = args.webserver[1:] if args.webserver[:1] == ["--"] else args.webserver
    if not command:
        print("ui_gate: give the webserver's command after --", file=sys.stderr)
        return 2
    try:
        gate = UiGate(command, args.idle_seconds)
    except ValueError as exc:
        print(f"ui_gate: {exc}", file=sys.stderr)
        return 2
    asyncio.run(serve(args.host, args.port, gate))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
