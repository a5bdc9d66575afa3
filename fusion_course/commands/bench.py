"""`fusion-course bench`: measure the cost of the course's building blocks and models.

    fusion-course bench fusion [--batch 16 --channels 64 --size 32 --inputs 3 --repeats 30 --threads N]
    fusion-course bench train-step [--models fusionnet ... --modes eager-fp32 bf16-cl ... --ddp]

``bench train-step`` times whole training steps of registered classifiers on a GPU (eager fp32, bf16 +
channels_last, torch.compile; DistributedDataParallel under torchrun): see ``fusion_course/gpu_bench.py``.

``bench fusion`` builds every registered fusion operator (and the variants that matter: each weighting
mode of the weighted sum, the normalised gates, ...) for ``inputs`` maps of shape
``(batch, channels, size, size)`` on the CPU and prints one table: parameters, multiply-adds
(torch's flop counter, FLOPs / 2; element-wise work is not counted), and the median forward and
forward + backward times, each also as a ratio to a plain ``a + b + c``. Two reference rows show
the textbook ways of writing a learned weighted sum (``w0*a + w1*b + w2*c`` and ``torch.stack``)
that the course's fused ``WeightedSumFusion`` replaces. All operators are measured
side by side in one run: each repeat times every operator once, in a fresh random order, so load
that drifts during the run hits all of them alike, and each ratio is the median of per-repeat ratios.

Adding a target (e.g. ``bench models``): add a ``BenchTarget`` to ``BENCH_TARGETS`` below. Its
``run`` imports what it measures, so ``fusion-course bench --help`` stays light.
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any, Callable

from ..cli import CommandParser, parse_command
from ..errors import UsageError


@dataclass(frozen=True)
class BenchTarget:
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


# ---------------------------------------------------------------- bench fusion

def fusion_cases(channels: int, n_inputs: int) -> list[tuple[str, Callable[[], Any]]]:
    """(label, builder) for every operator in the table; labels start with the registry name."""
    from ..fusion import create_fusion

    cin = [channels] * n_inputs

    def make(name: str, **options: Any) -> Callable[[], Any]:
        return lambda: create_fusion(name, cin, channels, **options)

    return [
        ("sum", make("sum")),
        ("concat", make("concat")),
        ("weighted (fixed)", make("weighted", mode="fixed", weights=[0.5, 0.3, 0.2][:n_inputs] if n_inputs <= 3 else None)),
        ("weighted (learned)", make("weighted", mode="learned")),
        ("weighted (softmax)", make("weighted", mode="softmax")),
        ("weighted (fast)", make("weighted", mode="fast")),
        ("weighted (fast, per channel)", make("weighted", mode="fast", per_channel=True)),
        ("formula (sigmoid)", make("formula", activation="sigmoid")),
        ("gated", make("gated")),
        ("gated (normalised)", make("gated", normalize="sum")),
        ("attention", make("attention")),
        ("spatial (softmax)", make("spatial")),
        ("aff", make("aff")),
        ("iaff", make("iaff")),
        ("block (concat)", make("block")),
    ]


class _PlainSum:
    """The baseline: ``a + b + c`` written out, no module, no checks."""

    def __call__(self, maps: list) -> Any:
        out = maps[0]
        for m in maps[1:]:
            out = out + m
        return out


def _reference_rows(n_inputs: int) -> list[tuple[str, Any]]:
    """Two textbook ways to write a learned weighted sum, to show what fusing the multiply-adds buys."""
    import torch

    class NaiveWeighted(torch.nn.Module):
        """``w0*a + w1*b + w2*c``: a temporary tensor per product and per partial sum."""

        def __init__(self) -> None:
            super().__init__()
            self.weight = torch.nn.Parameter(torch.ones(n_inputs))

        def forward(self, maps: list) -> Any:
            return sum(w * m for w, m in zip(self.weight, maps))

    class StackedWeighted(NaiveWeighted):
        """``(stack(maps) * w).sum(0)``: copies every map into one big tensor first."""

        def forward(self, maps: list) -> Any:
            return (torch.stack(maps) * self.weight.view(-1, 1, 1, 1, 1)).sum(0)   # (n, B, C, H, W) -> (B, C, H, W)

    return [("ref: w0*a + w1*b + w2*c", NaiveWeighted()), ("ref: stack(maps) * w, sum", StackedWeighted())]


def add_fusion_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--batch", type=int, default=16, help="batch size B (default 16)")
    p.add_argument("--channels", type=int, default=64, help="channels C of every input and of the output (default 64)")
    p.add_argument("--size", type=int, default=32, help="height = width of every input (default 32)")
    p.add_argument("--inputs", type=int, default=3, help="number of input maps (default 3)")
    p.add_argument("--repeats", type=int, default=30, help="timed repeats per operator (default 30)")
    p.add_argument("--warmup", type=int, default=3, help="untimed calls per operator first (default 3)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's current setting)")
    p.add_argument("--seed", type=int, default=0, help="seed for weights and inputs (default 0)")


def run_fusion(args: argparse.Namespace) -> int:
    import random
    import statistics

    import torch

    from ..fusion import available_fusions
    from ..profiling import count_macs, count_params, summarize_times, time_call

    for name in ("batch", "channels", "size", "inputs", "repeats"):
        if getattr(args, name) < 1:
            raise UsageError(f"--{name} must be >= 1; got {getattr(args, name)}")
    if args.inputs < 2:
        raise UsageError("--inputs must be >= 2: fusion needs at least two maps")
    if args.warmup < 0:
        raise UsageError(f"--warmup must be >= 0; got {args.warmup}")
    if args.threads is not None:
        if args.threads < 1:
            raise UsageError(f"--threads must be >= 1; got {args.threads}")
        torch.set_num_threads(args.threads)

    torch.manual_seed(args.seed)
    shape = (args.batch, args.channels, args.size, args.size)
    maps = [torch.randn(shape, requires_grad=True) for _ in range(args.inputs)]
    ops: list[tuple[str, Any]] = [("a + b + c (plain)", _PlainSum())]
    ops += _reference_rows(args.inputs)
    ops += [(label, build()) for label, build in fusion_cases(args.channels, args.inputs)]
    missing = set(available_fusions()) - {label.split()[0] for label, _ in ops}
    assert not missing, f"bench fusion lacks a case for {sorted(missing)}"

    def reset_grads(op: Any) -> None:
        for t in maps:
            t.grad = None
        if isinstance(op, torch.nn.Module):
            op.zero_grad(set_to_none=True)

    for _, op in ops:
        for _ in range(args.warmup):
            time_call(op, maps)
            reset_grads(op)
            time_call(op, maps, backward=True)

    fwd = {label: [] for label, _ in ops}
    both = {label: [] for label, _ in ops}
    rng = random.Random(args.seed)
    for _ in range(args.repeats):
        # A fresh random order each repeat: no operator always runs first, or always right after the
        # one that trashes the caches, so order effects average out like load drift does.
        order = rng.sample(ops, len(ops))
        for label, op in order:
            fwd[label].append(time_call(op, maps))
            reset_grads(op)
            both[label].append(time_call(op, maps, backward=True))

    base = ops[0][0]

    def ratio(times: dict[str, list[float]], label: str) -> float:
        return statistics.median(t / b for t, b in zip(times[label], times[base]))

    print(f"bench fusion: {args.inputs} inputs of {shape} on the CPU, {torch.get_num_threads()} threads, "
          f"{args.repeats} repeats (interleaved), torch {torch.__version__}")
    print("MACs: multiply-adds from torch's flop counter (FLOPs / 2); element-wise work is not counted.")
    header = f"{'operator':<30} {'params':>8} {'MACs':>12} {'fwd ms':>8} {'fwd ×':>7} {'fwd+bwd ms':>10} {'f+b ×':>7}"
    print(header)
    print("-" * len(header))
    for label, op in ops:
        params = count_params(op) if isinstance(op, torch.nn.Module) else 0
        macs = count_macs(op, [m.detach() for m in maps])
        f, b = summarize_times(fwd[label])["median_ms"], summarize_times(both[label])["median_ms"]
        print(f"{label:<30} {params:>8,} {macs:>12,} {f:>8.2f} {ratio(fwd, label):>7.2f} {b:>10.2f} {ratio(both, label):>7.2f}")
    print("× = median over repeats of (operator time / plain-sum time) in the same repeat.")
    return 0


# ---------------------------------------------------------------- bench train-step (GPU)

def add_train_step_arguments(p: argparse.ArgumentParser) -> None:
    modes = ("eager-fp32", "bf16-cl", "bf16-cl-compile", "bf16-cl-compile-cg")    # gpu_bench.MODES, without torch
    p.add_argument("--models", nargs="+", default=["fusionnet", "fusionnet-normalized"], metavar="MODEL",
                   help="registered classifiers (default: fusionnet fusionnet-normalized)")
    p.add_argument("--modes", nargs="+", default=list(modes[:3]), choices=modes)
    p.add_argument("--batch-size", type=int, nargs="+", default=[256], help="per-GPU batch size(s)")
    p.add_argument("--steps", type=int, default=50, help="timed steps per configuration")
    p.add_argument("--warmup", type=int, default=10, help="untimed steps first (compilation happens here)")
    p.add_argument("--image-size", type=int, default=32)
    p.add_argument("--width", type=float, default=1.0, help="channel multiplier (1.0 = published size)")
    p.add_argument("--device", default="auto", help="auto (cuda if visible), cuda or cpu")
    p.add_argument("--ddp", action="store_true", help="DistributedDataParallel; launch with torchrun")
    p.add_argument("--json", default=None, help="write the rows and environment to this file")
    p.add_argument("--model-options", default=None,
                   help='JSON keyword options for the model, e.g. \'{"level_resize": "nearest"}\'')
    p.add_argument("--profile", action="store_true", help="print the top kernels of 3 steps per configuration")


def run_train_step(args: argparse.Namespace) -> int:
    from ..gpu_bench import run
    from ..models import model_spec

    for name in args.models:
        model_spec(name)                      # an unknown name: UsageError listing the registered ones
    return run(args)


# ---------------------------------------------------------------- targets and entry point

# name -> what `fusion-course bench NAME` measures.
BENCH_TARGETS: dict[str, BenchTarget] = {
    "fusion": BenchTarget(
        help="params, multiply-adds and CPU latency of every fusion operator relative to a plain sum",
        add_arguments=add_fusion_arguments,
        run=run_fusion,
    ),
    "train-step": BenchTarget(
        help="training-step throughput and peak memory of registered classifiers (GPU; eager, bf16, compile, DDP)",
        add_arguments=add_train_step_arguments,
        run=run_train_step,
    ),
}


def build_parser() -> argparse.ArgumentParser:
    parser = CommandParser(prog="fusion-course bench", description="Benchmark parts of the course on this machine.")
    sub = parser.add_subparsers(dest="target", metavar="TARGET", parser_class=CommandParser)
    for name, target in BENCH_TARGETS.items():
        target.add_arguments(sub.add_parser(name, help=target.help, description=target.help))
    return parser


def main(argv: list[str]) -> int:
    parser = build_parser()
    if not argv:
        raise UsageError(f"name what to benchmark: one of {', '.join(BENCH_TARGETS)} "
                         f"(e.g. `fusion-course bench fusion`)")
    args = parse_command(parser, argv)
    return 0 if args is None else BENCH_TARGETS[args.target].run(args)
