"""Recordings are what they claim: a replaced video is refused, a moved one is relinked only by
its hash, a damaged one gets a proposal flagged for review. Real videos, the real database."""

import os
import shutil

import videos

from engine.cli import main
from engine.grading.service import grade_recording
from engine.recordings import checked_path, import_recording
from engine.store import Store

ITEM = "head_elevation"


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def new_recording(video) -> int:
    with Store() as store:
        store.add_subject("REC-1")
        session = store.new_session("REC-1", "cmas", on="2026-03-02")
        return import_recording(store, session["id"], video, ITEM)["id"]


def test_a_same_size_change_with_the_mtime_restored_is_refused(vtest_video, tmp_path, capsys):
    video = shutil.copy(vtest_video, tmp_path / "take.avi")
    rec = new_recording(video)
    assert run(capsys, "report", 1, "--csv", tmp_path / "r.csv")[0] == 0
    stat = os.stat(video)
    data = bytearray(open(video, "rb").read())
    data[len(data) // 2 : len(data) // 2 + 64] = bytes(64)  # same size, other frames
    open(video, "wb").write(bytes(data))
    os.utime(video, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    code, out, err = run(capsys, "report", 1, "--pdf", tmp_path / "r.pdf")
    assert code == 2 and not (tmp_path / "r.pdf").exists()
    assert err.strip() == (
        f"aqa: The video of recording {rec} ({video}) has changed since it was added "
        "(its SHA-256 differs); add the new video as a new recording."
    )
    code, _, err = run(capsys, "grade", rec)
    assert code == 2 and "has changed since it was added" in err


def test_a_moved_video_is_relinked_only_by_its_hash(vtest_video, demo_clip, tmp_path, capsys):
    video = shutil.copy(vtest_video, tmp_path / "take.avi")
    rec = new_recording(video)
    moved = tmp_path / "archive" / "take.avi"
    moved.parent.mkdir()
    os.rename(video, moved)
    code, _, err = run(capsys, "grade", rec)
    assert code == 2 and f"`aqa recording relink {rec} NEWPATH`" in err
    code, _, err = run(capsys, "recording", "relink", rec, demo_clip)
    assert code == 2 and "is not the video of recording" in err
    code, out, _ = run(capsys, "recording", "relink", rec, moved)
    assert code == 0 and str(moved) in out
    with Store() as store:
        assert checked_path(store, rec) == moved
        shutil.copy2(moved, tmp_path / "copy.avi")  # same bytes, new inode: accepted again
        os.replace(tmp_path / "copy.avi", moved)
        assert checked_path(store, rec) == moved
        actions = [a["action"] for a in store.audit_log() if a["table_name"] == "recordings"]
        assert actions[:2] == ["reidentify", "relink"]
        assert store.verify() == []


def test_a_damaged_video_gets_a_proposal_flagged_with_the_count(demo_clip, tmp_path):
    damaged = videos.corrupt_middle(demo_clip, tmp_path / "damaged.mp4", packets=[40, 41, 42])
    rec = new_recording(damaged)
    with Store() as store:
        first = grade_recording(store, rec)
        again = grade_recording(store, rec)  # tracks from the cache: the count is kept
        status = store.recording_status(rec)
    for proposal in (first, again):
        damage = proposal["details"]["damaged"]
        assert damage["bad_packets"] + damage["corrupt_frames"] >= 1
        assert proposal["uncertain"] == 1
    assert status["needs_review"]
