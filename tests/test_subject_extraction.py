"""The extraction follows the subject (``engine.people``): the skeleton stays on the chosen person
for the whole sports2d demo, ``--person`` / ``--from`` on extract, grade, measure and render, the
``people`` and ``subject`` fields of ``aqa extract --json`` and the proposal's subject details."""

import json

import numpy as np
import pytest
import torch
import videos

import models
from engine.cli import main
from engine.errors import InputError
from engine.extract.config import ExtractionConfig
from engine.extract.pipeline import extract
from engine.features import default_dims
from engine.people.api import find_people, open_pose
from engine.recordings import import_recording
from engine.store import Store
from models.checkpoint import read_card, save

WALKER_AT_5S = "530,720@5"  # the woman walking past, in front of the box (upright pixels @ s)
PEOPLE_KEYS = {"id", "first_s", "last_s", "coverage", "box"}
SUBJECT_KEYS = {"id", "chosen_by", "ambiguous", "reason", "swaps"}


def extract_json(capsys, video, *options: str) -> dict:
    argv = ["extract", str(video), "--profile", "fast", "--modalities", "skeleton", "--json"]
    assert main([*argv, *options]) == 0
    return json.loads(capsys.readouterr().out)


def skeleton_and_people(video, person: str | None = None):
    """The (cached) subject skeleton of the fast profile and the people it was chosen among."""
    config = ExtractionConfig.parse("skeleton", "fast").following(person)
    track = extract(video, config).track("skeleton")
    people = find_people(video, pose=open_pose(), sampling={"fps": 10.0, "short_side": 360})
    return track, people


def hips_in_boxes(track, people) -> np.ndarray:
    """[frames, people] whether the skeleton's hip centre lies in each person's box."""
    hips = track["coco17"][:, 11:13, :2].mean(axis=1)[:, None]
    boxes = people.boxes
    return (
        (boxes[..., 0] <= hips[..., 0])
        & (hips[..., 0] <= boxes[..., 2])
        & (boxes[..., 1] <= hips[..., 1])
        & (hips[..., 1] <= boxes[..., 3])
    )


def assert_follows(track, people, person: int) -> None:
    """Wherever the skeleton is detected: inside ``person``'s box when they are seen, never inside
    another person's box only."""
    inside = hips_in_boxes(track, people)
    k = people.column(person)
    for row in np.flatnonzero(track["detected"]):
        when = f"{people.times[row]:.1f} s"
        if people.present[row, k]:
            assert inside[row, k], f"the skeleton left person {person}'s box at {when}"
        else:
            assert not inside[row].any(), f"the skeleton is on someone else at {when}"


def test_extraction_follows_the_jumper_for_the_whole_demo(
    demo_video, pose_models, aqa_home, capsys
):
    shown = extract_json(capsys, demo_video)
    assert [p["id"] for p in shown["people"]] == [1, 2]
    assert all(set(p) == PEOPLE_KEYS for p in shown["people"])
    subject = shown["subject"]
    assert SUBJECT_KEYS <= set(subject) and subject["id"] == 1 and subject["chosen_by"] == "auto"
    skeleton = shown["modalities"]["skeleton"]
    assert skeleton["status"] == "ok" and skeleton["detection_rate"] > 0.8
    track, people = skeleton_and_people(demo_video)
    assert track["coco17"].shape == (77, 17, 3) and track.meta["subject"]["id"] == 1
    assert_follows(track, people, 1)
    # Around 6 s the walker passes in front of the box: the skeleton is far from her.
    walker = people.column(2)
    late = (people.times > 5.5) & (people.times < 6.5) & people.present[:, walker]
    detected = late & track["detected"]
    assert detected.any() and not hips_in_boxes(track, people)[detected, walker].any()

    assert main(["extract", str(demo_video), "--profile", "fast", "--modalities", "skeleton"]) == 0
    out = capsys.readouterr().out
    assert "  subject: person 1 chosen automatically among 2 people (rule: " in out


def test_a_point_on_the_walker_gives_her_skeleton(demo_video, pose_models, aqa_home, capsys):
    shown = extract_json(capsys, demo_video, "--person", WALKER_AT_5S)
    assert shown["subject"]["id"] == 2 and shown["subject"]["chosen_by"] == "user"
    assert shown["extraction"]["subject"] == WALKER_AT_5S
    track, people = skeleton_and_people(demo_video, WALKER_AT_5S)
    assert track.meta["subject"]["id"] == 2 and track["detected"].mean() > 0.5
    assert_follows(track, people, 2)
    # Each choice has its own cache entry: the automatic one is still the jumper.
    auto = extract(demo_video, ExtractionConfig.parse("skeleton", "fast"))
    assert auto.subject_details()["id"] == 1
    assert auto.modalities["skeleton"].cache_key != extract_key(demo_video, WALKER_AT_5S)


def extract_key(video, person: str) -> str:
    config = ExtractionConfig.parse("skeleton", "fast").following(person)
    return extract(video, config).modalities["skeleton"].cache_key


def test_rgb_crops_follow_the_chosen_subject(demo_clip, pose_models, aqa_home):
    config = ExtractionConfig.parse("skeleton,rgb", "fast").following("2")
    result = extract(demo_clip, config)
    assert result.modalities["rgb"].status == "ok"
    rgb, skeleton = result.track("rgb"), result.track("skeleton")
    assert rgb.params["person_boxes"] == result.modalities["skeleton"].cache_key
    people = find_people(demo_clip, pose=open_pose(), sampling={"fps": 10.0, "short_side": 360})
    k = people.column(2)
    centres = (rgb["crop_box"][:, :2] + rgb["crop_box"][:, 2:]) / 2
    checked = 0
    for row, (time_s, has_box) in enumerate(zip(rgb.times, rgb["person"], strict=True)):
        p = people.row_at(time_s)
        if has_box and people.present[p, k]:
            x0, y0, x1, y1 = people.boxes[p, k]
            assert x0 <= centres[row, 0] <= x1 and y0 <= centres[row, 1] <= y1
            checked += 1
    assert checked >= 3
    # Cached: a second run reads both tracks, and the crops are those of the same subject.
    again = extract(demo_clip, config)
    assert again.modalities["rgb"].cached and again.modalities["skeleton"].cached
    np.testing.assert_array_equal(again.track("rgb")["crop_box"], rgb["crop_box"])
    assert skeleton.meta["subject"]["id"] == 2


def test_bad_person_values_are_one_sentence(demo_clip, pose_models, aqa_home, tmp_path, capsys):
    clip = str(demo_clip)
    assert main(["extract", clip, "--profile", "fast", "--person", "5,5@1"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("aqa: Nobody is at 5,5 at 1.00 s (person 1 [") and "\n" not in err
    assert main(["extract", clip, "--profile", "fast", "--person", "9"]) == 2
    assert "There is no person 9 in this video (people: 1, 2)." in capsys.readouterr().err
    for command in (
        ["extract", clip, "--person", "left"],
        ["grade", "1", "--person", "1,2,3"],
        ["measure", clip, "--item", "head_elevation", "--person", "someone"],
        ["render", clip, "-o", str(tmp_path / "x.mp4"), "--from", "soon"],
    ):
        assert main(command) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("aqa: --") and "\n" not in err
    with pytest.raises(InputError):
        ExtractionConfig(subject="5,")


def test_a_video_with_nobody(clip_dir, pose_models, aqa_home, capsys):
    video = videos.nobody(clip_dir / "nobody-subject.mp4")
    argv = ["extract", str(video), "--profile", "fast", "--modalities", "skeleton,flow"]
    assert main([*argv, "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    skeleton = shown["modalities"]["skeleton"]
    assert (skeleton["status"], skeleton["reason"]) == ("missing", "no person found")
    assert shown["people"] == [] and shown["subject"]["id"] is None
    assert main(argv) == 0
    assert "skeleton: missing (no person found)" in capsys.readouterr().out


def test_measure_and_render_follow_the_person(demo_clip, pose_models, aqa_home, tmp_path, capsys):
    argv = ["measure", str(demo_clip), "--item", "head_elevation", "--person", "2", "--json"]
    assert main(argv) == 0
    assert json.loads(capsys.readouterr().out)["skeleton"].endswith("person 2 (user)")
    picture = tmp_path / "frame.png"
    argv = ["render", str(demo_clip), "--overlay", "skeleton", "--frame", "20", "-o", str(picture)]
    assert main([*argv, "--person", "2", "--profile", "fast"]) == 0 and picture.is_file()


def skeleton_model(store: Store, folder) -> dict:
    """A tiny MCMoE reading the fast profile's skeleton and audio, saved and registered."""
    torch.manual_seed(0)
    dims = {m: default_dims()[m] for m in ("skeleton", "audio")}
    net = models.build("mcmoe", "small", modalities=list(dims), input_dims=dims, hidden=16)
    trained = ExtractionConfig.parse(list(dims), "fast")
    card = {
        "label_range": [0.0, 5.0],
        "segmenting": "uniform:16",
        "extraction": trained.to_dict(trained=True),
    }
    path = save(net, folder, card)
    return store.register_model("cmas", "head_elevation", "mcmoe", path, read_card(path))


def test_grade_stores_the_subject(demo_clip, pose_models, aqa_home, tmp_path, capsys):
    with Store() as store:
        store.add_subject("S01", birth_year=2016, sex="F")
        session = store.new_session("S01", "cmas")
        rec = import_recording(store, session["id"], demo_clip, "head_elevation")
        model = skeleton_model(store, tmp_path / "mcmoe")
    argv = ["grade", str(rec["id"]), "--model", str(model["id"]), "--device", "cpu"]
    assert main(argv) == 0
    assert "subject: person 1 chosen automatically among 2 people (rule: " in (
        capsys.readouterr().out
    )
    assert main([*argv, "--person", "2"]) == 0
    assert "subject: person 2 chosen by the user" in capsys.readouterr().out
    with Store() as store:
        details = store.latest_assessment(rec["id"])["details"]
    subject = details["subject"]
    assert set(subject) >= {"chosen_by", "ambiguous", "people", "swaps", "reason", "id"}
    assert (subject["id"], subject["chosen_by"], subject["people"]) == (2, "user", 2)
    assert details["extraction"]["subject"] == "2"


def test_vtest_still_extracts(vtest_video, pose_models, aqa_home, capsys):
    shown = extract_json(capsys, vtest_video)
    assert shown["modalities"]["skeleton"]["status"] == "ok"
    assert len(shown["people"]) > 3 and shown["subject"]["chosen_by"] == "auto"
    assert shown["subject"]["id"] in {p["id"] for p in shown["people"]}


def test_the_subject_choice_in_the_configuration():
    assert (
        ExtractionConfig(subject="auto").subject is None
        and ExtractionConfig(subject=2).subject == "2"
    )
    chosen = ExtractionConfig.parse("skeleton", "fast").following("640,300@1.5", [(5.2, 2)])
    assert ExtractionConfig.from_dict(chosen.to_dict()) == chosen
    assert chosen.subject_key() == {"person": "640,300@1.5", "handovers": [[5.2, 2]]}
    trained = ExtractionConfig.parse("skeleton", "fast")
    assert chosen.for_model(trained) == chosen and trained.differences(chosen) == []


def test_the_video_is_decoded_once(demo_clip, pose_models, tmp_path, monkeypatch):
    """Skeleton (everyone detected, the subject's landmarks), flow and rgb (on the subject's
    boxes) from one decoding pass of the video: the people layer and rgb replay its frames."""
    from engine.cache import Cache
    from engine.media.decode import VideoDecoder

    passes = []
    frames = VideoDecoder.frames

    def counted(self, cancel=None):
        passes.append(self.path)
        return frames(self, cancel)

    monkeypatch.setattr(VideoDecoder, "frames", counted)
    config = ExtractionConfig.parse("skeleton,flow,rgb", "fast")
    result = extract(demo_clip, config, cache=Cache(tmp_path), use_cache=False)
    assert {m: r.status for m, r in result.modalities.items()} == dict.fromkeys(
        ("skeleton", "flow", "rgb"), "ok"
    )
    assert result.modalities["rgb"].track["person"].mean() > 0.8
    assert len(passes) == 1


def test_flow_inside_the_subjects_box_follows_the_subject(demo_video, pose_models, tmp_path):
    """The flow track keeps its whole-frame figures and adds the same figures inside the
    subject's box: on the sports2d demo the walker's box shows her walking left (mean
    horizontal velocity as her box moves), the jumper's barely any, the whole frame little;
    with the option ``subject`` the feature rows hold both."""
    from engine.cache import Cache
    from engine.extract.registry import feature_rows

    options = {"flow": {"subject": True}}
    config = ExtractionConfig.parse("skeleton,flow", "fast", options=options)
    cache = Cache(tmp_path)
    flows, vx = {}, {}
    for who, person in (("jumper", None), ("walker", WALKER_AT_5S)):
        result = extract(demo_video, config.following(person), cache=cache)
        flow, skeleton = result.track("flow"), result.track("skeleton")
        start, _ = flow.meta["layout"]["mean_velocity_xy"]
        seen = flow["subject_valid"] & skeleton["detected"]
        assert seen.mean() > 0.6
        box_x = (skeleton["box"][:, 0] + skeleton["box"][:, 2]) / 2
        short = min(result.media["width"], result.media["height"])
        vx[who] = {
            "inside": float(flow["subject_stats"][seen, start].mean()),
            "whole": float(flow["stats"][seen, start].mean()),
            "box": float(np.mean(np.diff(box_x[seen]) / np.diff(skeleton.times[seen])) / short),
        }
        flows[who] = flow
        rows = feature_rows(flow)
        assert rows.rows.shape[1] == 2 * flow["stats"].shape[1]
        np.testing.assert_allclose(rows.rows[:, flow["stats"].shape[1] :], flow["subject_stats"])
    np.testing.assert_array_equal(flows["jumper"]["stats"], flows["walker"]["stats"])
    assert not np.allclose(flows["jumper"]["subject_stats"], flows["walker"]["subject_stats"])
    walker, jumper = vx["walker"], vx["jumper"]
    assert walker["box"] < -0.1 and walker["inside"] < 0  # she walks to the left
    assert abs(walker["inside"]) > 3 * max(abs(walker["whole"]), abs(jumper["inside"]))


def test_flow_inside_the_box_the_same_from_a_cached_skeleton(demo_clip, pose_models, tmp_path):
    """In one run (figures over the kept frames once the subject is known) or beside a cached
    skeleton (in the pass): the same in-box figures, under the same cache key."""
    from engine.cache import Cache

    config = ExtractionConfig.parse("skeleton,flow", "fast")
    one = extract(demo_clip, config, cache=Cache(tmp_path / "a"))
    later = Cache(tmp_path / "b")
    extract(demo_clip, ExtractionConfig.parse("skeleton", "fast"), cache=later)
    two = extract(demo_clip, config, cache=later)
    assert two.modalities["skeleton"].cached and not two.modalities["flow"].cached
    assert one.modalities["flow"].cache_key == two.modalities["flow"].cache_key
    a, b = one.track("flow"), two.track("flow")
    assert a["subject_valid"].mean() > 0.6
    np.testing.assert_array_equal(a["subject_stats"], b["subject_stats"])
