"""Hostile input: each value refused with one sentence or neutralised, through the real CLI, the
real database, real protocol and model-card files."""

import json
import math

import pytest

from engine.cli import main
from engine.errors import ProtocolError
from engine.protocols import get_protocol, load_protocol
from models.checkpoint import CheckpointError, build_from_card, read_card


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.parametrize(
    "code, why",
    [
        ("P-01\u200b", "invisible or direction characters (U+200B)"),
        ("10-60-\u202e4202", "invisible or direction characters (U+202E)"),
        ("A\x07", "control characters (U+0007)"),
        ("P 01", "may hold only letters, digits, '-', '_' and '.'"),
        ("=cmd|' /C calc'!A0", "may hold only letters, digits"),
    ],
)
def test_unsafe_subject_codes_are_refused(capsys, code, why):
    result, _, err = run(capsys, "subject", "add", code)
    assert result == 2 and why in err and len(err.splitlines()) == 1
    assert run(capsys, "subject", "list", "--json")[1].strip() == "[]"


def test_nfd_is_the_same_code_and_lookalikes_are_warned(capsys):
    assert run(capsys, "subject", "add", "Zoë-1")[0] == 0
    code, _, err = run(capsys, "subject", "add", "Zoe\u0308-1")  # NFD of the same code
    assert code == 2 and "already exists" in err
    code, _, err = run(capsys, "session", "new", "--subject", "Zoe\u0308-1", "--protocol", "cmas")
    assert code == 0
    assert run(capsys, "subject", "add", "PAT-7")[0] == 0
    code, _, err = run(capsys, "subject", "add", "\u0420AT-7")  # Cyrillic Р
    assert code == 0 and "looks like the existing subject 'PAT-7'" in err
    code, _, err = run(capsys, "subject", "add", "pat-7")
    assert code == 0 and "looks like" in err


@pytest.mark.parametrize("grade", ["nan", "inf", "-inf", "1e400"])
def test_grades_must_be_finite_and_on_the_scale(capsys, vtest_video, grade):
    main(["subject", "add", "G-1"])
    main(["session", "new", "--subject", "G-1", "--protocol", "cmas"])
    main(["recording", "add", "1", str(vtest_video), "--item", "pick_up"])
    capsys.readouterr()
    code, _, err = run(capsys, "rate", "1", "--", grade)
    assert code == 2 and "is not a grade for Pick-up" in err and "Traceback" not in err


@pytest.mark.parametrize(
    "day", ["20250101", "2025-W01-1", "2025-1-1", "1899-12-31", "2999-01-01", "2025-02-30", "x"]
)
def test_dates_are_strict_iso_from_1900_to_tomorrow(capsys, day):
    main(["subject", "add", "D-1"])
    capsys.readouterr()
    code, _, err = run(
        capsys, "session", "new", "--subject", "D-1", "--protocol", "cmas", "--date", day
    )
    assert code == 2 and len(err.splitlines()) == 1
    assert "not a date like 2026-03-31" in err or "is not between 1900-01-01" in err


def write_protocol(tmp_path, text: str):
    path = tmp_path / "bad.toml"
    path.write_text(text, encoding="utf-8")
    return path


GOOD = 'id = "t"\nname = "T"\nkind = "graded"\n'


@pytest.mark.parametrize(
    "body",
    [
        GOOD + "items = [1, 2]",
        GOOD + 'items = [{id = "a", name = "A", grades = [0, inf]}]',
        GOOD + 'items = [{id = "a", name = "A", grades = [0, nan]}]',
        GOOD + 'items = [{id = "a", name = "A", grades = [0, 10000000000]}]',
        GOOD + 'items = [{id = "a", name = "A", grades = [0, 2], criteria = [1, 2, 3]}]',
        GOOD + 'items = [{id = "a", name = "A", grades = [0, 2], timed = {measure = "s", '
        'thresholds = ["x", "y"]}}]',
        GOOD + 'items = [{id = "a", name = "A", grades = [0, 2], timed = 5}]',
        GOOD + 'items = [{id = "a", name = "A", grades = [0, 2], kinematics = {method = "hold", '
        'signal = "s", x = inf}}]',
        GOOD + "items = " + "[" * 5000 + "]" * 5000,
        GOOD + "# " + "x" * 300_000 + '\nitems = [{id = "a", name = "A", grades = [0, 2]}]',
    ],
)
def test_every_malformed_protocol_is_a_protocol_error(tmp_path, body):
    with pytest.raises(ProtocolError):
        load_protocol(write_protocol(tmp_path, body))


def test_a_good_protocol_still_loads(tmp_path):
    path = write_protocol(tmp_path, GOOD + 'items = [{id = "a", name = "A", grades = [0, 2]}]')
    assert load_protocol(path).item("a").grades == [0, 1, 2]
    assert math.isfinite(get_protocol("cmas").max_total)


def write_card(folder, text: str):
    folder.mkdir(exist_ok=True)
    (folder / "card.json").write_text(text, encoding="utf-8")
    return folder


def test_a_card_nested_200000_deep_is_refused(tmp_path):
    folder = write_card(tmp_path / "deep", "[" * 200_000 + "]" * 200_000)
    with pytest.raises(CheckpointError, match="nested more than 32 deep"):
        read_card(folder)
    nested = {"name": "mcmoe", "preset": "small", "extras": {}}
    inner = nested["extras"]
    for _ in range(40):
        inner["x"] = {}
        inner = inner["x"]
    with pytest.raises(CheckpointError, match="nested more than 32 deep"):
        read_card(write_card(tmp_path / "deep2", json.dumps(nested)))
    with pytest.raises(CheckpointError, match="larger than"):
        read_card(write_card(tmp_path / "big", " " * (2 << 20) + "{}"))


def test_a_card_asking_for_a_480_gb_model_is_refused_before_allocation(tmp_path):
    """hidden = 2,000,000 would need ~480 GB of float32: sized on the meta device, refused."""
    huge = {"name": "mcmoe", "preset": "small", "overrides": {"hidden": 2_000_000}}
    with pytest.raises(CheckpointError, match="parameters; at most 500,000,000 are loaded"):
        build_from_card(huge, tmp_path)
    bad = {"name": "mcmoe", "preset": "small", "overrides": {"hidden": -5}}
    with pytest.raises(CheckpointError, match="describes no buildable model"):
        build_from_card(bad, tmp_path)
    small = build_from_card({"name": "mcmoe", "preset": "small"}, tmp_path)
    assert not any(p.is_meta for p in small.parameters())
