"""What `deploy-platform up` costs while it waits: CPU and memory of its whole process tree.

Starts the real platform (`deploy-platform up` on free ports, private state dir),
waits until it answers, then samples every process of up's tree (up itself, every
child, their children: code server, run workers, edge workers...) for a window:
CPU seconds from /proc/<pid>/stat (utime + stime, polled often enough that a
process which lives only a few seconds, such as a respawned code server, is
counted), RSS from /proc/<pid>/status and PSS from /proc/<pid>/smaps_rollup
(RSS counts a page shared by forked workers once per process; PSS splits it).
Then deploys N static sites through the API, waits until all are ready, and
samples another window: the cost of a platform that has work behind it.

    .venv/bin/python -m benchmarks.idle_cost [--window 60] [--sites 20]

Goal (issue 15): idle at most 0.03 of a core and 600 MB RSS in total.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.faults.up_process import descendants, upload
from tests.support.platform import RunningPlatform, start_platform

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
_POLL_SECONDS = 0.25


def _read(path: str) -> bytes | None:
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError:
        return None


def _cpu_and_start(pid: int) -> tuple[float, str] | None:
    stat = _read(f"/proc/{pid}/stat")
    if stat is None:
        return None
    fields = stat.rsplit(b")", 1)[1].split()
    # After the command name: state is field 3; utime 14, stime 15, starttime 22.
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS, fields[19].decode()


def _kib(text: bytes | None, key: bytes) -> int:
    for line in (text or b"").splitlines():
        if line.startswith(key):
            return int(line.split()[1])
    return 0


def label(pid: int) -> str:
    """A short name a person recognises: `dagster-daemon run`, `-m serve`, `redis-server`."""
    argv = [a.decode(errors="replace") for a in (_read(f"/proc/{pid}/cmdline") or b"").split(b"\0")]
    argv = [a for a in argv if a]
    if not argv:
        return "?"
    name = Path(argv[0]).name.split(" ")[0]  # redis-server retitles itself "NAME HOST:PORT"
    rest = argv[1:]
    if name.startswith("python") and rest:
        if rest[0] == "-m" and len(rest) > 1:
            name, rest = f"-m {rest[1]}", rest[2:]
        else:
            name, rest = Path(rest[0]).name, rest[1:]
    words = [a for a in rest[:3] if not a.startswith("-") and "/" not in a and ":" not in a]
    if name.endswith("dagster") or name.endswith("dagster-daemon"):
        return " ".join([name, *words[:2]])
    if "fork_server" in name:
        # A worker is forked from the server: same command line, the server as parent.
        stat = _read(f"/proc/{pid}/stat") or b""
        parent = stat.rsplit(b")", 1)[1].split()[1].decode() if b")" in stat else "0"
        parent_argv = _read(f"/proc/{parent}/cmdline") or b""
        return "run worker" if b"fork_server" in parent_argv else "fork server"
    return name


@dataclass
class Window:
    seconds: float = 0.0
    cpu: float = 0.0
    rss_kib: list[int] = field(default_factory=list)
    pss_kib: list[int] = field(default_factory=list)
    processes: list[int] = field(default_factory=list)
    by_name_cpu: dict[str, float] = field(default_factory=dict)
    by_name_rss: dict[str, int] = field(default_factory=dict)
    seen: set[tuple[int, str]] = field(default_factory=set)
    load: str = ""  # the load average as the window ended


def sample(root: int, seconds: float) -> Window:
    """CPU used by `root`'s tree over `seconds`, with RSS/PSS and process counts over time."""
    window = Window()
    first: dict[tuple[int, str], float] = {}
    last: dict[tuple[int, str], float] = {}
    names: dict[tuple[int, str], str] = {}
    started = time.monotonic()
    baseline = True
    next_memory = started
    while True:
        now = time.monotonic()
        pids = [root, *descendants(root)]
        rss = pss = 0
        measure_memory = now >= next_memory
        for pid in pids:
            got = _cpu_and_start(pid)
            if got is None:
                continue
            key = (pid, got[1])
            if key not in first:
                # Present at the start: counted from here. Born later: from zero.
                first[key] = got[0] if baseline else 0.0
                names[key] = label(pid)
            last[key] = got[0]
            if measure_memory:
                rss_here = _kib(_read(f"/proc/{pid}/status"), b"VmRSS:")
                rss += rss_here
                pss += _kib(_read(f"/proc/{pid}/smaps_rollup"), b"Pss:")
                window.by_name_rss[names[key]] = max(
                    window.by_name_rss.get(names[key], 0), rss_here
                )
        if measure_memory:
            window.rss_kib.append(rss)
            window.pss_kib.append(pss)
            window.processes.append(len(pids))
            next_memory = now + 2.0
        baseline = False
        if now - started >= seconds:
            break
        time.sleep(_POLL_SECONDS)
    window.seconds = time.monotonic() - started
    window.load = _loadavg()
    window.seen = set(first)
    for key, value in last.items():
        used = value - first[key]
        window.cpu += used
        window.by_name_cpu[names[key]] = window.by_name_cpu.get(names[key], 0.0) + used
    return window


def report(title: str, window: Window, top: int = 8) -> None:
    cores = window.cpu / window.seconds
    print(f"\n{title}: {window.seconds:.0f} s, load average {window.load}")
    print("| | value |\n|---|---|")
    print(f"| cores used (CPU s / wall s) | **{cores:.3f}** |")
    rss, most = _mb(_median(window.rss_kib)), _mb(max(window.rss_kib))
    print(f"| RSS total, median (max) | **{rss}** ({most}) |")
    print(f"| PSS total, median | {_mb(_median(window.pss_kib))} |")
    print(
        f"| processes at a time, median (max) | {_median(window.processes)}"
        f" ({max(window.processes)}) |"
    )
    print(f"| processes seen in the window | {len(window.seen)} |")
    print("\n| process (by name) | CPU s | cores | largest RSS |\n|---|---|---|---|")
    ranked = sorted(window.by_name_cpu.items(), key=lambda item: -item[1])
    for name, cpu in ranked[:top]:
        print(
            f"| `{name}` | {cpu:.2f} | {cpu / window.seconds:.3f} |"
            f" {_mb(window.by_name_rss.get(name, 0))} |"
        )


def _median(values: list[int]) -> int:
    ordered = sorted(values)
    return ordered[len(ordered) // 2] if ordered else 0


def _mb(kib: int) -> str:
    return f"{kib / 1024:.0f} MB"


def _loadavg() -> str:
    return " ".join((_read("/proc/loadavg") or b"").decode().split()[:3])


def _deploy_sites(platform: RunningPlatform, tmp: Path, count: int) -> float:
    started = time.monotonic()
    ids = [
        upload(platform, tmp, f"idle-{n:02d}", {"index.html": f"<h1>site {n}</h1>"})
        for n in range(count)
    ]
    for deployment_id in ids:
        record = platform.wait(deployment_id, timeout=600)
        if record["status"] != "ready":
            raise SystemExit(f"deployment {deployment_id} failed: {record.get('error')}")
    return time.monotonic() - started


def _wait_for_runs_to_end(root: int, timeout: float) -> float:
    """Until no run worker is left for 20 s in a row (the checks sensor asks for the
    checks runs every 15 s); the time taken until that quiet began."""
    started = time.monotonic()
    quiet_since: float | None = None
    while time.monotonic() - started < timeout:
        workers = sum(label(pid) == "run worker" for pid in descendants(root))
        now = time.monotonic()
        if workers:
            quiet_since = None
        elif quiet_since is None:
            quiet_since = now
        elif now - quiet_since >= 20:
            return quiet_since - started
        time.sleep(0.5)
    return time.monotonic() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--window", type=float, default=60.0, help="seconds per window")
    parser.add_argument("--sites", type=int, default=20)
    parser.add_argument(
        "--settle", type=float, default=10.0, help="seconds after ready before sampling"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dp-idle-") as tmp:
        platform = start_platform(Path(tmp) / "state")
        try:
            time.sleep(args.settle)  # start-up imports are not idle cost
            idle = sample(platform.process.pid, args.window)
            took = _deploy_sites(platform, Path(tmp), args.sites)
            print(f"\ndeployed {args.sites} static sites in {took:.1f} s")
            # Each deployment is followed by a run of its asset checks: not idle yet.
            quiet = _wait_for_runs_to_end(platform.process.pid, timeout=600)
            print(f"their check runs ended {quiet:.1f} s later")
            time.sleep(args.settle)
            loaded = sample(platform.process.pid, args.window)
        finally:
            platform.stop()
        report("idle, nothing deployed", idle)
        report(f"idle, after {args.sites} deployments", loaded)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
