"""Multi-person tracking: identity scores on composite videos with known truth, and the time of
detect + track + subject landmarks against today's single-person fast skeleton extraction.

    python bench/tracking.py [--video PATH] [--skip-timing] [--long-minutes M]

Composites: the sports2d demo's jumper and walker cut out and slid past each other (the jumper
in front) over a blurred background, slowly (6 s) and quickly (3 s); printed: IDF1, identity
switches, the fraction of true boxes matched. Timing: whole processes, cache off, one of each in
one run: ``aqa extract VIDEO --modalities skeleton --profile fast --no-cache`` and ``aqa tracks
VIDEO --csv ...``, each with a fresh data directory (nothing cached), and their ratio. With
``--long-minutes``: the peak resident memory of ``aqa tracks`` on the demo's packets repeated
that long (``bench/extract.py``'s long video; longer than the frames kept in memory, so the
landmark pass decodes again).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "bench")]

from engine.cache import Cache  # noqa: E402
from engine.demo_video import demo_video  # noqa: E402
from engine.paths import data_dir  # noqa: E402
from engine.people.api import find_people, open_pose  # noqa: E402
from engine.people.metrics import identity_scores  # noqa: E402


def composite_scores(video: Path, folder: Path) -> None:
    import videos

    pose = open_pose()
    for seconds in (6.0, 3.0):
        clip = folder / f"crossing-{seconds:g}s.mp4"
        truth = videos.crossing(video, clip, seconds=seconds)
        people = find_people(clip, pose=pose, cache=Cache(folder / "cache"), use_cache=False)
        scores = identity_scores(truth, people)
        print(
            f"crossing in {seconds:g} s: {len(people.ids)} tracked people (truth 2), "
            f"IDF1 {scores['idf1']:.3f}, {scores['switches']} identity switches, "
            f"{scores['matched']:.0%} of true boxes matched"
        )


def timed(args: list[str]) -> float:
    """Wall seconds of one ``aqa`` process with an empty data directory of its own."""
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "AQA_HOME": home, "PYTHONPATH": str(ROOT)}
        started = time.perf_counter()
        code = [sys.executable, "-c", "import sys; from engine.cli import main; sys.exit(main())"]
        subprocess.run(code + args, env=env, check=True, capture_output=True)
        return time.perf_counter() - started


def timing(video: Path, folder: Path) -> None:
    single = timed(
        ["extract", str(video), "--modalities", "skeleton", "--profile", "fast", "--no-cache"]
    )
    people = timed(["tracks", str(video), "--csv", str(folder / "t.csv")])
    print(f"single-person fast skeleton extraction: {single:.1f} s (whole process)")
    print(f"aqa tracks (detect + track everyone, subject landmarks): {people:.1f} s")
    print(f"ratio: {people / single:.2f}x (target <= 1.3x)")


def long_run_memory(video: Path, minutes: float, folder: Path) -> None:
    from extract import long_video

    long = long_video(video, minutes, data_dir() / "bench")
    code = (
        "import sys\n"
        "from engine.cli import main\n"
        f"main(['tracks', {str(long)!r}, '--csv', {str(folder / 'long.csv')!r}])\n"
        "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0]\n"
        "print('PEAK', int(hwm.split()[1]) / 1024)\n"
    )
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "AQA_HOME": home, "PYTHONPATH": str(ROOT)}
        started = time.perf_counter()
        out = subprocess.run(
            [sys.executable, "-c", code], env=env, check=True, capture_output=True, text=True
        ).stdout
        seconds = time.perf_counter() - started
    peak = float(out.split("PEAK")[-1])
    print(f"aqa tracks on {minutes:g} min: peak {peak:.0f} MB resident, {seconds:.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--video", type=Path, help="default: the sports2d demo")
    parser.add_argument("--skip-timing", action="store_true")
    parser.add_argument("--long-minutes", type=float, help="also the peak memory on a long video")
    args = parser.parse_args()
    video = args.video or demo_video(data_dir() / "demo")
    with tempfile.TemporaryDirectory() as tmp:
        composite_scores(video, Path(tmp))
        if not args.skip_timing:
            timing(video, Path(tmp))
        if args.long_minutes:
            long_run_memory(video, args.long_minutes, Path(tmp))


if __name__ == "__main__":
    main()
