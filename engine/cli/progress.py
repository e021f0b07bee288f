"""A tqdm progress bar fed by the engine's ``progress(fraction, stage)`` callbacks."""

import sys
from contextlib import contextmanager


@contextmanager
def progress_bar(title: str = ""):
    from tqdm import tqdm

    bar = tqdm(total=100, desc=title, file=sys.stderr, leave=False, disable=not sys.stderr.isatty())

    def update(fraction: float, stage: str) -> None:
        bar.set_description(f"{title} {stage}".strip())
        bar.n = int(100 * max(0.0, min(1.0, fraction)))
        bar.refresh()

    try:
        yield update
    finally:
        bar.close()
