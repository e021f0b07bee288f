"""Decoding that starts before anyone reads the frames.

An extraction spends its first second importing and loading models on one core; ``ReadAhead``
decodes the video in a thread meanwhile, at most ``limit_mb`` of pixels ahead of the reader, so
the frame backends find their first frames ready. It stands in for the ``VideoDecoder`` it wraps
(size, scale, fps, stats, path: every attribute is the decoder's).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterator

from engine.errors import Cancelled
from engine.jobs import CancelToken
from engine.media.decode import Frame, VideoDecoder

LIMIT_MB = 128


class ReadAhead:
    """``decoder``'s first ``frames()`` pass, decoded in a thread from ``start()`` on; a pass
    never started ahead, or a later one, decodes as the decoder does. ``stop()`` ends the
    thread (a read-ahead nobody will read)."""

    def __init__(self, decoder: VideoDecoder, limit_mb: float = LIMIT_MB) -> None:
        self.decoder = decoder
        self.limit = limit_mb * 2**20
        self._frames: deque[Frame] = deque()
        self._bytes = 0
        self._done = False
        self._error: BaseException | None = None
        self._ready = threading.Condition()
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
                with self._ready:
                    while self._bytes > 0 and self._bytes + frame.image.nbytes > self.limit:
                        if self._stop.cancelled:
                            return
                        self._ready.wait(timeout=0.1)
                    self._frames.append(frame)
                    self._bytes += frame.image.nbytes
                    self._ready.notify_all()
        except Cancelled:
            pass
        except BaseException as exc:  # raised in the reader's thread
            self._error = exc
        finally:
            with self._ready:
                self._done = True
                self._ready.notify_all()

    def frames(self, cancel: CancelToken | None = None) -> Iterator[Frame]:
        thread, self._thread = self._thread, None
        if thread is None:
            yield from self.decoder.frames(cancel)
            return
        try:
            while True:
                with self._ready:
                    while not self._frames and not self._done:
                        if cancel is not None:
                            cancel.check()
                        self._ready.wait(timeout=0.1)
                    if not self._frames:
                        break
                    frame = self._frames.popleft()
                    self._bytes -= frame.image.nbytes
                    self._ready.notify_all()
                if cancel is not None:
                    cancel.check()
                yield frame
            if self._error is not None:
                raise self._error
        finally:
            self._halt(thread)

    def stop(self) -> None:
        thread, self._thread = self._thread, None
        if thread is not None:
            self._halt(thread)

    def _halt(self, thread: threading.Thread) -> None:
        self._stop.cancel()
        with self._ready:
            self._frames.clear()
            self._bytes = 0
            self._ready.notify_all()
        thread.join()
