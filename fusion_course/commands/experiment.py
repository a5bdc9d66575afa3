"""`fusion-course experiment`: run a lesson's experiment at full size and write its results file.

usage: fusion-course experiment NAME [--scale lesson|full] [--seeds N] [--only MODEL ...] [--device cpu|cuda]
                                     [--workers K] [--threads T] [--set key=value ...] [--out FILE]
                                     [--time-limit S] [--resume] [--lr-from FILE]

NAME is ``fusion-helps`` (lesson 05: five decoders, does fusing levels help segmentation?),
``f3net-ablation`` (lesson 06: F3Net's fusion, feedback and focus, one change at a time) or
``mobilenet-fusion`` (lesson 07: fusion heads on MobileNetV3-small, accuracy at one resolution, ``--set size=96``)
or ``fusionnet-ablation`` (lesson 08: FusionNet's variants against a plain CNN on a 32×32 shape × texture task)
or ``fusionnet-control`` (lesson 08's positive control: the same task with small objects).

``--scale full`` (meant for a GPU: ``--device cuda --workers 4``) runs the experiment at the scale that can
answer its question: the module's ``FULL`` config, every run trained until its validation metric has not
improved for ``patience`` epochs (the best epoch's weights are kept), after choosing each model's peak
learning rate from ``LR_GRID`` on validation with a tuning seed (1000) that no reported run uses. The file,
``docs/results/<name>_full.json``, adds to each run its ``best_epoch``, ``epochs`` and validation ``curve``,
and records the chosen learning rates, the GPU, the date and the GPU-minutes. It is written after every run;
``--time-limit`` stops starting runs after S seconds and ``--resume`` continues a file that stopped early.

A lesson trains only what fits its time budget on a laptop CPU. This command runs the same code over
more seeds and models and writes a small JSON file with the results and their provenance (the command,
package versions, hardware and date), which the lesson loads and labels as loaded. On a CPU with many
cores, ``--workers`` trains several runs at once, each on ``--threads`` threads (2 matches the lessons).
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import importlib
import json
import os
import platform
import shlex
import sys
from pathlib import Path

from ..errors import UsageError
from ._full_scale import describe

# name -> module in fusion_course.experiments (each has Config, NAMES, load_data, baseline, train)
EXPERIMENTS = {"fusion-helps": "fusion_helps", "f3net-ablation": "f3net_ablation",
               "mobilenet-fusion": "mobilenet_fusion", "fusionnet-ablation": "fusionnet_ablation",
               "fusionnet-control": "fusionnet_control"}


def default_out(name: str, cfg, scale: str = "lesson") -> Path:
    suffix = f"_{cfg.size}px" if name == "mobilenet-fusion" else ""
    suffix += "_full" if scale == "full" else ""
    return Path("docs") / "results" / f"{EXPERIMENTS[name]}{suffix}.json"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="fusion-course experiment",
                                description="Run a lesson's experiment over seeds and write a JSON results file.")
    p.add_argument("name", choices=list(EXPERIMENTS),
                   help="fusion-helps (lesson 05), f3net-ablation (lesson 06), mobilenet-fusion (lesson 07) "
                        "or fusionnet-ablation (lesson 08)")
    p.add_argument("--scale", choices=("lesson", "full"), default="lesson",
                   help="lesson: the lesson's budget (default); full: tuned learning rates, trained to a plateau")
    p.add_argument("--seeds", type=int, default=5, help="seeds 0..N-1 for every model (default 5)")
    p.add_argument("--only", action="append", default=None, metavar="MODEL",
                   help="train only this model (repeat for several; default: all)")
    p.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    p.add_argument("--workers", type=int, default=1, help="runs trained at once (CPU; default 1)")
    p.add_argument("--threads", type=int, default=2, help="CPU threads per run (default 2, as in the lessons)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="change the scale, e.g. --set n_train=3000 --set epochs=8 (default: the lesson's)")
    p.add_argument("--out", default=None, metavar="FILE", help="results file (default docs/results/<name>.json)")
    p.add_argument("--time-limit", type=float, default=None, metavar="S",
                   help="start no run after S seconds (the file says which runs are missing; see --resume)")
    p.add_argument("--resume", action="store_true", help="keep the runs already in --out and train the rest")
    p.add_argument("--lr-from", default=None, metavar="FILE",
                   help="full scale: take the learning rates chosen in another results file instead of tuning")
    return p


def provenance(argv: list[str], device: str) -> dict:
    """What a reader needs to reproduce or doubt a results file."""
    import torch

    from .. import __version__

    hw = {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
          "cpu_count": os.cpu_count(), "cpu_capability": torch.backends.cpu.get_cpu_capability()}
    if device.startswith("cuda") and torch.cuda.is_available():
        hw["gpu"] = torch.cuda.get_device_name(0)
    return {"command": "fusion-course experiment " + " ".join(shlex.quote(a) for a in argv),
            "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d"),
            "versions": {"fusion_course": __version__, "torch": torch.__version__.split("+")[0],
                         "python": platform.python_version()},
            "hardware": hw}


def _config(module, settings: list[str], scale: str = "lesson"):
    fields = {f.name: f.type for f in dataclasses.fields(module.Config)}
    base = module.FULL if scale == "full" else getattr(module, "DEFAULT", module.Config())
    values = {}
    for item in settings:
        key, sep, value = item.partition("=")
        if not sep or key not in fields:
            raise UsageError(f"--set {item!r}: expected KEY=VALUE with KEY one of {', '.join(fields)}")
        try:
            values[key] = (float if fields[key] in (float, "float") else int)(value)
        except ValueError:
            raise UsageError(f"--set {item!r}: {value!r} is not a number") from None
    return dataclasses.replace(base, **values)


def _names(module, only: list[str] | None, scale: str = "lesson") -> list[str]:
    default = getattr(module, "FULL_NAMES", module.NAMES) if scale == "full" else module.NAMES
    names = list(default) if not only else only
    unknown = [n for n in names if n not in module.NAMES]
    if unknown:
        raise UsageError(f"unknown model(s) {', '.join(map(repr, unknown))}; choose from {', '.join(module.NAMES)}")
    return names


def _check_out(path: Path) -> None:
    """Fail before hours of training, not after: the results file's folder must be creatable and writable."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        probe = path.parent / f".{path.name}.write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise UsageError(f"cannot write {path} ({exc.strerror or exc}); pass --out FILE in a folder you can write") from None


def main(argv: list[str]) -> int:
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    if args.seeds < 1 or args.workers < 1 or args.threads < 1:
        raise UsageError("--seeds, --workers and --threads must be at least 1")
    if args.lr_from and args.scale != "full":
        raise UsageError("--lr-from only applies with --scale full")
    module = importlib.import_module(f"fusion_course.experiments.{EXPERIMENTS[args.name]}")
    cfg, names = _config(module, args.set, args.scale), _names(module, args.only, args.scale)
    out = Path(args.out) if args.out else default_out(args.name, cfg, args.scale)
    _check_out(out)
    if args.scale == "full":
        from ._full_scale import run_full

        return run_full(module, args, cfg, names, out, provenance(argv, args.device))
    from ..experiments._grid import run_grid

    base = module.baseline(module.load_data(cfg))
    print("constant prediction: " + "  ".join(f"{k} {v:.3f}" for k, v in base.items()), flush=True)
    results = run_grid(module, names, range(args.seeds), cfg, device=args.device, workers=args.workers,
                       threads=args.threads, on_result=lambda key, scores: print(describe(key, scores), flush=True))
    doc = {"experiment": args.name, "config": dataclasses.asdict(cfg), "provenance": provenance(argv, args.device),
           "constant": base, "runs": [{"model": n, "seed": s, **results[n, s]} for n in names for s in range(args.seeds)]}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main(sys.argv[1:]))
