"""The subject of a recording chosen, stored and followed (issue #15 point 3): the choice is an
audited, append-only row of the record; changing it makes the proposals that followed someone else
stale (kept, flagged) and extracts again what depends on it; grading, tracks and reports follow it.
From the real sports2d demo through the CLI to the stored proposal and the report."""

import csv
import json
import sqlite3
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from test_subject_extraction import skeleton_model

from engine.cli import main
from engine.errors import InputError
from engine.people.api import find_people
from engine.people.ids import relabel
from engine.recording_subject import followed, hand_over_at
from engine.recordings import import_recording
from engine.store import Store
from engine.store.choices import stale_reason


@pytest.fixture
def recording(demo_clip, aqa_home) -> int:
    with Store() as store:
        store.add_subject("S01", birth_year=2016, sex="F")
        session = store.new_session("S01", "cmas")
        return import_recording(store, session["id"], demo_clip, "head_elevation")["id"]


def test_a_choice_is_audited_append_only_and_signed(recording):
    with Store() as store:
        assert store.subject_choice(recording) is None
        first = store.choose_subject(recording, 2, [(1.5, 1)], how="2", reason="in front")
        second = store.choose_subject(recording, None, how="automatic")
        assert store.subject_choice(recording) == second
        assert [c["id"] for c in store.subject_choices(recording)] == [first["id"], second["id"]]
        assert first["handovers"] == [(1.5, 1)] and first["chosen_by"]
        entry = store.audit_log(limit=1)[0]
        assert (entry["action"], entry["table_name"]) == ("choose_subject", "subject_choices")
        assert json.loads(entry["old_value"])["person"] == 2
        assert json.loads(entry["new_value"])["person"] is None
        assert store.verify() == []
        for sql in (
            "update subject_choices set person = 3",
            "delete from subject_choices",
            f"insert or replace into subject_choices select * from subject_choices "
            f"where id = {first['id']}",
        ):
            with pytest.raises(sqlite3.IntegrityError, match="append-only"):
                store.db.execute(sql)
        with pytest.raises(InputError, match="hand-over"):
            store.choose_subject(recording, 1, [(-2.0, 1)])
        with pytest.raises(InputError, match="person id"):
            store.choose_subject(recording, 0)
        # A row written behind the app's back is named by the verification.
        store.db.execute(
            "insert into subject_choices (recording_id, person, handovers, chosen_by, created_at)"
            " values (?, 1, '[]', 'mallory', '2026-01-01')",
            [recording],
        )
        assert any("subject_choices row" in p for p in store.verify())


def test_a_choice_is_part_of_the_signed_content_and_refused_when_locked(recording, monkeypatch):
    with Store() as store:
        store.add_user("boss", "admin", "boss-password")
        store.login("boss", "boss-password")
        session = store.recording(recording)["session_id"]
        store.choose_subject(recording, 2, how="2")
        store.sign(session, "reviewed", "boss-password")
        with pytest.raises(InputError, match="signed"):
            store.choose_subject(recording, 1, how="1")
    with Store() as store:  # nobody logged in: the record has users
        with pytest.raises(InputError, match="log in"):
            store.choose_subject(recording, 1)


def proposal(subject: dict | None, used=("skeleton", "audio")) -> dict:
    details = {"modalities_used": list(used)}
    if subject is not None:
        details["subject"] = subject
    return {"details": details}


def test_which_proposals_are_stale():
    auto1 = {"id": 1, "chosen_by": "auto", "handovers": []}
    user2 = {"id": 2, "chosen_by": "user", "handovers": []}
    choice = {"person": 2, "handovers": [], "chosen_by": "ana", "created_at": "2026-11-27T10:02"}
    assert stale_reason(proposal(auto1), None) is None
    assert "Made for person 1; the subject is now person 2" in stale_reason(proposal(auto1), choice)
    assert stale_reason(proposal(user2), choice) is None
    assert stale_reason(proposal(auto1, used=("audio",)), choice) is None  # not the body
    handed = {**choice, "handovers": [(3.0, 1)]}
    assert stale_reason(proposal(user2), handed) is not None
    with_handover = {**user2, "handovers": [{"from_s": 3.0, "id": 1}]}
    assert stale_reason(proposal(with_handover), handed) is None
    automatic = {**choice, "person": None}
    assert stale_reason(proposal(auto1), automatic) is None
    assert stale_reason(proposal(user2), automatic) is not None
    assert stale_reason(proposal(None), choice) is not None  # made before people were tracked


def run(capsys, *argv) -> tuple[int, str]:
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out + out.err


def test_changing_the_subject_from_the_cli(recording, pose_models, aqa_home, tmp_path, capsys):
    with Store() as store:
        model = skeleton_model(store, tmp_path / "mcmoe")["id"]
    grade = ["grade", recording, "--model", model, "--device", "cpu"]
    assert run(capsys, *grade)[0] == 0
    code, out = run(capsys, "people", recording)
    assert code == 0 and "2 people" in out and "subject: chosen automatically (never set)" in out

    code, out = run(capsys, "people", recording, "--person", "2", "--reason", "child in front")
    assert code == 0, out
    assert "subject: person 2 (set by " in out
    assert "extracted again: skeleton" in out
    assert "proposal 1 " in out and "Made for person 1; the subject is now person 2" in out
    code, out = run(capsys, "recording", "list")
    assert "subject changed" in out
    # The report's row says whom the stale proposal and its measurement followed (it named the
    # new choice beside person 1's measurement); its flag says who the subject is now.
    with Store() as store:
        session = store.recording(recording)["session_id"]
    code, out = run(capsys, "report", session, "--json")
    row = next(r for r in json.loads(out)["items"] if r["item"] == "head_elevation")
    assert row["person"] == "person 1, chosen automatically among 2 people"
    assert "Made for person 1; the subject is now person 2" in row["flags"][0]["text"]
    stale_csv = tmp_path / "stale.csv"
    assert run(capsys, "report", session, "--csv", stale_csv)[0] == 0
    row = next(r for r in csv.DictReader(stale_csv.open()) if r["item"] == "head_elevation")
    assert row["flags"].startswith("subject changed")  # the CSV had no flags column
    code, out = run(capsys, "suggest", "--protocol", "cmas", "--item", "head_elevation", "--json")
    (suggested,) = json.loads(out)
    assert suggested["why"].startswith("Made for person 1; the subject is now person 2")

    # Grading again follows the stored choice without being told.
    code, out = run(capsys, *grade)
    assert code == 0 and "subject: person 2 chosen by the user" in out
    with Store() as store:
        rows = store.assessments(recording)
        assert rows[0]["stale"] and rows[1]["stale"] is None
        assert rows[1]["details"]["subject"]["id"] == 2
        assert not store.recording_status(recording)["needs_review"] or rows[1]["uncertain"]
    code, out = run(capsys, "recording", "list")
    assert "subject changed" not in out

    # The report says who was followed and who chose them.
    report = tmp_path / "report.csv"
    assert run(capsys, "report", session, "--csv", report)[0] == 0
    row = next(r for r in csv.DictReader(report.open()) if r["item"] == "head_elevation")
    assert row["subject_person"].startswith("person 2 (set by ")
    # The de-identified export names no user and no real date (it had "set by NAME on DATE").
    research = tmp_path / "research"
    assert run(capsys, "export", "--deidentified", research)[0] == 0
    with Store() as store:
        chosen = store.subject_choice(recording)
    exported = "".join(path.read_text() for path in research.iterdir())
    assert f"set by {chosen['chosen_by']}" not in exported
    assert chosen["created_at"][:16].replace("T", " ") not in exported
    row = next(r for r in csv.DictReader((research / "sessions.csv").open())
               if r["item"] == "head_elevation")  # fmt: skip
    assert row["subject_person"] == "person 2 (set by a user)"
    visit = json.loads((research / "sessions.json").read_text())
    (item,) = [i for v in visit for i in v["items"] if i["item"] == "head_elevation"]
    assert item["subject_person"] == row["subject_person"] and "stale" not in item["flags"]
    assert run(capsys, "people", recording, "--person", "1")[0] == 0  # proposal 2 is stale now
    code, out = run(capsys, "report", session, "--json")
    row = next(r for r in json.loads(out)["items"] if r["item"] == "head_elevation")
    assert row["person"] == "person 2, chosen by the user"
    assert run(capsys, "people", recording, "--person", "2")[0] == 0

    # Bad choices: one sentence, exit 2, nothing stored.
    code, out = run(capsys, "people", recording, "--person", "5,5@1")
    assert code == 2 and "Nobody is at 5,5" in out and "person 1 [" in out
    code, out = run(capsys, "people", recording, "--person", "9")
    assert code == 2 and "There is no person 9" in out
    assert run(capsys, "people", 999)[0] == 2
    code, out = run(capsys, "people", recording, "--json")
    shown = json.loads(out)
    assert shown["choice"]["person"] == 2 and len(shown["history"]) == 3  # 2, 1, 2
    assert shown["stale_proposals"] == [1]
    assert run(capsys, "db", "verify")[0] == 0


def test_tracks_of_a_recording_follow_its_choice(recording, pose_models, tmp_path, capsys):
    with Store() as store:
        store.choose_subject(recording, 2, how="2")
    table = tmp_path / "tracks.csv"
    code, out = run(capsys, "tracks", recording, "--csv", table, "--json")
    assert code == 0, out
    assert json.loads(out)["subject"]["id"] == 2
    assert {r["person"] for r in csv.DictReader(table.open())} == {"2"}


def test_from_here_on_another_person(recording, pose_models):
    with Store() as store:
        choice = hand_over_at(store, recording, 2.0, 2, reason="swap fixed")
        assert (choice["person"], choice["handovers"]) == (1, [(2.0, 2)])
        assert followed(store, recording) == ("1", ((2.0, 2),))
        with pytest.raises(InputError, match="no person 7"):
            hand_over_at(store, recording, 1.0, 7)


def test_ids_of_another_sampling_are_relabelled(demo_clip, pose_models):
    people = find_people(demo_clip)
    assert len(people.ids) == 2
    # Another run: every other frame, the people in the other order, numbered 10 and 11.
    other = replace(
        people,
        times=people.times[::2],
        frame_index=people.frame_index[::2],
        ids=(10, 11),
        boxes=people.boxes[::2, ::-1],
        keypoints=people.keypoints[::2, ::-1],
        scores=people.scores[::2, ::-1],
    )
    assert relabel(other, people).ids == people.ids[::-1]
    # Somebody the reference never saw gets a new id.
    stranger = replace(other, boxes=np.where(np.isnan(other.boxes), np.nan, other.boxes + 5000))
    assert set(relabel(stranger, people).ids).isdisjoint(people.ids)


def test_training_features_follow_each_recordings_subject(recording, pose_models, tmp_path):
    """The clinician's grade is the chosen person's: what ``aqa train --item`` learns from is that
    person's skeleton (it was the automatic subject's), and a video replaced since it was added
    is refused in one sentence, never trained on with the old recording's grade."""
    from engine.extract.config import ExtractionConfig
    from engine.extract.pipeline import extract
    from engine.features import Segmenting, build_features
    from engine.grading.learning import rated_dataset

    config = ExtractionConfig.parse("skeleton", "fast")

    def features(person: str | None) -> np.ndarray:
        with Store() as store:
            video = store.recording(recording)["path"]
        track = extract(video, config.following(person)).track("skeleton")
        return build_features({"skeleton": track}, Segmenting.parse("clips:32")).features[
            "skeleton"
        ]

    with Store() as store:
        store.rate(recording, 3)
        store.choose_subject(recording, 2, how="2")
        data = rated_dataset(store, "cmas", "head_elevation", config)
        assert [r.score for r in data.records] == [3.0]
        learned = data.features(0)["skeleton"]
        assert np.array_equal(learned, features("2"))
        assert not np.allclose(learned, features(None))  # person 1's
        video = Path(store.recording(recording)["path"])
        replaced = tmp_path / "replaced.mp4"
        replaced.write_bytes(video.read_bytes()[:-4096])
        store.db["recordings"].update(recording, {"path": str(replaced)})
        with pytest.raises(InputError, match="has changed since it was added"):
            rated_dataset(store, "cmas", "head_elevation", config)
