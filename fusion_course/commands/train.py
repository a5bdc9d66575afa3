"""`fusion-course train MODEL --dataset NAME`: train a course model and tell what happens.

It tells the story the source article's ``train_f3net.py`` prints (dataset loaded, features
extracted, fusion applied, accuracy per epoch), with real numbers: the feature maps are measured on one
training image before training starts.

    $ fusion-course train f3net-toy
    dataset digits: 1,797 images 1x8x8, 10 classes (train 1,257 / val 180 / test 360)
    model f3net-toy: 203,978 parameters ...
    extracting features from one image: edges ✔ (32x8x8)  textures ✔ (64x8x8)  shapes ✔ (128x8x8)
    epoch 1/10  train_loss ...  val_accuracy ...
    test accuracy 0.9xx (weights of the best val epoch)
    checkpoint runs/f3net-toy-digits/last.pt, metrics runs/f3net-toy-digits/metrics.json

Every input is checked before anything is written (unknown model or dataset, an image size the model
cannot take, an unwritable ``--out``, missing CIFAR-10 files): one message, exit status 2, no traceback.
The same command runs on several processes with ``torchrun --nproc_per_node=N -m fusion_course train ...``
(DistributedDataParallel; only rank 0 prints and writes).
"""
from __future__ import annotations

import argparse
import inspect
import os
import time
from pathlib import Path
from typing import Any, Callable

from ..cli import CommandParser, parse_command
from ..errors import UsageError

EPILOG = """examples:
  fusion-course train f3net-toy                       # the source article's toy on 8x8 digits
  fusion-course train f3net-toy-fixed --image-size 16 --epochs 5
  fusion-course train baseline --dataset texture-shapes --epochs 3
  fusion-course train baseline --dataset cifar10 --data-root ~/data --download
  torchrun --nproc_per_node=2 -m fusion_course train baseline   # several processes (DDP)
"""


def build_parser() -> argparse.ArgumentParser:
    p = CommandParser(prog="fusion-course train", description=__doc__.split("\n\n")[0],
                epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", nargs="?", help="model name (`fusion-course train --list` shows them)")
    p.add_argument("--dataset", help="dataset name (default: the model's own, e.g. digits)")
    p.add_argument("--epochs", type=int, default=10, help="passes over the training split (default 10)")
    p.add_argument("--batch-size", type=int, default=64, help="global batch size (default 64)")
    p.add_argument("--lr", type=float, default=1e-3, help="learning rate (default 1e-3)")
    p.add_argument("--optimizer", default="adam", choices=["adam", "adamw", "sgd"])
    p.add_argument("--weight-decay", type=float, default=0.0, help="L2 weight decay (default 0; 5e-4 for SGD on CIFAR)")
    p.add_argument("--schedule", default=None, choices=["onecycle", "cosine"], help="learning-rate schedule")
    p.add_argument("--image-size", type=int, default=None, help="image side in pixels (default: the dataset's)")
    p.add_argument("--augment", action="store_true",
                   help="standard augmentation of the training split for natural images such as CIFAR-10: "
                        "4-pixel pad + random crop, horizontal flip (a flip changes what a digit means)")
    p.add_argument("--seed", type=int, default=0, help="seed of the weights and batch order (default 0)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, mps (default auto)")
    p.add_argument("--amp", action="store_true", help="bf16 mixed precision (CUDA only)")
    p.add_argument("--channels-last", action="store_true", help="NHWC memory layout")
    p.add_argument("--threads", type=int, default=None, help="CPU threads per process (default: torch's)")
    p.add_argument("--out", default=None, help="output folder (default runs/MODEL-DATASET)")
    p.add_argument("--resume", action="store_true", help="continue from OUT/last.pt")
    p.add_argument("--download", action="store_true", help="download CIFAR-10 if it is missing (needs internet)")
    p.add_argument("--data-root", default=None, help="folder holding cifar-10-batches-py (CIFAR-10 only)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars (epoch lines only)")
    p.add_argument("--list", action="store_true", help="list models and datasets, then exit")
    return p


def _accepts(fn: Callable, name: str) -> bool:
    params = inspect.signature(fn).parameters
    return name in params or any(p.kind is p.VAR_KEYWORD for p in params.values())


def check_out_dir(out: Path, resume: bool) -> None:
    """Refuse, before anything is written, a folder we could not write or would clobber.

    Under torchrun every rank checks, but only rank 0, the one that writes there, probes by writing: two
    probes would race, one rank creating the folder that the other is removing.
    """
    from ..train import CHECKPOINT, rank

    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} exists and is not a folder; choose another --out")
    if out.is_dir():
        if not os.access(out, os.W_OK | os.X_OK):
            raise UsageError(f"--out {out} is not writable; choose a folder you can write to")
        if (out / CHECKPOINT).exists() and not resume:
            raise UsageError(f"--out {out} already holds a run ({CHECKPOINT}); pass --resume to continue it, "
                             "or choose another --out")
    else:
        parent = out.parent
        while not parent.exists():
            parent = parent.parent
        if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
            raise UsageError(f"cannot create --out {out}: {parent} is not writable; choose a folder you can write to")
    if rank() == 0:
        probe_writable(out)


def probe_writable(out: Path) -> None:
    """Create ``out`` and a file in it, then remove both: the only test that also holds for root and /proc.

    ``os.access`` says yes to root everywhere, and some file systems (``/proc``, read-only mounts)
    refuse anyway; finding out before the data is loaded beats a traceback after the first epoch.
    """
    created = []
    for folder in reversed([out, *out.parents]):
        if not folder.exists():
            created.append(folder)
    try:
        for folder in created:
            folder.mkdir()
        probe = out / ".fusion-course-write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise UsageError(f"cannot create --out {out} ({exc.strerror or exc}); "
                         "choose a folder you can write to") from None
    finally:
        for folder in reversed(created):
            try:
                folder.rmdir()
            except OSError:
                pass


def load_splits(name: str, *, task: str, image_size: int | None, data_root: str | None, download: bool) -> dict:
    from ..data import dataset_loader

    loader = dataset_loader(name)
    options: dict[str, Any] = {}
    if image_size is not None:
        options["image_size"] = image_size
    if task == "segment":
        if not _accepts(loader, "target"):
            raise UsageError(f"this model predicts masks, but dataset {name!r} has no masks; "
                             "use --dataset texture-shapes or --dataset saliency")
        options["target"] = "mask"
    if data_root is not None or download:
        if not _accepts(loader, "root"):
            raise UsageError(f"--data-root and --download are for CIFAR-10; dataset {name!r} ships with the course")
        options["root"] = data_root
        options["download"] = download
    return {split: loader(split, **options) for split in ("train", "val", "test")}


def natural_size(loader: Callable) -> int | None:
    """The image side a dataset loader produces by default (its ``image_size`` or ``size`` default)."""
    params = inspect.signature(loader).parameters
    for name in ("image_size", "size"):
        p = params.get(name)
        if p is not None and isinstance(p.default, int):
            return p.default
    return None


def describe_levels(spec, model: Any, image: Any) -> str:
    """The levels the model fuses, measured: one image through the model, a hook on each level's layer.

    A level written ``"name: layer, ..."`` (``"edges: conv1, 32 channels"``) names the layer that makes it;
    those get their measured ``C×H×W`` and a ✔. Levels that name no layer are listed as they are.
    """
    import torch

    if not spec.levels:
        return "no feature fusion: only the deepest level reaches the classifier"
    layers = dict(model.named_modules())
    named = {lvl: lvl.split(":")[1].split(",")[0].strip() for lvl in spec.levels if ":" in lvl}
    shapes: dict[str, str] = {}

    def record(lvl: str) -> Callable:
        def hook(module: Any, args: Any, out: Any) -> None:   # returns None: the output stays as it is
            shapes.setdefault(lvl, "x".join(map(str, out.shape[1:])))
        return hook
    hooks = [layers[layer].register_forward_hook(record(lvl)) for lvl, layer in named.items() if layer in layers]
    was_training = model.training
    try:
        if hooks:
            model.eval()
            with torch.no_grad():
                model(image[None])
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    if not shapes:
        return "fuses the levels: " + ", ".join(lvl.split(":")[0] for lvl in spec.levels)
    found = "  ".join(f"{lvl.split(':')[0]} ✔ ({shapes[lvl]})" for lvl in spec.levels if lvl in shapes)
    return f"extracting features from one image: {found}"


def _validate(args: argparse.Namespace) -> tuple[Any, str, Path]:
    """Everything that needs no data: the options, model, dataset name, image size and --out. Returns (spec, dataset, out)."""
    from ..data import dataset_loader
    from ..models.registry import model_spec

    for flag, value, low in (("--epochs", args.epochs, 1), ("--batch-size", args.batch_size, 1)):
        if value < low:
            raise UsageError(f"{flag} must be at least {low}, got {value}")
    if not args.lr > 0:
        raise UsageError(f"--lr must be positive, got {args.lr}")
    if not args.weight_decay >= 0:
        raise UsageError(f"--weight-decay must be 0 or more, got {args.weight_decay}")
    if args.image_size is not None and args.image_size < 1:
        raise UsageError(f"--image-size must be positive, got {args.image_size}")
    spec = model_spec(args.model)
    dataset = args.dataset or spec.default_dataset
    size = args.image_size if args.image_size is not None else natural_size(dataset_loader(dataset))
    if size is not None:
        spec.check_size(size)
    out = Path(args.out or Path("runs") / f"{spec.name}-{dataset}")
    check_out_dir(out, args.resume)
    return spec, dataset, out


def _load_data(args: argparse.Namespace, spec, dataset: str, say: Callable) -> dict:
    """The three splits (a missing CIFAR-10 folder fails here, before anything is written); augments train."""
    t0 = time.perf_counter()
    splits = load_splits(dataset, task=spec.task, image_size=args.image_size, data_root=args.data_root,
                         download=args.download)
    if args.augment:      # training split only: val and test are scored on the images as they are
        from ..data.augment import Augmented

        splits = {**splits, "train": Augmented(splits["train"], pad=4, flip=True, seed=args.seed)}
    train_set, val_set, test_set = splits["train"], splits["val"], splits["test"]
    spec.check_size(int(train_set[0][0].shape[-1]))
    total = sum(len(s) for s in splits.values())
    c, h, w = train_set[0][0].shape
    what = (f"{train_set.num_classes} classes" if spec.task == "classify" else "object masks")
    say(f"dataset {dataset}: {total:,} images {c}x{h}x{w}, {what} "
        f"(train {len(train_set):,} / val {len(val_set):,} / test {len(test_set):,}), loaded in "
        f"{time.perf_counter() - t0:.1f} s")
    return splits


def _build_model(args: argparse.Namespace, spec, train_set: Any, device: Any, say: Callable):
    """Seed, build and describe the model (its fused levels measured on one image)."""
    from .._setup import seed_everything
    from ..train import launched_distributed

    seed_everything(args.seed, args.threads)
    model = spec.builder(in_channels=train_set[0][0].shape[0], num_classes=train_set.num_classes, **spec.options)
    say(f"model {spec.name}: {spec.description}; {sum(p.numel() for p in model.parameters()):,} parameters")
    say(describe_levels(spec, model, train_set[0][0]))
    for level in spec.levels:
        say(f"  - {level}")
    if spec.levels:
        say(f"applying feature fusion: {len(spec.levels)} levels fused into one representation")
    world = int(os.environ.get("WORLD_SIZE", "1")) if launched_distributed() else 1
    plural = "s" if args.epochs != 1 else ""
    ddp = f" x {world} processes (DDP)" if world > 1 else ""
    sched = f", {args.schedule}" if args.schedule else ""
    aug = ", augmented (pad 4 + crop, flip)" if args.augment else ""
    say(f"training {args.epochs} epoch{plural} on {device.type}{ddp}, batch {args.batch_size}, "
        f"{args.optimizer} lr {args.lr:g}{sched}{aug}")
    return model, world


def _save_run(args: argparse.Namespace, spec, dataset: str, out: Path, model: Any, splits: dict, history: Any,
              test: dict, world: int, say: Callable) -> None:
    """Rank 0 only: the run's record (METRICS_FILE: config, history and test metrics) and the selected weights."""
    from ..train import CHECKPOINT, METRICS_FILE, atomic_save, write_run_record

    train_set = splits["train"]
    c, size = int(train_set[0][0].shape[0]), int(train_set[0][0].shape[-1])
    # The record fit wrote after each epoch ({"history": ...}), completed: same layout, same writer.
    write_run_record(out, history, model=spec.name, dataset=dataset,
                     parameters=sum(p.numel() for p in model.parameters()), image_size=size,
                     config={k: v for k, v in vars(args).items() if k not in ("list",)}, world_size=world, test=test)
    atomic_save({"model": model.state_dict(), "name": spec.name, "in_channels": c,
                  "num_classes": train_set.num_classes, "options": spec.options, "test": test},
                 out / "model.pt")
    say(f"checkpoint: {out / CHECKPOINT} (resume with --resume), best weights: {out / 'model.pt'}, "
        f"metrics: {out / METRICS_FILE}")


def main(argv: list[str]) -> int:
    args = parse_command(build_parser(), argv)
    if args is None:
        return 0
    from ..models.registry import available_models

    if args.list:
        from ..data import available_datasets

        print("models:   " + ", ".join(available_models()))
        print("datasets: " + ", ".join(available_datasets()))
        return 0
    if not args.model:
        raise UsageError(f"no model given; choose one of: {', '.join(available_models())}")
    spec, dataset, out = _validate(args)

    from ..train import evaluate, fit, launched_distributed, rank, resolve_device

    try:
        device = resolve_device(args.device)
    except (ValueError, RuntimeError) as exc:
        raise UsageError(str(exc)) from None
    main_rank = rank() == 0
    say = print if main_rank else (lambda *a, **k: None)
    splits = _load_data(args, spec, dataset, say)
    model, world = _build_model(args, spec, splits["train"], device, say)

    # fit writes its checkpoint and history after every epoch, atomically. A model that brings its own loss
    # (F3Net: the pixel position aware loss with deep supervision) trains with it.
    loss = model.default_loss() if hasattr(model, "default_loss") else None
    history = fit(model, splits["train"], splits["val"], epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                  loss=loss, optimizer=args.optimizer, weight_decay=args.weight_decay, schedule=args.schedule,
                  device=device, amp=args.amp, channels_last=args.channels_last, seed=args.seed,
                  progress=not args.no_progress, verbose=True, checkpoint_dir=out, resume=args.resume, desc=spec.name)
    best = history.best or {}
    say(f"training complete in {history.total_seconds:.1f} s; best {history.monitor} "
        f"{best.get(history.monitor, float('nan')):.4f} at epoch {best.get('epoch')} (its weights are kept)")

    metrics = ["accuracy"] if spec.task == "classify" else ["iou", "mae", "boundary_f"]   # once, selected weights
    test = evaluate(model, splits["test"], metrics=metrics, loss=loss, device=device, amp=args.amp,
                    channels_last=args.channels_last)
    say("test: " + "  ".join(f"{k} {v:.4f}" for k, v in test.items()))
    if main_rank:
        _save_run(args, spec, dataset, out, model, splits, history, test, world, say)
    if launched_distributed():
        import torch.distributed as dist

        dist.barrier()
        dist.destroy_process_group()
    return 0
