"""Talk to Git servers over HTTP(S): resolve a ref to a commit, fetch one commit.

Dagster-free: the control API resolves refs at enqueue time and the Git source
resource fetches at run time, both through these functions. Git runs through
GitPython (`git.Git.execute`) as a child process that we supervise ourselves, so
every call has a deadline and a fetch can be killed the moment it grows too large.

SECURITY: the URL comes from a stranger, so git runs hardened (layers, in order):

1. Transport: `GIT_ALLOW_PROTOCOL=http:https` plus `protocol.*.allow` config, so no
   `file://`, `ext::` or ssh sneaks in through a redirect, a submodule or an alternate.
2. No configuration but ours: no system or global config, an empty private `HOME`
   (no `~/.gitconfig`, no `~/.netrc` credentials for curl), no template hooks,
   `core.hooksPath=/dev/null`, and the inherited `GIT_*` variables that could point
   git at another repository or config are overridden.
3. No credentials ever: no credential helper, no askpass, `GIT_TERMINAL_PROMPT=0`;
   a repository that needs a login fails fast with a clear message.
4. No redirects (`http.followRedirects=false`): a redirect could send the fetch to a
   host that `validate_repo_url` never checked.
5. Addresses pinned (`http.curloptResolve`, git >= 2.37) to the ones that were
   validated, so DNS cannot answer differently between the check and the fetch.
   (When the environment sets an HTTP proxy, the proxy resolves names instead and
   is the operator's egress control.) Pass the `ValidatedRepoUrl`, not its `.url`,
   to get the pin.
6. Objects checked on arrival (`transfer.fsckObjects`): git itself refuses trees
   with `.git` or `..` entries. No submodules are fetched.
7. Limits: a deadline on every call, and `max_bytes` enforced while the pack
   downloads, before checkout (from the tree's blob sizes), and while the work
   tree is written (attributes such as `working-tree-encoding` can grow files);
   every path's depth and length (`deploy_platform.contracts.tree_limits`) before checkout.

Exceptions (all `SourceError`, so a run records a readable reason)::

    SourceError             unreachable, needs a login, timed out, commit gone
     ├─ RefNotFound         the ref names no branch or tag (lists some that exist)
     └─ RepositoryTooLarge  over `max_bytes` (names DP_MAX_REPO_BYTES)
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO
from urllib.parse import urlsplit

import git

from deploy_platform.contracts.errors import InvalidRequest, SourceError
from deploy_platform.contracts.tree_limits import path_problem
from deploy_platform.source.archive.unpack import empty_directory
from deploy_platform.source.repo_url import ValidatedRepoUrl

__all__ = [
    "RefNotFound",
    "RepositoryTooLarge",
    "fetch_commit",
    "is_commit_sha",
    "ls_remote",
    "validate_ref",
]

_SHA_RE = re.compile(r"^(?:[0-9a-f]{40}|[0-9a-f]{64})$")
_STDERR_KEEP = 64 * 1024
_MAX_BRANCHES_SHOWN = 5

# SECURITY: configuration passed with `-c` on every call (see the module docstring).
_HARDENING: tuple[str, ...] = (
    "protocol.allow=never",
    "protocol.http.allow=always",
    "protocol.https.allow=always",
    "protocol.file.allow=never",
    "protocol.ext.allow=never",
    "protocol.version=2",
    "credential.helper=",
    "core.askPass=",
    "http.followRedirects=false",
    "transfer.fsckObjects=true",
    "fetch.recurseSubmodules=false",
    "submodule.recurse=false",
    "core.hooksPath=" + os.devnull,
    "core.fsmonitor=false",
    "core.symlinks=true",
    "core.protectNTFS=true",
    "core.protectHFS=true",
    "core.autocrlf=false",
    "init.templateDir=",
    "gc.auto=0",
    "maintenance.auto=false",
    "fetch.writeCommitGraph=false",
    "advice.detachedHead=false",
)

# SECURITY: inherited variables that would point git at other repositories, objects
# or configuration. GitPython starts from os.environ, so they are overridden.
_NEUTRALIZED_ENV: dict[str, str] = {
    "GIT_CONFIG": os.devnull,
    "GIT_CONFIG_PARAMETERS": "",
    "GIT_CONFIG_COUNT": "0",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES": "",
    "GIT_NAMESPACE": "",
    "GIT_REPLACE_REF_BASE": "refs/replace/",
    "GIT_EXEC_PATH": "",
    "GIT_TEMPLATE_DIR": "",
    "GIT_CEILING_DIRECTORIES": "",
}


class RefNotFound(SourceError):
    """The ref names no branch or tag in the repository."""


class RepositoryTooLarge(SourceError):
    """The repository is bigger than the configured limit (`DP_MAX_REPO_BYTES`)."""


def is_commit_sha(value: str) -> bool:
    """A full commit SHA (40 hex, or 64 for SHA-256 repositories), lowercase or not."""
    return bool(_SHA_RE.match(value.lower()))


def validate_ref(ref: object) -> str:
    """Check that `ref` can name a branch, tag, full ref or commit; raise `InvalidRequest`.

    A ref is handed to git as an argument, so anything option-like or outside git's
    ref-name rules (`git check-ref-format`) is refused before git sees it.
    """
    if not isinstance(ref, str) or not ref:
        raise InvalidRequest("ref must be a non-empty string such as 'main'", field="ref")
    problem: str | None = None
    if len(ref) > 255:
        problem = "it is longer than 255 characters"
    elif ref.startswith("-"):
        problem = "it starts with '-'"
    elif any(ord(char) < 0x21 or ord(char) == 0x7F for char in ref):
        problem = "it contains whitespace or a control character"
    elif any(char in ref for char in "~^:?*[\\"):
        problem = "it contains one of ~ ^ : ? * [ \\"
    elif ".." in ref or "@{" in ref or "//" in ref or ref == "@":
        problem = "it contains '..', '@{' or '//', or is '@'"
    elif ref.endswith(("/", ".", ".lock")) or ref.startswith("/"):
        problem = "it starts with '/' or ends with '/', '.' or '.lock'"
    elif any(part.startswith(".") for part in ref.split("/")):
        problem = "a part of it starts with '.'"
    if problem is not None:
        raise InvalidRequest(
            f"ref {ref!r} is not a valid branch, tag or commit name: {problem}", field="ref"
        )
    return ref


def ls_remote(url: str | ValidatedRepoUrl, ref: str, *, timeout: float = 30) -> str:
    """The full commit SHA that `ref` names in the repository at `url`.

    `ref` may be a branch (`main`, preferred over a tag of the same name because
    deployments follow branches), a tag (annotated tags are peeled to their commit),
    a full ref (`refs/heads/x`, `refs/tags/v1`), `HEAD`, or a full commit SHA, which
    is taken as-is once the repository answers. Pass the `ValidatedRepoUrl` from
    `validate_repo_url` to pin git to the addresses that were checked.
    """
    validate_ref(ref)
    target = _Target.of(url)
    deadline = time.monotonic() + timeout
    with _GitSession(target) as session:
        if is_commit_sha(ref):
            session.ls_remote(["--", target.url, "HEAD"], deadline, timeout)
            return ref.lower()
        if ref == "HEAD" or ref.startswith("refs/"):
            # Patterns match whole names, so ask for the peeled tag line too.
            refs = session.ls_remote(["--", target.url, ref, f"{ref}^{{}}"], deadline, timeout)
            candidates = [ref]
        else:
            refs = session.ls_remote(["--heads", "--tags", "--", target.url], deadline, timeout)
            candidates = [f"refs/heads/{ref}", f"refs/tags/{ref}"]
        for name in candidates:
            sha = refs.get(f"{name}^{{}}") or refs.get(name)
            if sha:
                return sha
        if ref == "HEAD" or ref.startswith("refs/"):
            refs = session.ls_remote(["--heads", "--", target.url], deadline, timeout)
    branches = sorted(
        name.removeprefix("refs/heads/") for name in refs if name.startswith("refs/heads/")
    )
    if not branches:
        raise RefNotFound(
            f"ref {ref!r} does not exist: the repository at {target.display} has no branches "
            "yet; push a commit first"
        )
    shown = ", ".join(branches[:_MAX_BRANCHES_SHOWN])
    extra = len(branches) - _MAX_BRANCHES_SHOWN
    more = f" and {extra} more" if extra > 0 else ""
    looks_like_short_sha = re.fullmatch(r"[0-9a-f]{7,39}", ref) is not None
    hint = "; to deploy a commit, give its full 40-character SHA" if looks_like_short_sha else ""
    raise RefNotFound(
        f"ref {ref!r} is not a branch or tag in {target.display}; "
        f"branches there: {shown}{more}{hint}"
    )


def fetch_commit(
    url: str | ValidatedRepoUrl,
    commit: str,
    dest: Path,
    *,
    max_bytes: int,
    timeout: float = 600,
) -> Path:
    """Fetch exactly `commit` into a fresh repository at `dest` and check it out.

    Returns `dest` (the work tree, with its `.git` inside). Raises
    `RepositoryTooLarge` when the download or the checked-out files exceed
    `max_bytes`, and `SourceError` when the commit is gone or the server fails.
    On any failure `dest` is left empty (or removed when this call created it).
    """
    if not is_commit_sha(commit):
        raise SourceError(f"{commit!r} is not a full commit SHA; resolve the ref first")
    if max_bytes <= 0:
        raise ValueError("max_bytes must be positive")
    commit = commit.lower()
    target = _Target.of(url)
    created = not dest.exists()
    if not created and (not dest.is_dir() or any(dest.iterdir())):
        raise ValueError(f"{dest} must be a new or empty directory")
    dest.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + timeout
    try:
        with _GitSession(target, git_dir=dest / ".git", work_tree=dest) as session:
            session.fetch_commit(commit, max_bytes, deadline, timeout)
    except BaseException:
        if created:
            shutil.rmtree(dest, ignore_errors=True)
        else:
            empty_directory(dest)
        raise
    return dest


@dataclass(frozen=True)
class _Target:
    url: str
    display: str
    host: str
    port: int
    addresses: tuple[str, ...]

    @classmethod
    def of(cls, url: str | ValidatedRepoUrl) -> _Target:
        if isinstance(url, ValidatedRepoUrl):
            return cls(url.url, url.url, url.host, url.port, url.addresses)
        if not isinstance(url, str) or not url.lower().startswith(("http://", "https://")):
            raise SourceError(f"{url!r} is not an http(s) URL; validate it with validate_repo_url")
        parts = urlsplit(url)
        display = parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()
        default = 443 if parts.scheme.lower() == "https" else 80
        return cls(url, display, parts.hostname or "", parts.port or default, ())

    def pin_config(self) -> list[str]:
        """`http.curloptResolve` for the validated addresses, when git can pin them."""
        if not self.addresses or ":" in self.host or _is_ipv4(self.host):
            return []
        if _git_version() < (2, 37):
            return []
        addresses = ",".join(f"[{a}]" if ":" in a else a for a in self.addresses)
        return [f"http.curloptResolve={self.host}:{self.port}:{addresses}"]


@dataclass(frozen=True)
class _Result:
    returncode: int
    stdout: bytes
    stderr: str


class _Killed(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _GitSession:
    """One hardened git environment (private HOME) for a sequence of git calls."""

    def __init__(
        self, target: _Target, git_dir: Path | None = None, work_tree: Path | None = None
    ) -> None:
        self.target = target
        self.git_dir = git_dir
        self.work_tree = work_tree
        self._home: tempfile.TemporaryDirectory[str] | None = None

    def __enter__(self) -> _GitSession:
        self._home = tempfile.TemporaryDirectory(prefix="dp-git-home-")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._home is not None:
            self._home.cleanup()

    # -- operations ---------------------------------------------------------------

    def ls_remote(self, args: Sequence[str], deadline: float, timeout: float) -> dict[str, str]:
        result = self._run(["ls-remote", *args], deadline=deadline, timeout=timeout)
        if result.returncode != 0:
            raise SourceError(_explain(result.stderr, self.target.display, "ls-remote"))
        refs: dict[str, str] = {}
        for line in result.stdout.decode("utf-8", "replace").splitlines():
            sha, _, name = line.partition("\t")
            if is_commit_sha(sha) and name:
                refs[name] = sha.lower()
        return refs

    def fetch_commit(self, commit: str, max_bytes: int, deadline: float, timeout: float) -> None:
        assert self.git_dir is not None and self.work_tree is not None
        object_format = "sha256" if len(commit) == 64 else "sha1"
        self._checked(
            ["init", "-q", "--template=", f"--object-format={object_format}"],
            deadline,
            timeout,
            "init",
        )
        url = self.target.url
        shallow = self._run(
            ["fetch", "-q", "--depth=1", "--no-tags", "--", url, f"+{commit}:refs/dp/source"],
            deadline=deadline,
            timeout=timeout,
            watch=self._git_dir_bytes,
            limit=max_bytes,
        )
        if shallow.returncode != 0:
            if _is_transport_failure(shallow.stderr):
                raise SourceError(_explain(shallow.stderr, self.target.display, "fetch"))
            # The server refused to hand out that commit by itself (protocol v0 without
            # allowReachableSHA1InWant, or the commit is gone): fetch the branches and
            # tags with history and look for it there.
            deep = self._run(
                [
                    "fetch",
                    "-q",
                    "--no-tags",
                    "--",
                    url,
                    "+refs/heads/*:refs/dp/heads/*",
                    "+refs/tags/*:refs/dp/tags/*",
                ],
                deadline=deadline,
                timeout=timeout,
                watch=self._git_dir_bytes,
                limit=max_bytes,
            )
            if deep.returncode != 0:
                raise SourceError(_explain(deep.stderr, self.target.display, "fetch"))
        _check_size("download", self._git_dir_bytes(), max_bytes)
        present = self._run(
            ["cat-file", "-e", f"{commit}^{{commit}}"], deadline=deadline, timeout=timeout
        )
        if present.returncode != 0:
            raise SourceError(
                f"commit {commit} no longer exists in {self.target.display} (a force-push or "
                "a deleted branch removed it); deploy a branch, tag or commit that exists"
            )
        listing = self._checked(
            ["ls-tree", "-r", "-l", "-z", "--full-tree", commit], deadline, timeout, "ls-tree"
        )
        _check_size("files", _tree_blob_bytes(listing.stdout), max_bytes)
        _check_paths(listing.stdout)
        self._checked(
            ["checkout", "-q", "--detach", commit],
            deadline,
            timeout,
            "checkout",
            watch=self._work_tree_bytes,
            limit=max_bytes,
            size_subject="files",
        )
        _check_size("files", self._work_tree_bytes(), max_bytes)

    # -- plumbing -----------------------------------------------------------------

    def _git_dir_bytes(self) -> int:
        assert self.git_dir is not None
        return _tree_bytes(self.git_dir)

    def _work_tree_bytes(self) -> int:
        assert self.work_tree is not None
        return _tree_bytes(self.work_tree, skip=".git")

    def _checked(
        self,
        args: list[str],
        deadline: float,
        timeout: float,
        action: str,
        watch: Callable[[], int] | None = None,
        limit: int = 0,
        size_subject: str = "download",
    ) -> _Result:
        result = self._run(
            args,
            deadline=deadline,
            timeout=timeout,
            watch=watch,
            limit=limit,
            size_subject=size_subject,
        )
        if result.returncode != 0:
            raise SourceError(_explain(result.stderr, self.target.display, action))
        return result

    def _env(self) -> dict[str, str]:
        assert self._home is not None
        home = self._home.name
        env = {key: value for key, value in _NEUTRALIZED_ENV.items() if key in os.environ}
        env.update(
            HOME=home,
            XDG_CONFIG_HOME=home,
            CURL_HOME=home,
            GIT_CONFIG_NOSYSTEM="1",
            GIT_CONFIG_SYSTEM=os.devnull,
            GIT_CONFIG_GLOBAL=os.devnull,
            GIT_TERMINAL_PROMPT="0",
            GIT_ASKPASS="",
            SSH_ASKPASS="",
            GIT_ALLOW_PROTOCOL="http:https",
            GIT_PROTOCOL_FROM_USER="0",
            GIT_NO_REPLACE_OBJECTS="1",
            GIT_LFS_SKIP_SMUDGE="1",
        )
        if self.git_dir is not None:
            env.update(
                GIT_DIR=str(self.git_dir),
                GIT_COMMON_DIR=str(self.git_dir),
                GIT_OBJECT_DIRECTORY=str(self.git_dir / "objects"),
                GIT_INDEX_FILE=str(self.git_dir / "index"),
            )
        else:
            # ls-remote needs no repository; make sure it never finds one nearby.
            env["GIT_DIR"] = os.path.join(home, "no-repository")
        if self.work_tree is not None:
            env["GIT_WORK_TREE"] = str(self.work_tree)
        elif "GIT_WORK_TREE" in os.environ:
            env["GIT_WORK_TREE"] = home
        return env

    def _run(
        self,
        args: list[str],
        *,
        deadline: float,
        timeout: float,
        watch: Callable[[], int] | None = None,
        limit: int = 0,
        size_subject: str = "download",
    ) -> _Result:
        config = [
            item for setting in (*_HARDENING, *self.target.pin_config()) for item in ("-c", setting)
        ]
        command = [_git_executable(), *config, *args]
        assert self._home is not None
        cwd = str(self.work_tree or self._home.name)
        try:
            handle = git.Git(cwd).execute(
                command,
                as_process=True,
                env=self._env(),
                start_new_session=True,  # one process group: kill remote-https, index-pack too
            )
        except git.GitCommandNotFound:
            raise SourceError("git is not installed on this machine; install git") from None
        process: subprocess.Popen[bytes] | None = handle.proc
        assert process is not None
        try:
            return _supervise(process, args[0], deadline, timeout, watch, limit)
        except _Killed as killed:
            if killed.reason == "size":
                raise RepositoryTooLarge(_too_large_message(size_subject, limit)) from None
            raise SourceError(
                f"git {args[0]} for {self.target.display} did not finish within "
                f"{timeout:g}s; the server is slow or the repository is very large"
            ) from None


def _supervise(
    process: subprocess.Popen[bytes],
    action: str,
    deadline: float,
    timeout: float,
    watch: Callable[[], int] | None,
    limit: int,
) -> _Result:
    stdout = bytearray()
    stderr = bytearray()

    def drain(stream: IO[bytes] | None, sink: bytearray, keep: int | None) -> None:
        assert stream is not None
        while chunk := stream.read(65536):
            sink.extend(chunk)
            if keep is not None and len(sink) > keep:
                del sink[: len(sink) - keep]

    readers = [
        threading.Thread(target=drain, args=(process.stdout, stdout, None), daemon=True),
        threading.Thread(target=drain, args=(process.stderr, stderr, _STDERR_KEEP), daemon=True),
    ]
    for reader in readers:
        reader.start()
    interval = 0.05
    reason: str | None = None
    try:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                reason = "timeout"
                break
            try:
                process.wait(timeout=min(remaining, interval if watch else remaining))
                break
            except subprocess.TimeoutExpired:
                pass
            if watch is not None:
                started = time.monotonic()
                if watch() > limit:
                    reason = "size"
                    break
                # Walking a big tree costs time; never spend more than a fifth of it there.
                interval = max(0.05, 4 * (time.monotonic() - started))
    finally:
        if process.poll() is None:
            _kill_group(process)
        process.wait()
        for reader in readers:
            reader.join(timeout=10)
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()
    if reason is not None:
        raise _Killed(reason)
    return _Result(process.returncode, bytes(stdout), stderr.decode("utf-8", "replace"))


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    except PermissionError:
        process.kill()


def _tree_bytes(root: Path, skip: str | None = None) -> int:
    """Bytes of the regular files under `root` (symlinks not followed)."""
    total = 0
    stack = [str(root)]
    while stack:
        current = stack.pop()
        try:
            with os.scandir(current) as entries:
                for entry in entries:
                    try:
                        if entry.is_dir(follow_symlinks=False):
                            if not (skip and entry.name == skip and current == str(root)):
                                stack.append(entry.path)
                        elif entry.is_file(follow_symlinks=False):
                            total += entry.stat(follow_symlinks=False).st_size
                    except FileNotFoundError:
                        continue  # a temporary pack renamed while we looked
        except (FileNotFoundError, NotADirectoryError):
            continue
    return total


def _tree_blob_bytes(listing: bytes) -> int:
    total = 0
    for record in listing.split(b"\0"):
        meta, _, _path = record.partition(b"\t")
        fields = meta.split()
        if len(fields) == 4 and fields[1] == b"blob" and fields[3].isdigit():
            total += int(fields[3])
    return total


def _check_paths(listing: bytes) -> None:
    """Refuse a commit with a path past `tree_limits` before checkout writes any of it."""
    for record in listing.split(b"\0"):
        _meta, tab, path = record.partition(b"\t")
        problem = path_problem(path, "the repository's path") if tab else None
        if problem is not None:
            raise SourceError(f"{problem} (deploy-platform's limits for a source tree)")


def _check_size(what: str, size: int, limit: int) -> None:
    if size > limit:
        raise RepositoryTooLarge(_too_large_message(what, limit, size))


def _too_large_message(what: str, limit: int, size: int | None = None) -> str:
    limit_text = f"the limit of {_human(limit)} ({limit} bytes)"
    if what == "download":
        measured = "" if size is None else f" ({_human(size)})"
        problem = f"its download{measured} went over {limit_text}"
    else:
        measured = "" if size is None else f" ({_human(size)})"
        problem = f"the files of this commit{measured} went over {limit_text}"
    return (
        f"the repository is too large: {problem}. Make it smaller (for example move large "
        "files out of it) or ask the operator to raise DP_MAX_REPO_BYTES"
    )


def _human(size: int) -> str:
    value = float(size)
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} bytes"  # pragma: no cover - the loop always returns


_TRANSPORT_MARKERS = (
    "could not resolve",
    "failed to connect",
    "couldn't connect",
    "connection refused",
    "connection timed out",
    "timed out",
    "could not read username",
    "could not read password",
    "terminal prompts disabled",
    "authentication failed",
    "returned error: 4",
    "returned error: 5",
    "returned error: 3",
    "not found",
    "ssl",
    "certificate",
    "redirect",
    "empty reply",
    "recv failure",
    "send failure",
)


def _is_transport_failure(stderr: str) -> bool:
    lowered = stderr.lower()
    if "not our ref" in lowered or "unadvertised object" in lowered:
        return False
    return any(marker in lowered for marker in _TRANSPORT_MARKERS)


def _explain(stderr: str, display: str, action: str) -> str:
    """A message a person can act on, from git's stderr (no traces, no credentials)."""
    lowered = stderr.lower()
    if "could not resolve" in lowered:
        return f"cannot reach {display}: the host name does not resolve; check the URL"
    if any(m in lowered for m in ("failed to connect", "couldn't connect", "connection refused")):
        return (
            f"cannot reach {display}: the connection was refused; check the URL and that the "
            "Git server is up"
        )
    if any(
        m in lowered
        for m in (
            "could not read username",
            "could not read password",
            "terminal prompts disabled",
            "authentication failed",
            "returned error: 401",
            "returned error: 403",
        )
    ):
        return (
            f"{display} asks for a login: the repository is private or does not exist. The "
            "platform fetches repositories that anyone can read; make it public or check "
            "the URL"
        )
    if "returned error: 404" in lowered or ("repository" in lowered and "not found" in lowered):
        return f"no Git repository at {display} (HTTP 404); check the URL"
    if "redirect" in lowered or "returned error: 30" in lowered:
        return (
            f"{display} redirects to another address; use the repository's final URL "
            "(redirects are not followed, so a fetch cannot be sent to an unchecked host)"
        )
    if "ssl" in lowered or "certificate" in lowered:
        return f"TLS error talking to {display}: {_last_line(stderr)}"
    if "timed out" in lowered:
        return f"cannot reach {display}: the connection timed out; check the URL"
    if "not valid: is this a git repository" in lowered or "not a git repository" in lowered:
        return f"{display} is not a Git repository; check the URL"
    detail = _last_line(stderr) or "no error output"
    return f"git {action} failed for {display}: {detail}"


def _last_line(stderr: str) -> str:
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    if not lines:
        return ""
    line = lines[-1]
    for prefix in ("fatal:", "error:", "remote:"):
        if line.lower().startswith(prefix):
            line = line[len(prefix) :].strip()
    line = re.sub(r"//[^/@\s]*@", "//", line)  # never echo credentials
    return line[:300]


def _is_ipv4(host: str) -> bool:
    return bool(re.fullmatch(r"[0-9.]+", host))


def _git_executable() -> str:
    return str(git.Git.GIT_PYTHON_GIT_EXECUTABLE or "git")


@functools.cache
def _git_version() -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in git.Git().version_info[:2])
    except (git.GitCommandError, git.GitCommandNotFound, ValueError):
        return (0,)
