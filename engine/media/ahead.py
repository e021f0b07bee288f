"""Decoding that starts before anyone reads the frames.

An extraction spends its first second importing and loading models on one core; ``ReadAhead``
decodes the video in a thread meanwhile, at most ``limit_mb`` of pixels ahead of the reader, so
the frame backends find their first frames ready. It stands in for the ``VideoDecoder`` it wraps
(size, scale, fps, stats, path: every attribute is the decoder's).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator

from engine.errors import Cancelled
from engine.jobs import CancelToken
from engine.media.decode import Frame, VideoDecoder

LIMIT_MB = 128
_END = object()


class ReadAhead:
    """``decoder``'s first ``frames()`` pass, decoded in a thread from ``start()`` on into a
    bounded queue; a pass never started ahead, or a later one, decodes as the decoder does.
    ``stop()`` ends the thread (a read-ahead nobody will read)."""

    def __init__(self, decoder: VideoDecoder, limit_mb: float = LIMIT_MB) -> None:
        self.decoder = decoder
        width, height = decoder.size  # every frame of a pass has this size
        self._queue: queue.Queue = queue.Queue(
            max(1, int(limit_mb * 2**20) // (width * height * 3))
        )
        self._stop = CancelToken()
        self._thread: threading.Thread | None = None

    def __getattr__(self, name: str):
        return getattr(self.decoder, name)

    def start(self) -> ReadAhead:
        self._thread = threading.Thread(target=self._decode, name="decode-ahead", daemon=True)
        self._thread.start()
        return self

    def _decode(self) -> None:
        try:
            for frame in self.decoder.frames(self._stop):
                if not self._put(frame):
                    return
        except Cancelled:
            return
        except BaseException as exc:  # raised in the reader's thread
            self._put(exc)
            return
        self._put(_END)

    def _put(self, item) -> bool:
        """Into the queue once there is room; False when stopped first."""
        while not self._stop.cancelled:
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                pass
        return False

    def frames(self, cancel: CancelToken | None = None) -> Iterator[Frame]:
        thread, self._thread = self._thread, None
        if thread is None:
            yield from self.decoder.frames(cancel)
            return
        try:
            while True:
                try:
                    item = self._queue.get(timeout=0.1)
                except queue.Empty:
                    if cancel is not None:
                        cancel.check()
                    continue
                if item is _END:
                    return
                if isinstance(item, BaseException):
                    raise item
                if cancel is not None:
                    cancel.check()
                yield item
        finally:
            self._halt(thread)

    def stop(self) -> None:
        thread, self._thread = self._thread, None
        if thread is not None:
            self._halt(thread)

    def _halt(self, thread: threading.Thread) -> None:
        self._stop.cancel()
        thread.join()
        while not self._queue.empty():  # the frames nobody will read
            self._queue.get_nowait()
