"""The training loop of the course: small and readable, no framework.

``fit`` trains a model on a ``Dataset`` of ``(image, target)`` pairs and returns a :class:`History`.
It trains on ``device`` and hands the model back on the device it came from (as PyTorch Lightning does), so
``model(x)`` works after ``fit`` with the same tensors as before it, whatever device trained it.
What it does, in the order a reader meets it below:

1. **Seeds** Python/NumPy/torch; the batch order of epoch ``e`` comes from ``seed + e``, so a
   resumed run sees exactly the batches an uninterrupted run would have seen.
2. **Task** from the targets: class indices → cross-entropy and accuracy; masks ``(1, H, W)`` →
   BCE-with-logits and IoU/MAE. A model may return a list (deep supervision): the first element
   is the prediction, the others are side outputs that only enter the loss.
3. **Model selection on val**: after each epoch the val metrics are computed; the best epoch's
   weights (by ``monitor``) are kept and restored at the end. The test split is never touched here.
4. **Checkpoints**: with ``checkpoint_dir``, each finished epoch writes ``last.pt`` (model,
   optimizer, scheduler, epoch, history, RNG states) and ``metrics.json`` (the run's record,
   ``{"history": ...}``: see :func:`write_run_record`) atomically (temporary
   file + ``os.replace``), so Ctrl-C or a crash never leaves a half-written file. ``resume=True``
   continues from ``last.pt``. On Ctrl-C the loop stops, closes its bars and re-raises: the last
   completed epoch's files stay as they were.
5. **Speed knobs** on GPU: bf16 autocast (``amp=True``; mixed precision, Micikevicius et al.,
   arXiv:1710.03740) and ``channels_last``; an optional one-cycle schedule (Smith & Topin,
   arXiv:1708.07120) or cosine decay (Loshchilov & Hutter, arXiv:1608.03983).
6. **Several processes** (``torchrun``): DistributedDataParallel (Li et al., "PyTorch Distributed",
   VLDB 2020, arXiv:2006.15704) with gloo on CPU or NCCL on GPU, a
   ``DistributedSampler`` for the training set, val metrics reduced over ranks; only rank 0 shows
   progress and writes files. ``batch_size`` is the global batch (split over the processes).

>>> import torch
>>> from torch import nn
>>> from fusion_course.data import load_dataset
>>> model = nn.Sequential(nn.Flatten(), nn.Linear(64, 10))
>>> hist = fit(model, load_dataset("digits", "train"), load_dataset("digits", "val"), epochs=2, progress=False)
>>> len(hist.epochs), sorted(hist.epochs[-1])
(2, ['epoch', 'lr', 'seconds', 'train_loss', 'val_accuracy', 'val_loss'])
"""
from __future__ import annotations

import json
import math
import os
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset, Subset, TensorDataset

from . import metrics as _metrics

CHECKPOINT = "last.pt"
METRICS_FILE = "metrics.json"


# ----------------------------------------------------------------------------------------------
# History
# ----------------------------------------------------------------------------------------------
@dataclass
class History:
    """What ``fit`` returns: one dict per epoch, and the best epoch by the monitored val metric.

    ``history["val_accuracy"]`` gives that column as a list; ``history.best`` is the best epoch's
    dict (or the last one without val data).
    """

    epochs: list[dict] = field(default_factory=list)
    monitor: str = "val_loss"
    mode: str = "min"
    best: dict | None = None
    total_seconds: float = 0.0
    stopped_early: bool = False     # True when ``patience`` ended the run before ``epochs``

    def __getitem__(self, key: str) -> list:
        return [e.get(key) for e in self.epochs]

    def __len__(self) -> int:
        return len(self.epochs)

    def to_dict(self) -> dict:
        return {"monitor": self.monitor, "mode": self.mode, "best": self.best, "epochs": self.epochs,
                "total_seconds": self.total_seconds}

    @classmethod
    def from_dict(cls, d: dict) -> "History":
        return cls(epochs=list(d["epochs"]), monitor=d["monitor"], mode=d["mode"], best=d.get("best"),
                   total_seconds=d.get("total_seconds", 0.0))

    def __repr__(self) -> str:
        last = self.epochs[-1] if self.epochs else {}
        shown = {k: round(v, 4) if isinstance(v, float) else v for k, v in last.items()}
        return f"History({len(self.epochs)} epochs, last={shown}, best epoch={self.best and self.best['epoch']})"


# ----------------------------------------------------------------------------------------------
# Small helpers
# ----------------------------------------------------------------------------------------------
_default_device: torch.device | None = None


def set_default_device(device: str | torch.device | None) -> torch.device | None:
    """Choose once what ``device="auto"`` means for ``fit`` and ``evaluate`` (``None``: pick the best available).

    ``fusion_course.setup_notebook`` sets ``"cpu"`` for the lessons, so a learner's GPU never changes what
    a lesson computes; the command line leaves it unset and names its device explicitly.
    """
    global _default_device
    _default_device = None if device is None else resolve_device(device)
    return _default_device


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` → the course's default device when one was set (:func:`set_default_device`), else the
    local CUDA GPU under torchrun, else ``cuda``, else ``mps``, else ``cpu``."""
    if isinstance(device, torch.device):
        return device
    if device == "auto" and _default_device is not None:
        return _default_device
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)) % torch.cuda.device_count())
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} asked for, but CUDA is not available here; use device='cpu' or 'auto'")
    return dev


def as_dataset(data: Any) -> Dataset:
    """Accept a Dataset or a tuple ``(images, targets)`` of tensors."""
    if isinstance(data, Dataset):
        return data
    if isinstance(data, (tuple, list)) and len(data) == 2 and all(torch.is_tensor(t) for t in data):
        return TensorDataset(*data)
    raise TypeError(f"expected a torch Dataset or a tuple (images, targets) of tensors, got {type(data).__name__}")


def infer_task(dataset: Dataset) -> str:
    """``"classify"`` for integer labels, ``"segment"`` for mask targets ``(1, H, W)``."""
    task = getattr(dataset, "task", None)
    if task in ("classify", "segment"):
        return task
    target = torch.as_tensor(dataset[0][1])
    if target.ndim == 0 and not target.is_floating_point():
        return "classify"
    if target.ndim >= 2:
        return "segment"
    raise ValueError(f"cannot tell the task from a target of shape {tuple(target.shape)} and dtype {target.dtype}; "
                     "pass task='classify' or task='segment'")


def primary(outputs: Any) -> torch.Tensor:
    """The prediction of a model output: the tensor itself, or the first element of a list/tuple."""
    return outputs[0] if isinstance(outputs, (list, tuple)) else outputs


def _match_size(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    # Side outputs of a decoder are often coarser than the mask: upsample them to compare.
    if logits.ndim == 4 and logits.shape[-2:] != target.shape[-2:]:
        logits = F.interpolate(logits, size=target.shape[-2:], mode="bilinear", align_corners=False)
    return logits


def default_loss(task: str) -> Callable[[Any, torch.Tensor], torch.Tensor]:
    """Cross-entropy for labels, BCE-with-logits for masks; with a list of outputs (deep supervision)
    the loss is ``L(out₀) + ½·Σ_{i≥1} L(outᵢ)`` (side outputs resized to the target)."""

    def single(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if task == "classify":
            return F.cross_entropy(logits.float(), target)
        return F.binary_cross_entropy_with_logits(_match_size(logits, target).float(), target.float())

    def loss(outputs: Any, target: torch.Tensor) -> torch.Tensor:
        if isinstance(outputs, (list, tuple)):
            total = single(outputs[0], target)
            for side in outputs[1:]:
                total = total + 0.5 * single(side, target)
            return total
        return single(outputs, target)

    return loss


def _metric_table(names: Iterable[str] | dict | None, task: str) -> dict[str, tuple[Callable, bool]]:
    if names is None:
        names = ["accuracy"] if task == "classify" else ["iou", "mae"]
    if isinstance(names, dict):  # custom metrics: name -> fn(pred, target, reduction="none") -> (N,) tensor
        return {k: (fn, True) for k, fn in names.items()}
    table = {}
    for name in names:
        if name not in _metrics.METRICS:
            raise ValueError(f"unknown metric {name!r}; choose from {', '.join(_metrics.METRICS)} or pass a dict")
        fn, metric_task, higher = _metrics.METRICS[name]
        if metric_task != task:
            raise ValueError(f"metric {name!r} is for {metric_task} tasks, but this data is a {task} task")
        table[name] = (fn, higher)
    return table


def _is_higher_better(name: str) -> bool:
    base = name[4:] if name.startswith("val_") else name
    return _metrics.METRICS[base][2] if base in _metrics.METRICS else not base.endswith("loss")


def atomic_save(obj: Any, path: Path, *, as_json: bool = False) -> None:
    """Write ``obj`` to ``path`` (torch.save, or JSON) so that a reader sees the old file or the new, never half of one."""
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        if as_json:
            tmp.write_text(json.dumps(obj, indent=2))
        else:
            torch.save(obj, tmp)
        os.replace(tmp, path)  # atomic on POSIX and Windows: readers see the old or the new file
    finally:
        if tmp.exists():
            tmp.unlink()


def write_run_record(ckdir: str | os.PathLike, history: History, **fields: Any) -> Path:
    """Write a run's record, ``ckdir / METRICS_FILE``, atomically; return its path.

    One layout for every stage of a run: ``{**fields, "history": history.to_dict()}``. ``fit`` writes it
    after each epoch with the history alone; ``fusion-course train`` writes it once more when the run is
    done, adding what only it knows (model, dataset, config, test metrics) beside the same history. A reader
    finds the epochs at ``record["history"]["epochs"]`` in both.

    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> path = write_run_record(folder, History(epochs=[{"epoch": 1}]), model="baseline")
    >>> record = json.loads(path.read_text())
    >>> sorted(record), record["history"]["epochs"]
    (['history', 'model'], [{'epoch': 1}])
    """
    if "history" in fields:
        raise ValueError("the record's 'history' comes from the History argument; pass it there")
    path = Path(ckdir) / METRICS_FILE
    atomic_save({**fields, "history": history.to_dict()}, path, as_json=True)
    return path


def _rng_state() -> dict:
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


# ----------------------------------------------------------------------------------------------
# Distributed (torchrun) helpers
# ----------------------------------------------------------------------------------------------
def launched_distributed() -> bool:
    """True when torch.distributed is initialised or the process was started by torchrun with >1 ranks."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size() > 1
    return int(os.environ.get("WORLD_SIZE", "1")) > 1 and "RANK" in os.environ


def init_distributed(device: torch.device) -> tuple[int, int]:
    """Initialise the default process group if needed (NCCL for CUDA, gloo otherwise); returns (rank, world)."""
    import torch.distributed as dist

    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        if device.type == "cuda":
            torch.cuda.set_device(device)
            # Binding the group to this rank's GPU lets NCCL set up eagerly (and silences a barrier warning).
            dist.init_process_group(backend=backend, device_id=device)
        else:
            dist.init_process_group(backend=backend)
    return dist.get_rank(), dist.get_world_size()


def rank() -> int:
    """This process's rank (0 when not distributed)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank()
    return int(os.environ.get("RANK", 0))


def _all_reduce_sum(values: torch.Tensor, device: torch.device, distributed: bool) -> torch.Tensor:
    if not distributed:
        return values
    import torch.distributed as dist

    t = values.to(device=device, dtype=torch.float64 if device.type != "mps" else torch.float32)
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t.cpu().double()


# ----------------------------------------------------------------------------------------------
# Evaluation
# ----------------------------------------------------------------------------------------------
@torch.no_grad()
def evaluate(model: nn.Module, data: Any, *, metrics: Iterable[str] | dict | None = None, loss: Callable | None = None,
             batch_size: int = 256, device: str | torch.device = "auto", task: str | None = None,
             amp: bool = False, channels_last: bool = False, distributed: bool | None = None) -> dict[str, float]:
    """Loss and metrics of ``model`` over ``data`` (model in eval mode), as ``{"loss": ..., "accuracy": ...}``.

    ``device="auto"`` uses the device the model's parameters are on. Metrics are computed per image
    and averaged over the whole set (``max_f`` takes the maximum of the
    mean F curve). Under torchrun each rank evaluates a disjoint share and the sums are added up, so the
    result equals a single-process evaluation.
    """
    dataset = as_dataset(data)
    task = task or infer_task(dataset)
    table = _metric_table(metrics, task)
    loss_fn = loss or default_loss(task)
    param = next(model.parameters(), None)
    # "auto" evaluates where the model already is (a model trained on the CPU stays there).
    dev = param.device if (device == "auto" and param is not None) else resolve_device(device)
    distributed = launched_distributed() if distributed is None else distributed
    if distributed:
        import torch.distributed as dist

        r, world = dist.get_rank(), dist.get_world_size()
        dataset = Subset(dataset, list(range(r, len(dataset), world)))  # disjoint, no padding
    was_training = model.training
    home = param.device if param is not None else dev
    model.to(dev)          # evaluated where asked, handed back where it was (as fit does)
    model.eval()
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False)
    sums: dict[str, torch.Tensor] = {"loss": torch.zeros((), dtype=torch.float64)}
    count = torch.zeros((), dtype=torch.float64)
    for x, y in loader:
        x, y = x.to(dev, non_blocking=True), y.to(dev, non_blocking=True)
        if channels_last and x.ndim == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=amp and dev.type == "cuda"):
            out = model(x)
        sums["loss"] += float(loss_fn(out, y)) * len(x)
        count += len(x)
        pred = primary(out).float()
        if task == "segment":
            pred = torch.sigmoid(_match_size(pred, y))
        for name, (fn, _) in table.items():
            v = torch.as_tensor(fn(pred, y, reduction="none")).detach().double().cpu()
            sums[name] = sums.get(name, 0) + v.sum(0)
    model.train(was_training)
    model.to(home)
    names = list(sums)
    flat = torch.cat([torch.atleast_1d(sums[k]) for k in names] + [count.view(1)])
    flat = _all_reduce_sum(flat, dev, distributed)
    out, i = {}, 0
    for k in names:
        n = torch.atleast_1d(sums[k]).numel()
        v = flat[i:i + n] / flat[-1]
        out[k] = float(v.max()) if n > 1 else float(v[0])  # curves (max_f): best threshold of the mean curve
        i += n
    return out


# ----------------------------------------------------------------------------------------------
# Training
# ----------------------------------------------------------------------------------------------
def _make_optimizer(optimizer: Any, params, lr: float, weight_decay: float) -> torch.optim.Optimizer:
    if isinstance(optimizer, torch.optim.Optimizer):
        return optimizer
    if callable(optimizer):
        return optimizer(params)
    name = str(optimizer).lower()
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=weight_decay, nesterov=True)
    raise ValueError(f"unknown optimizer {optimizer!r}; use 'adam', 'adamw', 'sgd', an optimizer or a callable")


def _make_scheduler(schedule: str | None, opt: torch.optim.Optimizer, lr: float, total_steps: int):
    if schedule in (None, "none", "constant"):
        return None
    if schedule == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=max(1, total_steps))
    if schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, total_steps))
    raise ValueError(f"unknown schedule {schedule!r}; use None, 'onecycle' or 'cosine'")


@dataclass
class _Run:
    """What one ``fit`` call sets up once and every epoch uses."""

    model: nn.Module
    net: nn.Module                        # the model as trained: DDP-wrapped under torchrun
    dev: torch.device
    train_set: Dataset
    val_set: Dataset | None
    task: str
    table: dict
    loss_fn: Callable
    opt: torch.optim.Optimizer
    sched: Any
    sampler: Any                          # DistributedSampler under torchrun, else None
    per_rank_batch: int
    distributed: bool
    is_main: bool
    show: bool                            # progress bar on this process
    talk: bool                            # epoch lines on this process
    label: str
    ckdir: Path | None
    epochs: int
    steps_per_epoch: int
    seed: int
    amp: bool
    channels_last: bool
    eval_batch_size: int
    num_workers: int
    callback: Callable[[dict], None] | None
    monitor: str = "val_loss"             # the val column that selects the best epoch, and its direction
    mode: str = "min"


def _place(model: nn.Module, dev: torch.device, channels_last: bool, distributed: bool) -> nn.Module:
    """Move ``model`` to ``dev`` (NHWC if asked) and return what trains it: the model, or its DDP wrapper."""
    model.to(dev)
    if channels_last:
        model.to(memory_format=torch.channels_last)
    if not distributed:
        return model
    from torch.nn.parallel import DistributedDataParallel as DDP

    # Every rank must start from the same weights: DDP broadcasts rank 0's parameters.
    return DDP(model, device_ids=[dev.index] if dev.type == "cuda" else None)


def _choose_monitor(monitor: str | None, table: dict, val_set: Any) -> tuple[str, str]:
    """``(monitor, "max" | "min")``: the first metric on val by default, else val loss, else train loss."""
    if monitor is None:
        monitor = f"val_{next(iter(table))}" if (table and val_set is not None) else (
            "val_loss" if val_set is not None else "train_loss")
    return monitor, "max" if _is_higher_better(monitor) else "min"


def _setup(model: nn.Module, train_data: Any, val_data: Any, *, epochs: int, batch_size: int, lr: float,
           optimizer: Any, weight_decay: float, schedule: str | None, loss: Callable | None, metrics: Any,
           task: str | None, device: Any, amp: bool, channels_last: bool, seed: int, progress: bool,
           verbose: bool | None, checkpoint_dir: Any, desc: str | None, patience: int | None, eval_batch_size: int,
           num_workers: int, callback: Callable[[dict], None] | None) -> _Run:
    """Check the arguments, join the process group, seed, place the model, build sampler, optimiser, schedule."""
    train_set = as_dataset(train_data)
    val_set = as_dataset(val_data) if val_data is not None else None
    if epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}")
    if patience is not None and (patience < 1 or val_data is None):
        raise ValueError(f"patience needs val_data and must be >= 1, got {patience}")
    task = task or infer_task(train_set)
    dev, distributed, world, r = resolve_device(device), launched_distributed(), 1, 0
    if distributed:
        if dev.type == "cuda":  # one GPU per process: torchrun's LOCAL_RANK picks it
            dev = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)) % torch.cuda.device_count())
        r, world = init_distributed(dev)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    net = _place(model, dev, channels_last, distributed)
    per_rank_batch = max(1, math.ceil(batch_size / world))
    sampler = None
    if distributed:
        from torch.utils.data.distributed import DistributedSampler

        sampler = DistributedSampler(train_set, num_replicas=world, rank=r, shuffle=True, seed=seed, drop_last=False)
    steps_per_epoch = math.ceil((len(sampler) if sampler is not None else len(train_set)) / per_rank_batch)
    opt = _make_optimizer(optimizer, model.parameters(), lr, weight_decay)
    return _Run(model=model, net=net, dev=dev, train_set=train_set, val_set=val_set, task=task,
                table=_metric_table(metrics, task), loss_fn=loss or default_loss(task), opt=opt,
                sched=_make_scheduler(schedule, opt, lr, epochs * steps_per_epoch), sampler=sampler,
                per_rank_batch=per_rank_batch, distributed=distributed, is_main=r == 0, show=progress and r == 0,
                talk=(progress if verbose is None else verbose) and r == 0, label=desc or type(model).__name__,
                ckdir=Path(checkpoint_dir) if checkpoint_dir is not None else None, epochs=epochs,
                steps_per_epoch=steps_per_epoch, seed=seed, amp=amp, channels_last=channels_last,
                eval_batch_size=eval_batch_size, num_workers=num_workers, callback=callback)


def _resume(run: _Run) -> tuple[History, dict | None, int]:
    """``(history, best weights, first epoch)`` from ``checkpoint_dir/last.pt``, RNG states included."""
    ck = torch.load(run.ckdir / CHECKPOINT, map_location="cpu", weights_only=False)
    run.model.load_state_dict(ck["model"])
    run.opt.load_state_dict(ck["optimizer"])
    if run.sched is not None and ck.get("scheduler") is not None:
        run.sched.load_state_dict(ck["scheduler"])
    _set_rng_state(ck["rng"])
    if run.talk:
        print(f"resumed from {run.ckdir / CHECKPOINT} after epoch {int(ck['epoch'])}/{run.epochs}")
    return History.from_dict(ck["history"]), ck.get("best_model"), int(ck["epoch"])


def _epoch_loader(run: _Run, epoch: int) -> DataLoader:
    if run.sampler is not None:
        run.sampler.set_epoch(epoch)
        return DataLoader(run.train_set, batch_size=run.per_rank_batch, sampler=run.sampler,
                          num_workers=run.num_workers)
    # A fresh generator per epoch: the order depends only on (seed, epoch), which is what makes a resumed
    # run identical to an uninterrupted one.
    g = torch.Generator().manual_seed(run.seed + epoch)
    return DataLoader(run.train_set, batch_size=run.per_rank_batch, shuffle=True, generator=g,
                      num_workers=run.num_workers)


def _train_epoch(run: _Run, loader: DataLoader, bar: Any, epoch: int) -> float:
    """One pass over ``loader``; returns the mean training loss over every process's samples."""
    run.net.train()
    loss_sum = torch.zeros((), dtype=torch.float64)
    seen = 0
    for step, (x, y) in enumerate(loader):
        x, y = x.to(run.dev, non_blocking=True), y.to(run.dev, non_blocking=True)
        if run.channels_last and x.ndim == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast(run.dev.type, dtype=torch.bfloat16, enabled=run.amp and run.dev.type == "cuda"):
            batch_loss = run.loss_fn(run.net(x), y)
        run.opt.zero_grad(set_to_none=True)
        batch_loss.backward()
        run.opt.step()
        if run.sched is not None:
            run.sched.step()
        value = float(batch_loss.detach())
        if not math.isfinite(value):
            raise FloatingPointError(f"loss became {value} at epoch {epoch + 1}, step {step + 1}; "
                                     "lower the learning rate")
        loss_sum += value * len(x)
        seen += len(x)
        if run.show:
            bar.set_info(f"loss {loss_sum.item() / seen:.4f}")
        bar.update()
        if run.callback is not None:
            run.callback({"epoch": epoch + 1, "step": step + 1, "loss": value})
    totals = _all_reduce_sum(torch.stack([loss_sum, torch.tensor(float(seen), dtype=torch.float64)]),
                             run.dev, run.distributed)
    return float(totals[0] / totals[1])


def _score(run: _Run, row: dict) -> None:
    """Add the epoch's val metrics and learning rate to ``row``."""
    if run.val_set is not None:
        res = evaluate(run.model, run.val_set, metrics={k: fn for k, (fn, _) in run.table.items()}, loss=run.loss_fn,
                       batch_size=run.eval_batch_size, device=run.dev, task=run.task, amp=run.amp,
                       channels_last=run.channels_last, distributed=run.distributed)
        row.update({f"val_{k}": v for k, v in res.items()})
    row["lr"] = run.opt.param_groups[0]["lr"]


def _select(run: _Run, history: History, row: dict, best_state: dict | None) -> dict | None:
    """Make ``row`` the best epoch if its monitored value beats the best so far; returns the best weights."""
    value, best = row.get(run.monitor), history.best.get(run.monitor) if history.best else None
    no_best = best is None or (isinstance(best, float) and math.isnan(best))
    if value is not None and (no_best or (value > best if run.mode == "max" else value < best)):
        history.best = dict(row)
        if run.val_set is not None:
            best_state = {k: v.detach().cpu().clone() for k, v in run.model.state_dict().items()}
    return best_state


def _one_epoch(run: _Run, history: History, best_state: dict | None, epoch: int, bar: Any,
               t_start: float) -> tuple[dict, dict | None]:
    """Train one epoch, score it, keep it in ``history``, save the checkpoint; returns ``(row, best weights)``."""
    t0 = time.perf_counter()
    loader = _epoch_loader(run, epoch)
    bar.set_description(f"{run.label} epoch {epoch + 1}/{run.epochs}")
    row: dict[str, Any] = {"epoch": epoch + 1, "train_loss": _train_epoch(run, loader, bar, epoch)}
    _score(run, row)
    row["seconds"] = time.perf_counter() - t0
    history.epochs.append(row)
    history.total_seconds = time.perf_counter() - t_start
    best_state = _select(run, history, row, best_state)
    if run.talk:
        shown = "  ".join(f"{k} {v:.4f}" for k, v in row.items() if k not in ("epoch", "lr", "seconds"))
        print(f"{run.label} epoch {epoch + 1}/{run.epochs}  {shown}  ({row['seconds']:.1f} s)", flush=True)
    if run.ckdir is not None and run.is_main:
        _save_checkpoint(run, history, best_state, epoch)
    return row, best_state


def _plateau(run: _Run, history: History, row: dict, patience: int | None) -> bool:
    """True (and ``history.stopped_early``) once ``patience`` epochs have passed without a better val score.

    The best epoch's weights are restored at the end of ``fit``, so stopping here loses nothing.
    """
    if patience is None or history.best is None or row["epoch"] - history.best["epoch"] < patience:
        return False
    history.stopped_early = True
    if run.talk:
        print(f"{run.label}: no better {run.monitor} for {patience} epochs, stopped after epoch {row['epoch']}")
    return True


def _say_interrupted(run: _Run, history: History) -> None:
    if run.talk and run.ckdir is not None:
        done = len(history.epochs)
        print(f"\ninterrupted during epoch {done + 1}; {run.ckdir / CHECKPOINT} holds epoch {done}"
              + (" (resume with resume=True)" if done else ""))


def _save_checkpoint(run: _Run, history: History, best_state: dict | None, epoch: int) -> None:
    """``last.pt`` (everything a resume needs) and ``metrics.json`` (the record, history only), written atomically."""
    atomic_save({"model": run.model.state_dict(), "optimizer": run.opt.state_dict(),
                 "scheduler": run.sched.state_dict() if run.sched is not None else None,
                 "epoch": epoch + 1, "epochs": run.epochs, "history": history.to_dict(),
                 "best_model": best_state, "rng": _rng_state(), "seed": run.seed},
                run.ckdir / CHECKPOINT)
    write_run_record(run.ckdir, history)


def fit(model: nn.Module, train_data: Any, val_data: Any = None, *, epochs: int, batch_size: int = 64,
        lr: float = 1e-3, optimizer: Any = "adam", weight_decay: float = 0.0, schedule: str | None = None,
        loss: Callable | None = None, metrics: Iterable[str] | dict | None = None, monitor: str | None = None,
        task: str | None = None, device: str | torch.device = "auto", amp: bool = False,
        channels_last: bool = False, seed: int = 0, progress: bool = True,
        checkpoint_dir: str | os.PathLike | None = None,
        resume: bool = False, restore_best: bool = True, eval_batch_size: int = 256, num_workers: int = 0,
        callback: Callable[[dict], None] | None = None, desc: str | None = None,
        verbose: bool | None = None, patience: int | None = None) -> History:
    """Train ``model`` and return its :class:`History`.

    Args:
        model: an ``nn.Module`` returning logits ``(B, K)``, mask logits ``(B, 1, H, W)``, or a list
            whose first element is the prediction (deep supervision).
        train_data, val_data: Datasets of ``(image, target)`` or tuples ``(images, targets)``.
        epochs: number of passes over ``train_data``.
        batch_size: the global batch size (under torchrun it is split over the processes).
        lr, optimizer, weight_decay: ``"adam"`` (default), ``"adamw"``, ``"sgd"`` (momentum 0.9), an
            optimizer instance, or a callable ``params -> optimizer``.
        schedule: ``None``, ``"onecycle"`` (peak ``lr``) or ``"cosine"``, stepped every batch.
        loss: ``loss(outputs, targets) -> scalar``; default cross-entropy / BCE-with-logits.
        metrics: names from ``fusion_course.metrics.METRICS`` or a dict ``name -> fn(pred, target,
            reduction="none")``; default accuracy (labels) or IoU and MAE (masks).
        monitor: the val column that selects the best epoch (default ``val_accuracy`` or ``val_iou``;
            ``val_loss`` if there are no metrics).
        task: ``"classify"`` or ``"segment"``; inferred from the targets when omitted.
        device: ``"auto"``, ``"cpu"``, ``"cuda"``, ...
        amp: bf16 autocast on CUDA (ignored on CPU). channels_last: NHWC memory layout (faster convs on GPU,
            often on CPU too).
        seed: seeds everything; epoch ``e`` shuffles with ``seed + e``.
        progress: show a progress bar (``fusion_course.progress``: a widget in a notebook that leaves a
            line of text in the saved file, tqdm's text bar in a terminal), with the running loss.
        verbose: print one line of results per epoch (default: same as ``progress``).
        checkpoint_dir: where ``last.pt`` and ``metrics.json`` (:func:`write_run_record`'s layout, the
            history under ``"history"``) go each epoch (atomically).
        resume: continue from ``checkpoint_dir/last.pt`` when it exists.
        restore_best: load the best val epoch's weights into ``model`` at the end.
        callback: called with ``{"epoch", "step", "loss"}`` after every batch (e.g. to stop early by raising).
        desc: label for the progress bars.
        patience: stop early once the monitored val metric has not improved for this many epochs
            (training "to a plateau"; ``epochs`` is then a cap). ``None`` trains every epoch.
    """
    from .progress import Progress

    home = next(model.parameters(), torch.empty(0)).device   # where fit hands the model back
    run = _setup(model, train_data, val_data, epochs=epochs, batch_size=batch_size, lr=lr, optimizer=optimizer,
                 weight_decay=weight_decay, schedule=schedule, loss=loss, metrics=metrics, task=task, device=device,
                 amp=amp, channels_last=channels_last, seed=seed, progress=progress, verbose=verbose,
                 checkpoint_dir=checkpoint_dir, desc=desc, patience=patience, eval_batch_size=eval_batch_size,
                 num_workers=num_workers, callback=callback)
    run.monitor, run.mode = _choose_monitor(monitor, run.table, run.val_set)
    history, best_state, start_epoch = History(monitor=run.monitor, mode=run.mode), None, 0
    if run.ckdir is not None and resume and (run.ckdir / CHECKPOINT).exists():
        history, best_state, start_epoch = _resume(run)
    if run.ckdir is not None and run.is_main:
        run.ckdir.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter() - history.total_seconds
    # One bar for the whole run; its description names the epoch.
    bar = Progress(run.steps_per_epoch * (epochs - start_epoch), run.label, disable=not run.show) \
        if start_epoch < epochs else None
    try:
        for epoch in range(start_epoch, epochs):
            row, best_state = _one_epoch(run, history, best_state, epoch, bar, t_start)
            if _plateau(run, history, row, patience):
                break
    except KeyboardInterrupt:
        # The files of the last finished epoch are intact (atomic writes): say where they are, and stop.
        if bar is not None:
            bar.close()
        _say_interrupted(run, history)
        raise
    finally:
        if bar is not None:
            bar.close()
        model.to(home)
    if restore_best and best_state is not None:
        model.load_state_dict(best_state)
    if history.best is None and history.epochs:
        history.best = dict(history.epochs[-1])
    return history


def load_checkpoint(model: nn.Module, path: str | os.PathLike, *, best: bool = True) -> dict:
    """Load weights from a ``fit`` checkpoint (``last.pt``): the best val epoch's by default. Returns the checkpoint."""
    ck = torch.load(Path(path), map_location="cpu", weights_only=False)
    state = ck.get("best_model") if best and ck.get("best_model") is not None else ck["model"]
    model.load_state_dict(state)
    return ck
