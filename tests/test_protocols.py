"""The protocol catalog: shipped files, grade ranges, criteria and validation of bad files."""

import json
from pathlib import Path

import pytest

from engine.cli import main
from engine.errors import NotFoundError, ProtocolError
from engine.protocols import catalog, get_protocol, load_protocol

CMAS_RANGES = {
    "head_elevation": 5,
    "leg_raise": 2,
    "straight_leg_lift": 5,
    "supine_to_prone": 3,
    "sit_ups": 6,
    "supine_to_sit": 3,
    "arm_raise_straighten": 3,
    "arm_raise_duration": 4,
    "floor_sit": 4,
    "all_fours": 4,
    "floor_rise": 4,
    "chair_rise": 4,
    "stool_step": 3,
    "pick_up": 2,
}


def test_catalog_has_every_protocol():
    assert set(catalog()) == {"cmas", "mm-jdm", "rg", "fis-v", "fs1000"}


def test_cmas_items_ranges_and_total():
    cmas = get_protocol("cmas")
    assert {i.id: int(i.high) for i in cmas.items} == CMAS_RANGES
    assert all(i.low == 0 and i.integer for i in cmas.items)
    assert cmas.max_total == 52
    assert all(len(i.criteria) == len(i.grades) for i in cmas.items)


def test_mm_jdm_follows_the_paper_table():
    mm = get_protocol("mm-jdm")
    ranges = [int(i.high) for i in mm.items[:12]]
    assert ranges == [5, 2, 5, 4, 6, 3, 3, 4, 3, 4, 4, 3]
    cmas_ids = {i.id for i in get_protocol("cmas").items}
    assert all(i.cmas_item in cmas_ids for i in mm.items)


def test_sports_protocols_are_continuous_with_paper_ranges():
    assert [i.high for i in get_protocol("fs1000").items] == [130, 60, 10, 10, 10, 10, 10]
    assert [i.high for i in get_protocol("fis-v").items] == [45, 40]
    assert {i.high for i in get_protocol("rg").items} == {25}
    assert get_protocol("rg").max_total is None
    assert get_protocol("rg").item("ball").grades == []


@pytest.mark.parametrize(
    ("seconds", "grade"),
    [(0, 0), (0.9, 0), (1, 1), (9.9, 1), (10, 2), (29.5, 2), (30, 3), (59, 3), (60, 4), (120, 5)],
)
def test_head_elevation_seconds_to_grade(seconds, grade):
    item = get_protocol("cmas").item("head_elevation")
    assert item.criterion.grade_for(seconds, 5) == grade


def test_arm_raise_duration_and_sit_up_count():
    cmas = get_protocol("cmas")
    arm = cmas.item("arm_raise_duration")
    assert [arm.criterion.grade_for(s, 4) for s in (0, 5, 15, 45, 61, 300)] == [0, 1, 2, 3, 4, 4]
    sit = cmas.item("sit_ups")
    assert [sit.criterion.grade_for(n, 6) for n in (0, 3, 6, 9)] == [0, 3, 6, 6]


def test_grade_validation_messages():
    item = get_protocol("cmas").item("leg_raise")
    assert item.check_value(2) == 2
    with pytest.raises(ProtocolError, match="whole number from 0 to 2"):
        item.check_value(3)
    with pytest.raises(ProtocolError, match="whole number"):
        item.check_value(1.5)
    tes = get_protocol("fis-v").item("tes")
    assert tes.check_value(33.25) == 33.25
    with pytest.raises(ProtocolError, match="outside the range"):
        tes.check_value(46)


def test_unknown_protocol_and_item():
    with pytest.raises(NotFoundError, match="no protocol 'nope'"):
        get_protocol("nope")
    with pytest.raises(ProtocolError, match="no item 'jump'"):
        get_protocol("cmas").item("jump")


GOOD_ITEM = '[[items]]\nid = "a"\nname = "A"\ngrades = [0, 2]\n'


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("id = ", "not valid TOML"),
        ('id = "x"\nname = "X"\n' + GOOD_ITEM, "'kind' is missing"),
        ('id = "x"\nname = "X"\nkind = "fuzzy"\n' + GOOD_ITEM, "kind must be one of"),
        ('id = "x"\nname = "X"\nkind = "graded"\nitems = []\n', "has no items"),
        ('id = "x"\nname = "X"\nkind = "graded"\n' + GOOD_ITEM + GOOD_ITEM, "must be unique"),
        (
            'id = "x"\nname = "X"\nkind = "graded"\n[[items]]\nid = "a"\nname = "A"\n'
            "grades = [3, 1]\n",
            "low < high",
        ),
        (
            'id = "x"\nname = "X"\nkind = "graded"\n' + GOOD_ITEM + 'criteria = ["only one"]\n',
            "1 criteria given for 3 grades",
        ),
        (
            'id = "x"\nname = "X"\nkind = "graded"\n'
            + GOOD_ITEM
            + 'timed = { measure = "s", thresholds = [10, 5] }\n',
            "increasing",
        ),
        ('id = "x"\nname = 3\nkind = "graded"\n' + GOOD_ITEM, "'name' has the wrong type"),
    ],
)
def test_bad_protocol_files(tmp_path: Path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ProtocolError, match=message) as info:
        load_protocol(path)
    assert "bad.toml" in str(info.value)


def test_cli_protocols_json(capsys):
    assert main(["protocols", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert {p["id"] for p in listed} == set(catalog())
    assert main(["protocols", "show", "cmas", "--json"]) == 0
    cmas = json.loads(capsys.readouterr().out)
    assert cmas["max_total"] == 52 and len(cmas["items"]) == 14
    head = cmas["items"][0]
    assert head["criterion"]["thresholds"] == [1, 10, 30, 60, 120]


def test_cli_protocols_show_text_and_unknown(capsys):
    assert main(["protocols", "show", "cmas"]) == 0
    out = capsys.readouterr().out
    assert "maximum total: 52" in out and "head_elevation" in out
    assert main(["protocols", "show", "nope"]) == 2
    assert "no protocol 'nope'" in capsys.readouterr().err
