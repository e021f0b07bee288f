"""``aqa batch`` on the local process pool (what runs without Ray): real clips of the sports2d
demo and vtest.avi, a file that is not a video, the real database with ``--store``."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import videos

from engine.batch import driver
from engine.batch.local import LocalPool
from engine.cli import main
from engine.errors import MissingDependencyError
from engine.recordings import import_recording
from engine.store import Store

FAST = ["--modalities", "skeleton,flow,audio", "--profile", "fast"]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def clips(demo_video, vtest_video, tmp_path_factory) -> dict[str, Path]:
    """Short clips (1 s at 240p) of both real videos and a text file named .mp4."""
    folder = tmp_path_factory.mktemp("batch-clips")
    bad = folder / "bad.mp4"
    bad.write_text("not a video")
    return {
        "demo": videos.clip(demo_video, folder / "demo-1s.mp4", seconds=1.0, short_side=240),
        "vtest": videos.clip(vtest_video, folder / "vtest-1s.mp4", 1.0, 240, audio=None),
        "demo2": videos.clip(demo_video, folder / "demo-2s.mp4", seconds=2.0, short_side=240),
        "bad": bad,
    }


@pytest.fixture(scope="module")
def long_video(vtest_video, tmp_path_factory) -> Path:
    """vtest.avi's packets eight times over (10.6 min, no re-encoding): it stands for a hung
    decoder, since no timeout of these tests lets its extraction finish."""
    import av

    path = tmp_path_factory.mktemp("long") / "vtest-x8.avi"
    with av.open(str(vtest_video)) as src, av.open(str(path), "w") as out:
        stream = out.add_stream_from_template(src.streams.video[0])
        offset = 0
        for _ in range(8):
            src.seek(0)
            end = 0
            for packet in src.demux(src.streams.video[0]):
                if packet.dts is None:
                    continue
                end = max(end, packet.pts + (packet.duration or 1))
                packet.pts, packet.dts = packet.pts + offset, packet.dts + offset
                packet.stream = stream
                out.mux(packet)
            offset += end
    return path


def manifest(folder: Path, rows: list[tuple], header: str = "video,protocol,item") -> Path:
    path = folder / "manifest.csv"
    path.write_text(header + "\n" + "".join(",".join(map(str, r)) + "\n" for r in rows))
    return path


def results(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]


def test_bad_manifest_is_refused_before_any_work(tmp_path, capsys):
    path = manifest(tmp_path, [("a.mp4", "cmas")], header="video,protocol")
    assert main(["batch", "extract", str(path), "--out", str(tmp_path / "o")]) == 2
    assert "lacks the column(s) item" in capsys.readouterr().err
    path = manifest(tmp_path, [("a.mp4", "cmas", "no_such_item")])
    assert main(["batch", "extract", str(path), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "Line 2 of the manifest" in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()


def test_extract_without_ray_runs_on_a_local_pool_and_resumes(
    clips, pose_models, tmp_path, monkeypatch, capsys
):
    monkeypatch.setitem(sys.modules, "ray", None)  # Ray is installed here: act as if it were not
    rows = [(clips[k], "cmas", "head_elevation") for k in ("demo", "bad", "vtest")]
    path, out, cache = manifest(tmp_path, rows), tmp_path / "out", tmp_path / "cache"
    args = ["batch", "extract", str(path), "--out", str(out), "--cache", str(cache), *FAST]
    assert main(args) == 1  # one row failed; the batch finished
    err = capsys.readouterr().err
    assert "Ray is not installed" in err and "local process pool of 2 worker(s)" in err
    assert "3/3 done (1 failed), 0 remaining" in err and "videos/s, ETA" in err
    first = results(out)
    assert [r["line"] for r in first] == [2, 3, 4]
    assert [r["status"] for r in first] == ["ok", "failed", "ok"]
    assert first[1]["reason"] == f"{clips['bad']} is not a video file that can be read (it may be truncated or not a video)."  # fmt: skip
    demo = first[0]["modalities"]
    assert {m: demo[m]["status"] for m in demo} == {"skeleton": "ok", "flow": "ok", "audio": "ok"}
    assert not any(m["cached"] for m in demo.values()) and demo["skeleton"]["seconds"] > 0
    assert first[2]["modalities"]["audio"]["reason"] == "no audio track"
    assert any(cache.glob("*/*.npz"))  # the tracks went to --cache

    started = time.monotonic()
    assert main(args) == 1
    again = results(out)
    assert time.monotonic() - started < 30
    for row in (again[0], again[2]):
        done = [m for m in row["modalities"].values() if m["status"] == "ok"]
        assert done and all(m["cached"] for m in done)


def test_ray_required_without_ray(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(MissingDependencyError, match="Ray is not installed"):
        driver.make_runner("auto", address="127.0.0.1:6379")
    with pytest.raises(MissingDependencyError):
        driver.make_runner("ray")


def test_grade_into_the_database(clips, pose_models, tmp_path, capsys):
    rows = [
        (clips["demo"], "cmas", "head_elevation", "S07", "2026-03-02", "front"),
        (clips["demo2"], "cmas", "sit_ups", "S07", "2026-03-02", ""),
    ]
    header = "video,protocol,item,subject,session,view"
    path, out = manifest(tmp_path, rows, header), tmp_path / "out"
    code = main(["batch", "grade", str(path), "--out", str(out), "--runner", "local", "--store"])
    assert code == 0, capsys.readouterr().err
    lines = results(out)
    assert all(r["status"] == "ok" for r in lines)
    assert lines[0]["proposal"]["model_id"].endswith("/cmas/head_elevation/v1")
    assert abs(sum(lines[0]["proposal"]["grade_probs"]) - 1) < 1e-4
    with Store() as store:
        (session,) = store.sessions("S07")
        assert session["date"] == "2026-03-02"
        # stored as each video finishes: the two workers may end in either order
        recordings = store.recordings(session["id"])
        assert sorted(r["item"] for r in recordings) == ["head_elevation", "sit_ups"]
        views = {r["item"]: r["view"] for r in recordings}
        assert views["head_elevation"] == "front"
        items = {r["id"]: r["item"] for r in recordings}
        assert sorted(items) == sorted(line["recording_id"] for line in lines)
        for line in lines:
            assert items[line["recording_id"]] == line["item"]
            stored = store.latest_assessment(line["recording_id"])
            assert stored["grade"] == line["proposal"]["grade"]


def test_a_task_past_its_timeout_fails_its_row(clips, long_video, pose_models, tmp_path):
    """The hung decoder's worker is killed at the timeout and a fresh worker does the next row."""
    rows = [(long_video, "cmas", "head_elevation"), (clips["demo"], "cmas", "head_elevation")]
    out = tmp_path / "out"
    batch = driver.prepare("extract", manifest(tmp_path, rows))
    started = time.monotonic()
    lines = driver.run(batch, LocalPool(1, timeout=8), out)
    assert time.monotonic() - started < 60
    assert lines[0]["line"] == 2 and lines[0]["status"] == "failed"
    assert lines[0]["reason"].startswith("The video took longer than 8 s")
    assert lines[1]["status"] == "ok"


def test_a_worker_killed_mid_task_is_retried_once(clips, pose_models, tmp_path):
    pool = LocalPool(1)
    killed = []

    def kill_once():
        while not pool.pids:
            time.sleep(0.02)
        killed.append(pool.pids[0])
        os.kill(killed[0], signal.SIGKILL)

    killer = threading.Thread(target=kill_once)
    killer.start()
    batch = driver.prepare("extract", manifest(tmp_path, [(clips["demo"], "cmas", "sit_ups")]))
    (line,) = driver.run(batch, pool, tmp_path / "out")
    killer.join()
    assert line["status"] == "ok" and line["attempts"] == 2
    assert not line["worker"].endswith(f":{killed[0]}")


def test_ctrl_c_stops_cleanly_and_a_rerun_resumes(clips, pose_models, tmp_path):
    rows = [(clips[k], "cmas", "head_elevation") for k in ("demo", "vtest", "demo2")]
    path, out = manifest(tmp_path, rows), tmp_path / "out"
    args = ["batch", "extract", str(path), "--out", str(out), "--runner", "local", "--workers", "1"]
    proc = subprocess.Popen(
        [sys.executable, "-c", "import sys; from engine.cli import main; sys.exit(main())", *args],
        stderr=subprocess.PIPE,
        text=True,
    )
    for line in proc.stderr:
        if "1/3 done" in line:
            proc.send_signal(signal.SIGINT)
            break
    err = proc.stderr.read()
    assert proc.wait(timeout=60) == 130
    assert "The batch was cancelled after 1 of 3 videos" in err and "Traceback" not in err
    (done,) = results(out)
    assert done["status"] == "ok"
    assert main(args) == 0
    again = results(out)
    assert len(again) == 3
    assert all(m["cached"] for m in again[0]["modalities"].values() if m["status"] == "ok")


def test_extract_into_an_existing_session(clips, pose_models, tmp_path, capsys):
    with Store() as store:
        store.add_subject("S08")
        session = store.new_session("S08", "cmas", notes="weak neck flexors")
    rows = [
        (clips["demo"], "cmas", "head_elevation", session["id"]),
        (clips["bad"], "cmas", "sit_ups", 999),
    ]
    path, out = manifest(tmp_path, rows, "video,protocol,item,session"), tmp_path / "out"
    args = ["batch", "extract", str(path), "--out", str(out), "--runner", "local", "--store"]
    assert main([*args, *FAST]) == 1
    ok, missing = results(out)
    assert missing["status"] == "failed" and missing["reason"] == "There is no session 999."
    assert missing["attempts"] == 0  # refused before any work
    with Store() as store:
        (recording,) = store.recordings(session["id"])
        assert ok["recording_id"] == recording["id"] and recording["sha256"] == ok["sha256"]
        stored = store.db.execute(
            "select modality, status from extractions where recording_id = ?", [recording["id"]]
        ).fetchall()
    assert sorted(stored) == [("audio", "ok"), ("flow", "ok"), ("skeleton", "ok")]


def test_a_grading_batch_follows_the_stored_subject_without_storing(
    demo_clip, pose_models, tmp_path
):
    """Without --store, a row without a person follows the subject chosen in the window for the
    stored recording of its video (named by the session's date or its id); it followed the
    automatic subject, person 1, and its result did not say whom it followed. A row of a
    session the database lacks follows the automatic subject; nothing is stored."""
    with Store() as store:
        store.add_subject("S12")
        session = store.new_session("S12", "cmas", on="2026-03-06")
        rec = import_recording(store, session["id"], demo_clip, "head_elevation")
        store.choose_subject(rec["id"], 2, (), "2")
    rows = [(demo_clip, "cmas", "head_elevation", "S12", "2026-03-06", ""),
            (demo_clip, "cmas", "head_elevation", "", session["id"], ""),
            (demo_clip, "cmas", "head_elevation", "S12", "2026-03-07", "")]  # fmt: skip
    path = manifest(tmp_path, rows, "video,protocol,item,subject,session,person")
    args = ["batch", "grade", str(path), "--runner", "local", "--out", str(tmp_path / "out")]
    assert main(args) == 0
    lines = results(tmp_path / "out")
    assert [line["subject"]["id"] for line in lines] == [2, 2, 1]
    assert [line["subject"]["chosen_by"] for line in lines] == ["user", "user", "auto"]
    assert lines[2]["subject"]["people"] == 2
    with Store() as store:
        assert store.latest_assessment(rec["id"]) is None
        assert len(store.recordings(session["id"])) == 1 and len(store.sessions()) == 1


def test_a_manifests_person_becomes_the_recordings_subject(demo_clip, pose_models, tmp_path):
    """A row naming person 2 (the walker) stores that choice with the proposal made for them:
    the window's review and a later grading follow person 2 (they followed person 1, the
    automatic subject, beside a proposal made for person 2, with nothing flagged). A later row
    without a person follows the choice stored for its video (it followed person 1 and was
    stored stale); a choice changed while a batch runs leaves its proposal flagged stale, and
    its result line says so."""
    from engine.review import review_recording

    header = "video,protocol,item,subject,session,person"
    chosen = manifest(tmp_path, [(demo_clip, "cmas", "head_elevation", "S09", "2026-03-04", 2)],
                      header)  # fmt: skip
    args = ["batch", "grade", str(chosen), "--runner", "local", "--store"]
    assert main([*args, "--out", str(tmp_path / "out")]) == 0
    (line,) = results(tmp_path / "out")
    assert line["status"] == "ok" and line["reason"] == ""
    with Store() as store:
        rec = line["recording_id"]
        assert store.subject_choice(rec)["person"] == 2
        proposal = store.latest_assessment(rec)
        assert proposal["details"]["subject"]["id"] == 2 and proposal["stale"] is None
        review = review_recording(store, rec, "cpu")
        assert review.subject["id"] == 2 and review.subject["chosen_by"] == "user"
        graded = review.extraction.modalities["skeleton"].cache_key
        assert graded == proposal["details"]["cache_keys"]["skeleton"]
    unnamed = manifest(tmp_path, [(demo_clip, "cmas", "head_elevation", "S09", "2026-03-04", "")],
                       header)  # fmt: skip
    args = ["batch", "grade", str(unnamed), "--runner", "local", "--store"]
    assert main([*args, "--out", str(tmp_path / "out2")]) == 0
    (line,) = results(tmp_path / "out2")
    assert line["status"] == "ok" and line["recording_id"] == rec and line["reason"] == ""
    with Store() as store:
        proposal = store.latest_assessment(rec)
        assert proposal["details"]["subject"]["id"] == 2 and proposal["stale"] is None
    # the window's user makes person 1 the subject while the batch runs
    batch = driver.prepare("grade", unnamed, device="cpu", store=True)
    with Store() as store:
        store.choose_subject(rec, 1, (), "1")
    driver.run(batch, LocalPool(1), tmp_path / "out3", store=True)
    (line,) = results(tmp_path / "out3")
    assert line["status"] == "ok"
    assert line["reason"].startswith(f"Stored as a stale proposal of recording {rec}. Made for")
    with Store() as store:
        assert store.subject_choice(rec)["person"] == 1
        assert store.latest_assessment(rec)["stale"] and store.recording_status(rec)["needs_review"]
    # batch extract stores the row's person as well
    extracted = manifest(tmp_path, [(demo_clip, "cmas", "sit_ups", "S10", "2026-03-05", 2)],
                         header)  # fmt: skip
    args = ["batch", "extract", str(extracted), "--runner", "local", "--store", *FAST]
    assert main([*args, "--out", str(tmp_path / "out4")]) == 0
    (line,) = results(tmp_path / "out4")
    with Store() as store:
        assert store.subject_choice(line["recording_id"])["person"] == 2
