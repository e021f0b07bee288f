"""Multi-person tracking: identity scores on composite videos with known truth.

    python bench/tracking.py [--video PATH] [--long-minutes M]

Composites: the sports2d demo's jumper and walker cut out and slid past each other (the jumper
in front) over a blurred background, slowly (6 s) and quickly (3 s); printed: IDF1, identity
switches, the fraction of true boxes matched. What the tracking costs a whole extraction is
measured by ``bench/extract.py --before TREE`` (the fast profile against a checkout from before
the people layer). With ``--long-minutes``: the peak resident memory of ``aqa tracks`` on the
demo's packets repeated that long (``bench/extract.py``'s long video; longer than the frames kept in memory, so the
landmark pass decodes again).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
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


def long_run_memory(video: Path, minutes: float, folder: Path) -> None:
    from extract import aqa_process, long_video

    long = long_video(video, minutes, data_dir() / "bench")
    with tempfile.TemporaryDirectory() as home:
        done = aqa_process(["tracks", str(long), "--csv", str(folder / "long.csv")], home)
    print(f"aqa tracks on {minutes:g} min: peak {done.peak_mb:.0f} MB resident, {done.wall:.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--video", type=Path, help="default: the sports2d demo")
    parser.add_argument("--long-minutes", type=float, help="also the peak memory on a long video")
    args = parser.parse_args()
    video = args.video or demo_video(data_dir() / "demo")
    with tempfile.TemporaryDirectory() as tmp:
        composite_scores(video, Path(tmp))
        if args.long_minutes:
            long_run_memory(video, args.long_minutes, Path(tmp))


if __name__ == "__main__":
    main()
