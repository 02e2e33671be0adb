"""`edgeseg train`: the training loop (workstation side, torch).

Poly LR (power 0.9) with linear warm-up, SGD or AdamW, cross-entropy / OHEM / focal loss with the
models' auxiliary heads, optional CutMix / MixUp on each batch, AMP on CUDA, validation mIoU every
epoch (the same preprocessing and metric as `edgeseg eval`), an atomic checkpoint every epoch that
`--resume` continues exactly, a best-mIoU checkpoint, a CSV log (and TensorBoard when installed), and
DistributedDataParallel + SyncBatchNorm under `torchrun`.
"""
import csv
import io
import os
import time
import warnings
from typing import Any, Dict, List, NamedTuple, Optional, Tuple

import cv2
import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler, RandomSampler

from ..artifacts import atomic_path, require_file, write_json_atomic
from ..data.class_weights import class_weights
from ..data.datasets import SegmentationDataset, open_dataset
from ..data.transforms import BatchMix, train_transforms
from ..errors import ArtifactError, ConfigError
from ..metrics import ConfusionMatrix
from ..preprocess import Preprocessor, PreprocessSpec
from ..progress import Progress
from .losses import make_criterion, segmentation_loss
from .models import build_model, model_preprocess
from .models.weights import load_state_dict, load_torch_file
from .torch_dataset import TorchSegmentation

CHECKPOINT_FORMAT = "edgeseg-checkpoint-1"
LOG_FIELDS = ("epoch", "step", "lr", "train_loss", "val_miou", "val_pixel_accuracy", "seconds")


class TrainConfig(NamedTuple):
    model: str
    data: str
    out: str
    val_data: Optional[str] = None
    input_size: Tuple[int, int] = (512, 256)
    epochs: int = 50
    batch_size: int = 8
    lr: float = 0.01
    optimizer: str = "sgd"
    momentum: float = 0.9
    weight_decay: float = 5e-4
    loss: str = "ce"
    class_weights: str = "none"
    warmup_steps: int = 100
    workers: int = 2
    seed: int = 0
    amp: bool = True
    fine_tune: Optional[str] = None
    resume: bool = False
    val_limit: Optional[int] = None
    steps_per_epoch: Optional[int] = None
    stop_after: Optional[int] = None  # end this invocation after N epochs; the schedule spans `epochs`
    progress: bool = True
    width: Optional[float] = None  # channel width factor, for models that take one (unet)
    cutmix: float = 0.0  # probability of CutMix on a batch
    mixup: float = 0.0  # probability of MixUp on a batch


class Distributed(NamedTuple):
    rank: int
    world: int
    device: torch.device

    @property
    def main(self) -> bool:
        return self.rank == 0


def _setup_distributed() -> Distributed:
    """Single process, or the process group torchrun describes (NCCL on CUDA, gloo on CPU)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    cuda = torch.cuda.is_available()
    device = torch.device("cuda", local_rank) if cuda else torch.device("cpu")
    if cuda:
        torch.cuda.set_device(device)
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if cuda else "gloo")
    return Distributed(dist.get_rank() if world > 1 else 0, world, device)


def poly_lr(total_steps: int, warmup_steps: int, power: float = 0.9):
    """LR factor per step: linear warm-up, then (1 - progress) ** power."""
    def factor(step: int) -> float:
        if step < warmup_steps:  # warmup_steps may be 0
            return (step + 1) / warmup_steps
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return max(0.0, 1.0 - progress) ** power
    return factor


def _make_optimizer(config: TrainConfig, model: nn.Module) -> torch.optim.Optimizer:
    if config.optimizer == "sgd":
        return torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum,
                               weight_decay=config.weight_decay)
    if config.optimizer == "adamw":
        return torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    raise ConfigError("optimizer {!r} is not sgd or adamw".format(config.optimizer))


def _fine_tune(model: nn.Module, path: str, log) -> None:
    """Load a checkpoint's weights, re-initialising tensors whose shape changed (a new class count)."""
    own = model.state_dict()
    state = load_state_dict(path)
    fitting = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    if not fitting:
        raise ArtifactError("{}: no weights fit {} (wrong model?)".format(path, type(model).__name__))
    model.load_state_dict(fitting, strict=False)
    log("fine-tuning from {}: {} tensors loaded, {} re-initialised".format(path, len(fitting), len(own) - len(fitting)))


def _rng_state() -> Dict[str, Any]:
    state = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: Dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(path: str, payload: Dict[str, Any]) -> None:
    """torch.save through a temp file and a rename: a crash never leaves a half checkpoint."""
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(buffer.getvalue())


def load_checkpoint(path: str) -> Dict[str, Any]:
    require_file(path, "checkpoint", "train first (without --resume)")
    checkpoint = load_torch_file(path, "checkpoints")
    if not isinstance(checkpoint, dict) or checkpoint.get("format") != CHECKPOINT_FORMAT:
        raise ArtifactError("{}: not an edgeseg training checkpoint".format(path))
    return checkpoint


@torch.no_grad()
def validate(model: nn.Module, dataset: SegmentationDataset, spec: PreprocessSpec, device: torch.device,
             limit: Optional[int] = None) -> Dict[str, Any]:
    """mIoU as `edgeseg eval` computes it: predict at the input size, compare at the label size."""
    model.eval()
    preprocess = Preprocessor(spec)
    matrix = ConfusionMatrix(dataset.num_classes, dataset.ignore_index)
    for index in range(len(dataset) if limit is None else min(limit, len(dataset))):
        image, label = dataset[index]
        x = torch.from_numpy(preprocess(image)).to(device)
        logits = model(x)
        if logits.shape[-2:] != x.shape[-2:]:  # a strided output: resized as the classmap export does
            logits = F.interpolate(logits, size=x.shape[-2:], mode="bilinear", align_corners=False)
        prediction = logits.argmax(1)[0].to(torch.uint8).cpu().numpy()
        if prediction.shape != label.shape:
            prediction = cv2.resize(prediction, (label.shape[1], label.shape[0]), interpolation=cv2.INTER_NEAREST)
        matrix.update(prediction, label)
    return matrix.summary(dataset.classes)


class _Log:
    """CSV (rewritten atomically from all rows, so a resumed run keeps one file) and TensorBoard."""

    def __init__(self, folder: str, rows: List[Dict[str, Any]]) -> None:
        self.path = os.path.join(folder, "log.csv")
        self.rows = rows
        try:
            from torch.utils.tensorboard import SummaryWriter
            self.board = SummaryWriter(os.path.join(folder, "tensorboard"))
        except ImportError:
            self.board = None

    def add(self, row: Dict[str, Any]) -> None:
        self.rows.append(row)
        with atomic_path(self.path) as tmp:
            with open(tmp, "w", newline="") as f:
                writer = csv.DictWriter(f, LOG_FIELDS)
                writer.writeheader()
                writer.writerows(self.rows)
        if self.board is not None:
            for key in ("train_loss", "val_miou", "lr"):
                if row.get(key) is not None:
                    self.board.add_scalar(key, row[key], row["epoch"])


def train(config: TrainConfig, log=print) -> Dict[str, Any]:
    """Train `config.model` on `config.data`; returns the summary also written to OUT/summary.json."""
    group = _setup_distributed()
    say = log if group.main else (lambda *_: None)
    # AMP's GradScaler skips optimizer steps with inf gradients; the schedule still counts them.
    warnings.filterwarnings("ignore", message="Detected call of `lr_scheduler.step()` before `optimizer.step()`")
    torch.manual_seed(config.seed)
    mix = BatchMix(config.cutmix, config.mixup)
    train_set = open_dataset(config.data, "train")
    val_set = open_dataset(config.val_data, "val") if config.val_data else None
    spec = PreprocessSpec(config.input_size, **model_preprocess(config.model))
    resume_path = os.path.join(config.out, "last.pt")
    checkpoint = load_checkpoint(resume_path) if config.resume else None
    if checkpoint is not None and group.main:
        say("resuming from {} (epoch {} done)".format(resume_path, checkpoint["epoch"]))
    if checkpoint is not None and checkpoint.get("model_name") != config.model:
        raise ConfigError("{} is a run of {}, not {}: resume it with that model, or choose another --out".format(
            resume_path, checkpoint.get("model_name"), config.model))
    if checkpoint is not None and checkpoint["config"].get("width") != config.width:
        raise ConfigError("{} was trained with --width {}: resume with the same".format(
            resume_path, checkpoint["config"].get("width")))

    tv_weights = config.fine_tune if config.fine_tune and not os.path.exists(config.fine_tune) else None
    model = build_model(config.model, train_set.num_classes, tv_weights, config.width)
    if config.fine_tune and tv_weights is None and checkpoint is None:
        _fine_tune(model, config.fine_tune, say)
    if checkpoint is not None:
        model.load_state_dict(checkpoint["model"])
    model.to(group.device)
    aux_weights = getattr(model, "aux_weights", None)
    if group.world > 1:
        if group.device.type == "cuda":
            model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
        else:
            say("SyncBatchNorm needs CUDA: on CPU each process keeps its own BatchNorm statistics")
        model = nn.parallel.DistributedDataParallel(model, device_ids=[group.device.index] if
                                                    group.device.type == "cuda" else None)

    weights = None
    if config.class_weights != "none":
        weights = torch.tensor(class_weights(config.class_weights, train_set), dtype=torch.float32,
                               device=group.device)
    criterion = make_criterion(config.loss, train_set.ignore_index, weights)
    samples = TorchSegmentation(train_set, train_transforms(config.input_size[0], config.input_size[1],
                                                            train_set.ignore_index), spec, seed=config.seed)
    if len(samples) < config.batch_size * group.world:
        raise ConfigError("{}: {} training samples, fewer than one batch of {}".format(
            config.data, len(samples), config.batch_size * group.world))
    steps_per_epoch = len(samples) // (config.batch_size * group.world)
    if config.steps_per_epoch:
        steps_per_epoch = min(steps_per_epoch, config.steps_per_epoch)
    optimizer = _make_optimizer(config, model)
    total_steps = config.epochs * steps_per_epoch
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, poly_lr(total_steps, min(config.warmup_steps,
                                                                                      total_steps // 5)))
    use_amp = config.amp and group.device.type == "cuda"
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)

    first_epoch, step, best = 1, 0, -1.0
    rows: List[Dict[str, Any]] = []
    if checkpoint is not None:
        optimizer.load_state_dict(checkpoint["optimizer"])
        scheduler.load_state_dict(checkpoint["scheduler"])
        scaler.load_state_dict(checkpoint["scaler"])
        first_epoch, step, best = checkpoint["epoch"] + 1, checkpoint["step"], checkpoint["best_miou"]
        rows = list(checkpoint["log"])
        _set_rng_state(checkpoint["rng"])
    os.makedirs(config.out, exist_ok=True)
    logbook = _Log(config.out, rows) if group.main else None
    meta = {"model_name": config.model, "num_classes": train_set.num_classes, "classes": list(train_set.classes),
            "preprocess": spec.to_dict(), "config": dict(config._asdict(), input_size=list(config.input_size))}
    if group.main:
        write_json_atomic(os.path.join(config.out, "config.json"), meta)
        say("training {} on {} ({} samples, {} classes) for epochs {}..{}, {} steps each, on {}{}".format(
            config.model, train_set.name, len(train_set), train_set.num_classes, first_epoch, config.epochs,
            steps_per_epoch, group.device, " x{}".format(group.world) if group.world > 1 else ""))

    last_epoch = config.epochs if config.stop_after is None else min(config.epochs, first_epoch - 1 + config.stop_after)
    for epoch in range(first_epoch, last_epoch + 1):
        started = time.perf_counter()
        samples.set_epoch(epoch)
        if group.world > 1:
            sampler = DistributedSampler(samples, shuffle=True, seed=config.seed, drop_last=True)
            sampler.set_epoch(epoch)
        else:
            sampler = RandomSampler(samples, generator=torch.Generator().manual_seed(config.seed * 1000 + epoch))
        loader = DataLoader(samples, batch_size=config.batch_size, sampler=sampler, num_workers=config.workers,
                            drop_last=True, pin_memory=group.device.type == "cuda")
        model.train()
        losses: List[float] = []
        bar = Progress("step", enabled=config.progress and group.main, total=steps_per_epoch,
                       description="epoch {}/{}".format(epoch, config.epochs))
        for images, labels in loader:
            mixup = mix(images, labels, np.random.default_rng([config.seed, epoch, step, group.rank]))
            if mixup is not None:
                mixup = (mixup[0].to(group.device, non_blocking=True), mixup[1])
            images, labels = images.to(group.device, non_blocking=True), labels.to(group.device, non_blocking=True)
            with torch.autocast(group.device.type, enabled=use_amp):
                loss = segmentation_loss(model(images), labels, criterion, aux_weights, mixup)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            scheduler.step()
            step += 1
            losses.append(float(loss.detach()))
            bar.advance("loss {:.4f}".format(losses[-1]))
            if len(losses) >= steps_per_epoch:
                break
        bar.close()
        if not group.main:
            dist.barrier()
            continue
        assert logbook is not None  # the main process keeps the log
        inner = model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model
        result = validate(inner, val_set, spec, group.device, config.val_limit) if val_set is not None else None
        miou = result["miou"] if result else None
        row = {"epoch": epoch, "step": step, "lr": optimizer.param_groups[0]["lr"],
               "train_loss": float(np.mean(losses)), "val_miou": miou,
               "val_pixel_accuracy": result["pixel_accuracy"] if result else None,
               "seconds": round(time.perf_counter() - started, 2)}
        logbook.add(row)
        say("epoch {}: loss {:.4f}{}".format(epoch, row["train_loss"],
                                             ", val mIoU {:.2%}".format(miou) if miou is not None else ""))
        improved = miou is not None and miou > best
        best = max(best, miou) if miou is not None else best
        state = dict(meta, format=CHECKPOINT_FORMAT, model=inner.state_dict(), epoch=epoch, step=step,
                     best_miou=best, log=list(logbook.rows), rng=_rng_state(), optimizer=optimizer.state_dict(),
                     scheduler=scheduler.state_dict(), scaler=scaler.state_dict())
        save_checkpoint(resume_path, state)
        if improved:
            save_checkpoint(os.path.join(config.out, "best.pt"),
                            dict(meta, format=CHECKPOINT_FORMAT, model=inner.state_dict(), epoch=epoch, miou=miou))
        if group.world > 1:
            dist.barrier()
    summary = {"out": config.out, "epochs_done": last_epoch, "epochs": config.epochs, "steps": step,
               "best_miou": best if best >= 0 else None,
               "last": resume_path, "best": os.path.join(config.out, "best.pt") if best >= 0 else None}
    if group.main:
        write_json_atomic(os.path.join(config.out, "summary.json"), summary)
    if group.world > 1:
        dist.destroy_process_group()
    return summary
