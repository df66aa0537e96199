"""`deploy-platform history` against a real control API over a real Dagster instance."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from deploy_platform import cli
from deploy_platform.contracts.records import DeploymentRecord
from deploy_platform.history.rows import COLUMNS
from tests.orchestration.support import unique
from tests.support.api_fixtures import RunningApi, make_settings, running_api  # noqa: F401
from tests.support.environment import PlatformEnv

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def api_url(
    running_api: Callable[..., RunningApi],  # noqa: F811
    instance: dg.DagsterInstance,
    platform_env: PlatformEnv,
) -> str:
    platform_env.unset("DP_API_TOKEN")
    return running_api(dagster_home=Path(instance.root_directory)).url


@pytest.fixture
def deployed(deploy_app: Callable[..., DeploymentRecord]) -> dict[str, list[DeploymentRecord]]:
    """Project docs: two ready deployments and a failed one; project shop: one preview."""
    docs, shop = unique("docs"), unique("shop")
    return {
        docs: [
            deploy_app(project=docs),
            deploy_app({".env": "nothing to publish"}, project=docs),
            deploy_app(project=docs),
        ],
        shop: [deploy_app(project=shop, ref="feature/cart")],
    }


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = cli.main(["history", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_table_csv_and_json_show_every_deployment_with_filters(
    api_url: str,
    deployed: dict[str, list[DeploymentRecord]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    docs, shop = list(deployed)
    every_id = {record.id for records in deployed.values() for record in records}

    code, table, _ = run(capsys, "--api", api_url)
    assert code == 0
    lines = table.splitlines()
    assert lines[0].split()[:6] == ["ID", "PROJECT", "BRANCH", "COMMIT", "TRIGGER", "STATUS"]
    assert {line.split()[0] for line in lines[1:]} == every_id

    code, text, _ = run(capsys, "--api", api_url, "--format", "csv", "--project", docs)
    frame = pd.read_csv(io.StringIO(text))
    assert code == 0 and list(frame.columns) == list(COLUMNS)
    assert list(frame["id"]) == [record.id for record in reversed(deployed[docs])]
    assert sorted(frame["status"]) == ["failed", "ready", "ready"]
    assert set(frame["commit"]) == {record.commit for record in deployed[docs]}

    code, text, _ = run(capsys, "--api", api_url, "--format", "json", "--branch", "feature/cart")
    rows = json.loads(text)
    assert code == 0 and [row["id"] for row in rows] == [deployed[shop][0].id]
    assert rows[0]["branch"] == "feature/cart" and rows[0]["project"] == shop

    code, text, err = run(capsys, "--api", api_url, "--limit", "1", "--since", "1h")
    assert code == 0 and len(text.splitlines()) == 2  # the header and the newest row
    assert text.splitlines()[1].startswith(deployed[shop][0].id)  # deployed last
    assert "1 of 4 shown" in err


def test_summary_has_stage_percentiles_and_failure_rates_and_the_plot_is_a_png(
    api_url: str,
    deployed: dict[str, list[DeploymentRecord]],
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    docs, shop = list(deployed)
    plot = tmp_path / "plots" / "stages.png"

    code, text, err = run(
        capsys, "--api", api_url, "--format", "json", "--summary", "--plot", str(plot)
    )

    assert code == 0
    document = json.loads(text)
    assert len(document["deployments"]) == 4
    summary = document["summary"]
    assert set(summary["stages"]) == {"queued", "clone", "install", "build", "publish"}
    build = summary["stages"]["build"]
    assert build["deployments"] == 4 and 0 <= build["p50"] <= build["p95"]
    assert summary["stages"]["publish"]["deployments"] == 3  # the failed one never published
    assert summary["projects"][docs] == {
        "deployments": 3,
        "finished": 3,
        "failed": 1,
        "failure_rate": round(1 / 3, 4),
    }
    assert summary["projects"][shop]["failure_rate"] == 0.0
    assert plot.read_bytes().startswith(PNG_MAGIC)
    assert "plotted 4 deployments" in err

    code, table, _ = run(capsys, "--api", api_url, "--summary")
    assert code == 0
    assert "STAGE" in table and "FAILURE RATE" in table and "33.3%" in table

    # --plot alone makes the plot and prints no table.
    alone = tmp_path / "alone.png"
    code, text, err = run(capsys, "--api", api_url, "--plot", str(alone))
    assert (code, text) == (0, "")
    assert alone.read_bytes().startswith(PNG_MAGIC)
    assert f"plotted 4 deployments into {alone}" in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--since", "yesterday"], "--since"),
        (["--project", "No_Such"], "--project"),
        (["--limit", "0"], "--limit"),
        (["--plot", "stages.jpg"], ".png"),
    ],
)
def test_bad_flags_exit_2_saying_what_to_fix(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "--api", "http://127.0.0.1:9", *args)

    assert code == 2 and out == ""
    assert message in err


def test_an_api_without_dagster_exits_4_with_the_reason(
    running_api: Callable[..., RunningApi],  # noqa: F811
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    api = running_api(dagster_home=tmp_path / "none")

    code, out, err = run(capsys, "--api", api.url)

    assert code == 4 and out == ""
    assert "DAGSTER_HOME" in err
