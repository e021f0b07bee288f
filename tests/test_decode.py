"""Streaming decoding: sizes, frame-rate thinning, timestamps, rotation, damage, audio."""

import time
import types

import numpy as np
import pytest
import videos

from engine.errors import Cancelled, MediaError
from engine.jobs import CancelToken
from engine.media.ahead import ReadAhead
from engine.media.decode import (
    AUDIO_RATE,
    Scaler,
    VideoDecoder,
    decode_audio,
    scaled_size,
    to_rgb,
)
from engine.media.kept import KeptFrames


def test_frames_are_streamed_with_times(demo_clip):
    decoder = VideoDecoder(demo_clip)
    frames = decoder.frames()
    assert isinstance(frames, types.GeneratorType)
    first = next(frames)
    assert first.index == 0 and first.time == 0.0
    assert first.image.shape == (360, 640, 3) and first.image.dtype == np.uint8
    rest = list(frames)
    assert len(rest) + 1 == 90 == decoder.stats.yielded == decoder.stats.decoded
    times = np.array([f.time for f in rest])
    assert np.allclose(np.diff(times), 1 / 30, atol=1e-3)
    assert decoder.stats.bad == 0


def test_short_side_and_fps(demo_clip):
    decoder = VideoDecoder(demo_clip, fps=10, short_side=180)
    frames = list(decoder.frames())
    assert decoder.size == (320, 180) and decoder.scale == pytest.approx(2.0)
    assert {f.image.shape for f in frames} == {(180, 320, 3)}
    assert len(frames) == 30 == decoder.expected_frames()
    assert [f.index for f in frames[:3]] == [0, 3, 6]
    assert decoder.stats.decoded == 90


@pytest.mark.parametrize("size", [(320, 180), (321, 181)])
def test_one_scaler_per_pass_gives_what_each_frames_own_would(demo_clip, size):
    """A pass keeps one swscale context (frame.reformat sets one up, with its threads, per
    frame); even and odd sizes come out as each frame's own scaler gives them."""
    import av
    import cv2

    width, height = size
    with av.open(str(demo_clip)) as container:
        expected = []
        for frame in container.decode(video=0):
            if width % 2:
                own = frame.to_ndarray(
                    width=width, height=height, format="rgb24", interpolation="AREA"
                )
            else:
                planar = frame.reformat(
                    width=width, height=height, format="yuv420p", interpolation="AREA"
                )
                own = cv2.cvtColor(planar.to_ndarray(), cv2.COLOR_YUV2RGB_I420)
            expected.append(own)
    scaler = Scaler(threads=1)
    with av.open(str(demo_clip)) as container:
        for frame, own in zip(container.decode(video=0), expected, strict=True):
            np.testing.assert_array_equal(to_rgb(frame, width, height, scaler), own)
    if width % 2 == 0:
        frames = list(VideoDecoder(demo_clip, short_side=height).frames())
        assert len(frames) == len(expected)
        for frame, own in zip(frames, expected, strict=True):
            np.testing.assert_array_equal(frame.image, own)


def test_scaled_size_keeps_aspect_and_never_upscales():
    assert scaled_size(1768, 994, 256) == (456, 256)
    assert scaled_size(994, 1768, 256) == (256, 456)
    assert scaled_size(320, 180, 256) == (320, 180)


def test_variable_frame_rate_keeps_timestamps(tmp_path):
    times = [0.0, 0.04, 0.08, 0.2, 0.25, 0.5, 0.52, 0.9, 1.0, 1.3]
    frames = [np.full((64, 96, 3), 20 * i, np.uint8) for i in range(len(times))]
    path = videos.write_video(tmp_path / "vfr.mp4", frames, times=times)
    got = [f.time for f in VideoDecoder(path).frames()]
    assert got == pytest.approx(times, abs=1e-3)
    thinned = [f.time for f in VideoDecoder(path, fps=5).frames()]
    assert thinned == pytest.approx([0.0, 0.2, 0.5, 0.9, 1.0, 1.3], abs=1e-3)


def test_rotated_portrait_comes_out_upright(demo_video, clip_dir):
    path = clip_dir / "decode-portrait.mp4"
    upright = videos.portrait_rotated(demo_video, path, seconds=0.2, short_side=240)
    decoder = VideoDecoder(path)
    image = next(decoder.frames()).image
    assert image.shape == upright.shape
    error = np.abs(image.astype(int) - upright).mean()
    sideways = np.rot90(upright, 2)
    assert error < 6 < np.abs(image.astype(int) - sideways).mean()
    small = next(VideoDecoder(path, short_side=120).frames()).image
    h, w = upright.shape[:2]
    assert small.shape[:2] == (round(h * 120 / w / 2) * 2, 120)


def test_corrupt_frames_in_the_middle(demo_clip, tmp_path):
    path = videos.corrupt_middle(demo_clip, tmp_path / "damaged.mp4", packets=[40, 41, 42])
    decoder = VideoDecoder(path)
    frames = list(decoder.frames())
    assert decoder.stats.bad >= 1
    assert 60 <= len(frames) < 90
    assert frames[-1].time == pytest.approx(89 / 30, abs=0.01)


def test_one_frame_video(tmp_path):
    frames = list(VideoDecoder(videos.one_frame(tmp_path / "one.mp4")).frames())
    assert len(frames) == 1


def test_cancel_stops_decoding(demo_clip):
    token = CancelToken()
    frames = VideoDecoder(demo_clip).frames(cancel=token)
    next(frames)
    token.cancel()
    with pytest.raises(Cancelled):
        next(frames)


def test_audio_is_resampled_to_16k_mono(tmp_path):
    rate = 44100
    t = np.arange(rate * 2) / rate
    tone = (0.5 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32)
    frames = [np.zeros((64, 96, 3), np.uint8)] * 60
    path = videos.write_video(tmp_path / "tone.mp4", frames, audio=tone, audio_rate=rate)
    audio = decode_audio(path)
    assert audio.rate == AUDIO_RATE and audio.samples.ndim == 1
    assert audio.samples.dtype == np.float32
    assert audio.duration_s == pytest.approx(2.0, abs=0.1)
    spectrum = np.abs(np.fft.rfft(audio.samples))
    peak = np.argmax(spectrum) * AUDIO_RATE / len(audio.samples)
    assert peak == pytest.approx(1000, abs=10)


def test_demo_audio_and_no_audio(demo_video, vtest_video):
    audio = decode_audio(demo_video)
    assert audio.duration_s == pytest.approx(7.7, abs=0.1)
    assert decode_audio(vtest_video) is None


def test_stepping_back_past_the_frame_cache_gives_the_same_frames(demo_clip):
    """Backwards through a clip with a small cache: every frame equals the one read forwards."""
    from engine.media.reader import FrameReader

    forward = FrameReader(demo_clip, cache_frames=16)
    expected = [forward.frame(i).copy() for i in range(len(forward))]
    forward.close()
    reader = FrameReader(demo_clip, cache_frames=16)
    for i in reversed(range(len(reader))):
        np.testing.assert_array_equal(reader.frame(i), expected[i])
    assert len(reader._cache) == 16
    reader.close()


def test_kept_frames_decode_once_or_again(demo_clip):
    """A second pass replays the kept frames; over the memory budget it decodes again and gets
    the same frames."""
    kept = KeptFrames(VideoDecoder(demo_clip, fps=10.0, short_side=360))
    first = [(f.index, f.time, f.image.sum()) for f in kept.frames()]
    assert kept.kept is not None and len(kept.kept) == len(first) == 30
    assert [(f.index, f.time, f.image.sum()) for f in kept.frames()] == first
    assert kept.passes == 1
    again = KeptFrames(VideoDecoder(demo_clip, fps=10.0, short_side=360), keep_mb=1)
    assert [(f.index, f.time, f.image.sum()) for f in again.frames()] == first
    assert again.kept is None
    assert [(f.index, f.time, f.image.sum()) for f in again.frames()] == first
    assert again.passes == 2


def _same_frames(a, b) -> None:
    assert [f.index for f in a] == [f.index for f in b]
    assert [f.time for f in a] == [f.time for f in b]
    assert all(np.array_equal(x.image, y.image) for x, y in zip(a, b, strict=True))


def test_read_ahead_gives_the_decoders_frames(demo_clip):
    plain = VideoDecoder(demo_clip, fps=10, short_side=180)
    ahead = ReadAhead(VideoDecoder(demo_clip, fps=10, short_side=180)).start()
    assert ahead.size == plain.size and ahead.scale == plain.scale
    assert ahead.expected_frames() == plain.expected_frames()
    _same_frames(list(ahead.frames()), list(plain.frames()))
    assert ahead.stats == plain.stats
    # A later pass decodes as the decoder does.
    _same_frames(list(ahead.frames()), list(plain.frames()))


def test_read_ahead_keeps_to_its_limit_and_stops(demo_clip):
    """With room for two frames it waits for the reader; ``stop`` ends it with frames unread."""
    decoder = VideoDecoder(demo_clip, short_side=180)
    frame_mb = 320 * 180 * 3 / 2**20
    ahead = ReadAhead(decoder, limit_mb=2.5 * frame_mb).start()
    time.sleep(1.0)
    assert 2 <= decoder.stats.yielded <= 4  # two buffered, one more waiting to go in
    ahead.stop()
    assert not ahead._thread and decoder.stats.yielded < 90
    assert list(ahead.frames())[0].index == 0  # stopped: a new pass decodes from the start


def test_read_ahead_passes_on_a_decoding_error_and_a_cancel(demo_clip):
    class Failing:
        size = (320, 180)

        def frames(self, cancel=None):
            yield from VideoDecoder(demo_clip, short_side=180).frames(cancel)
            raise MediaError("the file broke off")

    with pytest.raises(MediaError, match="broke off"):
        list(ReadAhead(Failing()).start().frames())
    token = CancelToken()
    frames = ReadAhead(VideoDecoder(demo_clip, short_side=180)).start().frames(token)
    next(frames)
    token.cancel()
    with pytest.raises(Cancelled):
        next(frames)
