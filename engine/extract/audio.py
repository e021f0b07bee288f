"""Audio backend: a Kaldi-style log-mel filterbank, the input AST-type audio models expect.

The steps are those of Kaldi's ``compute-fbank-feats`` as used by AST (16 kHz, 25 ms frames every
10 ms with the edges snipped, DC offset removed per frame, pre-emphasis 0.97, Hann window, FFT of
512 points, power spectrum, 128 triangular filters on the mel scale 1127 ln(1 + f/700) between
20 Hz and the Nyquist frequency, natural log floored at the float epsilon). On CUDA, framing is
``Tensor.unfold`` and the FFT ``torch.fft.rfft``: Kaldi removes the DC offset and pre-emphasises
inside each frame, which a plain ``torch.stft`` cannot do. On the CPU the same steps run on numpy.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from engine.extract.registry import AudioBackend
from engine.extract.tracks import FeatureRows, Track, missing
from engine.media.decode import AUDIO_RATE

NO_AUDIO = "no audio track"
SILENT = "the audio track holds only silence"


def mel(freq):
    """Kaldi's mel scale (natural-log form)."""
    return 1127.0 * np.log1p(np.asarray(freq, np.float64) / 700.0)


def mel_filterbank(
    n_mels: int, n_fft: int, rate: int, low: float = 20.0, high: float = 0.0
) -> np.ndarray:
    """[n_mels, n_fft // 2 + 1] triangles, flat in mel, on the FFT bins (Nyquist bin weight 0).

    ``high`` <= 0 counts back from the Nyquist frequency, as in Kaldi.
    """
    nyquist = rate / 2
    high = high if high > 0 else nyquist + high
    if not 0 <= low < high <= nyquist:
        raise ValueError(f"bad mel band {low}..{high} Hz for {rate} Hz audio")
    mel_low, mel_high = mel(low), mel(high)
    delta = (mel_high - mel_low) / (n_mels + 1)
    bins = n_fft // 2
    fft_mel = mel(np.arange(bins) * rate / n_fft)
    left = mel_low + np.arange(n_mels)[:, None] * delta
    centre, right = left + delta, left + 2 * delta
    up = (fft_mel[None, :] - left) / (centre - left)
    down = (right - fft_mel[None, :]) / (right - centre)
    weights = np.maximum(0.0, np.minimum(up, down))
    return np.pad(weights, ((0, 0), (0, 1))).astype(np.float32)


class LogMel:
    """Callable: mono float waveform at ``rate`` -> [frames, n_mels] float32 log-mel energies.

    The same steps run on numpy (the CPU default: no torch import, which costs more than the
    features of a short clip) or on torch tensors (``engine="torch"``, used for CUDA).
    """

    def __init__(
        self,
        rate: int = AUDIO_RATE,
        n_mels: int = 128,
        window_ms: float = 25.0,
        hop_ms: float = 10.0,
        preemphasis: float = 0.97,
        low_hz: float = 20.0,
        high_hz: float = 0.0,
        device: str = "cpu",
        engine: str | None = None,
    ) -> None:
        self.rate = rate
        self.n_mels = n_mels
        self.window = int(rate * window_ms / 1000)
        self.hop = int(rate * hop_ms / 1000)
        self.n_fft = 1 << (self.window - 1).bit_length()
        self.preemphasis = preemphasis
        self.device = device
        self.engine = engine or ("numpy" if device == "cpu" else "torch")
        if self.engine not in ("numpy", "torch"):
            raise ValueError(f"unknown engine {self.engine!r}")
        # Kaldi's "hanning" window is the symmetric Hann window.
        n = np.arange(self.window)
        self._hann = (0.5 - 0.5 * np.cos(2 * np.pi * n / (self.window - 1))).astype(np.float32)
        self._bank = mel_filterbank(n_mels, self.n_fft, rate, low_hz, high_hz)
        if self.engine == "torch":
            import torch

            self._hann = torch.from_numpy(self._hann).to(device)
            self._bank = torch.from_numpy(self._bank).to(device)

    def frame_times(self, frames: int) -> np.ndarray:
        """Centre of each frame in seconds."""
        return (np.arange(frames) * self.hop + self.window / 2) / self.rate

    def __call__(self, samples: np.ndarray, chunk: int = 4096) -> np.ndarray:
        """Computed ``chunk`` frames at a time, so a long recording needs little memory."""
        samples = np.asarray(samples, np.float32)
        total = 0 if len(samples) < self.window else 1 + (len(samples) - self.window) // self.hop
        out = np.empty((total, self.n_mels), np.float32)
        run = self._torch if self.engine == "torch" else self._numpy
        for start in range(0, total, chunk):
            count = min(chunk, total - start)
            first = start * self.hop
            out[start : start + count] = run(
                samples[first : first + (count - 1) * self.hop + self.window]
            )
        return out

    def _numpy(self, samples: np.ndarray) -> np.ndarray:
        frames = np.lib.stride_tricks.sliding_window_view(samples, self.window)[:: self.hop]
        frames = frames - frames.mean(axis=1, keepdims=True)
        previous = np.concatenate([frames[:, :1], frames[:, :-1]], axis=1)
        frames = (frames - self.preemphasis * previous) * self._hann
        spectrum = np.fft.rfft(frames, n=self.n_fft)
        power = (spectrum.real**2 + spectrum.imag**2).astype(np.float32)
        energies = power @ self._bank.T
        return np.log(np.maximum(energies, np.finfo(np.float32).eps))

    def _torch(self, samples: np.ndarray) -> np.ndarray:
        import torch

        x = torch.from_numpy(samples).to(self.device)
        frames = x.unfold(0, self.window, self.hop)
        frames = frames - frames.mean(dim=1, keepdim=True)
        previous = torch.cat([frames[:, :1], frames[:, :-1]], dim=1)
        frames = (frames - self.preemphasis * previous) * self._hann
        spectrum = torch.fft.rfft(frames, n=self.n_fft)
        power = spectrum.real.square() + spectrum.imag.square()
        energies = power @ self._bank.T
        eps = torch.finfo(torch.float32).eps
        return torch.log(torch.clamp(energies, min=eps)).cpu().numpy()


class LogMelBackend(AudioBackend):
    modality = "audio"
    name = "logmel"
    version = "3"  # 2: times from the container's start; 3: a silent track is missing

    def __init__(self, device: str = "cpu", n_mels: int = 128, hop_ms: float = 10.0) -> None:
        self.device = device
        self.logmel = LogMel(n_mels=n_mels, hop_ms=hop_ms, device=device)

    def params(self) -> dict[str, Any]:
        m = self.logmel
        return {
            "rate": m.rate,
            "n_mels": m.n_mels,
            "window": m.window,
            "hop": m.hop,
            "n_fft": m.n_fft,
            "preemphasis": m.preemphasis,
            "window_type": "hann",
            "mel": "kaldi",
        }

    def run(self, audio, cancel=None) -> Track:
        if audio is None:
            return missing(self.modality, self.name, self.version, self.params(), NO_AUDIO)
        if audio.rate != self.logmel.rate:
            raise ValueError(f"expected {self.logmel.rate} Hz audio, got {audio.rate} Hz")
        if len(audio.samples) < self.logmel.window:
            reason = f"the audio track is shorter than one {self.logmel.window} sample window"
            return missing(self.modality, self.name, self.version, self.params(), reason)
        peak = float(np.abs(audio.samples).max())
        if peak == 0.0:  # digital silence tells a model nothing: it is graded as missing
            return missing(self.modality, self.name, self.version, self.params(), SILENT)
        samples = audio.samples - audio.samples.mean()
        features = self.logmel(samples)
        if cancel is not None:
            cancel.check()
        return Track(
            modality=self.modality,
            backend=self.name,
            version=self.version,
            params=self.params(),
            times=self.logmel.frame_times(len(features)) + audio.start,
            arrays={"logmel": features},
            meta={
                "duration_s": round(audio.duration_s, 4),
                "peak": round(peak, 6),
                "frames_per_second": self.logmel.rate / self.logmel.hop,
                "log_floor": math.log(np.finfo(np.float32).eps),
            },
        )


def feature_rows(track: Track) -> FeatureRows:
    """Audio tracks: one log-mel frame per row, every one valid."""
    rows = track["logmel"].astype(np.float32)
    return FeatureRows(rows, np.ones(len(rows), bool), np.asarray(track.times, np.float64))
