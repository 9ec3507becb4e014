"""`k2m train`, `k2m eval`, `k2m model pack`: pre-train, measure and ship Key2Mesh models."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from k2m_core.cli.outputs import add_overwrite, refuse_existing


def add_parsers(groups: argparse._SubParsersAction) -> None:
    from k2m_core.infer.graph_files import PRECISIONS

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

    ev = groups.add_parser(
        "eval", help="MPJPE / PA-MPJPE / PVE on held-out motion; with placement on labelled data"
    )
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
    ev.add_argument(
        "--labelled",
        type=Path,
        default=None,
        help="score labelled external data instead (.npz: detections, intrinsics, SMPL or 3D "
        "joint truth; docs/labelled_set_format.md), through the inference engine, with "
        "placement errors",
    )
    ev.add_argument(
        "--detections",
        default=None,
        help="with --labelled: the keypoints from a detector's own files (OpenPose JSON, COCO "
        "results, .npz), row for row with the labelled file",
    )
    ev.add_argument("--backend", choices=("torch", "onnxruntime"), default="torch",
                    help="with --labelled: the engine's backend")  # fmt: skip
    ev.add_argument("--precision", choices=PRECISIONS, default="fp32",
                    help="with --labelled --backend onnxruntime: the exported graph's precision "
                    "(fp16/int8 from `k2m export --precisions`)")  # fmt: skip
    ev.add_argument("--json", type=Path, default=None, help="write all results here")
    add_overwrite(ev)
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
    add_overwrite(pack)
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

    refuse_existing([args.json, args.plot], args.overwrite)
    if args.precision != "fp32" and (args.labelled is None or args.backend != "onnxruntime"):
        raise ValueError(f"--precision {args.precision} scores an exported graph: use it with "
                         "--labelled SET.npz --backend onnxruntime")  # fmt: skip
    if args.labelled is not None:
        return _eval_labelled(args)
    checkpoint = args.checkpoint or default_model_path()
    results = evaluate_checkpoint(
        checkpoint,
        data=args.data,
        body_model=args.body_model,
        samples=args.samples,
        seed=args.seed,
        baseline_bank=args.baseline_bank,
        plot=args.plot,
        progress=lambda message: print(f"k2m eval: {message}", flush=True),
    )
    print_report(results)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2))
        print(f"wrote {args.json}")
    if args.plot:
        print(f"wrote {args.plot}")
    return 0


def _eval_labelled(args: argparse.Namespace) -> int:
    from k2m_core.body.smpl import SmplModel
    from k2m_core.data.labelled_set import load_labelled_set
    from k2m_core.eval.labelled import format_labelled, labelled_errors, summarise_labelled
    from k2m_core.infer.engine import create_engine
    from k2m_core.paths import default_body_model_path

    labelled = load_labelled_set(args.labelled, args.detections)  # errors: one line, exit 2
    print(f"k2m eval: {args.labelled}: {len(labelled):,} people", flush=True)
    body_path = args.body_model or default_body_model_path()
    engine = create_engine(args.backend, args.checkpoint, body_path, device="cpu",
                           precision=args.precision)  # fmt: skip
    body = SmplModel.from_file(body_path).eval()
    summary = summarise_labelled(labelled_errors(labelled, engine, body), labelled.groups)
    summary.update(checkpoint=str(args.checkpoint or "default"), labelled=str(args.labelled),
                   backend=args.backend, precision=args.precision)  # fmt: skip
    print(format_labelled(summary))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(summary, indent=2))
        print(f"wrote {args.json}")
    return 0


def _pack(args: argparse.Namespace) -> int:
    import torch

    from k2m_core.train.checkpoint import load_model, save_checkpoint

    refuse_existing([args.out], args.overwrite, [args.checkpoint])
    model, meta = load_model(args.checkpoint)
    keep = {k: meta[k] for k in ("step", "val", "best_val_pa_mpjpe_mm", "train_config")
            if k in meta}  # fmt: skip
    if args.eval_json:
        keep["eval"] = json.loads(args.eval_json.read_text())
    dtype = torch.float32 if args.fp32 else torch.float16
    out = save_checkpoint(args.out, model, keep, dtype=dtype)
    print(f"wrote {out} ({out.stat().st_size / 2**20:.1f} MiB, {dtype})")
    return 0
