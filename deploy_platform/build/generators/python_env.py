"""Which Python a generator build uses, and its virtualenv across cache moves.

The version is asked for as on Cloudflare Pages: the `PYTHON_VERSION` build
variable, else `.python-version`, else `runtime.txt` (`python-3.11.5`), in the
root directory or the repository root. Pages installs any version; we use the
interpreters installed on the machine under /usr (the only ones a sandboxed
build can see), matched on major.minor: the patch release is the machine's.
A version the machine does not have fails the build with what to set instead.

The virtualenv lives in the build's HOME, which is a new temporary directory
every build, and virtualenvs are not relocatable: console scripts (`mkdocs`,
`sphinx-build`) start with `#!<venv>/bin/python`. So before the cache saves
one, the platform writes where it was (`LOCATION_FILE`) and removes the
`bin/python*` links to the system interpreter (absolute links, which the
cache refuses); after a restore it puts the links back and rewrites the old
location to the new one in `bin/`. The files are the build's own, written by
untrusted code: only regular files directly in `bin/` are touched, through
descriptors that never follow a symlink.
"""

from __future__ import annotations

import functools
import os
import re
import stat
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from deploy_platform.build.cache.trees import is_direct_path
from deploy_platform.build.config_files import first_value
from deploy_platform.contracts.errors import BuildFailed

__all__ = [
    "Interpreter",
    "PAGES_DEFAULT_PYTHON",
    "LOCATION_FILE",
    "installed_pythons",
    "requested_python",
    "choose_python",
    "prepare_for_save",
    "relocate",
]

#: Cloudflare Pages' default (v3 build image); only said in notes, we use what is installed.
PAGES_DEFAULT_PYTHON = "3.13.3"
LOCATION_FILE = ".dp-venv-location"
_SEARCHED = ("/usr/bin", "/usr/local/bin")
_NAME = re.compile(r"^python(\d+)\.(\d+)$")
_VERSION = re.compile(r"^(?:c?python[-@ ]?|v)?(\d+)(?:\.(\d+))?(?:\.(\d+))?\S*$", re.I)
_MAX_SCRIPT_BYTES = 1024 * 1024


@dataclass(frozen=True)
class Interpreter:
    version: str  # "3.11.2"
    path: Path
    # pip as a wheel, run from the wheel itself; None: virtualenvs get their own pip.
    pip_wheel: Path | None = None

    @property
    def minor(self) -> str:
        return ".".join(self.version.split(".")[:2])


# Prints the version, then the pip wheel that ensurepip would install (Debian keeps it in
# /usr/share/python-wheels, upstream builds in ensurepip/_bundled): builds run pip from it
# instead of copying pip into every virtualenv, which makes the virtualenv faster to create
# and a third smaller to cache.
_PROBE = """
import ensurepip, glob, os, sys, venv
wheel = ""
try:
    wheel = str(ensurepip._get_packages()["pip"].wheel_path or "")
except Exception:
    pass
if not wheel:
    bundled = os.path.join(os.path.dirname(ensurepip.__file__), "_bundled", "pip-*.whl")
    found = sorted(glob.glob(bundled)) + sorted(glob.glob("/usr/share/python-wheels/pip-*.whl"))
    wheel = found[-1] if found else ""
print("%d.%d.%d" % sys.version_info[:3])
print(wheel)
"""


def _probe(path: Path) -> tuple[str, Path | None] | None:
    """(version, pip wheel) of a usable interpreter (it has venv and ensurepip), else None."""
    try:
        result = subprocess.run(
            [str(path), "-I", "-c", _PROBE], capture_output=True, text=True, timeout=20, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    lines = [*result.stdout.splitlines(), "", ""]
    version, wheel = lines[0].strip(), lines[1].strip()
    if result.returncode != 0 or not re.fullmatch(r"\d+\.\d+\.\d+", version):
        return None
    # Only a wheel the sandbox can read (under /usr) is of use to a build.
    usable = wheel.endswith(".whl") and wheel.startswith("/usr/") and os.path.isfile(wheel)
    return version, Path(wheel) if usable else None


@functools.cache
def installed_pythons(searched: tuple[str, ...] = _SEARCHED) -> tuple[Interpreter, ...]:
    """Interpreters a sandboxed build can run (under /usr), newest first, one per minor."""
    found: dict[str, Interpreter] = {}
    for directory in searched:
        base = Path(directory)
        if not base.is_dir():
            continue
        for path in sorted(base.iterdir()):
            if not _NAME.match(path.name) or not os.path.realpath(path).startswith("/usr/"):
                continue
            probed = _probe(path)
            if probed is not None:
                interpreter = Interpreter(probed[0], path, probed[1])
                found.setdefault(interpreter.minor, interpreter)
    return tuple(
        sorted(found.values(), key=lambda i: tuple(map(int, i.version.split("."))), reverse=True)
    )


def requested_python(
    env: Mapping[str, str], app_dir: Path, source_dir: Path
) -> tuple[str, str] | None:
    """(version text, where it came from), Pages' order; None when nothing asks."""
    if env.get("PYTHON_VERSION", "").strip():
        return env["PYTHON_VERSION"].strip(), "the PYTHON_VERSION variable"
    directories = [app_dir] if app_dir == source_dir else [app_dir, source_dir]
    for name in (".python-version", "runtime.txt"):
        for directory in directories:
            value = first_value(directory / name, source_dir)
            if value is not None:
                return value, (directory / name).relative_to(source_dir).as_posix()
    return None


def choose_python(
    request: tuple[str, str] | None, installed: tuple[Interpreter, ...]
) -> tuple[Interpreter, str]:
    """(interpreter, a note saying why); BuildFailed says what to set when none fits."""
    have = ", ".join(i.version for i in installed) or "none"
    if not installed:
        raise BuildFailed(
            "this platform has no Python 3 with venv installed under /usr (looked for "
            "python3.N in /usr/bin and /usr/local/bin); the operator must install one "
            "(Debian: python3 python3-venv)"
        )
    if request is None:
        chosen = installed[0]
        return chosen, (
            f"Python {chosen.version}: nothing asked for, the newest installed "
            f"(Cloudflare Pages' default is {PAGES_DEFAULT_PYTHON}; set PYTHON_VERSION to pin one)"
        )
    text, origin = request
    match = _VERSION.match(text)
    if match is None:
        raise BuildFailed(
            f"Python version {text!r} in {origin} is not a version such as 3.11 or 3.11.5; "
            f"installed here: {have}"
        )
    major, minor = match.group(1), match.group(2)
    fits = [
        i
        for i in installed
        if i.version.split(".")[0] == major and (minor is None or i.minor == f"{major}.{minor}")
    ]
    if not fits:
        wanted = f"{major}.{minor}" if minor is not None else major
        suggestion = installed[0].minor
        raise BuildFailed(
            f"Python {wanted} (asked for by {origin}: {text!r}) is not installed on this "
            f"platform; installed: {have}. Set PYTHON_VERSION to {suggestion} in the project's "
            f"build variables (or change {origin}), or ask the operator to install Python "
            f"{wanted} under /usr"
        )
    chosen = fits[0]
    note = f"Python {chosen.version} for {text!r} from {origin}"
    if match.group(3) is not None and chosen.version != f"{major}.{minor}.{match.group(3)}":
        note += f" (the installed {chosen.minor} release; patch releases are the machine's)"
    return chosen, note


def _open_regular(path: Path, flags: int) -> int | None:
    """A descriptor on `path` if it is a regular file (never through a symlink)."""
    try:
        fd = os.open(path, flags | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        return None
    return fd


def prepare_for_save(venv: Path) -> None:
    """Record where `venv` is and drop its links to the system interpreter (see module doc)."""
    bin_dir = venv / "bin"
    # SECURITY: the build may have made bin/ a link to the platform's files; root must not
    # unlink anything there.
    if not is_direct_path(venv) or not is_direct_path(bin_dir) or not bin_dir.is_dir():
        return
    for entry in os.scandir(bin_dir):
        if entry.is_symlink() and os.path.isabs(os.readlink(entry.path)):
            os.unlink(entry.path)
    marker = venv / LOCATION_FILE
    if marker.is_symlink():
        marker.unlink()
    fd = os.open(marker, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
    with os.fdopen(fd, "w") as handle:
        handle.write(str(venv))


def _point_config_at(venv: Path, interpreter: Interpreter) -> None:
    """pyvenv.cfg names the base interpreter's directory (where the standard library is
    found): the one of this machine's, which may differ from the saving machine's."""
    fd = _open_regular(venv / "pyvenv.cfg", os.O_RDWR)
    if fd is None:
        return
    with os.fdopen(fd, "r+b") as handle:
        lines = handle.read(_MAX_SCRIPT_BYTES).decode("utf-8", "replace").splitlines()
        wanted = {"home": str(interpreter.path.parent), "executable": str(interpreter.path)}
        kept = [line for line in lines if line.split("=", 1)[0].strip() not in wanted]
        text = "\n".join([*(f"{k} = {v}" for k, v in wanted.items()), *kept]) + "\n"
        handle.seek(0)
        handle.write(text.encode())
        handle.truncate()


def relocate(venv: Path, interpreter: Interpreter) -> int:
    """Make a restored `venv` work where it is now; the number of scripts rewritten.

    Puts back `bin/python`, `bin/python3` and `bin/python3.N` (links to `interpreter`),
    points pyvenv.cfg at it, then replaces the recorded old location with the new one
    in `bin/`'s text files.
    """
    bin_dir = venv / "bin"
    if not is_direct_path(venv) or not bin_dir.is_dir() or not is_direct_path(bin_dir):
        return 0
    major = interpreter.version.split(".")[0]
    for name in ("python", f"python{major}", f"python{interpreter.minor}"):
        link = bin_dir / name
        if not link.exists() and not link.is_symlink():
            os.symlink(interpreter.path, link)
    _point_config_at(venv, interpreter)
    fd = _open_regular(venv / LOCATION_FILE, os.O_RDONLY)
    if fd is None:
        return 0
    with os.fdopen(fd, "rb") as handle:
        old = handle.read(4096)
    new = str(venv).encode()
    # A short or relative "location" would rewrite unrelated bytes of the scripts.
    if old == new or not old.startswith(b"/") or len(old) < 8 or b"\n" in old:
        return 0
    rewritten = 0
    for entry in os.scandir(bin_dir):
        fd = _open_regular(Path(entry.path), os.O_RDWR)
        if fd is None:
            continue
        with os.fdopen(fd, "r+b") as handle:
            data = handle.read(_MAX_SCRIPT_BYTES + 1)
            if len(data) > _MAX_SCRIPT_BYTES or b"\0" in data or old not in data:
                continue
            handle.seek(0)
            handle.write(data.replace(old, new))
            handle.truncate()
            rewritten += 1
    return rewritten
