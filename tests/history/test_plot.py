"""`history --plot`: the whole legend is in the picture, and only the plot is made."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import matplotlib.pyplot as plt

from deploy_platform.history.report import frame_from_json, stage_figure

LONG_NAMES = [f"customer-{n}-marketing-site-with-a-rather-long-name" for n in range(5)]


def rows() -> list[dict[str, object]]:
    start = datetime(2026, 12, 1, tzinfo=UTC)
    made: list[dict[str, object]] = []
    for n in range(30):
        made.append(
            {
                "id": f"dep{n:09d}",
                "project": LONG_NAMES[n % len(LONG_NAMES)],
                "status": "failed" if n % 7 == 0 else "ready",
                "enqueued": (start + timedelta(hours=n)).isoformat(),
                "clone_s": 1.0 + n % 3,
                "install_s": 10.0 + n,
                "build_s": 20.0 + n % 5,
                "publish_s": 2.0,
            }
        )
    return made


def test_the_legend_with_long_project_names_is_inside_the_figure_and_off_the_panels() -> None:
    figure = stage_figure(frame_from_json(rows()))
    try:
        figure.canvas.draw()
        [legend] = figure.legends
        box = legend.get_window_extent()
        page = figure.bbox
        # Nothing of it is cut off at the picture's edges...
        assert page.x0 <= box.x0 and box.x1 <= page.x1 + 0.5
        assert page.y0 <= box.y0 and box.y1 <= page.y1 + 0.5
        # ...and it covers no panel's data.
        for axis in figure.axes:
            assert not box.overlaps(axis.get_window_extent())
        labels = [text.get_text() for text in legend.get_texts()]
        assert set(LONG_NAMES) <= set(labels) and "failed" in labels
    finally:
        plt.close(figure)
