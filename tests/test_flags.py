"""Review flags: from a real damaged video to the tree and the grade panel, and every kind's reason."""

import re

import pytest
import videos

from engine.flags import proposal_flags, short_text
from engine.grading.service import grade_recording
from engine.recordings import import_recording
from engine.store import Store

ITEM = "arm_raise_duration"  # the demo model's item


def proposal(**details) -> dict:
    return {"grade": 3, "uncertain": 0, "grade_probs": [0.1, 0.2, 0.3, 0.4], "details": details}


def test_each_kind_has_its_reason():
    assert proposal_flags(None) == [] and proposal_flags(proposal()) == []
    flags = proposal_flags(
        {
            **proposal(
                disagrees_with_measurement=True,
                criterion_grade=1,
                measurement_text="held 12 s",
                modalities_missing={"audio": "the video has no audio stream"},
                decode={"bad_packets": 0, "corrupt_frames": 2},
                subject={"chosen_by": "auto", "ambiguous": True, "people": 3, "swaps": [4.25]},
            ),
            "uncertain": 1,
        }
    )
    assert [f.text for f in flags] == [
        "The model proposes 3 but the measurement gives 1 (held 12 s).",
        "Uncertain proposal: its probability is spread (the most likely grade has 40%).",
        "The subject was chosen automatically among 3 people, and the choice was ambiguous: "
        "please confirm it.",
        "The subject's track swapped between people 1 time (at 4.2 s).",
        "No audio: the video has no audio stream.",
        "Damaged video: 2 corrupt frames; the result may miss those moments.",
    ]
    assert short_text(flags) == (
        "⚠ differs from measurement, uncertain, subject, modality missing, damaged video"
    )


@pytest.mark.parametrize(
    "subject, flagged",
    [
        ({"chosen_by": "auto", "ambiguous": False, "people": 1, "swaps": []}, False),
        ({"chosen_by": "user", "ambiguous": False, "people": 4, "swaps": []}, False),
        ({"chosen_by": "auto", "ambiguous": False, "people": 2, "swaps": []}, True),
        ({"chosen_by": "user", "people": 2, "swaps": [{"time_s": 1.5}]}, True),
    ],
)
def test_subject_flag_only_when_the_choice_needs_a_look(subject, flagged):
    assert bool(proposal_flags(proposal(subject=subject))) == flagged


def test_tree_and_grade_panel_show_the_flags_of_a_damaged_video(
    qtbot, demo_clip, pose_models, tmp_path
):
    from app.grade_panel import GradePanel
    from app.session_tree import SessionTree

    damaged = videos.corrupt_middle(demo_clip, tmp_path / "damaged.mp4", packets=[40, 41, 42])
    store = Store()
    store.add_subject("F-1")
    session = store.new_session("F-1", "cmas")
    rec = import_recording(store, session["id"], damaged, ITEM)
    row = grade_recording(store, rec["id"])
    tree = SessionTree(store)
    qtbot.addWidget(tree)
    tree.reload()
    tree.select("recording", rec["id"])
    node = tree.currentItem()
    # The narrow column: how many kinds of flag; every reason in the tooltip.
    assert re.fullmatch(r"● graded  ⚠ \d", node.text(1)), node.text(1)
    assert "Damaged video: 3 unreadable packets skipped" in node.toolTip(1)
    panel = GradePanel()
    qtbot.addWidget(panel)
    panel.show_assessment(row)
    assert "⚠ Damaged video: 3 unreadable packets skipped" in panel.flags.text()
    panel.show_assessment(None)
    assert panel.flags.text() == ""
    store.close()
