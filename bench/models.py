"""Speed of the grading networks on this CPU: inference latency at batch 1 and training throughput.

    python bench/models.py [--official-mcmoe DIR] [--json]

``--official-mcmoe`` (or ``$MCMOE_OFFICIAL_DIR``) points at a checkout of the released MCMoE code
(github XuHuangbiao/MCMoE, kept outside the project); the released model then runs side by side
with ours on the same weights and inputs (called alternately, medians), and the ratio and the
largest output difference are printed. Each model is one ``Case`` in ``CASES``; a case with a
latency target (``target_ms``) says whether it holds.
"""

import argparse
import importlib
import importlib.util
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import models  # noqa: E402


@dataclass
class Case:
    """One network preset to time; ``official_params`` is the reference parameter count;
    ``segments`` None: the preset's own input lengths (DualAlign's ``lengths``)."""

    name: str
    preset: str
    official_params: int | None
    segments: int | None
    target_ms: float | None = None  # issue 18: latency per sample on the CPU at batch 1


SPEEDUP_TARGET = 2.0  # issue 18: ours against the released code, same weights, batch 1, CPU

CASES = [
    Case("mcmoe", "fs1000", 9_122_183, 95),
    Case("mcmoe", "rg", 9_384_711, 68),
    Case("dualalign", "mm-jdm", None, None, target_ms=30.0),
]


def sample_inputs(
    model, batch: int, segments: int | None
) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    if segments is None:
        from models.dualalign import example_inputs

        return example_inputs(model, batch)
    feats = {m: torch.randn(batch, segments, d) for m, d in model.input_dims.items()}
    return feats, torch.ones(batch, len(model.modalities), dtype=torch.bool)


def time_call(fn: Callable[[], object], repeats: int, warmup: int = 3) -> float:
    """Median seconds per call."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def time_pair(
    a: Callable[[], object], b: Callable[[], object], repeats: int
) -> tuple[float, float, float, float, tuple[float, float]]:
    """Median wall and CPU (process) seconds per call of ``a`` and ``b``, called alternately so
    that load from other processes hits both alike, and the quartiles of each round's wall ratio
    b / a: (wall a, wall b, cpu a, cpu b, (q1, q3)). With one thread the CPU time is the least
    disturbed by other processes."""
    for _ in range(3):
        a(), b()
    wall: dict[int, list[float]] = {0: [], 1: []}
    cpu: dict[int, list[float]] = {0: [], 1: []}
    for _ in range(repeats):
        for k, fn in enumerate((a, b)):
            start, start_cpu = time.perf_counter(), time.process_time()
            fn()
            wall[k].append(time.perf_counter() - start)
            cpu[k].append(time.process_time() - start_cpu)
    med = statistics.median
    q1, _, q3 = statistics.quantiles([tb / ta for ta, tb in zip(wall[0], wall[1])], n=4)
    return med(wall[0]), med(wall[1]), med(cpu[0]), med(cpu[1]), (q1, q3)


def train_throughput(model, segments: int, batch: int, steps: int) -> float:
    """Samples per second of full training steps (forward with losses, backward, Adam)."""
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    feats, available = sample_inputs(model, batch, segments)
    target = torch.rand(batch)

    def step() -> None:
        opt.zero_grad()
        model(feats, available, target=target).losses["total"].backward()
        opt.step()

    seconds = time_call(step, steps, warmup=1)
    model.eval()
    return batch / seconds


def load_official_mcmoe(path: Path):
    """The released ``models.model`` module, imported under another name (ours is ``models``)."""
    ours = {k: v for k, v in sys.modules.items() if k == "models" or k.startswith("models.")}
    for k in ours:
        del sys.modules[k]
    package = path / "models"
    spec = importlib.util.spec_from_file_location(
        "models", package / "__init__.py", submodule_search_locations=[str(package)]
    )
    sys.modules["models"] = importlib.util.module_from_spec(spec)
    try:
        module = importlib.import_module("models.model")
    finally:
        for k in [k for k in sys.modules if k == "models" or k.startswith("models.")]:
            sys.modules["official_" + k] = sys.modules.pop(k)
        sys.modules.update(ours)
    return module


def official_mcmoe_pair(path: Path, model):
    """The released network with the same weights as ``model`` (moved from theirs to ours)."""
    from models.checkpoint import load_state
    from models.mcmoe import from_official

    official = load_official_mcmoe(path)
    c = model.config
    cuda = torch.Tensor.cuda
    torch.Tensor.cuda = lambda self, *a, **k: self  # it moves a constant to CUDA in __init__
    try:
        net = official.MoE_AQA(c.input_dims[c.modalities[0]], c.hidden, c.heads,
                               c.encoder_layers, c.decoder_layers, c.queries, 0.0, None)  # fmt: skip
    finally:
        torch.Tensor.cuda = cuda
    # non-default norm parameters: with LayerNorm at its initial values the released code's
    # sum() == 0 test takes present modalities for missing ones (it is what trained weights avoid)
    with torch.no_grad():
        for mod in net.modules():
            if isinstance(mod, torch.nn.LayerNorm):
                mod.bias.normal_(0.0, 0.1)
    load_state(model, from_official(model, net.state_dict()))
    return net.eval()


def bench_case(case: Case, official_dir: Path | None, repeats: int, train_batch: int) -> dict:
    torch.manual_seed(0)
    model = models.build(case.name, case.preset).eval()
    params = sum(p.numel() for p in model.parameters())
    feats, available = sample_inputs(model, 1, case.segments)
    result = {"model": case.name, "preset": case.preset, "params": params,
              "official_params": case.official_params, "target_ms": case.target_ms}  # fmt: skip
    official = None
    if official_dir is not None and case.name == "mcmoe":
        official = official_mcmoe_pair(official_dir, model)

    def ours() -> torch.Tensor:
        with torch.inference_mode():
            return model(feats, available).score

    if official is not None:
        args = [feats[m] for m in model.modalities]

        def theirs() -> torch.Tensor:
            with torch.no_grad():
                return official(*args, [1, 1, 1])["output"]

        result["max_abs_diff"] = float((ours() - theirs()).abs().max())
        t_ours, t_theirs, cpu_ours, cpu_theirs, quartiles = time_pair(ours, theirs, repeats)
        result["ms_per_sample"] = 1000 * t_ours
        result["official_ms_per_sample"] = 1000 * t_theirs
        result["speedup"] = t_theirs / t_ours
        result["speedup_quartiles"] = quartiles  # of the rounds' own ratios
        result["cpu_ms_per_sample"] = 1000 * cpu_ours
        result["official_cpu_ms_per_sample"] = 1000 * cpu_theirs
        result["cpu_speedup"] = cpu_theirs / cpu_ours
    else:
        result["ms_per_sample"] = 1000 * time_call(ours, repeats)
    if train_batch:
        result["train_samples_per_s"] = train_throughput(model, case.segments, train_batch, 3)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--official-mcmoe", type=Path, default=os.environ.get("MCMOE_OFFICIAL_DIR"))
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--train-batch", type=int, default=8)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--no-train", action="store_true", help="skip the training throughput")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    official = Path(args.official_mcmoe) if args.official_mcmoe else None
    train_batch = 0 if args.no_train else args.train_batch
    results = [bench_case(c, official, args.repeats, train_batch) for c in CASES]
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch 1, eval")
    for r in results:
        ref = f" (official {r['official_params']:,})" if r["official_params"] else ""
        line = f"{r['model']}/{r['preset']}: {r['params']:,} parameters{ref}; "
        line += f"{r['ms_per_sample']:.1f} ms/sample"
        if "official_ms_per_sample" in r:
            holds = "holds" if r["speedup"] >= SPEEDUP_TARGET else "MISSED"
            q1, q3 = r["speedup_quartiles"]
            line += (f" vs official {r['official_ms_per_sample']:.1f} ms -> {r['speedup']:.2f}x "
                     f"(target >= {SPEEDUP_TARGET:.0f}x: {holds}; half the rounds {q1:.2f}-{q3:.2f}x) "
                     f"(CPU time {r['cpu_ms_per_sample']:.1f} vs {r['official_cpu_ms_per_sample']:.1f}"
                     f" ms -> {r['cpu_speedup']:.2f}x), max |diff| {r['max_abs_diff']:.1e}")  # fmt: skip
        if r["target_ms"] is not None:
            holds = "holds" if r["ms_per_sample"] <= r["target_ms"] else "MISSED"
            line += f" (target <= {r['target_ms']:.0f} ms: {holds})"
        if "train_samples_per_s" in r:
            line += f"; training {r['train_samples_per_s']:.1f} samples/s"
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
