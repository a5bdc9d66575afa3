"""Training throughput and peak memory of the course's models on a GPU: eager fp32, bf16 + channels_last, compile.

This is the engine of ``fusion-course bench train-step`` (the one benchmark entry point; its options are
in ``commands/bench.py``). Run on a machine with a GPU (only torch is needed; nothing notebook-only is
imported)::

    PYTHONPATH=. python -m fusion_course bench train-step --batch-size 256 --json out.json
    PYTHONPATH=. torchrun --nproc_per_node=2 -m fusion_course bench train-step --ddp --modes bf16-cl-compile

``python -m fusion_course.gpu_bench ...`` still works: it is ``fusion-course bench train-step ...``.

What one "step" is: forward, cross-entropy, backward and an SGD step (momentum 0.9, weight decay 5e-4, the
published recipe's optimiser) on a batch of 32×32 RGB images with 10 classes. The images are random
tensors at CIFAR-10's size, made once on the GPU (no CIFAR-10 download is possible on the benchmark
machines, and the content of an image does not change how long a step takes); so the figures measure
the model's training step, not data loading.

Modes (each on a freshly built model, seeded):

* ``eager-fp32``: the default: float32, NCHW, PyTorch's default math (cuDNN may use TF32 for convs;
  matmuls stay full fp32), ``torch.optim.SGD`` with its default (foreach) implementation.
* ``bf16-cl``: ``torch.autocast(dtype=torch.bfloat16)`` + ``channels_last`` model and inputs, fused SGD.
* ``bf16-cl-compile``: the same, with ``torch.compile(model)`` (Inductor, default mode).
* ``bf16-cl-compile-cg``: ``torch.compile(model, mode="reduce-overhead")``, which replays the compiled
  step as CUDA graphs and so removes the kernel-launch overhead, the bottleneck of these models on
  32×32 images (on an H100 it took a step from about 15 ms to under 4 ms).

Under ``torchrun`` with ``--ddp`` each process drives one GPU with the same per-GPU batch (weak
scaling); throughput is the global images/s, ``world_size × batch × steps / slowest rank's time``.
Scaling efficiency = DDP images/s ÷ (world_size × one-GPU images/s), both measured by this script.

The measured numbers are in ``docs/benchmarks.md``.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .errors import UsageError

MODES = ("eager-fp32", "bf16-cl", "bf16-cl-compile", "bf16-cl-compile-cg")
MODELS = ("fusionnet", "fusionnet-normalized")     # the default pair; any classifier of the registry works


def build_model(name: str, width: float = 1.0, **options: Any) -> nn.Module:
    """The registered classifier ``name`` (``fusion_course.models.create_model``), 3 channels → 10 classes."""
    from .models import create_model, model_spec

    if model_spec(name).task != "classify":
        raise UsageError(f"bench train-step times classifiers (cross-entropy on 10 classes); {name!r} predicts masks")
    if "width" in model_spec(name).options:
        options = {"width": width, **options}
    elif width != 1.0:
        raise UsageError(f"model {name!r} has no width multiplier; leave --width at 1.0")
    return create_model(name, in_channels=3, num_classes=10, **options)


def _dist_info() -> tuple[int, int, int]:
    """(rank, world_size, local_rank) from torchrun's environment, or (0, 1, 0)."""
    return (int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)),
            int(os.environ.get("LOCAL_RANK", 0)))


def _setup(model_name: str, mode: str, device: torch.device, *, ddp: bool, width: float,
           options: dict[str, Any] | None) -> tuple[nn.Module, nn.Module, torch.optim.Optimizer]:
    """``(model, net, optimizer)`` for a mode: ``net`` is the model as trained (DDP-wrapped, compiled)."""
    cuda, fast = device.type == "cuda", mode != "eager-fp32"
    model = build_model(model_name, width, **(options or {})).to(device)
    if fast:
        model = model.to(memory_format=torch.channels_last)
    opt_kwargs: dict[str, Any] = dict(lr=0.01, momentum=0.9, weight_decay=5e-4)
    if fast and cuda:
        opt_kwargs["fused"] = True               # one kernel for the whole update instead of a few per tensor
    optimizer = torch.optim.SGD(model.parameters(), **opt_kwargs)
    net: nn.Module = model
    if ddp:
        from torch.nn.parallel import DistributedDataParallel as DDP

        net = DDP(model, device_ids=[_dist_info()[2]] if cuda else None, gradient_as_bucket_view=True)
    if mode == "bf16-cl-compile":
        net = torch.compile(net)
    elif mode == "bf16-cl-compile-cg":
        net = torch.compile(net, mode="reduce-overhead")
    return model, net, optimizer


def _print_profile(label: str, step: Any, sync: Any, cuda: bool) -> None:
    """Which kernels take the time: the top of the GPU (or CPU) self-time table for 3 steps."""
    from torch.profiler import ProfilerActivity, profile as torch_profile

    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    with torch_profile(activities=acts) as prof:
        for i in range(3):
            step(i)
        sync()
    key = "self_cuda_time_total" if cuda else "self_cpu_time_total"
    print(f"--- profile {label} (3 steps)")
    print(prof.key_averages().table(sort_by=key, row_limit=8, max_name_column_width=60))


def bench_one(model_name: str, mode: str, *, batch_size: int, steps: int, warmup: int, image_size: int,
              device: torch.device, ddp: bool = False, width: float = 1.0, seed: int = 0,
              options: dict[str, Any] | None = None, profile: bool = False) -> dict[str, Any]:
    """Time ``steps`` training steps after ``warmup`` (compile happens in warmup); return a result row."""
    if mode not in MODES:
        raise UsageError(f"unknown mode {mode!r}; choose from {', '.join(MODES)}")
    rank, world, _ = _dist_info()
    torch.manual_seed(seed + rank)
    if hasattr(torch, "_dynamo"):
        torch._dynamo.reset()                    # a fresh compile per configuration
    cuda = device.type == "cuda"
    bf16 = channels_last = mode != "eager-fp32"
    model, net, optimizer = _setup(model_name, mode, device, ddp=ddp, width=width, options=options)
    params = sum(p.numel() for p in model.parameters())

    # A pool of generated batches at CIFAR size, resident on the device (no loader in the timing).
    g = torch.Generator(device="cpu").manual_seed(1000 + rank)
    pool = 4
    images = torch.rand(pool, batch_size, 3, image_size, image_size, generator=g).to(device)
    labels = torch.randint(0, 10, (pool, batch_size), generator=g).to(device)
    if channels_last:
        images = [im.contiguous(memory_format=torch.channels_last) for im in images]
    else:
        images = list(images)

    def step(i: int) -> torch.Tensor:
        x, y = images[i % pool], labels[i % pool]
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            loss = F.cross_entropy(net(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return loss.detach()

    def sync() -> None:
        if cuda:
            torch.cuda.synchronize(device)
        if ddp:
            torch.distributed.barrier()

    model.train()
    t0 = time.perf_counter()
    for i in range(warmup):
        step(i)
    sync()
    warmup_s = time.perf_counter() - t0
    if cuda:
        torch.cuda.reset_peak_memory_stats(device)
    t0 = time.perf_counter()
    loss = torch.zeros((), device=device)
    for i in range(steps):
        loss = step(i)
    sync()
    elapsed = time.perf_counter() - t0
    if ddp:
        t = torch.tensor([elapsed], device=device)
        times = [torch.zeros_like(t) for _ in range(world)]
        torch.distributed.all_gather(times, t)
        elapsed = max(float(x.item()) for x in times)      # the slowest rank sets the pace
    peak_mib = torch.cuda.max_memory_allocated(device) / 2**20 if cuda else float("nan")
    if profile and rank == 0:
        _print_profile(f"{model_name} {mode} {options or ''}", step, sync, cuda)
    final_loss = float(loss.float().item())
    if not torch.isfinite(torch.tensor(final_loss)):
        raise RuntimeError(f"{model_name} {mode}: loss became {final_loss}; the benchmark is not valid")
    return {
        "model": model_name + (f" {json.dumps(options, sort_keys=True)}" if options else ""), "mode": mode, "params": params, "batch_per_gpu": batch_size,
        "world_size": world if ddp else 1, "steps": steps, "warmup_s": round(warmup_s, 2),
        "images_per_s": round(world * batch_size * steps / elapsed if ddp else batch_size * steps / elapsed, 1),
        "ms_per_step": round(1000 * elapsed / steps, 2), "peak_mem_mib": round(peak_mib, 1),
        "final_loss": round(final_loss, 4),
    }


def format_rows(rows: Sequence[dict[str, Any]]) -> str:
    """A text table with each mode's speed-up over eager fp32 of the same model and batch."""
    base = {(r["model"], r["batch_per_gpu"], r["world_size"]): r["images_per_s"]
            for r in rows if r["mode"] == "eager-fp32"}
    head = f"{'model':<21} {'mode':<19} {'GPUs':>4} {'batch':>5} {'img/s':>9} {'ms/step':>8} {'peak MiB':>9} {'vs fp32':>7} {'warmup s':>8}"
    lines = [head, "-" * len(head)]
    for r in rows:
        b = base.get((r["model"], r["batch_per_gpu"], r["world_size"]))
        speed = f"{r['images_per_s'] / b:.2f}x" if b else "-"
        lines.append(f"{r['model']:<21} {r['mode']:<19} {r['world_size']:>4} {r['batch_per_gpu']:>5} "
                     f"{r['images_per_s']:>9.1f} {r['ms_per_step']:>8.2f} {r['peak_mem_mib']:>9.1f} "
                     f"{speed:>7} {r['warmup_s']:>8.1f}")
    return "\n".join(lines)


def environment() -> dict[str, Any]:
    info: dict[str, Any] = {"torch": torch.__version__, "cuda": torch.version.cuda,
                            "cudnn_tf32": torch.backends.cudnn.allow_tf32,
                            "matmul_tf32": torch.backends.cuda.matmul.allow_tf32}
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
        info["gpus_visible"] = torch.cuda.device_count()
    return info


def run(args: argparse.Namespace) -> int:
    """``fusion-course bench train-step``: time every (model, batch size, mode) and print one row each."""
    rank, _, local_rank = _dist_info()
    device = torch.device(("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise UsageError("--device cuda but no GPU is visible; pass --device cpu for a dry run")
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    if args.ddp:
        if "RANK" not in os.environ:
            raise UsageError("--ddp needs torchrun, e.g. torchrun --nproc_per_node=2 -m fusion_course bench train-step --ddp")
        torch.distributed.init_process_group("nccl" if device.type == "cuda" else "gloo")
    try:
        options = json.loads(args.model_options) if args.model_options else None
    except json.JSONDecodeError as exc:
        raise UsageError(f"--model-options is not valid JSON ({exc}); e.g. '{{\"level_resize\": \"nearest\"}}'") from None
    rows = []
    try:
        for model_name in args.models:
            for batch in args.batch_size:
                for mode in args.modes:
                    row = bench_one(model_name, mode, batch_size=batch, steps=args.steps, warmup=args.warmup,
                                    image_size=args.image_size, device=device, ddp=args.ddp, width=args.width,
                                    options=options, profile=args.profile)
                    rows.append(row)
                    if rank == 0:
                        print(json.dumps(row), flush=True)
    finally:
        if args.ddp:
            torch.distributed.destroy_process_group()
    if rank == 0:
        print()
        print(format_rows(rows))
        env = environment()
        print(json.dumps(env))
        if args.json:
            with open(args.json, "w") as fh:
                json.dump({"environment": env, "rows": rows, "argv": sys.argv[1:]}, fh, indent=1)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m fusion_course.gpu_bench ARGS`` is ``fusion-course bench train-step ARGS``."""
    from .cli import main as cli_main

    return cli_main(["bench", "train-step", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
