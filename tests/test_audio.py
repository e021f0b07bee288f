"""Log-mel audio features: Kaldi agreement, filterbank shape, missing audio."""

from pathlib import Path

import numpy as np
import pytest
import videos

from engine.extract.audio import NO_AUDIO, SILENT, LogMel, LogMelBackend, mel_filterbank
from engine.media.decode import Audio, decode_audio

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.mark.parametrize("engine", ["numpy", "torch"])
def test_matches_kaldi_fbank(engine):
    """Reference made with kaldi-native-fbank 1.22 (Kaldi's C++ fbank) outside this project:
    0.6 s chirp + noise, 16 kHz, 25/10 ms, hanning, preemph 0.97, dither 0, snip edges, 80 bins
    (Kaldi refuses 128 bins at a 512-point FFT because some triangles hold no FFT bin)."""
    data = np.load(FIXTURES / "kaldi_fbank_80.npz")
    ours = LogMel(n_mels=80, engine=engine)(data["wave"])
    assert ours.shape == data["fbank"].shape == (58, 80)
    np.testing.assert_allclose(ours, data["fbank"], atol=1e-3)


def test_filterbank_triangles():
    bank = mel_filterbank(128, 512, 16000)
    assert bank.shape == (128, 257)
    assert bank.min() >= 0 and bank.max() <= 1
    assert bank[:, -1].sum() == 0  # the Nyquist bin carries no weight
    centres = (bank * np.arange(257)).sum(1) / np.maximum(bank.sum(1), 1e-9)
    filled = bank.sum(1) > 0
    assert np.all(np.diff(centres[filled]) >= 0) and centres[filled][-1] > 200


def test_tone_lands_in_the_right_band():
    rate = 16000
    t = np.arange(rate) / rate
    logmel = LogMel()
    for freq in (500, 3000):
        feats = logmel((0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32))
        assert feats.shape == (1 + (rate - 400) // 160, 128)
        band = int(np.median(feats.argmax(axis=1)))
        bank = mel_filterbank(128, 512, rate)
        peak_hz = bank[band].argmax() * rate / 512
        assert peak_hz == pytest.approx(freq, rel=0.08)


def test_chunking_changes_nothing():
    wave = np.random.default_rng(1).standard_normal(16000 * 3).astype(np.float32)
    logmel = LogMel()
    np.testing.assert_allclose(logmel(wave, chunk=37), logmel(wave), atol=1e-5)


def test_backend_on_video_with_sound(tmp_path):
    rate = 16000
    tone = (0.4 * np.sin(2 * np.pi * 1000 * np.arange(rate * 2) / rate)).astype(np.float32)
    frames = [np.zeros((64, 96, 3), np.uint8)] * 60
    path = videos.write_video(tmp_path / "tone.mp4", frames, audio=tone, audio_rate=rate)
    backend = LogMelBackend()
    track = backend.run(decode_audio(path))
    assert track.ok and track["logmel"].shape[1] == 128
    assert track.frames == pytest.approx(200, abs=5)
    assert track.times[1] - track.times[0] == pytest.approx(0.01)
    assert track.meta["peak"] > 0.3


def test_silent_track_is_missing(tmp_path):
    frames = [np.zeros((64, 96, 3), np.uint8)] * 30
    path = videos.write_video(tmp_path / "mute.mp4", frames, audio=np.zeros(16000, np.float32))
    audio = decode_audio(path)
    assert audio is not None and not audio.samples.any()  # a real track, every sample zero
    track = LogMelBackend().run(audio)
    assert track.status == "missing" and track.reason == SILENT


def test_no_audio_track_is_missing_not_error(vtest_video):
    track = LogMelBackend().run(decode_audio(vtest_video))
    assert track.status == "missing" and track.reason == NO_AUDIO == "no audio track"


def test_too_short_audio_is_missing():
    track = LogMelBackend().run(Audio(np.zeros(100, np.float32), 16000))
    assert track.status == "missing" and "shorter" in track.reason


def test_numpy_and_torch_engines_agree():
    """The torch path is the one CUDA runs; here it runs on CPU tensors."""
    wave = np.random.default_rng(2).standard_normal(16000 * 2).astype(np.float32)
    np.testing.assert_allclose(LogMel(engine="torch")(wave), LogMel()(wave), atol=5e-3)


def test_cpu_backend_does_not_need_torch_import():
    import subprocess
    import sys

    code = (
        "import sys, numpy as np\n"
        "from engine.extract.registry import get, resolve_device\n"
        "b = get('audio').build(device=resolve_device('auto'))\n"
        "b.logmel(np.zeros(16000, np.float32))\n"
        "print('torch' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    from engine.extract.registry import torch_has_cuda_build

    expected = "True" if torch_has_cuda_build() else "False"
    assert out.stdout.strip() == expected
