"""Git repositories served over smart HTTP on loopback.

`git_http` is a real Git server: `git http-backend` run as a CGI program behind a
small threaded HTTP server on a free 127.0.0.1 port, serving bare repositories from
a temporary directory. Tests build repositories with `git_http.create_repo(...)`
and change them with the returned `TestRepo`; every change is committed in a working
clone and pushed to the bare repository, as a developer would.

    repo = git_http.create_repo("site", {"index.html": "<h1>hi</h1>"})
    first = repo.head()
    repo.commit({"index.html": "<h1>v2</h1>"}, message="v2")
    validate_repo_url(repo.url, git_allow_hosts)   # loopback needs the allow list

Two switches per repository exercise the unhappy paths for real:
`private=True` answers every request with 401 (a repository that needs a login),
and `protocol_v2=False` makes the server speak protocol v0 only, which refuses
fetching a commit that no ref points at (the case `fetch_commit` falls back for).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

__all__ = ["GitHttpServer", "TestRepo", "git_allow_hosts", "git_http"]

_PRIVATE_MARKER = "dp-test-private"
_V0_MARKER = "dp-test-protocol-v0"


def _git_env(home: Path) -> dict[str, str]:
    """An environment where no user or system git configuration leaks into the fixture."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("GIT_") and key not in {"HOME", "XDG_CONFIG_HOME"}
    }
    env.update(
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / ".config"),
        GIT_CONFIG_NOSYSTEM="1",
        GIT_CONFIG_GLOBAL=os.devnull,
        GIT_AUTHOR_NAME="Fixture Author",
        GIT_AUTHOR_EMAIL="author@example.invalid",
        GIT_COMMITTER_NAME="Fixture Author",
        GIT_COMMITTER_EMAIL="author@example.invalid",
        GIT_TERMINAL_PROMPT="0",
        LC_ALL="C",
    )
    return env


def _git(env: Mapping[str, str], cwd: Path, *args: str) -> str:
    result = subprocess.run(
        ["git", *args], cwd=cwd, env=dict(env), capture_output=True, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"git {' '.join(args)} failed in {cwd}: {result.stderr.decode(errors='replace')}"
        )
    return result.stdout.decode().strip()


@dataclass
class TestRepo:
    """A bare repository served over HTTP plus the working clone that changes it."""

    __test__ = False  # not a pytest test class despite the name

    name: str
    url: str
    bare: Path
    work: Path
    default_branch: str
    env: dict[str, str]
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def commit(
        self,
        files: Mapping[str, str | bytes],
        message: str = "change",
        branch: str = "main",
        delete: Iterable[str] = (),
    ) -> str:
        """Write `files`, remove `delete`, commit on `branch` (made from main if new), push."""
        with self._lock:
            self._switch(branch)
            for relative, content in files.items():
                target = self.work / relative
                target.parent.mkdir(parents=True, exist_ok=True)
                if target.is_symlink():
                    target.unlink()
                if isinstance(content, bytes):
                    target.write_bytes(content)
                else:
                    target.write_text(content, encoding="utf-8")
            for relative in delete:
                _git(self.env, self.work, "rm", "-r", "-q", "--", relative)
            return self._commit_and_push(branch, message)

    def symlink(self, path: str, target: str, branch: str = "main") -> str:
        """Commit a symbolic link `path` -> `target` (any target, even outside the tree)."""
        with self._lock:
            self._switch(branch)
            link = self.work / path
            link.parent.mkdir(parents=True, exist_ok=True)
            if link.is_symlink() or link.exists():
                link.unlink()
            os.symlink(target, link)
            return self._commit_and_push(branch, f"link {path} -> {target}")

    def revert(self, commit: str = "HEAD", branch: str = "main") -> str:
        """`git revert` `commit` on `branch` and push, as a person undoing a change does."""
        with self._lock:
            self._switch(branch)
            _git(self.env, self.work, "revert", "--no-edit", commit)
            _git(self.env, self.work, "push", "-q", "origin", f"HEAD:refs/heads/{branch}")
            return _git(self.env, self.work, "rev-parse", "HEAD")

    def tag(self, name: str, ref: str = "main", message: str | None = "release") -> str:
        """Tag `ref` (annotated when `message` is given) and push; returns the tagged commit."""
        with self._lock:
            args = ["tag", "-a", "-m", message] if message is not None else ["tag"]
            _git(self.env, self.work, *args, name, f"refs/heads/{ref}")
            _git(self.env, self.work, "push", "-q", "origin", f"refs/tags/{name}")
            return _git(self.env, self.work, "rev-parse", f"refs/tags/{name}^{{commit}}")

    def head(self, branch: str = "main") -> str:
        """The commit the server's `branch` points at."""
        return _git(self.env, self.bare, "rev-parse", f"refs/heads/{branch}")

    def branches(self) -> list[str]:
        output = _git(
            self.env, self.bare, "for-each-ref", "--format=%(refname:short)", "refs/heads/"
        )
        return output.splitlines()

    def delete_branch(self, name: str) -> None:
        """Delete `name` on the server and in the working clone."""
        with self._lock:
            _git(self.env, self.work, "push", "-q", "origin", "--delete", name)
            current = _git(self.env, self.work, "rev-parse", "--abbrev-ref", "HEAD")
            if current == name:
                _git(self.env, self.work, "checkout", "-q", self.default_branch)
            _git(self.env, self.work, "branch", "-q", "-D", name)

    def prune(self) -> None:
        """Drop unreachable objects on the server now, as hosts do some time after a
        force-push or branch deletion (afterwards those commits cannot be fetched)."""
        with self._lock:
            _git(self.env, self.bare, "reflog", "expire", "--expire=now", "--all")
            _git(self.env, self.bare, "gc", "-q", "--prune=now")

    def _switch(self, branch: str) -> None:
        current = _git(self.env, self.work, "symbolic-ref", "--short", "HEAD")
        if current == branch:
            return
        if _git(self.env, self.work, "branch", "--list", branch):
            _git(self.env, self.work, "checkout", "-q", branch)
            return
        has_main = bool(_git(self.env, self.work, "branch", "--list", "main"))
        base = "main" if has_main else self.default_branch
        _git(self.env, self.work, "checkout", "-q", "-b", branch, base)

    def _commit_and_push(self, branch: str, message: str) -> str:
        _git(self.env, self.work, "add", "-A")
        _git(self.env, self.work, "commit", "-q", "--allow-empty", "-m", message)
        _git(self.env, self.work, "push", "-q", "origin", f"HEAD:refs/heads/{branch}")
        return _git(self.env, self.work, "rev-parse", "HEAD")


class _CgiHandler(BaseHTTPRequestHandler):
    """Runs `git http-backend` per request, the way a web server's CGI support does."""

    server: _GitHTTPServer

    def do_GET(self) -> None:
        self._run_backend()

    def do_POST(self) -> None:
        self._run_backend()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib name
        pass  # keep test output clean

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _run_backend(self) -> None:
        path, _, query = self.path.partition("?")
        repo_name = path.lstrip("/").split("/", 1)[0]
        repo_dir = self.server.repos_root / repo_name
        body = self._read_body() if self.command == "POST" else b""
        if repo_name and (repo_dir / _PRIVATE_MARKER).exists():
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="fixture"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        env = dict(self.server.git_env)
        env.update(
            GIT_PROJECT_ROOT=str(self.server.repos_root),
            GIT_HTTP_EXPORT_ALL="1",
            GATEWAY_INTERFACE="CGI/1.1",
            SERVER_PROTOCOL="HTTP/1.0",
            REQUEST_METHOD=self.command,
            PATH_INFO=path,
            QUERY_STRING=query,
            REMOTE_ADDR=self.client_address[0],
            CONTENT_TYPE=self.headers.get("Content-Type", ""),
            CONTENT_LENGTH=str(len(body)),
        )
        encoding = self.headers.get("Content-Encoding")
        if encoding:
            env["HTTP_CONTENT_ENCODING"] = encoding
        protocol = self.headers.get("Git-Protocol")
        if protocol and not (repo_dir / _V0_MARKER).exists():
            env["HTTP_GIT_PROTOCOL"] = protocol
        process = subprocess.Popen(
            ["git", "http-backend"],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        assert process.stdin is not None and process.stdout is not None
        try:
            process.stdin.write(body)
            process.stdin.close()
            self._relay(process.stdout)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client hung up (a fetch killed for its size): nothing to answer
        finally:
            if process.poll() is None:
                process.kill()
            process.wait()
            process.stdout.close()

    def _relay(self, stdout: Any) -> None:
        status = 200
        reason = "OK"
        headers: list[tuple[str, str]] = []
        while True:
            line = stdout.readline()
            if line in (b"\r\n", b"\n", b""):
                break
            key, _, value = line.decode("latin-1").partition(":")
            if key.lower() == "status":
                code, _, reason = value.strip().partition(" ")
                status = int(code)
            else:
                headers.append((key.strip(), value.strip()))
        self.send_response(status, reason or None)
        for key, value in headers:
            self.send_header(key, value)
        self.send_header("Connection", "close")
        self.end_headers()
        while chunk := stdout.read1(65536):
            self.wfile.write(chunk)
        self.wfile.flush()


class _GitHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    repos_root: Path
    git_env: dict[str, str]

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that disconnects mid-response is expected in the size tests


class GitHttpServer:
    """The running server; make repositories with `create_repo`."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.repos_root = root / "repos"
        self.work_root = root / "work"
        home = root / "home"
        for directory in (self.repos_root, self.work_root, home):
            directory.mkdir(parents=True, exist_ok=True)
        self.env = _git_env(home)
        self._httpd = _GitHTTPServer(("127.0.0.1", 0), _CgiHandler)
        self._httpd.repos_root = self.repos_root
        self._httpd.git_env = self.env
        self.port = int(self._httpd.server_address[1])
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, name="git-http", daemon=True
        )
        self._names: set[str] = set()
        self._lock = threading.Lock()

    def start(self) -> GitHttpServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=10)

    def create_repo(
        self,
        name: str,
        files: Mapping[str, str | bytes],
        branch: str = "main",
        *,
        private: bool = False,
        protocol_v2: bool = True,
    ) -> TestRepo:
        """A new repository `name` whose `branch` holds one commit with `files`."""
        with self._lock:
            if name in self._names or "/" in name or not name:
                raise ValueError(f"repository name {name!r} is taken or invalid")
            self._names.add(name)
        bare = self.repos_root / f"{name}.git"
        work = self.work_root / name
        _git(self.env, self.root, "init", "-q", "--bare", f"--initial-branch={branch}", str(bare))
        _git(self.env, self.root, "init", "-q", f"--initial-branch={branch}", str(work))
        _git(self.env, work, "remote", "add", "origin", str(bare))
        repo = TestRepo(
            name=name,
            url=f"{self.base_url}/{name}.git",
            bare=bare,
            work=work,
            default_branch=branch,
            env=self.env,
        )
        repo.commit(files, message="initial", branch=branch)
        if private:
            (bare / _PRIVATE_MARKER).touch()
        if not protocol_v2:
            (bare / _V0_MARKER).touch()
        return repo


@pytest.fixture(scope="session")
def git_http(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GitHttpServer]:
    """A real smart-HTTP git server on 127.0.0.1 for the whole session."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    server = GitHttpServer(tmp_path_factory.mktemp("git-http")).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def git_allow_hosts() -> tuple[str, ...]:
    """The allow list that lets `validate_repo_url` accept the loopback `git_http` server."""
    return ("127.0.0.1",)
