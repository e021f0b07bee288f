"""Session reports (PDF checked as a PNG of page 1, CSV, JSON) and the de-identified export."""

import csv
import json
import re
import shutil
import subprocess
import unicodedata
from datetime import date

import numpy as np
import pytest

from engine.cli import main
from engine.protocols import get_protocol
from engine.recordings import import_recording
from engine.reports.key_frames import KeyFrame
from engine.reports.pdf import write_pdf
from engine.reports.sheet import session_report
from engine.store import Store

PROPOSAL = {
    "model_id": "mcmoe/cmas/head_elevation/v1",
    "grade_probs": [0.02, 0.05, 0.13, 0.55, 0.2, 0.05],
    "expected_score": 3.02,
    "grade": 3,
    "uncertain": 1,
    "details": {"grades": [0, 1, 2, 3, 4, 5], "demo": True, "measurement_text": "held 41 s"},
}


@pytest.fixture
def rated_session(vtest_video):
    with Store() as store:
        store.add_subject("JDM-R1", birth_year=2014)
        session = store.new_session("JDM-R1", "cmas", on="2026-05-04", examiner="Dr Secret")
        rec = import_recording(store, session["id"], vtest_video, "head_elevation", "side")
        store.add_assessment(rec["id"], PROPOSAL)
        store.rate(rec["id"], 4, "held 65 s on re-watch")
        other = import_recording(store, session["id"], vtest_video, "pick_up")
        store.rate(other["id"], 2)
    return session["id"]


def test_report_content(rated_session):
    with Store() as store:
        report = session_report(store, rated_session)
    head = report.items[0]
    assert (head.grade, head.proposal_grade, head.uncertain, head.demo) == (4, 3, True, True)
    assert report.completeness == "6/52, 2 of 14 items rated"
    assert report.models == ["mcmoe/cmas/head_elevation/v1"] and report.demo_models


def test_pdf_page_one_renders(rated_session, tmp_path):
    if shutil.which("pdftoppm") is None:
        pytest.skip("pdftoppm (Debian package poppler-utils) is needed to look at the PDF")
    with Store() as store:
        report = session_report(store, rated_session)
    frame = np.zeros((120, 200, 3), np.uint8)
    frame[:, :100] = (200, 30, 30)
    pdf = write_pdf(report, tmp_path / "report.pdf", {"head_elevation": KeyFrame(frame, 2.5, 1)})
    assert pdf.read_bytes()[:5] == b"%PDF-"
    assert not (tmp_path / "report.pdf.part").exists()
    subprocess.run(
        ["pdftoppm", "-png", "-r", "60", "-f", "1", "-l", "1", str(pdf), str(tmp_path / "p")],
        check=True,
    )
    import cv2

    page = cv2.imread(str(next(tmp_path.glob("p*.png"))))
    assert page.shape[0] > page.shape[1] > 300  # portrait A4
    ink = (page < 200).any(axis=2).mean()
    assert 0.01 < ink < 0.5  # text and charts drawn, not blank, not a black page
    red = (page[..., 2] > 150) & (page[..., 0] < 80) & (page[..., 1] < 80)
    assert red.sum() > 100  # the key frame picture is on page 1
    text = subprocess.run(
        ["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert "JDM-R1" in text and "6/52" in text and "DEMO" in text
    assert "vtest" not in text  # no file paths
    # the record block: examiner, age, rater/time/reason per grade, and no signature yet
    assert "Examiner: Dr Secret" in text and "age 12 at the exam" in text
    assert "held 65 s on re-watch" in text and "UNSIGNED" in text
    flat = " ".join(unicodedata.normalize("NFKC", text).split())  # "ﬂ" ligatures -> "fl"
    assert "Head elevation (neck flexion) — at 2.5 s of recording 1" in flat
    assert "page 1 of 1" in flat and "Uncertain proposal" in flat


def _pdf_text(pdf, layout: bool = False) -> str:
    cmd = ["pdftotext", *["-layout"] * layout, str(pdf), "-"]
    text = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return unicodedata.normalize("NFKC", text)


def test_pdf_of_the_demo_video_reads_at_one_look(capsys, demo_clip, pose_models, aqa_home):
    """From the real video through ``aqa demo`` and ``aqa report --pdf`` to the page's text."""
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext (Debian package poppler-utils) is needed to read the PDF")
    assert main(["demo", "--video", str(demo_clip)]) == 0
    pdf = aqa_home / "again.pdf"
    assert main(["report", "1", "--pdf", str(pdf)]) == 0
    capsys.readouterr()
    text = _pdf_text(pdf)
    flat = " ".join(text.split())
    assert "page 1 of 1" in flat and "\f" not in text.rstrip("\f")  # one page
    assert "Arm raise / duration — at" in flat and "s of recording 1" in flat  # name and time
    assert "expected score" in flat and "probability-weighted mean grade" in flat  # explained
    assert "expected 2." in flat or "expected 3." in flat
    assert "(E " not in flat  # the unexplained "E 2.86" is gone
    assert "Not examined in this session (13): Head elevation" in flat  # not 13 empty rows
    assert "Please review" in flat and "the measurement gives 0" in flat  # the flags
    axis = r"(^|\s)0 +1 +2 +3 +4(\s|$)"
    assert re.search(axis, _pdf_text(pdf, layout=True), re.M)  # the grade axis, 0-4


def test_report_pictures_the_recorded_skeleton_without_extracting_again(
    capsys, demo_clip, pose_models, aqa_home, monkeypatch
):
    """``aqa demo`` extracts at the demo model's ``fast`` profile (10 frames a second); the PDF's
    key frame is drawn from that recorded skeleton, read from the cache: no new extraction (it
    ran a full-profile one, with its own people search, for the picture alone). With the cache
    cleared it is extracted again as the proposal was, at the same cache key."""
    from engine.cache import Cache
    from engine.extract.tracks import Track
    from engine.reports.key_frames import session_key_frames

    assert main(["demo", "--video", str(demo_clip)]) == 0
    assert main(["report", "1", "--pdf", str(aqa_home / "again.pdf")]) == 0
    assert "PDF report written" in capsys.readouterr().out
    with Store() as store:
        (recorded,) = store.db.execute(
            "select cache_key from extractions where modality = 'skeleton'"
        ).fetchone()
        skeletons = [f.stem for f in (aqa_home / "cache").rglob("*.npz")
                     if "a_coco17" in np.load(f).files]  # fmt: skip
        assert skeletons == [recorded]  # neither the demo's report nor this one extracted again
        frame = session_key_frames(store, 1)["arm_raise_duration"]
        times = np.load(Cache().path(recorded))["times"]
        assert len(times) == 30  # 3 s at the fast profile's 10 frames a second
        assert frame.time_s in times.tolist() and frame.recording_id == 1
        Cache().path(recorded).unlink()
        again = session_key_frames(store, 1)["arm_raise_duration"]
    assert Cache().path(recorded).is_file()  # the same extraction, at the same key
    assert again.time_s == frame.time_s and np.array_equal(again.image, frame.image)

    # The walker made the subject without extracting again: the picture follows her, drawn from
    # a skeleton extracted as the proposal was (10 frames a second), not the recorded one.
    monkeypatch.setenv("AQA_USER", "demo")  # the demo's account (aqa demo prints it)
    monkeypatch.setenv("AQA_PASSWORD", "demo")
    assert main(["people", "1", "--person", "2", "--no-extract"]) == 0
    with Store() as store:
        walker = session_key_frames(store, 1)["arm_raise_duration"]
    tracks = [Track.read(f) for f in (aqa_home / "cache").rglob("*.npz")]
    followed = sorted(t.meta["subject"]["id"] for t in tracks if t.modality == "skeleton")
    assert followed == [1, 2]  # the recorded skeleton (person 1) and the walker's
    assert not np.array_equal(walker.image, frame.image)


def test_a_recording_graded_without_an_extraction_has_its_key_frame(
    capsys, demo_clip, pose_models, aqa_home, monkeypatch
):
    """``aqa grade REC`` extracts what the model reads without recording an extraction: the
    report pictures that recording from the proposal's skeleton (it had no picture at all),
    with no extraction of its own."""
    from engine.extract.tracks import Track
    from engine.reports.key_frames import session_key_frames

    assert main(["demo", "--video", str(demo_clip)]) == 0
    monkeypatch.setenv("AQA_USER", "demo")
    monkeypatch.setenv("AQA_PASSWORD", "demo")
    assert main(["subject", "add", "S-2"]) == 0
    assert main(["session", "new", "--subject", "S-2", "--protocol", "cmas"]) == 0
    assert main(["recording", "add", "2", str(demo_clip), "--item", "arm_raise_duration"]) == 0
    assert main(["grade", "2"]) == 0
    capsys.readouterr()
    cached = sorted((aqa_home / "cache").rglob("*.npz"))
    with Store() as store:
        assert not store.recording_status(2)["extracted"] and store.recording_status(2)["graded"]
        proposal = store.latest_assessment(2)
        frame = session_key_frames(store, 2)["arm_raise_duration"]
    assert frame.recording_id == 2
    assert sorted((aqa_home / "cache").rglob("*.npz")) == cached
    key = proposal["details"]["cache_keys"]["skeleton"]
    times = Track.read(next(f for f in cached if f.stem == key)).times
    assert frame.time_s in times.tolist()
    pdf = aqa_home / "s2.pdf"
    assert main(["report", "2", "--pdf", str(pdf)]) == 0
    if shutil.which("pdfimages"):
        listed = subprocess.run(["pdfimages", "-list", str(pdf)], capture_output=True, text=True)
        assert len(listed.stdout.strip().splitlines()) == 3  # the header, the rule, the picture


def test_report_and_window_picture_the_skeleton_the_grade_read(
    capsys, demo_clip, pose_models, aqa_home, monkeypatch
):
    """An extraction with other settings (the full profile) after the grading leaves the
    picture as it was: the report's key frame and the window's tracks are both the proposal's
    skeleton (the report took the later extraction's, the window the proposal's)."""
    from engine.cache import Cache
    from engine.extract.config import ExtractionConfig
    from engine.extract.pipeline import extract
    from engine.reports.key_frames import session_key_frames, skeleton_key
    from engine.review import graded_config

    assert main(["demo", "--video", str(demo_clip)]) == 0
    monkeypatch.setenv("AQA_USER", "demo")  # the demo's account (aqa demo prints it)
    monkeypatch.setenv("AQA_PASSWORD", "demo")
    at = ["--session", "1", "--item", "arm_raise_duration", "--profile", "full"]
    assert main(["extract", str(demo_clip), *at]) == 0
    assert "attached to recording 1" in capsys.readouterr().out
    with Store() as store:
        graded = store.latest_assessment(1)["details"]["cache_keys"]["skeleton"]
        (later,) = store.db.execute(
            "select cache_key from extractions where modality = 'skeleton' order by id desc"
        ).fetchone()
        assert later != graded  # the full profile's skeleton was recorded after the grading
        assert skeleton_key(store, 1) == graded
        frame = session_key_frames(store, 1)["arm_raise_duration"]
        settings = ExtractionConfig.parse("skeleton,flow", profile="full")
        shown = extract(demo_clip, graded_config(store, 1, settings))
    assert shown.modalities["skeleton"].cache_key == graded and shown.modalities["skeleton"].cached
    assert frame.time_s in np.load(Cache().path(graded))["times"].tolist()


def test_long_report_pages_never_split_a_block(rated_session, tmp_path):
    """Every item proposed and pictured: two pages, numbered, each key-frame row whole."""
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext (Debian package poppler-utils) is needed to read the PDF")
    items = get_protocol("cmas").items
    with Store() as store:
        rec = store.recordings(rated_session)[0]
        for item in items[1:]:
            other = import_recording(store, rated_session, rec["path"], item.id)
            probs = np.full(len(item.grades), 1 / len(item.grades)).tolist()
            details = {"grades": item.grades, "modalities_missing": {"audio": "no audio stream"}}
            row = {**PROPOSAL, "grade_probs": probs, "grade": item.low, "details": details}
            store.add_assessment(other["id"], {**row, "expected_score": item.high / 2})
        report = session_report(store, rated_session)
    frame = np.full((270, 480, 3), 90, np.uint8)
    frames = {item.id: KeyFrame(frame, 1.0 + n, n + 1) for n, item in enumerate(items)}
    pdf = write_pdf(report, tmp_path / "long.pdf", frames)
    pages = [" ".join(p.split()) for p in _pdf_text(pdf).split("\f")[:-1]]
    assert len(pages) >= 2
    for n, page in enumerate(pages, 1):
        assert f"page {n} of {len(pages)}" in page
    assert "Not examined" not in "".join(pages)
    captions = [p.count(" s of recording ") for p in pages]
    assert sum(captions) == 14
    assert [c % 3 for c in captions if c % 3] == [14 % 3]  # rows of three pictures stay whole
    first_frames = next(p for p, c in zip(pages, captions) if c)
    assert "Key frames" in first_frames  # the title stays with its first row


def test_cli_report_csv_json_and_bad_folder(rated_session, tmp_path, capsys):
    out = tmp_path / "sheet.csv"
    assert main(["report", str(rated_session), "--csv", str(out), "--json"]) == 0
    printed = capsys.readouterr().out
    report = json.loads(printed[printed.index("{") :])
    assert report["total"] == 6 and report["subject"] == "JDM-R1"
    rows = list(csv.DictReader(out.open()))
    assert rows[0]["item"] == "head_elevation" and rows[0]["clinician_grade"] == "4"
    assert rows[0]["model_grade"] == "3" and rows[0]["demo_model"] == "1"
    code = main(["report", str(rated_session), "--pdf", str(tmp_path / "nope" / "r.pdf")])
    assert code == 2 and "cannot be written" in capsys.readouterr().err
    assert main(["report", "77"]) == 2


def test_deidentified_export(rated_session, tmp_path, capsys):
    """Pseudonyms, no ids, shifted dates (intervals kept), no names or free text; REDCap and
    FHIR files; the key file only when asked and only outside the export folder."""
    with Store() as store:
        store.new_session("JDM-R1", "cmas", on="2026-06-04", notes="mother present, Dr Secret")
    out = tmp_path / "out"
    assert main(["export", "--deidentified", str(out)]) == 0
    sessions = json.loads((out / "sessions.json").read_text())
    dates = [date.fromisoformat(s["date"]) for s in sessions]
    assert (dates[1] - dates[0]).days == 31  # the interval between visits is kept
    assert dates[0] != date(2026, 5, 4)  # never a shift of 0
    dump = "".join(p.read_text() for p in out.iterdir())
    assert "JDM-R1" not in dump and "session_id" not in dump and '"id"' not in dump
    assert "Dr Secret" not in dump and "vtest" not in dump and "2014" not in dump
    assert "mother present" not in dump and "held 65 s" not in dump  # no free text
    pseudonym = sessions[0]["subject"]
    assert pseudonym.startswith("S-") and sessions[0]["age"] == 12 and sessions[0]["visit"] == 1
    redcap = list(csv.DictReader((out / "redcap_cmas.csv").open()))
    assert redcap[0]["record_id"] == pseudonym and redcap[0]["redcap_event_name"] == "visit_1_arm_1"
    assert redcap[0]["cmas_head_elevation"] == "4" and redcap[0]["cmas_total"] == "6"
    assert redcap[0]["cmas_complete"] == "0" and redcap[1]["cmas_complete"] == "0"
    dictionary = list(csv.DictReader((out / "redcap_cmas_dictionary.csv").open()))
    fields = [r["Variable / Field Name"] for r in dictionary]
    assert fields[0] == "record_id" and "cmas_pick_up" in fields and fields[-1] == "cmas_total"
    assert dictionary[2]["Choices, Calculations, OR Slider Labels"].startswith("0, 0 | 1, 1")
    bundle = json.loads((out / "fhir_cmas.json").read_text())
    form, first = (e["resource"] for e in bundle["entry"][:2])
    assert form["resourceType"] == "Questionnaire" and len(form["item"]) == 15
    assert first["resourceType"] == "QuestionnaireResponse" and first["status"] == "in-progress"
    assert first["subject"]["identifier"]["value"] == pseudonym
    assert {"linkId": "head_elevation", "answer": [{"valueInteger": 4}]} in first["item"]
    assert main(["export", "--deidentified", str(out), "--key-file", str(out / "key.csv")]) == 2
    key = tmp_path / "key.csv"
    assert main(["export", "--deidentified", str(out), "--key-file", str(key), "--free-text"]) == 0
    again = json.loads((out / "sessions.json").read_text())
    assert again[0]["subject"] != pseudonym  # a new pseudonym per export
    assert f"{again[0]['subject']},JDM-R1" in key.read_text()
    assert again[1]["notes"] == "mother present, Dr Secret"


def test_export_dates_near_the_ends_are_clamped_never_a_crash(tmp_path, capsys):
    from engine.reports.export import MAX_SHIFT_DAYS, shift_days, shifted

    shifts = {shift_days() for _ in range(2000)}
    assert 0 not in shifts and max(shifts) <= MAX_SHIFT_DAYS and min(shifts) >= -MAX_SHIFT_DAYS
    assert shifted("1900-01-01", -30) == ("1900-01-01", True)
    assert shifted("9999-12-30", 30) == ("9999-12-31", True)
    assert shifted("31/03/2026", 5) == ("", True)  # stored by an old version: left out, counted
    assert shifted("2026-01-01", 1) == ("2026-01-02", False)
    with Store() as store:
        store.add_subject("OLD-1")
        store.new_session("OLD-1", "cmas", on="1900-01-02")
        store.db.execute(  # as an old version stored it, before dates were checked
            "insert into sessions (subject_id, protocol, date, created_at) "
            "values (1, 'cmas', '31/03/2026', 'then')"
        )
    assert main(["export", "--deidentified", str(tmp_path / "o")]) == 0
    assert "dates were clamped" in capsys.readouterr().out  # the unreadable one (and maybe 1900)
    bundle = json.loads((tmp_path / "o" / "fhir_cmas.json").read_text())
    assert len(bundle["entry"]) == 3 and "authored" not in bundle["entry"][2]["resource"]
