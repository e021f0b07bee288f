"""Demo models of every family: registered before any grading, the better one by cross-validated
SRCC active, the other selectable; each grades the sports2d demo from the CLI, stored and reported."""

import json

import pytest

from engine.cli import main
from engine.grading.model_files import RESOURCE, demo_dirs, register_demos
from engine.protocols import get_protocol
from engine.store import Store


def listed(capsys, *argv) -> list[dict]:
    assert main(["models", "list", *argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_every_cmas_item_ships_both_families():
    for item in get_protocol("cmas").items:
        names = [d.name for d in demo_dirs("cmas", item.id)]
        assert names == ["dualalign", "mcmoe"], item.id


def test_listed_before_any_grading_and_best_cv_active(capsys):
    rows = listed(capsys, "--protocol", "cmas", "--item", "head_elevation")
    assert sorted(r["name"] for r in rows) == ["dualalign", "mcmoe"]
    assert all(r["demo"] for r in rows)
    active = [r for r in rows if r["status"] == "active"]
    assert len(active) == 1
    best = max(rows, key=lambda r: r["metrics"]["cv_srcc"])
    assert active[0]["id"] == best["id"]
    assert all(r["metrics"]["cv_folds"] == 3 for r in rows)
    # Listing again registers nothing twice.
    assert len(listed(capsys, "--protocol", "cmas", "--item", "head_elevation")) == 2
    # The sports scores ship one MCMoE each.
    assert [r["name"] for r in listed(capsys, "--protocol", "rg", "--item", "ball")] == ["mcmoe"]


def test_demo_of_an_older_layout_is_retired_not_served(capsys):
    with Store() as store:
        old = store.register_model(
            "cmas", "leg_raise", "mcmoe", f"{RESOURCE}models/cmas/leg_raise", {}, demo=True,
            status="active", actor="aqa",
        )  # fmt: skip
        added = register_demos(store, "cmas", "leg_raise")
        assert len(added) == 2
        assert store.model(old["id"])["status"] == "retired"
        assert store.active_model("cmas", "leg_raise")["id"] in {r["id"] for r in added}


@pytest.mark.slow
@pytest.mark.parametrize("family", ["dualalign", "mcmoe"])
def test_each_family_grades_the_demo_recording(family, demo_clip, pose_models, capsys, tmp_path):
    assert main(["subject", "add", "DEMO-9"]) == 0
    assert main(["session", "new", "--subject", "DEMO-9", "--protocol", "cmas"]) == 0
    assert main(["recording", "add", "1", str(demo_clip), "--item", "head_elevation"]) == 0
    capsys.readouterr()
    rows = listed(capsys, "--protocol", "cmas", "--item", "head_elevation")
    model = next(r for r in rows if r["name"] == family)
    assert main(["grade", "1", "--model", str(model["id"]), "--json"]) == 0
    graded = json.loads(capsys.readouterr().out)
    assert graded["model_id"].startswith(f"{family}/cmas/head_elevation/")
    used = set(graded["details"]["modalities_used"])
    assert used == set(model["card"]["modalities"])  # every modality it reads was extracted
    with Store() as store:
        stored = store.latest_assessment(1)
    assert stored["model_id"] == graded["model_id"]
    pdf = tmp_path / "sheet.pdf"
    assert main(["report", "1", "--pdf", str(pdf)]) == 0
    assert pdf.stat().st_size > 0
    capsys.readouterr()
    assert main(["report", "1", "--json"]) == 0
    assert graded["model_id"] in capsys.readouterr().out
