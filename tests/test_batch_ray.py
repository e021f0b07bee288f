"""``aqa batch`` on Ray: a local Ray (timeout, bad video, a worker killed mid-task) and a
two-node cluster made with ``ray.cluster_utils.Cluster`` on loopback, reached by ``--address``
and by ``RAY_ADDRESS``. Ray is the ``scale`` extra (CI installs it)."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import test_batch

from engine.cli import main

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.slow
FAST = ["--modalities", "skeleton,flow", "--profile", "fast"]
clips = test_batch.clips  # fixtures shared with the local-pool tests: short real clips and
long_video = test_batch.long_video  # a video that stands for a hung decoder
results = test_batch.results


def manifest(folder: Path, videos_: list[Path], item: str = "head_elevation") -> Path:
    path = folder / "manifest.jsonl"
    rows = [{"video": str(v), "protocol": "cmas", "item": item} for v in videos_]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def ray_task_pids() -> list[int]:
    """Ray workers busy with a batch task (Ray titles them ``ray::run_task``)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if Path(f"/proc/{pid}/cmdline").read_bytes().startswith(b"ray::run_task"):
                found.append(int(pid))
        except OSError:
            continue
    return found


def test_local_ray_timeout_bad_video_and_a_killed_worker(
    clips, long_video, pose_models, tmp_path, capsys
):
    """The hung decoder (``long_video``) is killed at the 15 s timeout; one of the two
    busy workers is killed mid-task and its task is tried again; the text file fails its row."""
    killed = []

    def kill_once():
        deadline = time.monotonic() + 60
        while not killed and time.monotonic() < deadline:
            busy = ray_task_pids()
            if len(busy) == 2:  # both tasks started: kill one
                killed.append(busy[0])
                os.kill(killed[0], signal.SIGKILL)
            time.sleep(0.05)

    path = manifest(tmp_path, [long_video, clips["demo"], clips["bad"]])
    out = tmp_path / "out"
    killer = threading.Thread(target=kill_once)
    killer.start()
    args = ["batch", "extract", str(path), "--out", str(out), "--runner", "ray", "--workers", "2"]
    code = main([*args, "--timeout", "15", *FAST])
    killer.join()
    err = capsys.readouterr().err
    assert code == 1 and "on a local Ray with 2 worker(s)" in err
    slow, demo, bad = results(out)
    assert slow["status"] == "failed" and slow["reason"].startswith("The video took longer than")
    assert demo["status"] == "ok" and sorted([slow["attempts"], demo["attempts"]]) == [1, 2]
    assert killed and not demo["worker"].endswith(f":{killed[0]}")
    assert bad["status"] == "failed" and "is not a video file" in bad["reason"]
    assert not ray.is_initialized()  # the local Ray was shut down


def test_two_node_cluster_by_address(clips, pose_models, tmp_path, monkeypatch, capsys):
    from ray.cluster_utils import Cluster

    # Ray counts GPUs as a resource: the head declares one (there is none here), and the tasks
    # share it (torch then finds no CUDA and the "auto" device is the CPU).
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "num_gpus": 1})
    try:
        cluster.add_node(num_cpus=1)
        path = manifest(tmp_path, [clips["demo"], clips["vtest"]] * 2, item="sit_ups")
        out, cache = tmp_path / "out", tmp_path / "shared-cache"
        args = ["batch", "extract", str(path), "--out", str(out), "--cache", str(cache), *FAST]
        assert main([*args, "--address", cluster.address]) == 0
        err = capsys.readouterr().err
        assert f"the Ray cluster at {cluster.address} with 2 worker(s), 0.5 GPU each" in err
        assert {r["status"] for r in results(out)} == {"ok"}
        monkeypatch.setenv("RAY_ADDRESS", cluster.address)
        assert main(args) == 0  # RAY_ADDRESS, and every track now comes from the shared cache
        assert f"the Ray cluster at {cluster.address}" in capsys.readouterr().err
        again = results(out)
        assert all(m["cached"] for r in again for m in r["modalities"].values())
        assert main([*args, "--device", "cpu", "--workers", "5"]) == 0  # capped at 2 CPUs
        assert "with 2 worker(s)\n" in capsys.readouterr().err
    finally:
        cluster.shutdown()


def test_ctrl_c_on_ray_stops_cleanly(clips, long_video, pose_models, tmp_path):
    """Ctrl-C at a terminal reaches the whole process group: Ray's own processes ignore it,
    the driver cancels its tasks, writes the rows done and exits 130."""
    path = manifest(tmp_path, [clips["demo"], long_video, clips["vtest"]])
    out = tmp_path / "out"
    args = ["batch", "extract", str(path), "--out", str(out), "--runner", "ray", *FAST]
    proc = subprocess.Popen(
        [sys.executable, "-c", "import sys; from engine.cli import main; sys.exit(main())", *args],
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    for line in proc.stderr:
        if "1/3 done" in line:
            os.killpg(proc.pid, signal.SIGINT)
            break
    err = proc.stderr.read()
    assert proc.wait(timeout=60) == 130, err
    assert "The batch was cancelled after 1 of 3 videos" in err and "Traceback" not in err
    assert len(results(out)) == 1
