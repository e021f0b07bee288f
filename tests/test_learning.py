"""The learning loop on generated recordings with known grades: proposals, suggestions, and a
model retrained on more confirmed grades cross-validates better than before."""

import numpy as np
import pytest
import videos

from engine.cli import main
from engine.errors import InputError
from engine.grading.learning import suggestions, train_item
from engine.grading.service import grade_recording
from engine.recordings import import_recording
from engine.store import Store

ITEM = "head_elevation"
MODALITIES = ("flow", "audio")


def generated_recording(path, grade: int, rng: np.random.Generator):
    """2 s of a textured square moving at a speed that grows with the grade, and a tone whose
    pitch does too; both with noise, so the grade is learnable but not trivial."""
    fps, size = 15, (96, 128)
    speed = 1.0 + 1.2 * grade + rng.normal(0, 1.5)
    texture = rng.integers(0, 255, (24, 24, 3), dtype=np.uint8)
    frames = []
    for i in range(30):
        img = np.full((*size, 3), 40, np.uint8)
        x = int(10 + (speed * i) % 90)
        y = int(30 + 10 * np.sin(i / 3))
        img[y : y + 24, x : x + 24] = texture
        frames.append(img)
    t = np.arange(32000) / 16000
    pitch = 220 * (1.25 ** (grade + rng.normal(0, 1.0)))
    tone = (0.3 * np.sin(2 * np.pi * pitch * t) + 0.02 * rng.normal(size=t.size)).astype(np.float32)
    return videos.write_video(path, frames, fps=fps, audio=tone)


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    """24 subjects x 2 recordings with known grades 0-5."""
    rng = np.random.default_rng(7)
    folder = tmp_path_factory.mktemp("cohort")
    rows = []
    for s in range(24):
        for r in range(2):
            grade = int(rng.integers(0, 6))
            rows.append(
                (f"S{s:02d}", grade, generated_recording(folder / f"s{s}-{r}.mp4", grade, rng))
            )
    return rows


def load(store: Store, cohort, rated: int):
    sessions = {}
    ids = []
    for code, grade, path in cohort:
        if code not in sessions:
            store.add_subject(code)
            sessions[code] = store.new_session(code, "cmas")["id"]
        rec = import_recording(store, sessions[code], path, ITEM)
        ids.append((rec["id"], grade))
    for rec_id, grade in ids[:rated]:
        store.rate(rec_id, grade)
    return ids


def test_retraining_on_more_confirmed_grades_cross_validates_better(cohort):
    with Store() as store:
        ids = load(store, cohort, rated=8)
        with pytest.raises(InputError, match="at least 10 clinician-rated recordings"):
            train_item(store, "cmas", ITEM, folds=3, modalities=MODALITIES, epochs=2)
        for rec_id, grade in ids[8:14]:  # 14 rated, from 7 subjects
            store.rate(rec_id, grade)
        first = train_item(store, "cmas", ITEM, folds=3, modalities=MODALITIES, epochs=30)
        assert first["activated"] and first["previous_cv_srcc"] is None
        for rec_id, grade in ids[14:]:
            store.rate(rec_id, grade)
        second = train_item(store, "cmas", ITEM, folds=3, modalities=MODALITIES, epochs=30)
        assert second["metrics"]["samples"] == 48
        assert second["metrics"]["cv_srcc"] > first["metrics"]["cv_srcc"]
        assert second["activated"] and second["previous_cv_srcc"] == first["metrics"]["cv_srcc"]
        assert store.model(first["model"]["id"])["status"] == "retired"

        # The active model grades a recording with the modalities it has; audio left out on request.
        row = grade_recording(store, ids[0][0], modalities=["flow", "audio"])
        assert row["model_id"] == f"mcmoe/cmas/{ITEM}/v2"
        assert set(row["details"]["modalities_used"]) == {"flow", "audio"}
        assert abs(sum(row["grade_probs"]) - 1) < 1e-6 and len(row["grade_probs"]) == 6
        only_flow = grade_recording(store, ids[1][0], modalities=["flow"])
        assert only_flow["details"]["modalities_missing"]["audio"] == "left out by the user"


@pytest.mark.slow
def test_dualalign_learning_loop_through_aqa_train(cohort, capsys):
    """``aqa train --model dualalign`` on more confirmed grades cross-validates better, and the
    better model replaces the first as the item's active one."""
    import json

    argv = ["train", "--protocol", "cmas", "--item", ITEM, "--model", "dualalign", "--cv", "3"]
    argv += ["--epochs", "30", "--json"]
    with Store() as store:
        ids = load(store, cohort, rated=14)
    assert main(argv) == 0
    first = json.loads(capsys.readouterr().out)
    with Store() as store:
        for rec_id, grade in ids[14:]:
            store.rate(rec_id, grade)
    assert main(argv) == 0
    second = json.loads(capsys.readouterr().out)
    assert second["metrics"]["samples"] == 48
    assert second["metrics"]["cv_srcc"] > first["metrics"]["cv_srcc"]
    assert second["activated"] and second["model"]["name"] == "dualalign"
    with Store() as store:
        assert store.active_model("cmas", ITEM)["version"] == 2


def test_train_and_registry_commands(cohort, capsys):
    with Store() as store:
        load(store, cohort[:24], rated=24)
    argv = ["train", "--protocol", "cmas", "--item", ITEM, "--model", "mcmoe", "--cv", "3"]
    assert main([*argv, "--epochs", "10"]) == 0
    out = capsys.readouterr().out
    assert "cross-validated SRCC" in out and "activated" in out
    assert main([*argv, "--epochs", "1", "--json"]) == 0
    assert main(["models", "retire", "1"]) == 0
    assert "is now retired" in capsys.readouterr().out
    assert main(["models", "activate", "2"]) == 0
    with Store() as store:
        assert store.active_model("cmas", ITEM)["version"] == 2
    assert main(["models", "activate", "9"]) == 2
    assert main(["train", "--protocol", "cmas", "--model", "mcmoe"]) == 2  # no --item


def test_demo_model_grades_and_suggestions(cohort, capsys):
    with Store() as store:
        ids = load(store, cohort[:6], rated=0)
        for rec_id, _ in ids:
            grade_recording(store, rec_id)
        model = store.active_model("cmas", ITEM)
        assert model["demo"] == 1 and model["name"] == "mcmoe"
        proposal = store.latest_assessment(ids[0][0])
        assert proposal["details"]["demo"] is True
        assert "skeleton" in proposal["details"]["modalities_missing"]  # nobody in these videos
        picks = suggestions(store, "cmas", ITEM, limit=3)
        assert len(picks) == 3 and picks[0]["priority"] >= picks[-1]["priority"]
    assert main(["models", "list", "--protocol", "cmas"]) == 0
    assert "DEMO" in capsys.readouterr().out
    assert main(["suggest", "--protocol", "cmas", "--item", ITEM, "--json"]) == 0
    capsys.readouterr()
    assert main(["grade-session", "1"]) == 0
    assert "graded 0 of 2 recordings" in capsys.readouterr().out  # resumed: nothing left to do
    assert main(["grade", str(cohort[6][2]), "--protocol", "cmas", "--item", ITEM]) == 0
    out = capsys.readouterr().out
    assert "DEMO model" in out and "No skeleton: no person found." in out
    assert "chosen automatically among 0 people" not in out
    assert main(["grade", str(cohort[6][2])]) == 2
    assert "needs --protocol and --item" in capsys.readouterr().err
