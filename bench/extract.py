"""Speed and memory of extraction on the sports2d demo (1768x994, 30 fps, VP9 + AAC).

    python bench/extract.py [--video PATH] [--before TREE] [--whole-only] [--repeats 3]
                            [--long-minutes 10] [--skip-baseline] [--json]

First the whole processes, as a user runs them (``whole_processes``): ``aqa extract ...
--no-cache`` in a data folder of its own (bytecode compiled, as an installed package has it; the
environment this benchmark started with; one warm-up run of each, then rounds of every process in a
shuffled order with pauses between, the naive loop last; medians, and ratios as the median of each
round's ratio), next to the naive loop a user would write first (cv2 + MediaPipe Pose on every
frame + Farneback at a 256 short side) run in the mediapipe venv of
``tests/mediapipe_reference.sh`` (``$AQA_MP_VENV``, default /tmp/aqa-mp: mediapipe pins numpy<2);
the same four modalities in a fresh data folder (first use); and with ``--before TREE`` (a checkout
of an older commit, e.g. one made by ``git worktree add``) the default fast extraction of that
tree's code against this one's. Wall and CPU seconds of each (CPU: all threads, less sensitive to
other load on the machine), ratios of both. Then the peak resident memory of ``aqa extract`` (four
modalities) of a long video made by concatenating the demo's packets (no re-encoding; kept in the
cache between runs).

Unless ``--whole-only``, the in-process figures: decode-only frames/s (full size and at the decode
size of each profile), each stage's frames/s on its own (skeleton, DIS, Farneback, log-mel), the
``fast`` and ``full`` profiles as multiples of real time (extractions in this process, cache off,
three of each: the median and the range; the first five-modality run also loads MiniLM and
EfficientNet).
"""

from __future__ import annotations

import argparse
import compileall
import itertools
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
# The processes measured get the environment this one started with: importing engine sets its
# own defaults (OPENBLAS_NUM_THREADS), which an older tree's code must not inherit from here.
START_ENV = dict(os.environ)

from engine.demo_video import demo_video  # noqa: E402
from engine.paths import data_dir  # noqa: E402


def peak_rss_mb(who: int = resource.RUSAGE_SELF) -> float:
    return resource.getrusage(who).ru_maxrss / 1024  # Linux reports KiB


def cpu_seconds() -> float:
    """CPU time of this process so far, all threads (less sensitive to other load than wall)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class Clock:
    """Wall and CPU seconds of a block."""

    def __enter__(self) -> Clock:
        self.wall0, self.cpu0 = time.perf_counter(), cpu_seconds()
        return self

    def __exit__(self, *exc) -> None:
        self.wall = time.perf_counter() - self.wall0
        self.cpu = cpu_seconds() - self.cpu0


def decode_fps(video: Path, short_side: int | None, fps: float | None = None) -> str:
    from engine.media.decode import VideoDecoder

    decoder = VideoDecoder(video, fps=fps, short_side=short_side)
    with Clock() as clock:
        count = sum(1 for _ in decoder.frames())
    return _rates(count, clock)


def _rates(count: int, clock: Clock) -> str:
    return f"{count / clock.wall:.1f} frames/s wall, {count / clock.cpu:.1f} per CPU-second"


def stage_fps(video: Path, modality: str, name: str, side: int, **options) -> str:
    """Frames/s of one frame backend alone, on frames decoded beforehand."""
    from engine.extract.registry import StreamInfo, get
    from engine.media.decode import VideoDecoder

    decoder = VideoDecoder(video, short_side=side)
    frames = list(decoder.frames())
    backend = get(modality, name).build(**options)
    backend.start(StreamInfo(*decoder.size, decoder.scale, decoder.output_fps, len(frames)))
    with Clock() as clock:
        for frame in frames:
            backend.update(frame)
        backend.finish()
    return _rates(len(frames), clock)


def audio_speed(video: Path) -> str:
    """Seconds of audio per second of decoding + log-mel."""
    from engine.extract.audio import LogMelBackend
    from engine.media.decode import decode_audio

    backend = LogMelBackend()
    with Clock() as clock:
        audio = decode_audio(video)
        backend.run(audio)
    return f"{audio.duration_s / clock.wall:.1f}x real time wall, CPU {clock.cpu:.2f} s"


ALL_FIVE = ("skeleton", "flow", "audio", "rgb", "text")


def profile_speed(video: Path, profile: str, modalities=None, repeats: int = 3) -> dict:
    """Whole extractions (cache off), ``repeats`` times: the median run's figures, the range of
    the real-time factor, and the first run (which also loads the models) on its own."""
    from engine.extract.config import DEFAULT_MODALITIES, ExtractionConfig
    from engine.extract.pipeline import extract

    config = ExtractionConfig.parse(modalities or DEFAULT_MODALITIES, profile).for_recording(
        "cmas", "arm_raise_duration"
    )

    runs = []
    for _ in range(repeats):
        with Clock() as clock:
            result = extract(video, config, use_cache=False)
        data = result.to_dict()
        duration = data["media"]["duration_s"]
        cores = os.cpu_count() or 1
        runs.append(
            {
                "realtime_factor": data["realtime_factor"],
                "seconds": data["seconds"],
                "cpu_seconds": round(clock.cpu, 2),
                # What the run would reach with all cores to itself, kept busy.
                "cpu_bound_realtime_factor": round(duration * cores / clock.cpu, 2),
                "statuses": {m: r["status"] for m, r in data["modalities"].items()},
            }
        )
    factors = sorted(r["realtime_factor"] for r in runs)
    median = sorted(runs, key=lambda r: r["realtime_factor"])[len(runs) // 2]
    return {
        **median,
        "range": [factors[0], factors[-1]],
        "first_run_realtime_factor": runs[0]["realtime_factor"],
    }


FOUR = "skeleton,flow,audio,rgb"
CLI = (
    "import sys\n"
    "from engine.cli import main\n"
    "code = main()\n"
    "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0]\n"
    "print('PEAK_MB', int(hwm.split()[1]) / 1024, file=sys.stderr)\n"
    "sys.exit(code)\n"
)
NAIVE = """
import sys, time
import cv2, mediapipe as mp
capture = cv2.VideoCapture(sys.argv[1])
pose = mp.solutions.pose.Pose()
previous = None
while True:
    ok, bgr = capture.read()
    if not ok:
        break
    pose.process(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    h, w = bgr.shape[:2]
    scale = 256 / min(h, w)
    small = cv2.resize(bgr, (round(w * scale), round(h * scale)))
    grey = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
    if previous is not None:
        cv2.calcOpticalFlowFarneback(previous, grey, None, 0.5, 3, 15, 3, 5, 1.2, 0)
    previous = grey
"""


class Process:
    """Wall seconds, CPU seconds (all threads; less sensitive to other load than wall) and peak
    resident MB of one child process."""

    def __init__(self, command: list[str], **kwargs) -> None:
        cpu = _children_cpu()
        started = time.perf_counter()
        self.done = subprocess.run(command, capture_output=True, text=True, **kwargs)
        self.wall = time.perf_counter() - started
        self.cpu = _children_cpu() - cpu
        if self.done.returncode != 0:
            raise RuntimeError(f"{' '.join(command[2:])} failed: {self.done.stderr[-2000:]}")
        peak = self.done.stderr.rsplit("PEAK_MB", 1)
        self.peak_mb = float(peak[1].split()[0]) if len(peak) == 2 else float("nan")


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def aqa_process(args: list[str], home: Path, tree: Path = ROOT) -> Process:
    """One ``aqa`` process running ``tree``'s code with the data folder ``home`` (its bytecode
    compiled first, as an installed package has it)."""
    if tree not in COMPILED:
        for package in ("engine", "models"):
            compileall.compile_dir(tree / package, quiet=1)
        COMPILED.add(tree)
    return Process([sys.executable, "-c", CLI, *args], env=tree_env(tree, home), cwd=tree)


def tree_env(tree: Path, home: Path) -> dict[str, str]:
    """The starting environment with ``tree``'s code first on the path and ``home`` as data."""
    path = os.pathsep.join(filter(None, [str(tree), START_ENV.get("PYTHONPATH")]))
    return {**START_ENV, "AQA_HOME": str(home), "PYTHONPATH": path}


COMPILED: set[Path] = set()
PAUSE_S = 2.0  # between the whole processes timed
COOLDOWN_S = 10.0  # after each round (it ends with the naive loop)


def naive_process(video: Path) -> Process | None:
    """The naive loop in its own process (None without the mediapipe venv)."""
    python = Path(START_ENV.get("AQA_MP_VENV", "/tmp/aqa-mp")) / "bin" / "python"
    if not python.exists():
        return None
    return Process([str(python), "-c", NAIVE, str(video)], env=START_ENV)


def bench_session(home: Path) -> str:
    """A session in ``home``'s database (for the text note of a recording): its id."""
    code = (
        "from engine.store import Store\n"
        "with Store() as store:\n"
        "    store.add_subject('BENCH-1')\n"
        "    print(store.new_session('BENCH-1', 'cmas')['id'])\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        env=tree_env(ROOT, home),
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.split()[-1]


def whole_processes(
    video: Path, before: Path | None = None, repeats: int = 3, naive: bool = True
) -> dict:
    """Medians over ``repeats`` interleaved rounds of whole processes (after one warm-up round;
    the aqa processes of each round shuffled, the naive loop last, pauses between), among them
    the first use of a fresh data folder each time; ratios as the issue states its targets."""
    from engine.extract.pose_models import find_pose_models

    # Every data folder finds the BlazePose files where they are: nothing is fetched.
    START_ENV.setdefault("AQA_POSE_MODELS", str(find_pose_models().detector.parent))
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        home.mkdir()
        session = bench_session(home)
        item = ["--session", session, "--item", "head_elevation"]
        extract = ["extract", str(video), "--no-cache"]
        jobs = {
            "fast_4": lambda: aqa_process(
                [*extract, "--profile", "fast", "--modalities", FOUR], home
            ),
            "fast_4_item": lambda: aqa_process(
                [*extract, "--profile", "fast", "--modalities", FOUR, *item], home
            ),
            "fast_4_text_item": lambda: aqa_process(
                [*extract, "--profile", "fast", "--modalities", FOUR + ",text", *item], home
            ),
            "full_4": lambda: aqa_process(
                [*extract, "--profile", "full", "--modalities", FOUR], home
            ),
            "fast_default": lambda: aqa_process([*extract, "--profile", "fast"], home),
        }
        if before is not None:
            jobs["fast_default_before"] = lambda: aqa_process(
                [*extract, "--profile", "fast"], home, tree=before
            )
        fresh = itertools.count()

        def first_use() -> Process:
            """The four modalities in a data folder of its own, never used before."""
            folder = Path(tmp) / f"first-use-{next(fresh)}"
            folder.mkdir()
            return aqa_process([*extract, "--profile", "fast", "--modalities", FOUR], folder)

        jobs["fast_4_first_use"] = first_use
        if naive and naive_process(video) is not None:  # also its warm-up run
            jobs["naive_loop"] = lambda: naive_process(video)
        for run in jobs.values():
            run()  # warm-up: model files exported, caches of the system warm
        runs: dict[str, list[Process]] = {name: [] for name in jobs}
        for r in range(repeats):
            # The aqa processes in a shuffled order, a pause before each; the naive loop last,
            # with a longer pause after it (the machine runs slower for a while after its 11 s
            # of full load, and whichever process followed it paid for that).
            names = [name for name in jobs if name != "naive_loop"]
            random.Random(r).shuffle(names)
            for name in names + (["naive_loop"] if "naive_loop" in jobs else []):
                time.sleep(PAUSE_S)
                runs[name].append(jobs[name]())
            time.sleep(COOLDOWN_S)
    out: dict[str, object] = {}
    for name, done in runs.items():
        out[f"{name}_s"] = round(statistics.median(p.wall for p in done), 2)
        out[f"{name}_cpu_s"] = round(statistics.median(p.cpu for p in done), 2)
    out["fast_4_peak_rss_mb"] = round(max(p.peak_mb for p in runs["fast_4"]))

    def ratio(name: str, a: str, b: str) -> None:
        """``a`` / ``b`` in wall and in CPU seconds: the median of each round's ratio (the two
        ran within a minute of each other, which the machine's drift between minutes spares)."""
        for unit, of in (("s", "wall"), ("cpu_s", "cpu")):
            pairs = zip(runs[a], runs[b], strict=True)
            out[f"{name}_{unit}"] = round(
                statistics.median(getattr(x, of) / getattr(y, of) for x, y in pairs), 2
            )

    if "naive_loop_s" in out:
        ratio("fast_4_speedup_over_naive", "naive_loop", "fast_4")  # target >= 4 (goal 5)
        ratio("full_4_speedup_over_naive", "naive_loop", "full_4")  # target >= 2
    ratio("text_over_four", "fast_4_text_item", "fast_4_item")  # target <= 1.1
    if before is not None:
        ratio("fast_default_over_before", "fast_default", "fast_default_before")  # <= 1.3
    return out


def long_video(demo: Path, minutes: float, folder: Path) -> Path:
    """The demo's packets repeated (timestamps shifted) until ``minutes`` long; cached."""
    import av

    target = folder / f"demo-x-{minutes:g}min.mkv"
    if target.exists():
        return target
    folder.mkdir(parents=True, exist_ok=True)
    with av.open(str(demo)) as src:
        streams = [s for s in (src.streams.video[0], src.streams.audio[0])]
        packets = {s.index: [] for s in streams}
        for packet in src.demux(*streams):
            if packet.dts is not None and packet.size:
                packets[packet.stream.index].append(packet)
        span = {s.index: max(p.pts + (p.duration or 0) for p in packets[s.index]) for s in streams}
        repeats = max(1, round(minutes * 60 / float(src.duration / 1_000_000)))
        fd, tmp = tempfile.mkstemp(suffix=".mkv", dir=folder)
        os.close(fd)
        with av.open(tmp, "w") as out:
            mapping = {s.index: out.add_stream_from_template(s) for s in streams}
            for r in range(repeats):
                for s in streams:
                    for p in packets[s.index]:
                        copy = av.Packet(bytes(p))
                        copy.pts = p.pts + r * span[s.index]
                        copy.dts = p.dts + r * span[s.index]
                        copy.duration = p.duration
                        copy.time_base = p.time_base
                        copy.is_keyframe = p.is_keyframe
                        copy.stream = mapping[s.index]
                        out.mux(copy)
    os.replace(tmp, target)
    return target


def long_run_memory(video: Path, profile: str) -> dict:
    """Peak RSS of ``aqa extract`` of the long video with the four modalities (cache off)."""
    with tempfile.TemporaryDirectory() as home:
        args = ["extract", str(video), "--profile", profile, "--modalities", FOUR, "--no-cache"]
        done = aqa_process(args, Path(home))
    return {"peak_rss_mb": round(done.peak_mb), "seconds": round(done.wall, 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--video", type=Path, help="default: the sports2d demo (fetched once)")
    parser.add_argument("--long-minutes", type=float, default=10.0, help="0 skips the memory run")
    parser.add_argument("--long-profile", choices=["fast", "full"], default="fast")
    parser.add_argument("--skip-baseline", action="store_true", help="without the naive loop")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--before", type=Path, help="a checkout of an older commit to compare")
    parser.add_argument("--repeats", type=int, default=3, help="whole-process runs of each")
    parser.add_argument("--whole-only", action="store_true", help="no in-process figures")
    args = parser.parse_args()

    video = args.video or demo_video(data_dir() / "cache")
    from engine.media.probe import probe

    info = probe(video)
    fps = info.fps
    rows: dict[str, object] = {}

    def emit(key: str, value: object) -> None:
        rows[key] = value
        if not args.json:
            text = f"{value:.2f}" if isinstance(value, float) else str(value)
            print(f"{key:44s} {text}", flush=True)

    emit("video", f"{video.name} {info.width}x{info.height} {fps:g} fps {info.duration_s:.1f} s")
    emit("cpu_cores", os.cpu_count())
    emit("load_average_1min_before", os.getloadavg()[0])
    for key, value in whole_processes(
        video, args.before, args.repeats, not args.skip_baseline
    ).items():
        emit(f"whole_process_{key}", value)
    if args.long_minutes > 0:
        long = long_video(video, args.long_minutes, data_dir() / "cache" / "bench")
        emit(
            f"long_{args.long_minutes:g}min_{args.long_profile}",
            long_run_memory(long, args.long_profile),
        )
    if not args.whole_only:
        in_process(video, emit)
    emit("load_average_1min_after", os.getloadavg()[0])
    if args.json:
        print(json.dumps(rows, indent=2, default=str))
    return 0


def in_process(video: Path, emit) -> None:
    """The in-process figures (see the module docstring)."""
    from engine.extract.config import PROFILES

    full, fast = PROFILES["full"], PROFILES["fast"]
    emit("decode_full_size_fps", decode_fps(video, None))
    emit(f"decode_{full.short_side}p_fps", decode_fps(video, full.short_side))
    emit(
        f"decode_{fast.short_side}p_at_{fast.fps:g}fps_fps",
        decode_fps(video, fast.short_side, fast.fps),
    )
    emit(
        "skeleton_fps_full",
        stage_fps(video, "skeleton", "blazepose", full.short_side, short_side=full.short_side),
    )
    emit(
        "skeleton_fps_fast",
        stage_fps(video, "skeleton", "blazepose", fast.short_side, short_side=fast.short_side),
    )
    emit(
        "flow_dis_fps_full",
        stage_fps(
            video,
            "flow",
            "dis",
            full.short_side,
            short_side=full.flow_side,
            preset=full.flow_preset,
        ),
    )
    emit(
        "flow_dis_fps_fast",
        stage_fps(
            video,
            "flow",
            "dis",
            fast.short_side,
            short_side=fast.flow_side,
            preset=fast.flow_preset,
        ),
    )
    emit("flow_farneback256_fps", stage_fps(video, "flow", "farneback", 256, short_side=256))
    emit("audio_x_realtime", audio_speed(video))
    emit(
        "rgb_efficientnet_fps_full", stage_fps(video, "rgb", "efficientnet-lite0", full.short_side)
    )
    fast_run = profile_speed(video, "fast")
    emit("fast_profile_x_realtime (median of 3)", fast_run["realtime_factor"])
    emit("fast_profile_range", fast_run["range"])
    emit("fast_profile_cpu_bound_x_realtime", fast_run["cpu_bound_realtime_factor"])
    full_run = profile_speed(video, "full")
    emit("full_profile_x_realtime (median of 3)", full_run["realtime_factor"])
    emit("full_profile_range", full_run["range"])
    emit("full_profile_cpu_bound_x_realtime", full_run["cpu_bound_realtime_factor"])
    five = profile_speed(video, "full", ALL_FIVE)
    emit("full_profile_5_modalities_x_realtime (median of 3)", five["realtime_factor"])
    emit("full_profile_5_modalities_range", five["range"])
    emit("full_profile_5_modalities_first_run", five["first_run_realtime_factor"])
    emit("full_profile_5_modalities_cpu_bound_x_realtime", five["cpu_bound_realtime_factor"])
    emit("profile_runs", {"fast": fast_run, "full": full_run, "full_5": five})
    emit("peak_rss_mb_this_process", peak_rss_mb())


if __name__ == "__main__":
    sys.exit(main())
