"""`k2m train`, `k2m eval`, `k2m model pack`: pre-train, measure and ship Key2Mesh models."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def add_parsers(groups: argparse._SubParsersAction) -> None:
    train = groups.add_parser("train", help="pre-train Key2Mesh on MoCap (synthetic by default)")
    train.add_argument("config", type=Path, help="YAML config, e.g. training/configs/*.yaml")
    train.add_argument(
        "overrides",
        nargs="*",
        metavar="KEY=VALUE",
        help="config overrides, e.g. steps=500 model.width=512",
    )
    train.add_argument("--resume", action="store_true", help="continue the run's last checkpoint")
    train.add_argument("--no-progress", action="store_true", help="no progress bar")
    train.set_defaults(handler=_train)

    ev = groups.add_parser("eval", help="MPJPE / PA-MPJPE / PVE of a model on held-out motion")
    ev.add_argument(
        "checkpoint",
        type=Path,
        nargs="?",
        default=None,
        help="model .safetensors (default: the shipped default model)",
    )
    ev.add_argument(
        "--data",
        default="held-out",
        help="'held-out' (synthetic test motion) or a MotionBank folder",
    )
    ev.add_argument(
        "--body-model",
        type=Path,
        default=None,
        help="SMPL file or folder (default: the generated body)",
    )
    ev.add_argument("--samples", type=int, default=4096, help="evaluation samples (max)")
    ev.add_argument("--seed", type=int, default=1234, help="seed of the evaluation views")
    ev.add_argument(
        "--baseline-bank",
        default="training",
        help="motion the mean-pose baseline averages: 'training' (synthetic "
        "training motion), a MotionBank folder, or 'none'",
    )
    ev.add_argument("--json", type=Path, default=None, help="write all results here")
    ev.add_argument(
        "--plot",
        type=Path,
        default=None,
        help="PNG of predicted vs true bodies and, when found, training curves",
    )
    ev.set_defaults(handler=_eval)

    model = groups.add_parser("model", help="model files")
    sub = model.add_subparsers(dest="command", required=True, metavar="COMMAND")
    pack = sub.add_parser("pack", help="strip a training checkpoint to a small inference file")
    pack.add_argument("checkpoint", type=Path)
    pack.add_argument("out", type=Path)
    pack.add_argument("--fp32", action="store_true", help="keep float32 (default: float16)")
    pack.add_argument(
        "--eval-json",
        type=Path,
        default=None,
        help="`k2m eval --json` results to store in the file's metadata",
    )
    pack.set_defaults(handler=_pack)


def _train(args: argparse.Namespace) -> int:
    from k2m_core.config import load_config
    from k2m_core.train.pretrain import TrainConfig, train

    cfg = load_config(TrainConfig, args.config, args.overrides)
    summary = train(cfg, resume=args.resume, progress=not args.no_progress)
    print(json.dumps(summary, indent=2))
    print(f"checkpoints: {cfg.run_dir / 'checkpoints'}; log: {cfg.run_dir / 'log.csv'}")
    return 0


def _eval(args: argparse.Namespace) -> int:
    from k2m_core.eval.report import evaluate_checkpoint, print_report
    from k2m_core.paths import default_model_path

    checkpoint = args.checkpoint or default_model_path()
    results = evaluate_checkpoint(
        checkpoint,
        data=args.data,
        body_model=args.body_model,
        samples=args.samples,
        seed=args.seed,
        baseline_bank=args.baseline_bank,
        plot=args.plot,
    )
    print_report(results)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2))
        print(f"wrote {args.json}")
    if args.plot:
        print(f"wrote {args.plot}")
    return 0


def _pack(args: argparse.Namespace) -> int:
    import torch

    from k2m_core.train.checkpoint import load_model, save_checkpoint

    model, meta = load_model(args.checkpoint)
    keep = {k: meta[k] for k in ("step", "val", "best_val_pa_mpjpe_mm", "train_config")
            if k in meta}  # fmt: skip
    if args.eval_json:
        keep["eval"] = json.loads(args.eval_json.read_text())
    dtype = torch.float32 if args.fp32 else torch.float16
    out = save_checkpoint(args.out, model, keep, dtype=dtype)
    print(f"wrote {out} ({out.stat().st_size / 2**20:.1f} MiB, {dtype})")
    return 0
