"""``aqa batch`` speed: serial vs Ray with 1 and 2 workers on a manifest of 16 short real clips.

    python bench/batch.py [--clips 16] [--seconds 1.0] [--repeats 1] [--json]

The clips are cut from the sports2d demo and vtest.avi and re-encoded with PyAV (H.264, 200 to
360 px short side, 0.8 to 1.4 s, key frames every 5 to 30 frames; the demo's keep their audio).
Each mode extracts skeleton, flow and audio at the ``fast`` profile into a cache of its own
(nothing cached at the start), measured from the first task to the last result: ``serial`` runs
the tasks one after another in this process, ``ray-1`` and ``ray-2`` on a local Ray. Imports and
model loading are paid before the clock starts (one warm-up task in this process, one per Ray
worker); Ray's start-up and warm-up are printed apart. Ray's
per-video overhead is (ray-1 - serial) / videos on a rerun that finds every track cached, where
the work itself is small. With ``--repeats N`` the modes take turns (rotated order) and the
medians are printed; every run starts from an empty cache of its own.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import videos  # noqa: E402

from engine.batch import driver  # noqa: E402
from engine.batch.ray_runner import RayRunner  # noqa: E402
from engine.batch.task import run_task  # noqa: E402
from engine.demo_video import demo_video  # noqa: E402

VTEST = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")
SIDES = (200, 240, 288, 360)
GOPS = (5, 10, 30)


def make_clips(folder: Path, count: int, seconds: float) -> Path:
    """``count`` clips, half from each source, and their manifest."""
    cache = Path.home() / ".cache" / "aqa-studio-tests"
    sources = [(demo_video(cache), True), (VTEST if VTEST.exists() else cache / "vtest.avi", False)]
    lines = ["video,protocol,item"]
    for i in range(count):
        src, sound = sources[i % 2]
        length = seconds * (0.8 + 0.2 * (i // 2 % 4))
        side = SIDES[i // 2 % len(SIDES)]
        path = folder / f"clip{i:02d}-{src.stem}-{side}p.mp4"
        audio = videos.read_audio(src, length) if sound else None
        frames = videos.read_frames(src, length, side)
        videos.write_video(path, frames, audio=audio, gop=GOPS[i % len(GOPS)])
        lines.append(f"{path.name},cmas,head_elevation")
    manifest = folder / "manifest.csv"
    manifest.write_text("\n".join(lines) + "\n")
    return manifest


def serial(batch, cache: Path) -> float:
    tasks = [replace(t, cache=str(cache)) for t in batch.tasks]
    run_task(replace(tasks[0], cache=str(cache.with_name("warm-up"))))
    started = time.perf_counter()
    failed = [t.video for t in tasks if run_task(t)["status"] != "ok"]
    seconds = time.perf_counter() - started
    if failed:
        raise SystemExit(f"serial: {len(failed)} videos failed")
    return seconds


def on_ray(batch, cache: Path, workers: int, out: Path) -> tuple[float, float]:
    """(seconds of the batch, seconds Ray took to start and warm its workers up)."""
    import ray

    started = time.perf_counter()
    runner = RayRunner(workers)
    warm = ray.remote(run_task).options(num_cpus=1)
    ray.get(
        [
            warm.remote(replace(t, cache=str(cache.with_name("warm-up"))))
            for t in batch.tasks[:workers]
        ]
    )
    up = time.perf_counter() - started
    started = time.perf_counter()
    tasks = [replace(t, cache=str(cache)) for t in batch.tasks]
    lines = driver.run(replace(batch, tasks=tasks), runner, out)
    seconds = time.perf_counter() - started
    if any(line["status"] != "ok" for line in lines):
        raise SystemExit(f"ray-{workers}: some videos failed")
    return seconds, up


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clips", type=int, default=16, help="videos in the manifest")
    parser.add_argument("--seconds", type=float, default=1.0, help="typical clip length")
    parser.add_argument("--repeats", type=int, default=1, help="runs of each mode (medians)")
    parser.add_argument("--json", action="store_true", help="print JSON")
    args = parser.parse_args()
    from engine.extract.config import ExtractionConfig

    runs: dict[str, list[float]] = {"serial": [], "ray-1": [], "ray-2": []}
    starts, cached = [], {"serial": [], "ray-1": []}
    with tempfile.TemporaryDirectory(prefix="aqa-bench-batch-") as tmp:
        folder = Path(tmp)
        manifest = make_clips(folder, args.clips, args.seconds)
        config = ExtractionConfig.parse("skeleton,flow,audio", "fast", "cpu")
        batch = driver.prepare("extract", manifest, config=config, device="cpu")
        for r in range(args.repeats):
            order = list(runs)[r % 3 :] + list(runs)[: r % 3]  # interleaved, rotated
            for mode in order:
                cache = folder / f"cache-{mode}-{r}"
                if mode == "serial":
                    runs[mode].append(serial(batch, cache))
                else:
                    seconds, up = on_ray(batch, cache, int(mode[-1]), folder / "out")
                    runs[mode].append(seconds)
                    starts.append(up)
            cached["serial"].append(serial(batch, folder / f"cache-serial-{r}"))
            cached["ray-1"].append(on_ray(batch, folder / f"cache-ray-1-{r}", 1, folder / "out")[0])
    times = {mode: statistics.median(values) for mode, values in runs.items()}
    cached_serial = statistics.median(cached["serial"])
    cached_ray = statistics.median(cached["ray-1"])
    n = args.clips
    result = {
        "videos": n,
        "seconds": {k: round(v, 2) for k, v in times.items()},
        "speedup_ray1": round(times["serial"] / times["ray-1"], 2),
        "speedup_ray2": round(times["serial"] / times["ray-2"], 2),
        "ray2_over_ray1": round(times["ray-1"] / times["ray-2"], 2),
        "repeats": args.repeats,
        "ray_start_s": round(statistics.median(starts), 2),
        "cached_rerun_s": {"serial": round(cached_serial, 2), "ray-1": round(cached_ray, 2)},
        "ray_overhead_ms_per_video": round(1000 * (cached_ray - cached_serial) / n, 1),
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return
    s = result["seconds"]
    print(f"{n} clips, skeleton+flow+audio (fast profile), nothing cached, {args.repeats} run(s):")
    print(f"  serial {s['serial']:.1f} s   ray-1 {s['ray-1']:.1f} s   ray-2 {s['ray-2']:.1f} s")
    print(
        f"  speed-up vs serial: ray-1 {result['speedup_ray1']}x, ray-2 {result['speedup_ray2']}x"
        f" (ray-2 vs ray-1 {result['ray2_over_ray1']}x); Ray starts in {result['ray_start_s']} s"
    )
    c = result["cached_rerun_s"]
    print(
        f"  rerun, all cached: serial {c['serial']:.2f} s, ray-1 {c['ray-1']:.2f} s -> Ray's "
        f"overhead {result['ray_overhead_ms_per_video']} ms per video"
    )


if __name__ == "__main__":
    main()
