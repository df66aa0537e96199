"""What `deploy-platform history` prints and draws from the rows the API answers.

pandas only (matplotlib for `plot`, imported there, with the Agg backend: no display
needed); no Dagster, so the command starts fast.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from deploy_platform.contracts.text_format import error_headline, human_bytes
from deploy_platform.history.rows import COLUMNS, STAGES, TIME_COLUMNS

if TYPE_CHECKING:  # matplotlib is imported only when a plot is drawn
    from matplotlib.figure import Figure

__all__ = [
    "FORMATS",
    "frame_from_json",
    "summarize",
    "render_rows",
    "render_summary",
    "plot_stages",
    "stage_figure",
]

FORMATS = ("table", "csv", "json")
#: Deployments whose latest run ended (failure rates count only these).
_FINISHED = ("ready", "failed", "canceled", "incomplete")
_FAILED = ("failed", "canceled")
_TABLE = (
    ("ID", "id"),
    ("PROJECT", "project"),
    ("BRANCH", "branch"),
    ("COMMIT", "commit"),
    ("TRIGGER", "trigger"),
    ("STATUS", "status"),
    ("ENQUEUED (UTC)", "enqueued"),
    ("QUEUED", "queued_s"),
    ("CLONE", "clone_s"),
    ("INSTALL", "install_s"),
    ("BUILD", "build_s"),
    ("PUBLISH", "publish_s"),
    ("FILES", "files"),
    ("BYTES", "bytes"),
    ("REUSED", "bytes_reused"),
    ("ERROR", "error"),
)
# The error's first line in the table (JSON and CSV have it whole).
_ERROR_WIDTH = 60
_STAGE_NAMES = {
    "queued_s": "queued",
    "clone_s": "clone",
    "install_s": "install",
    "build_s": "build",
    "publish_s": "publish",
}
_PLOTTED = ("clone_s", "install_s", "build_s", "publish_s")
_MAX_PROJECT_LINES = 8


def frame_from_json(rows: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """The API's rows as a frame: times as UTC datetimes, numbers as numbers."""
    frame = pd.DataFrame.from_records(list(rows), columns=list(COLUMNS))
    for column in TIME_COLUMNS:
        frame[column] = pd.to_datetime(frame[column], utc=True, errors="coerce", format="ISO8601")
    for column in (*STAGES, "files", "bytes", "bytes_uploaded", "bytes_reused"):
        frame[column] = pd.to_numeric(frame[column], errors="coerce")
    return frame


def summarize(frame: pd.DataFrame) -> dict[str, Any]:
    """p50 and p95 seconds per stage, and each project's failure rate."""
    stages: dict[str, dict[str, float | int | None]] = {}
    for column in STAGES:
        values = pd.to_numeric(frame[column], errors="coerce").dropna()
        stages[_STAGE_NAMES[column]] = {
            "p50": _round(values.quantile(0.5)) if len(values) else None,
            "p95": _round(values.quantile(0.95)) if len(values) else None,
            "deployments": int(len(values)),
        }
    projects: dict[str, dict[str, float | int | None]] = {}
    finished = frame[frame["status"].isin(_FINISHED)]
    for project, group in frame.groupby("project", dropna=True, sort=True):
        done = finished[finished["project"] == project]
        failed = int(done["status"].isin(_FAILED).sum())
        projects[str(project)] = {
            "deployments": int(len(group)),
            "finished": int(len(done)),
            "failed": failed,
            "failure_rate": round(failed / len(done), 4) if len(done) else None,
        }
    return {"stages": stages, "projects": projects}


def _round(value: object) -> float | None:
    number = float(value)  # type: ignore[arg-type]
    return None if math.isnan(number) else round(number, 3)


def _cell(column: str, value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NaT:
        return "-"
    if column in TIME_COLUMNS:
        return str(pd.Timestamp(value).strftime("%Y-%m-%d %H:%M:%S"))
    if column in STAGES:
        return f"{float(value):.1f}s"
    if column in ("bytes", "bytes_reused", "bytes_uploaded"):
        return human_bytes(int(value))
    if column == "files":
        return str(int(value))
    if column == "commit":
        return str(value)[:10]
    if column == "error":
        return error_headline(str(value), _ERROR_WIDTH) or "-"
    return str(value)


def _table(header: Sequence[str], lines: Sequence[Sequence[str]]) -> str:
    widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(header)]
    out = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip()]
    for line in lines:
        out.append("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip())
    return "\n".join(out)


def render_rows(frame: pd.DataFrame, fmt: str) -> str:
    if fmt == "json":
        return json.dumps(_json_rows(frame), indent=2)
    if fmt == "csv":
        out = io.StringIO()
        csv_frame = frame.copy()
        for column in TIME_COLUMNS:
            csv_frame[column] = csv_frame[column].map(_iso)
        csv_frame.to_csv(out, index=False, lineterminator="\n")
        return out.getvalue().rstrip("\n")
    if frame.empty:
        return "no deployments match"
    lines = [[_cell(column, row[column]) for _, column in _TABLE] for _, row in frame.iterrows()]
    return _table([title for title, _ in _TABLE], lines)


def _iso(value: Any) -> str | None:
    if value is None or value is pd.NaT or (isinstance(value, float) and math.isnan(value)):
        return None
    return str(pd.Timestamp(value).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z")


def _json_rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    rows = []
    for record in frame.to_dict(orient="records"):
        row: dict[str, Any] = {}
        for column, value in record.items():
            if column in TIME_COLUMNS:
                row[str(column)] = _iso(value)
            elif isinstance(value, float) and math.isnan(value):
                row[str(column)] = None
            else:
                row[str(column)] = value.item() if hasattr(value, "item") else value
        rows.append(row)
    return rows


def render_summary(summary: dict[str, Any], fmt: str) -> str:
    if fmt == "json":
        return json.dumps(summary, indent=2)
    stage_lines = [
        [name, _seconds(values["p50"]), _seconds(values["p95"]), str(values["deployments"])]
        for name, values in summary["stages"].items()
    ]
    project_lines = [
        [
            name,
            str(values["deployments"]),
            str(values["failed"]),
            "-" if values["failure_rate"] is None else f"{values['failure_rate'] * 100:.1f}%",
        ]
        for name, values in summary["projects"].items()
    ]
    if fmt == "csv":
        stage_csv = ["stage,p50_s,p95_s,deployments"] + [
            f"{name},{_raw(v['p50'])},{_raw(v['p95'])},{v['deployments']}"
            for name, v in summary["stages"].items()
        ]
        project_csv = ["project,deployments,failed,failure_rate"] + [
            f"{name},{v['deployments']},{v['failed']},{_raw(v['failure_rate'])}"
            for name, v in summary["projects"].items()
        ]
        return "\n".join(stage_csv) + "\n\n" + "\n".join(project_csv)
    return (
        _table(["STAGE", "P50", "P95", "DEPLOYMENTS"], stage_lines)
        + "\n\n"
        + (
            _table(["PROJECT", "DEPLOYMENTS", "FAILED", "FAILURE RATE"], project_lines)
            if project_lines
            else "no projects"
        )
    )


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}s"


def _raw(value: object) -> str:
    return "" if value is None else str(value)


def plot_stages(frame: pd.DataFrame, path: Path) -> int:
    """Stage durations over time, one panel per stage and one line per project (failed
    deployments as red crosses), saved as a PNG; how many deployments were drawn."""
    import matplotlib.pyplot as plt

    figure = stage_figure(frame)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png", dpi=100)
    plt.close(figure)
    return int(frame["enqueued"].notna().sum())


def stage_figure(frame: pd.DataFrame) -> Figure:
    """`plot_stages`'s figure, not saved (the caller closes it)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    data = frame.dropna(subset=["enqueued"]).sort_values("enqueued")
    counts = data["project"].value_counts()
    shown = list(counts.index[:_MAX_PROJECT_LINES])
    # Constrained layout keeps room for a legend placed "outside": its longest project
    # name widens the figure's margin instead of being cut off at the edge.
    figure, axes = plt.subplots(
        len(_PLOTTED),
        1,
        figsize=(11, 2.3 * len(_PLOTTED)),
        sharex=True,
        squeeze=False,
        layout="constrained",
    )
    for axis, column in zip(axes[:, 0], _PLOTTED, strict=True):
        for project in shown:
            points = data[(data["project"] == project) & data[column].notna()]
            axis.plot(
                points["enqueued"], points[column], marker=".", linewidth=1, label=str(project)
            )
        others = data[~data["project"].isin(shown) & data[column].notna()]
        if not others.empty:
            axis.plot(others["enqueued"], others[column], ".", color="grey", label="other projects")
        failed = data[data["status"].isin(_FAILED) & data[column].notna()]
        if not failed.empty:
            axis.plot(failed["enqueued"], failed[column], "x", color="red", label="failed")
        axis.set_ylabel(f"{_STAGE_NAMES[column]} (s)")
        axis.grid(True, alpha=0.3)
    axes[0, 0].set_title(f"Stage durations over time ({len(data)} deployments)")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    if handles:
        figure.legend(handles, labels, loc="outside right upper", fontsize="small")
    axes[-1, 0].set_xlabel("enqueued (UTC)")
    for label in axes[-1, 0].get_xticklabels():
        label.set_rotation(30)
        label.set_horizontalalignment("right")
    return figure
