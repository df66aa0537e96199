"""One hardened git environment: every git call the fetch makes goes through `GitSession`.

Git runs through GitPython (`git.Git.execute`) as a child process that
`process.supervise` watches, so every call has a deadline and a fetch can be
killed the moment it grows too large.

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
7. Limits: a deadline on every call (`process.py`), and `max_bytes` and the path
   limits checked during and before checkout (`limits.py`).
"""

from __future__ import annotations

import functools
import os
import re
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import git

from deploy_platform.contracts.errors import SourceError
from deploy_platform.source.git.errors import RepositoryTooLarge, explain
from deploy_platform.source.git.limits import too_large_message, tree_bytes
from deploy_platform.source.git.process import Deadline, Killed, Result, SizeWatch, supervise
from deploy_platform.source.repo_url import ValidatedRepoUrl

__all__ = ["GitSession", "Target"]

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


@dataclass(frozen=True)
class Target:
    """The repository git talks to: its URL, how to show it, and the addresses to pin."""

    url: str
    display: str
    host: str
    port: int
    addresses: tuple[str, ...]

    @classmethod
    def of(cls, url: str | ValidatedRepoUrl) -> Target:
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


class GitSession:
    """One hardened git environment (private HOME) for a sequence of git calls."""

    def __init__(
        self, target: Target, git_dir: Path | None = None, work_tree: Path | None = None
    ) -> None:
        self.target = target
        self.git_dir = git_dir
        self.work_tree = work_tree
        self._home: tempfile.TemporaryDirectory[str] | None = None

    def __enter__(self) -> GitSession:
        self._home = tempfile.TemporaryDirectory(prefix="dp-git-home-")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._home is not None:
            self._home.cleanup()

    def git_dir_bytes(self) -> int:
        assert self.git_dir is not None
        return tree_bytes(self.git_dir)

    def work_tree_bytes(self) -> int:
        assert self.work_tree is not None
        return tree_bytes(self.work_tree, skip=".git")

    def checked(
        self, args: list[str], deadline: Deadline, action: str, watch: SizeWatch | None = None
    ) -> Result:
        """`run`, raising `SourceError` (git's stderr explained) when git fails."""
        result = self.run(args, deadline, watch)
        if result.returncode != 0:
            raise SourceError(explain(result.stderr, self.target.display, action))
        return result

    def run(self, args: list[str], deadline: Deadline, watch: SizeWatch | None = None) -> Result:
        """Run `git <args>` hardened; raise `RepositoryTooLarge` or `SourceError` when killed."""
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
            return supervise(process, deadline, watch)
        except Killed as killed:
            if killed.reason == "size" and watch is not None:
                raise RepositoryTooLarge(too_large_message(watch.subject, watch.limit)) from None
            raise SourceError(
                f"git {args[0]} for {self.target.display} did not finish within "
                f"{deadline.timeout:g}s; the server is slow or the repository is very large"
            ) from None

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
