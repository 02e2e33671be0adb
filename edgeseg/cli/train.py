"""`edgeseg train` (workstation side: torch is imported when the command runs)."""
import argparse
import os
import sys

from ..artifacts import check_outputs
from ..errors import ConfigError
from ..model_registry import available_models
from .arguments import COUNT, FRACTION, INDEX, POSITIVE, WIDTH_HELP, number_in, size
from .common import console


def cmd_train(args: argparse.Namespace) -> None:
    try:
        from ..workstation.train import TrainConfig, train
    except ImportError as exc:
        raise ConfigError("train runs on the workstation side and needs torch and torchvision ({}); "
                          "`pip install edgeseg[train]`".format(exc))

    out = args.out or os.path.join("runs", "train", args.model)
    check_outputs(folders=[out], inputs=[args.data, args.val_data, args.fine_tune])
    config = TrainConfig(
        model=args.model, data=args.data, out=out,
        val_data=args.val_data, input_size=args.input_size, epochs=args.epochs, batch_size=args.batch_size,
        lr=args.lr, optimizer=args.optimizer, weight_decay=args.weight_decay, loss=args.loss,
        class_weights=args.class_weights, warmup_steps=args.warmup_steps, workers=args.workers, seed=args.seed,
        amp=not args.no_amp, fine_tune=args.fine_tune, resume=args.resume, val_limit=args.val_limit,
        steps_per_epoch=args.steps_per_epoch, stop_after=args.stop_after,
        progress=sys.stderr.isatty() and not console.quiet, width=args.width, cutmix=args.cutmix, mixup=args.mixup)
    summary = train(config)
    if summary["best_miou"] is not None:
        print("best val mIoU {:.2%}: {}".format(summary["best_miou"], summary["best"]))
    print("last checkpoint {} (export it with `edgeseg export {} --weights {} ...`)".format(
        summary["last"], args.model, summary["best"] or summary["last"]))


def register(sub, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("train", parents=[common], help="train a model (torch; torchrun for several GPUs)")
    p.add_argument("model", help="one of: " + ", ".join(available_models()))
    p.add_argument("--data", required=True,
                   help="dataset root (CamVid, Cityscapes, VOC, ADE20K, images/+labels/ folder), list file, "
                        "or synthetic:N")
    p.add_argument("--val-data", help="validation set, same forms (default: none)")
    p.add_argument("--input-size", type=size, default=(512, 256), help="training crop WxH (default 512x256)")
    p.add_argument("--epochs", type=COUNT, default=50, help="passes over the data (default 50)")
    p.add_argument("--batch-size", type=number_in(int, 2), default=8,
                   help="images per step, at least 2 (BatchNorm needs two to train; default 8)")
    p.add_argument("--lr", type=POSITIVE, default=0.01, help="peak learning rate (default 0.01)")
    p.add_argument("--optimizer", choices=("sgd", "adamw"), default="sgd", help="optimizer (default sgd)")
    p.add_argument("--weight-decay", type=number_in(float, 0), default=5e-4, help="weight decay (default 5e-4)")
    p.add_argument("--loss", choices=("ce", "ohem", "focal"), default="ce",
                   help="cross-entropy, its online hard-example mining variant, or focal (default ce)")
    p.add_argument("--class-weights", choices=("none", "inverse", "median", "enet"), default="none",
                   help="per-class loss weights from the label frequencies (default none)")
    p.add_argument("--warmup-steps", type=INDEX, default=100,
                   help="steps of linear learning-rate warm-up (default 100)")
    p.add_argument("--workers", type=INDEX, default=2, help="data loader processes (default 2)")
    p.add_argument("--seed", type=INDEX, default=0, help="random seed (default 0)")
    p.add_argument("--no-amp", action="store_true", help="no mixed precision on CUDA")
    p.add_argument("--fine-tune", help="start from a checkpoint or torchvision weights name (new class count ok)")
    p.add_argument("--resume", action="store_true", help="continue OUT/last.pt exactly")
    p.add_argument("--val-limit", type=COUNT, help="validate on the first N images only")
    p.add_argument("--steps-per-epoch", type=COUNT, help="cap the steps per epoch")
    p.add_argument("--stop-after", type=COUNT, help="stop this run after N epochs (continue later with --resume)")
    p.add_argument("--width", type=POSITIVE, help=WIDTH_HELP + "; default 1")
    p.add_argument("--cutmix", type=FRACTION, default=0.0, metavar="P",
                   help="CutMix on a batch with probability P (default 0: off)")
    p.add_argument("--mixup", type=FRACTION, default=0.0, metavar="P",
                   help="MixUp on a batch with probability P (default 0: off)")
    p.add_argument("--out", help="output folder (default runs/train/MODEL)")
    p.set_defaults(func=cmd_train)
