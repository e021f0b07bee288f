"""Frame-accurate random access for the video view: ``FrameReader(path).frame(i)``.

The packet timestamps are indexed once (demuxing only, no decoding); a request for the next frame
continues the running decoder, any other request seeks to the keyframe before it and decodes
forward. Recent frames are kept in a small LRU cache so stepping back and forth is instant; a step
back past the cache keeps the frames decoded on the way to it, so the next steps back are too.
"""

from collections import OrderedDict
from pathlib import Path

import numpy as np

from engine.errors import MediaError
from engine.media.decode import Scaler, scaled_size, upright_rgb
from engine.media.probe import container_start, open_container, probe


class FrameReader:
    """Decoded, upright RGB frames of one video by presentation index."""

    def __init__(self, path: Path, short_side: int | None = None, cache_frames: int = 48):
        self.path = Path(path)
        self.info = probe(self.path)
        self.size = scaled_size(self.info.width, self.info.height, short_side)
        self._container = open_container(self.path)
        self._stream = self._container.streams.video[0]
        self._stream.thread_type = "AUTO"
        self._pts = self._index()
        origin = container_start(self._container)
        self._times = np.array([float(p * self._stream.time_base) - origin for p in self._pts])
        self._cache: OrderedDict[int, np.ndarray] = OrderedDict()
        self._cache_frames = cache_frames
        self._frames = None  # the running decoder
        self._next = -1  # index the running decoder yields next
        self._scaler = Scaler()

    def __len__(self) -> int:
        return len(self._pts)

    @property
    def fps(self) -> float:
        return self.info.fps

    def time_of(self, index: int) -> float:
        """Presentation time of frame ``index`` in seconds from the container's start (the
        extracted tracks' time origin)."""
        return float(self._times[index])

    def index_at(self, seconds: float) -> int:
        """The frame shown at time ``seconds``."""
        i = int(np.searchsorted(self._times, seconds + 1e-6, side="right")) - 1
        return min(max(i, 0), len(self) - 1)

    def frame(self, index: int) -> np.ndarray:
        if not 0 <= index < len(self):
            raise IndexError(f"frame {index} is outside 0..{len(self) - 1}")
        if index in self._cache:
            self._cache.move_to_end(index)
            return self._cache[index]
        # Going back: keep the frames before ``index`` decoded on the way (they come next).
        keep_from = index - self._cache_frames + 1 if index < self._next - 1 else index
        if index != self._next:
            self._seek(index)
        while True:
            try:
                frame = next(self._frames)
            except StopIteration:
                raise MediaError(f"Frame {index} of {self.path} cannot be decoded.") from None
            position = self._position(frame.pts)
            if position < keep_from:
                continue
            image = self._image(frame)
            self._remember(position, image)
            self._next = position + 1
            if position >= index:
                return image

    def close(self) -> None:
        self._container.close()

    def _index(self) -> list[int]:
        container = open_container(self.path)
        try:
            stream = container.streams.video[0]
            pts = [p.pts for p in container.demux(stream) if p.pts is not None and p.size]
        finally:
            container.close()
        if not pts:
            raise MediaError(f"{self.path} holds no video frames with timestamps.")
        return sorted(pts)

    def _position(self, pts: int | None) -> int:
        if pts is None:
            return self._next
        return int(np.searchsorted(self._pts, pts))

    def _seek(self, index: int) -> None:
        self._container.seek(self._pts[index], stream=self._stream, backward=True, any_frame=False)
        self._frames = self._container.decode(self._stream)

    def _image(self, frame) -> np.ndarray:
        width, height = self.size
        if self.info.rotation in (90, 270):
            width, height = height, width
        return upright_rgb(frame, width, height, self._scaler)

    def _remember(self, index: int, image: np.ndarray) -> None:
        self._cache[index] = image
        self._cache.move_to_end(index)
        while len(self._cache) > self._cache_frames:
            self._cache.popitem(last=False)
