"""One time origin (the container's start) for decoded frames, every track, the frame reader and
the audio; and the skeleton's smoothing paced by the real frame times."""

import numpy as np
import pytest
import videos

from engine.cache import Cache
from engine.extract.config import ExtractionConfig
from engine.extract.pipeline import extract
from engine.media.decode import VideoDecoder
from engine.media.reader import FrameReader

FPS, RATE, FLASH = 30, 16000, 30  # the flash is frame 30


@pytest.mark.parametrize(
    ("video_start", "audio_start"),
    [(0.2, 0.5), (0.3, 0.0)],  # audio starts after the video, and before it
)
def test_flash_and_click_line_up(tmp_path, video_start, audio_start):
    frames = [np.full((96, 128, 3), 255 if i == FLASH else 40, np.uint8) for i in range(60)]
    times = [video_start + i / FPS for i in range(60)]
    flash = times[FLASH] - min(video_start, audio_start)  # from the container's start
    audio = np.zeros(int(2.2 * RATE), np.float32)
    click = round((times[FLASH] - audio_start) * RATE)
    audio[click : click + 160] = 0.9
    path = videos.write_video(
        tmp_path / "sync.mp4", frames, FPS, audio=audio, times=times, audio_start=audio_start
    )
    config = ExtractionConfig.parse("flow,audio", device="cpu")
    result = extract(path, config, cache=Cache(tmp_path / "cache"))
    decoded = list(VideoDecoder(path).frames())
    seen = next(f.time for f in decoded if f.image.mean() > 200)
    assert seen == pytest.approx(flash, abs=1e-3)
    np.testing.assert_allclose(result.track("flow").times, [f.time for f in decoded])
    audio_track = result.track("audio")
    heard = audio_track.times[np.argmax(audio_track["logmel"].sum(axis=1))]
    assert heard == pytest.approx(flash, abs=1 / FPS)
    reader = FrameReader(path)
    assert reader.frame(reader.index_at(seen)).mean() > 200
    assert reader.time_of(reader.index_at(seen)) == pytest.approx(seen, abs=1e-3)


def test_skeleton_smoothing_follows_the_frame_times(demo_clip):
    """At the fast profile's 10 fps the tracked region is smoothed over 0.1 s steps."""
    from engine.extract.blazepose import BlazePose
    from engine.extract.registry import StreamInfo
    from engine.extract.skeleton import SkeletonBackend

    decoder = VideoDecoder(demo_clip, fps=10.0, short_side=360)
    frames = list(decoder.frames())
    assert np.diff([f.time for f in frames]) == pytest.approx(0.1, abs=0.02)
    backend = SkeletonBackend(short_side=360)
    backend.start(StreamInfo(*decoder.size, decoder.scale, decoder.output_fps, len(frames)))
    for frame in frames:
        backend.update(frame)
    assert backend.pose._aux_filter._frequency == pytest.approx(10.0, rel=0.2)
    track = backend.finish()
    timed = BlazePose()
    coco = np.stack([timed.process(f.image, f.time).coco17 for f in frames])
    assert decoder.scale == 1.0  # the clip is 360 high: no rescaling to undo
    np.testing.assert_array_equal(track["coco17"], coco)
