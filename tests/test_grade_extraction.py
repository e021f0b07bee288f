"""Grading extracts exactly the model's configuration: a DualAlign model (skeleton + rgb + text)
grades the sports2d demo through ``aqa grade``, the GUI's settings and grading share the skeleton
cache when they agree, and a differing setting or a stand-in text encoder is reported."""

import json

import pytest
import torch

import models
from engine.cli import main
from engine.extract.config import ExtractionConfig
from engine.extract.text import installed_minilm
from engine.grading.service import HASHED_TEXT, grade_recording
from engine.recordings import import_recording
from engine.store import Store
from models.checkpoint import read_card, save

ITEM = "head_elevation"
READS = ("skeleton", "rgb", "text")
pytestmark = pytest.mark.skipif(installed_minilm() is None, reason="MiniLM is not installed")


def dualalign_model(store: Store, folder, profile: str) -> dict:
    """A tiny DualAlign (skeleton + rgb + text, as MM-JDM) saved and registered for real."""
    torch.manual_seed(0)
    dims = {"skeleton": 51, "rgb": 1280, "text": 384}
    net = models.build(
        "dualalign", "app", d1=32, d2=16, d3=16, heads=4, modalities=list(READS), input_dims=dims
    )
    trained = ExtractionConfig.parse(READS, profile)
    path = save(
        net,
        folder,
        {
            "label_range": [0.0, 5.0],
            "segmenting": "uniform:16",
            "extraction": trained.to_dict(trained=True),
        },
    )
    return store.register_model("cmas", ITEM, "dualalign", path, read_card(path))


def recording(store: Store, video) -> dict:
    store.add_subject("S01", birth_year=2016, sex="F")
    session = store.new_session("S01", "cmas", notes="mild neck flexor weakness")
    return import_recording(store, session["id"], video, ITEM)


def test_dualalign_grades_the_demo_recording_through_the_cli(demo_clip, tmp_path, capsys):
    with Store() as store:
        rec = recording(store, demo_clip)
        model = dualalign_model(store, tmp_path / "dualalign", "fast")
    assert main(["grade", str(rec["id"]), "--model", str(model["id"]), "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "modalities used: skeleton, rgb, text" in out
    assert (
        "extraction (the model's): skeleton blazepose, rgb efficientnet-lite0, text minilm" in out
    )
    with Store() as store:
        stored = store.latest_assessment(rec["id"])
    details = stored["details"]
    assert stored["model_id"] == "dualalign/cmas/head_elevation/v1"
    assert details["modalities_used"] == list(READS) and details["modalities_missing"] == {}
    assert details["extraction"]["profile"] == "fast"
    assert set(details["cache_keys"]) == set(READS)


def test_gui_settings_and_grading_share_the_skeleton(demo_clip, tmp_path):
    from app import work
    from app.settings import Settings

    settings = Settings().extraction()
    with Store() as store:
        rec = recording(store, demo_clip)
    review = work.extract_recording(store.path, rec["id"], "cpu", settings, None, None)
    shown = review.extraction.modalities["skeleton"].cache_key
    with Store() as store:
        agree = dualalign_model(store, tmp_path / "full", "full")
        differ = dualalign_model(store, tmp_path / "fast", "fast")
        same = grade_recording(store, rec["id"], agree["id"], device="cpu", settings=settings)
        other = grade_recording(store, rec["id"], differ["id"], device="cpu", settings=settings)
    assert same["details"]["cache_keys"]["skeleton"] == shown
    assert same["details"]["settings_differ"] == []
    assert other["details"]["cache_keys"]["skeleton"] != shown
    assert other["details"]["settings_differ"] == ["profile"]
    assert other["details"]["extraction"]["profile"] == "fast"


def test_a_minilm_model_refuses_hashed_text(demo_clip, tmp_path):
    absent = ExtractionConfig.parse(
        "skeleton,text", "fast", "cpu", {"text": {"model_dir": str(tmp_path / "absent")}}
    )
    with Store() as store:
        rec = recording(store, demo_clip)
        model = dualalign_model(store, tmp_path / "m", "fast")
        row = grade_recording(store, rec["id"], model["id"], device="cpu", settings=absent)
    details = row["details"]
    assert details["modalities_missing"] == {"text": HASHED_TEXT}
    assert details["modalities_used"] == ["skeleton", "rgb"]
    assert details["settings_differ"] == []
    assert json.dumps(details)  # stored as JSON
