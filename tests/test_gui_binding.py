"""The Qt binding keeps Python's reference counts straight: PySide6 6.12.0 on Python 3.11 dropped
one reference to None each time a Python override of a void virtual (paintEvent, ...) returned, and
the window died with "Fatal Python error: none_dealloc" after a few thousand repaints (issue 16)."""

import json
import os
import subprocess
import sys

REPAINTS = 10_000

# Runs in its own process: on a broken binding the lost references abort the interpreter, which
# must fail this test, not kill the test run.
CHILD = f"""
import json, sys
from PySide6.QtWidgets import QApplication, QWidget

class Canvas(QWidget):
    def paintEvent(self, event):
        self.painted += 1

app = QApplication([])
canvas = Canvas()
canvas.painted = 0
canvas.resize(40, 40)
canvas.show()
app.processEvents()
drifts = []
for _ in range({REPAINTS} // 500):
    start = sys.getrefcount(None)
    for _ in range(500):
        canvas.repaint()
    drifts.append(sys.getrefcount(None) - start)
    if abs(drifts[-1]) > 50:
        break  # leaking: stop before None is freed
print(json.dumps({{"painted": canvas.painted, "drifts": drifts}}), flush=True)
"""


def test_paint_event_overrides_keep_none_alive():
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    done = subprocess.run(
        [sys.executable, "-c", CHILD], capture_output=True, text=True, env=env, timeout=120
    )
    lines = done.stdout.strip().splitlines()
    assert lines, f"the repaint loop died: {done.stderr[-500:]}"
    result = json.loads(lines[-1])
    assert max(abs(d) for d in result["drifts"]) <= 5, (
        f"Python paintEvent overrides leak references to None (drift per 500 repaints: "
        f"{result['drifts']}): this PySide6 build is excluded in pyproject.toml"
    )
    assert result["painted"] >= REPAINTS, f"stopped after {result['painted']} paints: {result}"
    assert done.returncode == 0, done.stderr[-500:]


def test_frozen_build_refuses_an_excluded_binding():
    """packaging/build.py bundles the PySide6 of its environment: it checks the same pin."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "packaging" / "build.py"
    spec = importlib.util.spec_from_file_location("aqa_build", path)
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    assert build.check_binding() is None
