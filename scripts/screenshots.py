"""Screenshots of the Dagster UI as a web developer reads it, for docs/images/.

Starts the platform (`deploy-platform up` on free ports, in a temporary state
directory), deploys the bundled sample site (and then a build that fails: a
directory with nothing to publish), waits for the checks run, and renders with
headless Chromium:

  dagster-runs-project.png    the run list filtered to one project
  dagster-run.png             one deployment's run
  dagster-asset-checks.png    published_deployment's checks after the failed build
  dagster-asset-graph.png     the asset graph after the failed build

Run it through scripts/screenshots.sh (which installs Chromium when it can).

    .venv/bin/python scripts/screenshots.py [--out docs/images] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from urllib.parse import quote, urlencode

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
SAMPLE = ROOT / "deploy_platform" / "cli" / "sample_site"
PROJECT = "sample"
WIDTH, HEIGHT = 1440, 900


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def get(url: str, timeout: float = 5) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as answer:  # noqa: S310 (localhost)
        return bytes(answer.read())


def wait_until(what: str, ready: object, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if ready():  # type: ignore[operator]
                return
        except OSError:
            pass
        time.sleep(1)
    raise SystemExit(f"timed out waiting for {what}")


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "deploy-platform"), *args], env=env, capture_output=True, text=True, timeout=900
    )


def graphql(ui: str, query: str, variables: dict[str, object]) -> dict[str, object]:
    body = json.dumps({"query": query, "variables": variables}).encode()
    request = urllib.request.Request(
        f"{ui}/graphql", data=body, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310 (localhost)
        return dict(json.loads(answer.read())["data"])


_RUNS = """
query Runs($filter: RunsFilter) {
  runsOrError(filter: $filter) { ... on Runs { results { runId jobName status } } }
}
"""


def runs_of(ui: str, deployment_id: str) -> list[dict[str, str]]:
    flt = {"tags": [{"key": "dagster/partition", "value": deployment_id}]}
    data = graphql(ui, _RUNS, {"filter": flt})
    return list(data["runsOrError"]["results"])  # type: ignore[index]


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    raise SystemExit("Chromium is missing: run scripts/screenshots.sh (installs it as root)")


def shoot(browser: str, url: str, out: Path, height: int = HEIGHT) -> None:
    profile = tempfile.mkdtemp(prefix="dp-chromium-")
    try:
        subprocess.run(
            [
                browser,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--hide-scrollbars",
                "--force-device-scale-factor=1",
                f"--user-data-dir={profile}",
                f"--window-size={WIDTH},{height}",
                # The UI is a React app: let it fetch and render before the picture.
                "--virtual-time-budget=20000",
                f"--screenshot={out}",
                url,
            ],
            check=True,
            capture_output=True,
            timeout=180,
        )
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    print(f"{out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}  <-  {url}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images")
    parser.add_argument("--keep", action="store_true", help="keep the state directory")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    browser = chromium()

    state = Path(tempfile.mkdtemp(prefix="dp-screenshots-"))
    api_port, edge_port, ui_port = free_port(), free_port(), free_port()
    api, ui = f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{ui_port}"
    env = {**os.environ, "DP_STATE_DIR": str(state), "DP_API_URL": api}
    env.pop("DP_API_TOKEN", None)
    log = open(state / "up.log", "wb")  # noqa: SIM115 (open while `up` runs)
    up = subprocess.Popen(
        [
            str(BIN / "deploy-platform"),
            "up",
            "--state-dir",
            str(state),
            "--api-port",
            str(api_port),
            "--edge-port",
            str(edge_port),
            "--ui-port",
            str(ui_port),
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_until("the control API", lambda: get(f"{api}/api/health"))
        wait_until("the Dagster UI", lambda: get(f"{ui}/server_info"))

        site = state / "sample"
        shutil.copytree(SAMPLE, site)
        done = cli(env, "deploy", str(site), "--project", PROJECT, "--json")
        if done.returncode != 0:
            raise SystemExit(f"the sample deploy failed:\n{done.stdout}\n{done.stderr}")
        good = json.loads(done.stdout)["id"]
        # A build that fails: hidden files only, so there is nothing to publish.
        broken = state / "broken"
        broken.mkdir()
        (broken / ".env").write_text("NOTHING=to publish\n")
        failed = cli(env, "deploy", str(broken), "--project", PROJECT, "--json")
        if failed.returncode != 1:
            raise SystemExit(f"the broken deploy did not fail:\n{failed.stdout}\n{failed.stderr}")
        bad = json.loads(failed.stdout)["id"]

        def settled() -> bool:
            runs = runs_of(ui, good) + runs_of(ui, bad)
            finished = {"SUCCESS", "FAILURE", "CANCELED"}
            jobs = {run["jobName"] for run in runs if run["status"] in finished}
            return jobs == {"deploy", "deployment_checks"} and all(
                run["status"] in finished for run in runs
            )

        wait_until("the deploy and checks runs", settled)
        [deploy_run] = [r for r in runs_of(ui, good) if r["jobName"] == "deploy"]

        runs_url = f"{ui}/runs?{urlencode({'q[]': f'tag:deploy/project={PROJECT}'})}"
        shoot(browser, runs_url, args.out / "dagster-runs-project.png")
        shoot(browser, f"{ui}/runs/{deploy_run['runId']}", args.out / "dagster-run.png")
        asset = quote("published_deployment")
        shoot(
            browser,
            f"{ui}/assets/{asset}?view=checks&partition={bad}",
            args.out / "dagster-asset-checks.png",
        )
        shoot(browser, f"{ui}/asset-groups", args.out / "dagster-asset-graph.png", height=560)
        return 0
    finally:
        os.killpg(up.pid, signal.SIGINT)  # as Ctrl-C: `up` stops its children
        try:
            up.wait(timeout=120)
        except subprocess.TimeoutExpired:
            os.killpg(up.pid, signal.SIGKILL)
            up.wait()
        log.close()
        if args.keep:
            print(f"state kept in {state}")
        else:
            shutil.rmtree(state, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
