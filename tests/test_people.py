"""People: detection and offline tracking of everyone, subject choice, per-person landmarks and
``aqa tracks``, on the sports2d demo, vtest.avi and composites of real people with known truth."""

import csv
import json
import os

import numpy as np
import pytest
import videos

from engine.cache import Cache
from engine.cli import main
from engine.coco import COCO17
from engine.errors import InputError
from engine.kinematics.angles import ANGLE_NAMES
from engine.kinematics.skeleton import SkeletonSeries
from engine.people import export
from engine.people.api import find_people, open_pose, poses
from engine.people.detect import box_iou
from engine.people.metrics import identity_scores
from engine.people.subject import choose_subject, find_swaps, hand_over

JUMPER_AT_START = (650, 250, 0.5)  # the man on the box (upright video pixels, seconds)
WALKER_AT_5S = (530, 720, 5.0)  # the woman walking past, in front of the box


@pytest.fixture(scope="module")
def demo_people(demo_video, pose_model_dir, tmp_path_factory):
    cache = Cache(tmp_path_factory.mktemp("people-cache"))
    return find_people(demo_video, pose=open_pose(pose_model_dir), cache=cache)


def assert_one_box_per_person(people):
    """No two ids on one person: two people's boxes never overlap by half in a frame."""
    for row in range(len(people.times)):
        seen = np.flatnonzero(people.present[row])
        if len(seen) > 1:
            iou = box_iou(people.boxes[row, seen], people.boxes[row, seen])
            np.fill_diagonal(iou, 0)
            assert iou.max() < 0.5, f"two ids on one person at {people.times[row]:.2f} s"


def at(people, x, y, time_s):
    return choose_subject(people, f"{x},{y}@{time_s}").id


def test_demo_jumper_keeps_one_id_and_the_walker_gets_another(demo_people):
    people = demo_people
    assert len(people.ids) == 2
    jumper, walker = at(people, *JUMPER_AT_START), at(people, *WALKER_AT_5S)
    assert jumper != walker
    k = people.column(jumper)
    # The jumper is the same person on the box at the start and after landing on the right.
    assert people.present[people.row_at(0.0), k] and people.present[people.row_at(7.0), k]
    landed = people.boxes[people.row_at(7.0), k]
    assert (landed[0] + landed[2]) / 2 > 1000
    summary = {p["id"]: p for p in people.summary()}
    assert summary[jumper]["first_s"] == 0.0 and summary[jumper]["last_s"] >= 7.0
    assert 1.0 <= summary[walker]["first_s"] and summary[walker]["last_s"] <= 7.0
    assert_one_box_per_person(people)


def test_every_frame_sampled_the_detector_runs_ten_times_a_second(
    demo_video, pose_model_dir, tmp_path
):
    """The full profile's every frame (30 per second): the detector runs on a tenth of a second
    grid, the boxes between are interpolated, and the same two people are found as at 10 fps."""
    people = find_people(
        demo_video,
        pose=open_pose(pose_model_dir),
        sampling={"fps": None, "short_side": 360},
        cache=Cache(tmp_path),
    )
    assert len(people.times) > 200
    detected = (people.scores > 0).any(axis=1).mean()
    assert 0.15 < detected <= 0.34  # on one frame in three at most
    assert len(people.ids) == 2
    jumper, walker = at(people, *JUMPER_AT_START), at(people, *WALKER_AT_5S)
    assert jumper != walker
    k = people.column(jumper)
    assert people.present[people.row_at(0.0), k] and people.present[people.row_at(7.0), k]
    assert_one_box_per_person(people)


def test_subject_auto_by_id_and_by_point(demo_people):
    people = demo_people
    jumper, walker = at(people, *JUMPER_AT_START), at(people, *WALKER_AT_5S)
    auto = choose_subject(people)
    assert (auto.id, auto.chosen_by) == (jumper, "auto")
    assert "among 2 people" in auto.reason and auto.scores[jumper] > auto.scores[walker]
    assert [r["id"] for r in auto.to_dict()["ranking"]] == [jumper, walker]
    assert auto.to_dict()["needs_review"] is False  # clear winner, no swaps
    assert choose_subject(people, str(walker)).to_dict()["chosen_by"] == "user"
    with pytest.raises(InputError, match=r"^Nobody is at 1700,100 at 5\.00 s \(person \d \["):
        choose_subject(people, "1700,100@5")
    with pytest.raises(InputError, match="There is no person 9 in this video"):
        choose_subject(people, "9")
    with pytest.raises(InputError, match="--person takes"):
        choose_subject(people, "left")


def test_swaps_found_and_fixed_by_a_hand_over(demo_people):
    """Exchanging the two people's boxes from 5 s on (a tracker's identity swap) is reported at
    5 s; handing the subject over to the other person at 5 s follows the right person again."""
    people = demo_people
    jumper, walker = at(people, *JUMPER_AT_START), at(people, *WALKER_AT_5S)
    subject = choose_subject(people, str(jumper))
    assert subject.swaps == ()
    row = people.row_at(5.0)
    swapped = people.boxes.copy()
    swapped[row:] = swapped[row:, ::-1]
    keypoints = people.keypoints.copy()
    keypoints[row:] = keypoints[row:, ::-1]
    scores = people.scores.copy()
    scores[row:] = scores[row:, ::-1]
    bad = type(people)(
        people.times, people.frame_index, people.ids, swapped, keypoints, scores,
        people.image_size,
    )  # fmt: skip
    swaps = find_swaps(bad, subject)
    assert choose_subject(bad).needs_review  # chosen automatically, with a swap
    assert len(swaps) >= 1 and all(5.0 <= t <= 6.6 for t in swaps)
    fixed = hand_over(subject, bad, swaps[0], walker)
    assert fixed.swaps == () and fixed.chosen_by == "user"
    ids = fixed.person_per_frame(bad)
    assert set(ids[bad.times < swaps[0]]) == {jumper} and set(ids[bad.times >= swaps[0]]) == {
        walker
    }
    assert fixed.to_dict()["handovers"] == [{"from_s": swaps[0], "id": walker}]


def test_subject_landmarks_stay_on_the_subject(demo_clip, pose_model_dir, tmp_path):
    """On the first 3 s (640x360) the subject's skeleton track has the skeleton backend's format
    and its hips lie in the subject's own box, never in the other person's."""
    pose = open_pose(pose_model_dir)
    people = find_people(demo_clip, pose=pose, cache=Cache(tmp_path))
    assert len(people.ids) == 2
    for person in people.ids:
        subject = choose_subject(people, str(person))
        track = poses(demo_clip, people, subject, pose=pose)["subject"]
        assert track.ok and track["coco17"].shape == (len(people.times), 17, 3)
        assert {"landmarks33", "detected", "box", "frame_index", "person"} <= set(track.arrays)
        SkeletonSeries.from_track(track)
        k = people.column(person)
        hips = track["coco17"][:, 11:13, :2].mean(axis=1)
        for row in np.flatnonzero(track["detected"]):
            for j in range(len(people.ids)):
                if not people.present[row, j]:
                    continue
                x0, y0, x1, y1 = people.boxes[row, j]
                inside = x0 <= hips[row, 0] <= x1 and y0 <= hips[row, 1] <= y1
                if j == k:
                    assert inside, f"person {person}'s hips left their box at row {row}"
                elif not people.present[row, k]:
                    assert not inside


def test_tracks_cli_all_people_csv_trc_json(demo_video, pose_models, tmp_path, capsys):
    out_csv, out_trc = tmp_path / "demo.csv", tmp_path / "demo.trc"
    x, y, t = WALKER_AT_5S
    argv = ["tracks", str(demo_video), "--person", f"{x},{y}@{t}", "--all", "--json"]
    assert main([*argv, "--csv", str(out_csv), "--trc", str(out_trc)]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert [p["id"] for p in shown["people"]] == [1, 2]
    assert set(shown["people"][0]) == {"id", "first_s", "last_s", "coverage", "box"}
    subject = shown["subject"]
    assert subject["chosen_by"] == "user" and subject["ambiguous"] is False
    assert set(subject) >= {"id", "chosen_by", "ambiguous", "reason", "swaps"}
    with out_csv.open() as fh:
        rows = list(csv.reader(fh))
    header = rows[0]
    assert header[:6] == ["time_s", "frame", "person", "nose_x", "nose_y", "nose_score"]
    assert header == export.csv_columns() and len(header) == 3 + 3 * 17 + len(ANGLE_NAMES)
    assert {int(r[2]) for r in rows[1:]} == {1, 2}
    times = [float(r[0]) for r in rows[1:]]
    assert times == sorted(times)
    knees = [r[header.index("left_knee_deg")] for r in rows[1:]]
    assert sum(1 for v in knees if v) > len(knees) / 2
    assert all(0 <= float(v) <= 180 for v in knees if v)
    lines = out_trc.read_text().splitlines()
    assert lines[0].startswith("PathFileType\t4\t(X/Y/Z)")
    assert lines[2].split("\t")[3:5] == [str(len(COCO17)), "px"]
    first = lines[6].split("\t")
    assert len(first) == 2 + 3 * 17 and first[4] == "0.000"


def test_tracks_cli_bad_person(demo_clip, pose_models, tmp_path, capsys):
    out_csv = tmp_path / "t.csv"
    assert main(["tracks", str(demo_clip), "--person", "5,5@1", "--csv", str(out_csv)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("aqa: Nobody is at 5,5 at 1.00 s (person 1 [") and "\n" not in err
    assert main(["tracks", str(demo_clip), "--person", "7", "--csv", str(out_csv)]) == 2
    assert "There is no person 7" in capsys.readouterr().err
    assert main(["tracks", str(demo_clip), "--person", "x", "--csv", str(out_csv)]) == 2
    assert main(["tracks", str(demo_clip), "--from", "2:9", "--csv", str(out_csv)]) == 2
    assert "There is no person 9" in capsys.readouterr().err
    assert main(["tracks", str(demo_clip), "--from", "soon", "--csv", str(out_csv)]) == 2
    assert "--from takes SECONDS:ID" in capsys.readouterr().err
    assert not out_csv.exists()


def test_tracks_cli_hand_over(demo_clip, pose_models, tmp_path, capsys):
    """``--from 2:2``: the subject is person 1 until 2 s, then person 2 (a fixed swap)."""
    out_csv = tmp_path / "h.csv"
    argv = ["tracks", str(demo_clip), "--person", "1", "--from", "2:2", "--json"]
    assert main([*argv, "--csv", str(out_csv)]) == 0
    subject = json.loads(capsys.readouterr().out)["subject"]
    assert subject["handovers"] == [{"from_s": 2.0, "id": 2}] and subject["chosen_by"] == "user"
    with out_csv.open() as fh:
        rows = list(csv.DictReader(fh))
    assert {r["person"] for r in rows if float(r["time_s"]) < 2.0} == {"1"}
    assert {r["person"] for r in rows if float(r["time_s"]) >= 2.0} == {"2"}


def test_tracks_cli_nobody(clip_dir, pose_models, tmp_path, capsys):
    video = videos.nobody(clip_dir / "nobody-people.mp4")
    out_csv = tmp_path / "n.csv"
    assert main(["tracks", str(video), "--json", "--csv", str(out_csv)]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["people"] == [] and shown["subject"]["id"] is None
    assert shown["skeleton"] == "missing (no person found)"
    assert out_csv.read_text().splitlines() == [",".join(export.csv_columns())]


def test_vtest_pedestrians(vtest_video, pose_model_dir, tmp_path):
    """30 s of vtest.avi: several pedestrians, two ids never on one person, no id jumping."""
    frames = videos.read_frames(vtest_video, 30.0, 576)
    clip = videos.write_video(tmp_path / "vtest-30s.mp4", frames, fps=10)
    people = find_people(clip, pose=open_pose(pose_model_dir), cache=Cache(tmp_path))
    assert len(people.ids) >= 3
    centres = (people.boxes[..., :2] + people.boxes[..., 2:]) / 2
    radii = (people.boxes[..., 2] - people.boxes[..., 0]) / 2
    assert_one_box_per_person(people)
    for k in range(len(people.ids)):
        rows = np.flatnonzero(people.present[:, k])
        gaps = np.maximum(np.diff(people.times[rows]) * 10, 1)
        steps = np.linalg.norm(np.diff(centres[rows, k], axis=0), axis=1) / radii[rows[1:], k]
        assert np.all(steps / gaps < 1.5), f"person {people.ids[k]} jumps"


@pytest.mark.parametrize("seconds", [3.0, 6.0])
def test_composite_crossing_keeps_identities(demo_video, pose_model_dir, clip_dir, seconds):
    video = clip_dir / f"crossing-{seconds:g}.mp4"
    truth = videos.crossing(demo_video, video, seconds=seconds)
    people = find_people(video, pose=open_pose(pose_model_dir), use_cache=False)
    scores = identity_scores(truth, people)
    assert len(people.ids) == 2
    assert scores["switches"] == 0 and scores["idf1"] >= 0.85


def test_failed_write_keeps_the_previous_file(tmp_path, monkeypatch):
    target = tmp_path / "t.csv"
    target.write_text("previous\n")

    def full_disk(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", full_disk)
    with pytest.raises(InputError, match="the previous file is kept"):
        export.write_atomic(target, "new\n")
    assert target.read_text() == "previous\n"
    assert [p.name for p in tmp_path.iterdir()] == ["t.csv"]


def test_detection_in_a_tile_lands_where_the_whole_frame_puts_it(demo_video, pose_model_dir):
    """The walker at 4 s, found by the detector in the whole letterboxed frame and in each
    square tile holding her: the same hip centre in frame pixels (a few pixels apart)."""
    from engine.people.detect import tiles

    pose = open_pose(pose_model_dir)
    frame = list(videos.read_frames(demo_video, 4.05, 360))[-1]  # the frame at 4 s
    whole = pose.detect(frame)
    assert whole, "the walker is found in the whole frame"
    hip = whole[0].keypoints[0]
    h, w = frame.shape[:2]
    holding = [r for r in tiles(w, h) if abs(hip[0] - r.cx) < r.size / 2 - 40]
    assert holding
    for region in holding:
        found = pose.detect(frame, region)
        nearest = min(np.linalg.norm(d.keypoints[0] - hip) for d in found)
        assert nearest < 0.03 * w


def test_tracks_cli_one_frame(demo_video, clip_dir, pose_models, tmp_path, capsys):
    """A video of one frame (the demo at 4 s, the walker in front): one person, a skeleton, one
    CSV row."""
    frame = list(videos.read_frames(demo_video, 4.05, 360))[-1]
    video = videos.write_video(clip_dir / "one-frame-people.mp4", [frame])
    out_csv = tmp_path / "one.csv"
    assert main(["tracks", str(video), "--json", "--csv", str(out_csv)]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert [p["id"] for p in shown["people"]] == [1] and shown["skeleton"] == "ok"
    assert shown["subject"]["reason"] == "the only person in the video"
    assert len(out_csv.read_text().splitlines()) == 2


def test_matching_is_scipys_assignment():
    """``engine.people.matching`` (numpy only, so that extraction never imports SciPy) picks
    pairs as cheap as linear_sum_assignment's, with refused (1e6) pairs, negative costs and
    wide, tall and larger matrices; the real pairs it keeps are the same. Its groups are
    connected_components' up to the labels."""
    from scipy.optimize import linear_sum_assignment
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    from engine.people.matching import assignment, groups

    rng = np.random.default_rng(0)
    for trial in range(2000):
        n, m = rng.integers(1, 8 if trial % 10 else 40, 2)
        cost = rng.normal(0, 5, (n, m))
        cost[rng.random((n, m)) < 0.3] = 1e6
        if trial % 7 == 0:
            cost = np.round(cost)  # ties between real pairs
        rows, cols = assignment(cost)
        ref_rows, ref_cols = linear_sum_assignment(cost)
        assert len(rows) == min(n, m) == len(set(cols.tolist())) == len(set(rows.tolist()))
        assert list(rows) == sorted(rows)
        assert cost[rows, cols].sum() == pytest.approx(cost[ref_rows, ref_cols].sum())
        if trial % 7:
            real = {(r, c) for r, c in zip(rows, cols, strict=True) if cost[r, c] < 1e6}
            ref = {(r, c) for r, c in zip(ref_rows, ref_cols, strict=True) if cost[r, c] < 1e6}
            assert real == ref
    assert assignment(np.zeros((0, 3)))[0].size == 0
    for _ in range(200):
        n = int(rng.integers(1, 30))
        pairs = [tuple(int(i) for i in rng.integers(0, n, 2)) for _ in range(rng.integers(0, n))]
        labels = groups(n, pairs)
        graph = coo_matrix((np.ones(len(pairs)), tuple(zip(*pairs)) or ([], [])), shape=(n, n))
        ref = connected_components(graph, directed=False)[1]
        assert len(set(zip(labels.tolist(), ref.tolist()))) == len(set(ref.tolist()))
        assert len(set(labels.tolist())) == len(set(ref.tolist()))
