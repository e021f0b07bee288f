"""``aqa render``: overlays drawn on one frame or the whole video."""

import numpy as np
import pytest

from engine.cli import main
from engine.errors import InputError
from engine.media.probe import probe
from engine.render import confidence_colour, draw_skeleton, render


def test_confidence_colours():
    assert confidence_colour(0.0) == (255, 0, 0)
    assert confidence_colour(0.5) == (255, 255, 0)
    assert confidence_colour(1.0) == (0, 255, 0)


def test_draw_skeleton_marks_confident_joints_only():
    image = np.zeros((200, 200, 3), np.uint8)
    pose = np.zeros((17, 3), np.float32)
    pose[5] = (50, 50, 1.0)
    pose[6] = (150, 50, 0.0)  # below the threshold: not drawn
    draw_skeleton(image, pose)
    assert tuple(image[50, 50]) == (0, 255, 0)
    assert not image[40:60, 140:160].any()


def test_render_one_frame(demo_clip, pose_models, tmp_path):
    import cv2

    out = render(demo_clip, tmp_path / "f.png", frame=45, short_side=360)
    image = cv2.imread(str(out))
    assert image.shape == (360, 640, 3)
    plain = render(demo_clip, tmp_path / "plain.png", overlays=["flow"], frame=45, short_side=360)
    drawn = cv2.imread(str(plain))
    # The skeleton adds pure green joints that the flow-only picture lacks.
    green = (image[..., 1] > 200) & (image[..., 0] < 60) & (image[..., 2] < 60)
    green_plain = (drawn[..., 1] > 200) & (drawn[..., 0] < 60) & (drawn[..., 2] < 60)
    assert green.sum() > green_plain.sum() + 20


def test_render_video_cli(demo_clip, tmp_path, capsys):
    out = tmp_path / "out dir" / "overlay.mp4"
    assert main(["render", str(demo_clip), "--overlay", "flow", "-o", str(out)]) == 0
    info = probe(out)
    assert info.frame_count == 90 and (info.width, info.height) == (640, 360)
    assert not list(out.parent.glob("*.part"))


def test_render_refuses_bad_requests(demo_clip, tmp_path, capsys):
    with pytest.raises(InputError):
        render(demo_clip, tmp_path / "x.png", overlays=["heat"], frame=0)
    with pytest.raises(InputError):
        render(demo_clip, tmp_path / "x.mp4", frame=0)
    code = main(["render", str(demo_clip), "--frame", "5000", "-o", str(tmp_path / "x.png")])
    assert code == 2 and "outside the video" in capsys.readouterr().err
