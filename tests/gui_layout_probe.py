"""Run by tests/test_gui_layout.py on an X server: the window at given sizes with a real session;
writes a screenshot per size and prints what a user can see, as JSON.

    xvfb-run -s "-screen 0 1920x1080x24" python tests/gui_layout_probe.py OUT VIDEO 1366x768 ...
"""

import json
import sys
from pathlib import Path

from PySide6.QtCore import QEventLoop, QTimer
from PySide6.QtWidgets import QApplication

from app.main_window import MainWindow
from engine.recordings import import_recording
from engine.store import Store

FRAME = 45


def wait(ms: int) -> None:
    loop = QEventLoop()
    QTimer.singleShot(ms, loop.quit)
    loop.exec()


def wait_jobs(window) -> None:
    while window.jobs.jobs:
        wait(20)
    wait(300)


def seen(window) -> dict:
    """What is visible without scrolling, as numbers and texts."""
    tree, table = window.tree, window.sheet.table
    header = tree.header()
    status_right = header.sectionViewportPosition(1) + header.sectionSize(1)
    statuses = [n.text(1) for n in tree._walk() if n.text(1)]
    status_fits = all(
        tree.fontMetrics().horizontalAdvance(text) < header.sectionSize(1) for text in statuses
    )
    last = table.rowCount() - 1
    timeline = window.timeline
    legends = {}
    for title, plot in timeline.plots.items():
        legend = timeline.legends[title]
        curves = [i for i in plot.items if hasattr(i, "opts") and i not in timeline.playheads]
        overlap = legend.sceneBoundingRect().intersects(plot.vb.sceneBoundingRect())
        legends[title] = {"curves": len(curves), "named": len(legend.items), "over_plot": overlap}
    rows = list(timeline.plots.values())
    return {
        "window": [window.width(), window.height()],
        "status_in_view": status_right <= tree.viewport().width() and status_fits,
        "statuses": statuses,
        "tree_scrolls_sideways": tree.horizontalScrollBar().isVisible(),
        "sheet_rows": table.rowCount(),
        "sheet_rows_in_view": table.rowViewportPosition(last) + table.rowHeight(last)
        <= table.viewport().height(),
        "rater_in_view": table.columnViewportPosition(4) + 20 <= table.viewport().width(),
        "legends": legends,
        "time_axis": rows[-1].getAxis("bottom").labelText if rows else None,
        "proposal_chart_shown": window.grades.chart.isVisible(),
    }


def main(out: Path, video: str, sizes: list[str]) -> int:
    app = QApplication(sys.argv[:1])
    store = Store()
    store.add_subject("LAYOUT-1")
    session = store.new_session("LAYOUT-1", "cmas", examiner="Dr Layout")
    rec = import_recording(store, session["id"], video, "head_elevation", "side")
    other = import_recording(store, session["id"], video, "sit_ups", "front")
    window = MainWindow(store)
    window.show()
    window.tree.select("recording", other["id"])
    empty = {"proposal_chart_shown": window.grades.chart.isVisible()}
    empty["timeline_shown"] = window.timeline.canvas.isVisible()
    window.tree.select("recording", rec["id"])
    window.extract_selected()
    wait_jobs(window)
    window.grade_selected()
    wait_jobs(window)
    window.grades.choose(3)
    window.grades.reason.setText("held 40 s")
    window.grades.confirm.click()
    window.video.seek(FRAME)
    report = {"empty": empty, "sizes": {}}
    for size in sizes:
        width, height = (int(v) for v in size.split("x"))
        window.resize(width, height)
        window.move(0, 0)
        wait(600)
        app.primaryScreen().grabWindow(0, 0, 0, width, height).save(str(out / f"main-{size}.png"))
        report["sizes"][size] = seen(window)
    window.close()
    again = MainWindow(store)
    again.show()
    wait_jobs(again)
    report["restored"] = {
        "place": again.tree.current_key(),
        "frame": again.video.index,
        "expected": ["recording", rec["id"], FRAME],
    }
    again.close()
    print(json.dumps(report), flush=True)
    from app.worker import worker

    worker().stop()
    store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), sys.argv[2], sys.argv[3:]))
