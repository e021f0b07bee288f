"""Kinematics on generated stick figures with known answers: angles, holds, repetitions, rises."""

import numpy as np
import pytest
import skeletons as sk
from skeletons import KNEELING, SITTING, STANDING, SUPINE, Pose, lerp, series

from engine.errors import InputError, ProtocolError
from engine.kinematics.angles import joint_angle, joint_angles
from engine.kinematics.definitions import check, definition_for
from engine.kinematics.features import FEATURE_NAMES, kinematic_features
from engine.kinematics.holds import find_holds, longest_hold
from engine.kinematics.measure import measure
from engine.kinematics.repetitions import count_repetitions, time_to_complete
from engine.kinematics.skeleton import JOINT, BodyGeometry, SkeletonSeries
from engine.kinematics.smoothing import median_smooth
from engine.protocols import Kinematics, catalog, get_protocol, load_protocol

FPS = 30
HEAD_UP = Pose(**{**SUPINE.__dict__, "head": 45})
ARMS_UP = Pose(**{**SITTING.__dict__, "upper_arm": 0, "forearm": 0})


def frames(pose: Pose, seconds: float) -> list[Pose]:
    return [pose] * round(seconds * FPS)


def angles_of(*poses: Pose, confidence: float = 1.0) -> dict[str, np.ndarray]:
    s = series(list(poses))
    kp = s.keypoints.copy()
    kp[..., 2] = confidence
    return joint_angles(BodyGeometry(SkeletonSeries(kp, s.times, s.detected)))


# --- angles -------------------------------------------------------------------------------------


def test_joint_angle_on_hand_made_points():
    vertex = np.array([[0.0, 0.0]])
    assert joint_angle(np.array([[0.0, -5.0]]), vertex, np.array([[3.0, 0.0]]))[0] == 90
    assert joint_angle(np.array([[-2.0, 0.0]]), vertex, np.array([[7.0, 0.0]]))[0] == 180
    assert joint_angle(np.array([[1.0, 1.0]]), vertex, np.array([[2.0, 0.0]]))[0] == 45
    assert np.isnan(joint_angle(np.array([[0.0, 0.0]]), vertex, np.array([[1.0, 0.0]]))[0])


def test_angles_of_known_postures():
    bent = Pose(upper_arm=180, forearm=90)  # upper arm down, forearm forward: a right angle
    a = angles_of(STANDING, SUPINE, SITTING, bent, ARMS_UP, HEAD_UP)
    assert a["trunk"] == pytest.approx([0, 90, 0, 0, 0, 90], abs=1e-9)
    assert a["left_elbow"] == pytest.approx([180, 180, 180, 90, 180, 180])
    assert a["right_knee"] == pytest.approx([180, 180, 90, 180, 90, 180])
    assert a["left_hip"] == pytest.approx([180, 180, 90, 180, 90, 180])
    assert a["left_shoulder"] == pytest.approx([0, 0, 0, 0, 180, 0], abs=1e-9)
    assert a["neck"] == pytest.approx([0, 0, 0, 0, 0, 45], abs=1e-9)


def test_low_confidence_joints_give_nan():
    a = angles_of(STANDING, confidence=0.1)
    assert all(np.isnan(v[0]) for v in a.values())
    s = series([STANDING])
    kp = s.keypoints.copy()
    kp[0, JOINT["left_wrist"], 2] = 0.05
    a = joint_angles(BodyGeometry(SkeletonSeries(kp, s.times, s.detected)))
    assert np.isnan(a["left_elbow"][0]) and a["right_elbow"][0] == pytest.approx(180)


def test_series_rejects_bad_shapes_and_times():
    with pytest.raises(InputError, match="17, 3"):
        SkeletonSeries(np.zeros((4, 33, 3)), np.arange(4), np.ones(4, bool))
    with pytest.raises(InputError, match="increase"):
        SkeletonSeries(np.zeros((3, 17, 3)), np.array([0, 1, 1]), np.ones(3, bool))


# --- holds and repetitions on raw signals ---------------------------------------------------------


def test_hold_hysteresis_and_gap_tolerance():
    t = np.arange(100) / 10
    v = np.zeros(100)
    v[10:60] = 1.0
    v[30:35] = 0.6  # between off and on: the hold goes on
    v[40:42] = np.nan  # 0.2 s unknown: tolerated
    holds = find_holds(v, t, on=1.0, off=0.5, max_gap_s=0.3)
    assert len(holds) == 1 and holds[0].seconds == pytest.approx(5.0)
    v[40:44] = np.nan  # 0.4 s unknown: breaks the hold, conservatively at its start
    holds = find_holds(v, t, on=1.0, off=0.5, max_gap_s=0.3)
    assert [round(h.seconds, 6) for h in holds] == [3.0, 1.6]
    v[10:20] = 0.7  # starts only once the value reaches on
    assert longest_hold(v, t, on=1.0, off=0.5).start == pytest.approx(2.0)
    assert longest_hold(np.zeros(10), t[:10], on=1.0, off=0.5) is None


def test_hold_to_the_end_lasts_its_frames():
    t = np.arange(10) / 30
    (hold,) = find_holds(np.ones(10), t, on=1.0, off=0.0)
    assert hold.seconds == pytest.approx(10 / 30)


def test_repetitions_need_to_come_back_down():
    t = np.arange(12, dtype=float)
    v = np.array([2, 0, 2, 1, 2, 0, np.nan, 2, 0, 0.5, 0, 2])  # starts up: not counted
    reps = count_repetitions(v, t, on=2, off=0)
    assert [r.top for r in reps] == [2, 7, 11]
    assert [r.start for r in reps] == [1, 5, 10]


def test_time_to_complete():
    t = np.arange(10) / 10
    done = time_to_complete(
        np.array([0, 0, 1, 1, 1, 1, 1, 1, 1, 1]), np.r_[np.zeros(6), np.ones(4)], t
    )
    assert (done.onset, done.done, round(done.seconds, 6)) == (0.2, 0.6, 0.4)
    assert time_to_complete(np.zeros(10), np.ones(10), t).seconds is None
    assert time_to_complete(np.ones(10), np.zeros(10), t).done is None
    already = time_to_complete(np.ones(10), np.ones(10), t)  # in the goal posture all along
    assert already.onset == 0 and already.done is None
    back = np.array([1, 1, 0, np.nan, 0, 1, 1, 1, 1, 1.0])  # leaves the goal, then comes back
    assert time_to_complete(np.r_[0, np.ones(9)], back, t).done == 0.5


# --- items measured on generated sequences ------------------------------------------------------


def head_lift_sequence(held: float, **kw) -> SkeletonSeries:
    return series(frames(SUPINE, 3) + frames(HEAD_UP, held) + frames(SUPINE, 3), **kw)


def test_head_elevation_exact_seconds_and_grade():
    m = measure(head_lift_sequence(12.0), "cmas", "head_elevation")
    assert m.value == 12.0 and m.grade == 2
    assert m.events == [{"start": 3.0, "end": 15.0, "seconds": 12.0}]
    assert m.summary() == "held 12.0 s -> criterion grade 2"
    assert measure(head_lift_sequence(0.5), "cmas", "head_elevation").grade == 0
    assert measure(series(frames(SUPINE, 5)), "cmas", "head_elevation").value == 0.0


def test_head_elevation_with_jitter_and_short_dropouts():
    s = head_lift_sequence(12.0, jitter=2.0, dropouts=((150, 155), (300, 306)), seed=3)
    m = measure(s, "cmas", "head_elevation")
    assert abs(m.value - 12.0) <= 1 / FPS + 1e-9 and m.grade == 2
    assert len(m.events) == 1


def test_pose_glitches_do_not_break_or_make_holds():
    s = head_lift_sequence(12.0)
    kp = s.keypoints.copy()
    up = kp[100].copy()
    kp[[200, 201, 350]] = kp[0]  # the head seen down on single frames during the hold
    kp[[20, 50, 51]] = up  # and up on single frames before it
    m = measure(SkeletonSeries(kp, s.times, s.detected), "cmas", "head_elevation")
    assert m.events == [{"start": 3.0, "end": 15.0, "seconds": 12.0}]
    kp[200:215] = kp[0]  # a real drop of 0.5 s
    m = measure(SkeletonSeries(kp, s.times, s.detected), "cmas", "head_elevation")
    assert [e["seconds"] for e in m.events] == pytest.approx(
        [200 / FPS - 3, 15 - 215 / FPS], abs=1e-3
    )


def test_median_smooth_keeps_steps_and_gaps():
    t = np.arange(12) / 30
    v = np.array([0, 0, 5, 0, 0, 0, 1, 1, 1, np.nan, 1, 1], float)
    out = median_smooth(v, t, 5 / 30)
    assert out[2] == 0 and out[5] == 0 and out[6] == 1 and np.isnan(out[9])
    assert np.array_equal(median_smooth(v, t, 0), v, equal_nan=True)


def test_a_long_dropout_breaks_the_hold():
    s = head_lift_sequence(12.0, dropouts=((270, 285),))  # 0.5 s from 9 s: two holds
    m = measure(s, "cmas", "head_elevation")
    assert [e["seconds"] for e in m.events] == [6.0, 5.5] and m.grade == 1


def test_head_elevation_with_variable_frame_rate():
    times = sk.vfr_times(18.0, seed=1)
    poses = [HEAD_UP if 3.0 <= t < 15.0 else SUPINE for t in times]
    m = measure(series(poses, times=times), "cmas", "head_elevation")
    assert abs(m.value - 12.0) < 1 / 20 and m.grade == 2


def test_arm_raise_duration_61_seconds_is_grade_4():
    s = series(frames(SITTING, 2) + frames(ARMS_UP, 61) + frames(SITTING, 2), jitter=1.5)
    m = measure(s, "cmas", "arm_raise_duration")
    assert abs(m.value - 61.0) <= 1 / FPS and m.grade == 4
    one_arm = Pose(**{**SITTING.__dict__, "upper_arm": 0, "forearm": 0})
    s = series(frames(SITTING, 1) + frames(one_arm, 5))
    kp = s.keypoints.copy()
    kp[:, JOINT["right_wrist"], 1] = kp[:, JOINT["right_hip"], 1]  # right hand stays down
    m = measure(SkeletonSeries(kp, s.times, s.detected), "cmas", "arm_raise_duration")
    assert m.value == 0.0 and m.grade == 0


def test_straight_leg_lift_needs_a_straight_knee():
    lifted = Pose(**{**SUPINE.__dict__, "thigh": 60, "shank": 60})
    bent = Pose(**{**SUPINE.__dict__, "thigh": 30, "shank": 90})  # ankle high, knee at 120 degrees
    m = measure(
        series(frames(SUPINE, 1) + frames(lifted, 15) + frames(SUPINE, 1)),
        "cmas",
        "straight_leg_lift",
    )
    assert m.value == 15.0 and m.grade == 2
    m = measure(series(frames(SUPINE, 1) + frames(bent, 15)), "cmas", "straight_leg_lift")
    assert m.value == 0.0


def sit_up_cycle(up: float = -10, seconds: float = 2.0) -> list[Pose]:
    """Lying -> sitting (trunk ``up`` degrees from vertical) -> lying, arms along the body."""
    n = round(seconds * FPS)
    top = Pose(**{**SUPINE.__dict__, "trunk": up})
    half = n // 2
    return [lerp(SUPINE, top, i / half) for i in range(half)] + [
        lerp(top, SUPINE, i / (n - half)) for i in range(n - half)
    ]


def test_five_sit_ups_are_counted():
    poses = frames(SUPINE, 1) + sum((sit_up_cycle() for _ in range(5)), []) + frames(SUPINE, 1)
    m = measure(series(poses, jitter=2.0, dropouts=((100, 104),)), "cmas", "sit_ups")
    assert m.value == 5 and m.grade == 5 and m.summary() == "5 repetitions -> criterion grade 5"
    partial = frames(SUPINE, 1) + sit_up_cycle(up=-70) + sit_up_cycle()  # first only 20 degrees up
    assert measure(series(partial), "cmas", "sit_ups").value == 1


def test_floor_rise_time_to_complete():
    rise = [lerp(KNEELING, STANDING, i / 60) for i in range(61)]  # 2 s, knee 90 -> 180 degrees
    s = series(frames(KNEELING, 1) + rise + frames(STANDING, 1))
    m = measure(s, "cmas", "floor_rise")
    # Knee angle 90 + 90 t >= 160 first at t = 7/9 (frame 47 of the rise, 30 + 47 = frame 77).
    hip_y = s.keypoints[:, JOINT["left_hip"], 1]
    onset = int(np.flatnonzero((hip_y[0] - hip_y) / sk.TORSO >= 0.1)[0])
    assert m.events == [{"onset": round(onset / FPS, 3), "done": round(77 / FPS, 3)}]
    assert m.value == pytest.approx((77 - onset) / FPS, abs=1e-3) and m.grade is None
    assert measure(series(frames(KNEELING, 3)), "cmas", "floor_rise").summary() == (
        "not completed (no movement onset seen)"
    )
    jump = series(frames(STANDING, 2))  # standing all along, then the hips go up: a jump
    kp = jump.keypoints.copy()
    kp[30:40, :, 1] -= 30
    stands = measure(SkeletonSeries(kp, jump.times, jump.detected), "cmas", "chair_rise")
    assert stands.events == [{"onset": 1.0, "done": None}]
    assert stands.summary() == "not completed (goal posture not reached after it)"


def test_no_person_is_a_clear_error():
    s = series(frames(SUPINE, 1), dropouts=((0, 30),))
    with pytest.raises(InputError, match="No person was detected"):
        measure(s, "cmas", "head_elevation")


def test_items_without_a_definition_give_angles_only():
    m = measure(series(frames(STANDING, 1)), "cmas", "pick_up")
    assert m.method is None and m.grade is None
    assert m.angles["trunk"].median == 0 and m.angles["left_knee"].known == 1.0


# --- features ---------------------------------------------------------------------------------


def test_feature_layout():
    s = series(frames(SUPINE, 1) + frames(STANDING, 1), dropouts=((5, 6),))
    f = kinematic_features(s)
    assert f.shape == (60, len(FEATURE_NAMES)) == (60, 61) and f.dtype == np.float32
    col = {n: i for i, n in enumerate(FEATURE_NAMES)}
    assert f[0, col["angle_trunk"]] == pytest.approx(0.5) and f[40, col["angle_trunk"]] == 0
    assert f[40, col["height_left_shoulder"]] == pytest.approx(1.0)
    assert f[5, col["confident_nose"]] == 0 and f[6, col["confident_nose"]] == 1
    assert not np.isnan(f).any()
    jump = f[28:32, col["height_rate_left_shoulder"]]
    assert jump.max() > 1.0  # the shoulder rises by a body scale between frames 29 and 30


# --- protocol definitions -------------------------------------------------------------------


def test_every_shipped_definition_is_complete():
    measured = set()
    for protocol in catalog().values():
        for item in protocol.items:
            if definition_for(protocol.id, item) is not None:
                measured.add((protocol.id, item.id))
    assert {
        ("cmas", "head_elevation"),
        ("cmas", "sit_ups"),
        ("cmas", "arm_raise_duration"),
    } <= measured
    cmas = get_protocol("cmas")
    for item in get_protocol("mm-jdm").items:  # each MM-JDM action is measured like its CMAS item
        assert item.kinematics == cmas.item(item.cmas_item).kinematics


@pytest.mark.parametrize(
    ("kinematics", "message"),
    [
        (Kinematics("hold", "frown", (("on", 1.0),)), "unknown signal 'frown'"),
        (Kinematics("hold", "head_lift", (("on", 1.0), ("off", 0.0))), "lacks max_gap_s, smooth"),
        (
            Kinematics(
                "repetitions",
                "trunk_upright",
                (("on", 1.0), ("off", 0.0), ("knee_on", 1.0), ("smooth_s", 0.1)),
            ),
            "unused knee_on",
        ),
    ],
)
def test_bad_definitions(kinematics, message):
    with pytest.raises(ProtocolError, match=message):
        check(kinematics, "test")


HEAD = '[[items]]\nid = "a"\nname = "A"\ngrades = [0, 2]\n'


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ('[items.kinematics]\nmethod = "stare"\nsignal = "x"\n', "method must be one of"),
        ('[items.kinematics]\nmethod = "hold"\n', "'signal' is missing"),
        ('[items.kinematics]\nmethod = "hold"\nsignal = "x"\non = "high"\n', "must be a number"),
        ('[items.kinematics]\nmethod = "hold"\nsignal = "x"\non = 1\noff = 2\n', "'off' below"),
        ('[items.kinematics]\nmethod = "hold"\nsignal = "x"\nknee_on = 1\n', "'knee_off' below"),
        (
            'count = { measure = "repetitions", per_grade = 1 }\n'
            '[items.kinematics]\nmethod = "hold"\nsignal = "x"\n',
            "measured by 'repetitions'",
        ),
        ("kinematics = 3\n", "must be a table"),
    ],
)
def test_bad_kinematics_tables(tmp_path, extra, message):
    path = tmp_path / "bad.toml"
    path.write_text('id = "x"\nname = "X"\nkind = "graded"\n' + HEAD + extra)
    with pytest.raises(ProtocolError, match=message):
        load_protocol(path)


def test_kinematics_table_is_parsed(tmp_path):
    path = tmp_path / "ok.toml"
    path.write_text(
        'id = "x"\nname = "X"\nkind = "graded"\n'
        + HEAD
        + '[items.kinematics]\nmethod = "hold"\nsignal = "head_lift"\non = 0.2\noff = 0.1\n'
        + "max_gap_s = 0.5\nsmooth_s = 0\n"
    )
    item = load_protocol(path).item("a")
    assert item.kinematics.param("max_gap_s") == 0.5
    params = {"on": 0.2, "off": 0.1, "max_gap_s": 0.5, "smooth_s": 0.0}
    assert check(item.kinematics, "x").params == params
