"""Decoded frames that can be iterated more than once without decoding the video twice.

The first ``frames()`` pass decodes and keeps the frames (up to ``keep_mb``); later passes replay
them. A video whose frames do not fit (by the header's frame count, or found while decoding) is
decoded again on each later pass instead (same frames); it keeps nothing from the start, so a
long video never holds the budget's worth of frames.
It stands in for a ``VideoDecoder`` wherever one is read (size, scale, fps, stats).
"""

from __future__ import annotations

from collections.abc import Iterator

from engine.jobs import CancelToken
from engine.media.decode import Frame, VideoDecoder

KEEP_MB = 400


class KeptFrames:
    """``decoder``'s frames, decoded once and kept (at most ``keep_mb`` of pixels)."""

    def __init__(self, decoder: VideoDecoder, keep_mb: float = KEEP_MB) -> None:
        self.decoder = decoder
        self.keep_bytes = keep_mb * 2**20
        self.kept: list[Frame] | None = None  # every frame, once a whole pass fitted
        self.passes = 0  # decoding passes so far

    @property
    def size(self) -> tuple[int, int]:
        return self.decoder.size

    @property
    def scale(self) -> float:
        return self.decoder.scale

    @property
    def output_fps(self) -> float:
        return self.decoder.output_fps

    @property
    def info(self):
        return self.decoder.info

    @property
    def stats(self):
        """The counts of the decoding pass (a replay leaves them as they were)."""
        return self.decoder.stats

    def expected_frames(self) -> int:
        return len(self.kept) if self.kept is not None else self.decoder.expected_frames()

    def frames(self, cancel: CancelToken | None = None) -> Iterator[Frame]:
        if self.kept is not None:
            for frame in self.kept:
                if cancel is not None:
                    cancel.check()
                yield frame
            return
        first = self.passes == 0
        self.passes += 1
        if not first:  # did not fit: decode again, with fresh counts
            self.decoder = VideoDecoder(
                self.decoder.path,
                fps=self.decoder.fps,
                short_side=self.decoder.short_side,
                threads=self.decoder.threads,
                info=self.decoder.info,
            )
        width, height = self.decoder.size
        fits = self.decoder.expected_frames() * width * height * 3 <= self.keep_bytes
        kept: list[Frame] | None = [] if first and fits else None
        size = 0
        for frame in self.decoder.frames(cancel):
            if kept is not None:
                size += frame.image.nbytes
                if size <= self.keep_bytes:
                    kept.append(frame)
                else:
                    kept = None
            yield frame
        self.kept = kept

    def release(self) -> None:
        """Forget the kept frames (a later pass decodes again)."""
        self.kept = None
