"""The build sandbox with real processes: exit codes, limits, cleanup, redaction, clean env."""

from __future__ import annotations

import os
import platform
import shutil
import threading
import time
from pathlib import Path

import pytest

from deploy_platform.build import isolation, seccomp
from deploy_platform.build.cgroups import BuildCgroup
from deploy_platform.build.sandbox import Limits, RunResult, base_env, run
from tests.support.environment import PlatformEnv

FAKE_S3_SECRET = "fake-s3-secret-Zq81x"


def _run(
    script: str,
    tmp_path: Path,
    limits: Limits | None = None,
    secrets: tuple[str, ...] = (),
    use_cgroup: bool = True,
) -> tuple[RunResult, list[str]]:
    lines: list[str] = []
    result = run(
        ["sh", "-c", script],
        cwd=tmp_path,
        env=base_env(tmp_path, []),
        limits=limits or Limits(),
        on_line=lines.append,
        secrets=secrets,
        use_cgroup=use_cgroup,
    )
    return result, lines


def _alive_with(marker: str) -> list[int]:
    """Live processes whose command line holds `marker`, as the platform sees them.

    By marker, not by pid: inside the isolated sandbox a build sees its own pid namespace.
    """
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
            state = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if marker.encode() in cmdline and state != "Z":
            found.append(int(entry))
    return found


#: The system's Python: the sandbox shows /usr, never the platform's virtualenv.
PYTHON = "python3"


@pytest.mark.parametrize("code", [0, 1, 3])
def test_exit_code_and_output_are_reported(tmp_path: Path, code: int) -> None:
    result, lines = _run(f"echo building; echo oops >&2; exit {code}", tmp_path)
    assert result.exit_code == code
    assert not result.timed_out
    assert lines == ["building", "oops"]
    assert result.tail == "building\noops"


def test_a_command_that_cannot_start_says_so(tmp_path: Path) -> None:
    lines: list[str] = []
    result = run(
        ["no-such-build-tool"],
        cwd=tmp_path,
        env=base_env(tmp_path, []),
        limits=Limits(),
        on_line=lines.append,
    )
    assert result.exit_code == 127
    assert "cannot run 'no-such-build-tool'" in result.tail


@pytest.mark.parametrize("use_cgroup", [True, False], ids=["cgroup-if-offered", "no-cgroup"])
def test_a_build_that_never_ends_is_stopped_and_says_it_timed_out(
    tmp_path: Path, use_cgroup: bool
) -> None:
    limits = Limits(wall_seconds=2, kill_grace_seconds=1)
    result, lines = _run(
        "echo started; while :; do sleep 1; done", tmp_path, limits, use_cgroup=use_cgroup
    )
    assert result.timed_out
    assert result.exit_code is None
    assert "started" in lines
    assert "wall-clock limit" in lines[-1]
    assert "wall-clock limit" in result.tail


@pytest.mark.parametrize("use_cgroup", [True, False], ids=["cgroup-if-offered", "no-cgroup"])
def test_descendants_that_ignore_sigterm_or_call_setsid_are_gone_afterwards(
    tmp_path: Path, use_cgroup: bool
) -> None:
    pids = tmp_path / "pids"
    marker = f"stubborn-{os.getpid()}-{use_cgroup}"
    script = (
        # A grandchild in its own session that ignores SIGTERM, and one in the group.
        f"setsid sh -c 'trap \"\" TERM; echo $$ >> {pids}; while :; do sleep 1; done' {marker} &"
        f" sh -c 'trap \"\" TERM; echo $$ >> {pids}; while :; do sleep 1; done' {marker} &"
        f' while [ "$(wc -l < {pids} 2>/dev/null)" != 2 ]; do sleep 0.1; done; echo ready;'
        " trap '' TERM; while :; do sleep 1; done"
    )
    limits = Limits(wall_seconds=2, kill_grace_seconds=1)
    result, lines = _run(script, tmp_path, limits, use_cgroup=use_cgroup)
    assert result.timed_out
    assert "ready" in lines
    assert len(pids.read_text().split()) == 2
    assert _alive_with(marker) == []


def test_background_processes_left_by_a_finished_build_are_killed(tmp_path: Path) -> None:
    pid_file = tmp_path / "daemon.pid"
    marker = f"daemon-{os.getpid()}"
    result, _ = _run(
        f"setsid sh -c 'echo $$ > {pid_file}; while :; do sleep 1; done' {marker} >/dev/null 2>&1 &"
        f" while [ ! -s {pid_file} ]; do sleep 0.05; done; exit 0",
        tmp_path,
    )
    assert result.exit_code == 0
    assert _alive_with(marker) == []


def test_secrets_are_redacted_in_lines_and_tail_even_across_chunks(tmp_path: Path) -> None:
    secret = "hunter2-VERY-secret-token"
    # The secret is written in two halves with a pause, so it arrives in two pipe reads.
    half = len(secret) // 2
    script = (
        f"printf 'token=%s' '{secret[:half]}'; sleep 0.3; printf '%s!\\n' '{secret[half:]}';"
        f" echo 'again {secret} and again'"
    )
    result, lines = _run(script, tmp_path, secrets=(secret,))
    assert lines == ["token=***!", "again *** and again"]
    assert secret not in result.tail
    assert "***" in result.tail


def test_the_build_cannot_see_the_platforms_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, platform_env: PlatformEnv
) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", FAKE_S3_SECRET)
    platform_env.set(DP_REDIS_URL="redis://:pw@127.0.0.1:1/0")
    result, lines = _run("env", tmp_path)
    assert result.exit_code == 0
    names = {line.split("=", 1)[0] for line in lines}
    assert "AWS_SECRET_ACCESS_KEY" not in names
    assert "DP_REDIS_URL" not in names
    assert not any(FAKE_S3_SECRET in line for line in lines)
    # What the caller passed does arrive.
    assert "CI=1" in lines
    assert f"HOME={tmp_path}" in lines


def test_a_runaway_log_is_capped_and_the_build_still_finishes(tmp_path: Path) -> None:
    limits = Limits(log_bytes=10_000)
    # About 2 MB of output, far past the cap: the pipe must keep draining.
    result, lines = _run(
        'i=0; while [ $i -lt 40000 ]; do echo "line $i of a chatty build"; i=$((i+1)); done;'
        " echo finished; exit 4",
        tmp_path,
        limits,
    )
    assert result.exit_code == 4
    assert result.truncated
    assert sum(len(line) + 1 for line in lines) < 11_000
    assert sum("log truncated" in line for line in lines) == 1
    assert result.tail.endswith("finished")


def test_long_lines_are_cut(tmp_path: Path) -> None:
    result, lines = _run(
        "head -c 100000 /dev/zero | tr '\\0' x; echo; echo next",
        tmp_path,
        Limits(max_line_bytes=1000),
    )
    assert result.exit_code == 0
    assert lines[0] == "x" * 1000 + " [line cut]"
    assert lines[1] == "next"


def test_a_file_larger_than_the_limit_stops_the_writer(tmp_path: Path) -> None:
    limits = Limits(max_file_bytes=1024 * 1024)
    result, _ = _run(f"head -c 5000000 /dev/zero > {tmp_path / 'big'}", tmp_path, limits)
    assert result.exit_code != 0
    assert (tmp_path / "big").stat().st_size <= 1024 * 1024


def test_open_files_are_limited(tmp_path: Path) -> None:
    script = (
        "import os, sys\n"
        "fds = []\n"
        "try:\n"
        "    while len(fds) < 1000:\n"
        "        fds.append(os.open('/dev/null', os.O_RDONLY))\n"
        "except OSError as exc:\n"
        "    print('refused after', len(fds), exc.strerror)\n"
        "    sys.exit(7)\n"
    )
    (tmp_path / "fds.py").write_text(script)
    lines: list[str] = []
    result = run(
        [PYTHON, "-I", str(tmp_path / "fds.py")],
        cwd=tmp_path,
        env=base_env(tmp_path, []),
        limits=Limits(max_open_files=64),
        on_line=lines.append,
    )
    assert result.exit_code == 7, lines
    assert lines[0].startswith("refused after")
    assert int(lines[0].split()[2]) < 64


def test_memory_limit_stops_a_process_that_allocates_too_much(tmp_path: Path) -> None:
    lines: list[str] = []
    result = run(
        [PYTHON, "-I", "-c", "b = bytearray(600 * 1024 * 1024); print('allocated')"],
        cwd=tmp_path,
        env=base_env(tmp_path, []),
        limits=Limits(memory_bytes=256 * 1024 * 1024),
        on_line=lines.append,
    )
    assert result.exit_code != 0
    assert "allocated" not in lines


def test_bad_limits_are_refused_with_the_field_name() -> None:
    with pytest.raises(ValueError, match="wall_seconds"):
        Limits(wall_seconds=0)


def test_the_platform_keeps_running_after_many_builds(tmp_path: Path) -> None:
    # No leaked pipes or zombies: the platform's own open files stay the same.
    before = len(os.listdir("/proc/self/fd"))
    for _ in range(5):
        _run("echo hi", tmp_path)
    assert len(os.listdir("/proc/self/fd")) == before


def test_node_can_use_webassembly_under_the_memory_limit(tmp_path: Path) -> None:
    # Guards the choice of RLIMIT_DATA: under RLIMIT_AS, V8 cannot reserve the
    # address space of a WebAssembly memory and builds using wasm tools fail.
    node = shutil.which("node")
    if node is None:
        pytest.skip("no node on this machine")
    script = "for (let i = 0; i < 4; i++) new WebAssembly.Memory({initial: 1}); console.log('ok')"
    lines: list[str] = []
    result = run(
        [node, "-e", script],
        cwd=tmp_path,
        env=base_env(tmp_path, []),
        limits=Limits(memory_bytes=2 * 1024 * 1024 * 1024),
        on_line=lines.append,
    )
    assert (result.exit_code, lines) == (0, ["ok"])


# The isolation boundary (bwrap.py, netns.py, isolation.py); the hostile build in
# tests/security tries the escapes through the whole runner.

ISOLATED = isolation.current()
needs_isolation = pytest.mark.skipif(
    not ISOLATED.isolated, reason=f"no isolation here: {ISOLATED.describe()}"
)
OFF = isolation.Status(isolation.Mode.OFF, sandboxed=False, network=False, problems=())


@pytest.mark.parametrize("status", [ISOLATED, OFF], ids=["as-configured", "isolation-off"])
def test_the_build_starts_with_only_stdin_stdout_and_stderr(
    tmp_path: Path, status: isolation.Status
) -> None:
    # An inheritable descriptor of the platform's, open while the build starts.
    leak = os.open(tmp_path, os.O_RDONLY)
    os.set_inheritable(leak, True)
    try:
        lines: list[str] = []
        result = run(
            ["sh", "-c", "ls /proc/$$/fd"],
            cwd=tmp_path,
            env=base_env(tmp_path, []),
            limits=Limits(),
            on_line=lines.append,
            isolation_status=status,
        )
    finally:
        os.close(leak)
    assert result.exit_code == 0
    assert [line for line in lines if not line.startswith("[sandbox]")] == ["0", "1", "2"]


def test_without_isolation_the_log_says_so_first(tmp_path: Path) -> None:
    lines: list[str] = []
    result = run(
        ["sh", "-c", "echo built"],
        cwd=tmp_path,
        env=base_env(tmp_path, []),
        limits=Limits(),
        on_line=lines.append,
        isolation_status=OFF,
    )
    assert result.exit_code == 0
    assert lines[0].startswith("[sandbox] WARNING: build isolation OFF")
    assert "Unset DP_BUILD_ISOLATION to isolate builds" in lines[0]
    assert lines[1:] == ["built"]


def test_required_isolation_that_the_machine_lacks_runs_nothing(tmp_path: Path) -> None:
    lacking = isolation.Status(
        isolation.Mode.REQUIRED,
        sandboxed=False,
        network=False,
        problems=("bwrap is not installed",),
    )
    with pytest.raises(isolation.IsolationUnavailable, match="apt-get install bubblewrap"):
        run(
            ["sh", "-c", f"touch {tmp_path / 'ran'}"],
            cwd=tmp_path,
            env=base_env(tmp_path, []),
            limits=Limits(),
            on_line=print,
            isolation_status=lacking,
        )
    assert not (tmp_path / "ran").exists()


def test_a_bad_isolation_setting_names_the_variable(platform_env: PlatformEnv) -> None:
    platform_env.set(DP_BUILD_ISOLATION="sometimes")
    with pytest.raises(ValueError, match="DP_BUILD_ISOLATION must be auto, required or off"):
        isolation.current()


@needs_isolation
def test_the_build_sees_its_work_directory_and_home_but_not_their_neighbours(
    tmp_path: Path,
) -> None:
    work = tmp_path / "work"
    home = tmp_path / "home"
    work.mkdir()
    home.mkdir()
    (tmp_path / "neighbour.txt").write_text("not for builds")
    outside_tmp = Path("/tmp") / f"dp-sandbox-test-{os.getpid()}"
    outside_tmp.write_text("the machine's /tmp")
    try:
        result, lines = _run_in(
            work,
            home,
            f"echo out > {work / 'made'}; echo home > {home / '.rc'};"
            f" cat {tmp_path / 'neighbour.txt'} 2>/dev/null || echo no-neighbour;"
            f" cat {outside_tmp} 2>/dev/null || echo private-tmp;"
            " touch /usr/x 2>/dev/null || echo usr-read-only;"
            " ls /root/.ssh 2>/dev/null || echo no-root-ssh;"
            " cat /etc/shadow 2>/dev/null | wc -c",
        )
    finally:
        outside_tmp.unlink()
    assert result.exit_code == 0, lines
    assert lines == ["no-neighbour", "private-tmp", "usr-read-only", "no-root-ssh", "0"]
    # Written where the build may write, and readable by the platform afterwards.
    assert (work / "made").read_text() == "out\n"
    assert (home / ".rc").read_text() == "home\n"


@needs_isolation
def test_a_step_that_swaps_its_next_cwd_for_a_symlink_gains_nothing(tmp_path: Path) -> None:
    work = tmp_path / "work"
    (work / "app").mkdir(parents=True)
    secret = tmp_path / "platform-secret"
    secret.mkdir(mode=0o700)
    (secret / "token").write_text("never for builds")
    owner = secret.stat().st_uid
    first, _ = _run_in(work, work, f"rm -rf app && ln -s {secret} app")
    assert first.exit_code == 0 and (work / "app").is_symlink()

    lines: list[str] = []
    second = run(
        ["cat", "token"],
        cwd=work / "app",
        env=base_env(work, []),
        limits=Limits(),
        on_line=lines.append,
        writable=[work],
        isolation_status=ISOLATED,
    )
    # Inside the sandbox the link leads nowhere: the step cannot even start there.
    assert second.exit_code == 126
    assert lines == [
        f"cannot enter the working directory {work / 'app'}: No such file or directory"
    ]
    # Neither handed over nor shown: the platform's directory is as it was.
    assert secret.stat().st_uid == owner
    assert (secret / "token").stat().st_uid == owner


def test_a_writable_place_reached_through_a_symlink_is_refused(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "link").symlink_to(real)
    with pytest.raises(ValueError, match="reached through a symlink"):
        run(
            ["true"],
            cwd=tmp_path / "link",
            env=base_env(real, []),
            limits=Limits(),
            on_line=print,
            isolation_status=ISOLATED if ISOLATED.sandboxed else OFF,
        )


def _run_in(work: Path, home: Path, script: str) -> tuple[RunResult, list[str]]:
    lines: list[str] = []
    result = run(
        ["sh", "-c", script],
        cwd=work,
        env=base_env(home, []),
        limits=Limits(),
        on_line=lines.append,
        isolation_status=ISOLATED,
    )
    return result, lines


@needs_isolation
@pytest.mark.skipif(os.geteuid() != 0, reason="the build user is for a root platform")
def test_a_root_platforms_build_runs_as_the_build_user_without_capabilities(
    tmp_path: Path,
) -> None:
    result, lines = _run_in(
        tmp_path, tmp_path, "id -un; id -u; grep -E '^Cap(Inh|Prm|Eff|Bnd|Amb)' /proc/self/status"
    )
    assert result.exit_code == 0, lines
    user = isolation.ensure_build_user()
    assert lines[:2] == [isolation.BUILD_USER, str(user.uid)]
    assert [line.split()[1] for line in lines[2:]] == ["0000000000000000"] * 5
    # Handed over for the build, and still the platform's to read and remove.
    assert tmp_path.stat().st_uid == user.uid
    shutil.rmtree(tmp_path)


@needs_isolation
def test_the_build_cannot_make_user_namespaces(tmp_path: Path) -> None:
    # Outside, dp-build (or the platform's user) may: here neither unshare nor a
    # namespace-making child gets one, while ordinary children still start.
    result, lines = _run_in(
        tmp_path,
        tmp_path,
        "unshare -U true 2>/dev/null && echo userns-made;"
        " unshare -Ur true 2>/dev/null && echo root-userns-made;"
        " sh -c 'echo child-ran'; touch /dev/shm/x /var/tmp/y && echo scratch-ok",
    )
    assert result.exit_code == 0
    assert lines == ["child-ran", "scratch-ok"]


@needs_isolation
@pytest.mark.skipif(os.geteuid() != 0, reason="the filter is for a root platform's builds")
def test_the_build_user_cannot_use_the_keyrings_it_shares_with_other_builds(
    tmp_path: Path,
) -> None:
    keyctl = {"x86_64": 250, "aarch64": 219}.get(platform.machine())
    if keyctl is None:
        pytest.skip("no keyctl number for this machine here")
    script = (
        "import ctypes, os\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        # KEYCTL_GET_KEYRING_ID of KEY_SPEC_USER_KEYRING: works for any user outside.
        f"print(libc.syscall({keyctl}, 0, -4, 0), os.strerror(ctypes.get_errno()))\n"
    )
    (tmp_path / "keys.py").write_text(script)
    result, lines = _run_in(tmp_path, tmp_path, f"{PYTHON} -I keys.py")
    assert result.exit_code == 0, lines
    assert lines == ["-1 Operation not permitted"]


def test_the_seccomp_filter_is_known_for_both_linux_architectures() -> None:
    for machine in ("x86_64", "aarch64"):
        program = seccomp.filter_program(machine)
        assert program is not None and len(program) % 8 == 0
    assert seccomp.filter_program("riscv64") is None


@needs_isolation
def test_the_isolated_build_is_still_in_its_cgroup(tmp_path: Path) -> None:
    probe = BuildCgroup.create(64 * 1024 * 1024, 16)
    if probe is None:
        pytest.skip("no writable cgroup hierarchy here")
    probe.remove()
    marker = f"cgroup-member-{os.getpid()}"
    seen: list[str] = []

    def watch() -> None:
        for _ in range(200):
            # The build's own sh, not bwrap or the supervisor, whose arguments hold it too.
            pids = [
                pid
                for pid in _alive_with(marker)
                if Path(f"/proc/{pid}/cmdline").read_bytes().startswith(b"sh\0")
            ]
            if pids:
                seen.append(Path(f"/proc/{pids[0]}/cgroup").read_text())
                break
            time.sleep(0.05)
        (tmp_path / "stop").touch()

    watcher = threading.Thread(target=watch)
    watcher.start()
    result, _ = _run_in(
        tmp_path,
        tmp_path,
        f"sh -c 'while [ ! -e stop ]; do sleep 0.05; done' {marker}",
    )
    watcher.join()
    assert result.exit_code == 0
    assert seen and "deploy-platform-build-" in seen[0]
