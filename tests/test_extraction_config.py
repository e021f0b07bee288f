"""The extraction configuration: JSON for model cards, older cards, what grading extracts and
which of the user's settings differ."""

import json

import pytest

from engine.errors import InputError
from engine.extract.config import ExtractionConfig
from engine.grading.service import model_extraction


def test_json_round_trip_and_backend_names():
    config = ExtractionConfig.parse(
        "skeleton,flow:farneback,text", "fast", "cpu", {"skeleton": {"min_detection": 0.6}}
    ).for_recording("cmas", "head_elevation", "tired")
    assert [m.backend for m in config.modalities] == ["blazepose", "farneback", "minilm"]
    again = ExtractionConfig.from_dict(json.loads(json.dumps(config.to_dict())))
    assert again == config
    card = config.to_dict(trained=True)  # what a model card keeps: no note of one recording
    assert card["modalities"]["text"]["options"] == {}
    assert card["modalities"]["skeleton"]["options"] == {"min_detection": 0.6}
    assert config.backend_options("flow") == {"short_side": 160, "preset": "ultrafast"}


def test_bad_names_are_one_sentence():
    with pytest.raises(InputError, match="no backend 'nope'"):
        ExtractionConfig.parse("skeleton:nope")
    with pytest.raises(InputError, match="profile"):
        ExtractionConfig(profile="slow")
    with pytest.raises(InputError, match="twice"):
        ExtractionConfig.parse("flow,flow:dis")


def test_older_cards_read_their_profile():
    card = {"modalities": ["skeleton", "flow", "audio"], "extras": {"profile": "fast"}}
    assert model_extraction(card) == ExtractionConfig.parse("skeleton,flow,audio", "fast")
    assert model_extraction({"modalities": ["audio"], "extras": {}}).profile == "full"


def test_grading_takes_the_model_config_and_the_users_file_locations():
    trained = ExtractionConfig.parse("skeleton,rgb", "fast")
    mine = ExtractionConfig.parse(
        "skeleton:onnx,flow", "full", "cuda", {"skeleton": {"model": "/models/rtm.onnx"}}
    )
    used = mine.for_model(trained)
    assert used.profile == "fast" and used.device == "cuda"
    assert used.get("skeleton").backend == "blazepose" and dict(used.get("skeleton").options) == {}
    assert trained.differences(mine) == ["profile", "skeleton backend"]
    folder = ExtractionConfig.parse("skeleton", "fast", options={"skeleton": {"model_dir": "/p"}})
    assert dict(folder.for_model(trained).get("skeleton").options) == {"model_dir": "/p"}
    assert trained.differences(folder) == []
