"""The window at a 1366x768 clinic laptop's size and at 1920x1080 on a real X server (Xvfb):
what a user must see without scrolling, screenshots of both (looked at; the README's picture is
one), and the place the user left restored at the next start (issue 16, point 3)."""

import json
import os
import sys
from pathlib import Path

import pytest
from test_gui_soak import xvfb_run

SIZES = ("1366x768", "1920x1080")


@pytest.mark.slow
def test_layout_at_laptop_and_full_hd_sizes(demo_clip, pose_models, tmp_path):
    probe = Path(__file__).with_name("gui_layout_probe.py")
    done = xvfb_run([sys.executable, str(probe), str(tmp_path), str(demo_clip), *SIZES],
                    dict(os.environ), 600)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["empty"] == {"proposal_chart_shown": False, "timeline_shown": False}
    for size in SIZES:
        seen = report["sizes"][size]
        assert seen["window"] == [int(v) for v in size.split("x")], size
        assert seen["status_in_view"] and not seen["tree_scrolls_sideways"], seen
        assert any(status.startswith("✔ rated") for status in seen["statuses"]), seen
        assert seen["sheet_rows"] == 14 and seen["sheet_rows_in_view"], seen
        assert seen["rater_in_view"], seen
        assert seen["time_axis"] == "time (s)"
        assert seen["proposal_chart_shown"]
        for title, legend in seen["legends"].items():
            assert legend["named"] == legend["curves"] >= 1, title
            assert not legend["over_plot"], title
        assert seen["legends"]["angle (°)"]["named"] == 6
        assert (tmp_path / f"main-{size}.png").stat().st_size > 50_000
    restored = report["restored"]
    assert [*restored["place"], restored["frame"]] == restored["expected"]
