"""The worker process never outlives the GUI's, even when the GUI dies without stopping it."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

GUI = """
from app.worker import warm_up, worker
worker().submit(warm_up).result()
print("ready", flush=True)
import time
time.sleep(300)
"""


def children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_worker_ends_when_the_gui_is_killed():
    gui = subprocess.Popen([sys.executable, "-c", GUI], stdout=subprocess.PIPE, text=True)
    try:
        assert gui.stdout.readline().strip() == "ready"
        workers = children(gui.pid)
        assert workers, "no worker process was started"
        os.kill(gui.pid, signal.SIGKILL)
        gui.wait(10)
        deadline = time.monotonic() + 15
        while any(alive(p) for p in workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        left = [p for p in workers if alive(p)]
        for pid in left:
            os.kill(pid, signal.SIGKILL)
        assert not left, f"worker processes {left} outlived the GUI"
    finally:
        if gui.poll() is None:
            gui.kill()
