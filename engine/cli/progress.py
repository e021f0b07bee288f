"""tqdm progress bars fed by the engine's ``progress(fraction, stage)`` callbacks."""

import sys
from contextlib import contextmanager


class StageBars:
    """One tqdm bar per stage, created when the stage first reports; a callback for engine work."""

    def __init__(self, enabled: bool, title: str = "") -> None:
        self.enabled = enabled
        self.title = title
        self.bars: dict = {}

    def __call__(self, fraction: float, stage: str) -> None:
        if not self.enabled:
            return
        from tqdm import tqdm

        bar = self.bars.get(stage)
        if bar is None:
            bar = tqdm(
                total=1000,
                desc=f"{self.title} {stage:>8}".strip(),
                position=len(self.bars),
                leave=True,
                file=sys.stderr,
                bar_format="{desc} {percentage:3.0f}%|{bar}| {elapsed}",
            )
            self.bars[stage] = bar
        bar.update(max(0, int(max(0.0, min(1.0, fraction)) * 1000) - bar.n))

    def close(self) -> None:
        for bar in self.bars.values():
            bar.close()


@contextmanager
def progress_bar(title: str = ""):
    """Stage bars on a terminal (nothing when stderr is not one), closed afterwards."""
    bars = StageBars(enabled=sys.stderr.isatty(), title=title)
    try:
        yield bars
    finally:
        bars.close()
