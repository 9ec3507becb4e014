"""`k2m data ...`: build motion banks (AMASS, synthetic) for pre-training, and labelled
evaluation sets (robot cameras, synthetic target domains) for `k2m eval --labelled`."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(groups: argparse._SubParsersAction) -> None:
    data = groups.add_parser("data", help="MoCap motion banks for training")
    commands = data.add_subparsers(dest="command", required=True, metavar="COMMAND")

    amass = commands.add_parser(
        "amass", help="convert AMASS (SMPL+H *_poses.npz) into a memory-mapped motion bank"
    )
    amass.add_argument("root", type=Path, help="AMASS folder: ROOT/<SubDataset>/<Subject>/*.npz")
    amass.add_argument(
        "--include",
        nargs="+",
        required=True,
        help="sub-datasets or sub-dataset/subject, e.g. CMU BMLmovi KIT/3",
    )
    amass.add_argument("--out", type=Path, required=True, help="output motion-bank folder")
    amass.add_argument("--fps", type=float, default=30.0, help="target frame rate")
    amass.add_argument("--strict", action="store_true", help="stop at the first bad file")
    amass.set_defaults(handler=_amass)

    synth = commands.add_parser("synthetic", help="write a synthetic-motion bank")
    synth.add_argument("--frames", type=int, default=200_000)
    synth.add_argument("--seed", type=int, default=0)
    synth.add_argument("--out", type=Path, required=True)
    synth.set_defaults(handler=_synthetic)

    labelled = commands.add_parser(
        "labelled",
        help="a labelled evaluation set: the held-out motion seen by a robot camera or a "
        "synthetic target domain (docs/labelled_set_format.md)",
    )
    labelled.add_argument("out", type=Path, help="output .npz")
    source = labelled.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--camera",
        help="a robot camera (k2m_core/data/robot_cameras.py): training_like, base_low, "
        "mast_high, pitched_close, wide, narrow",
    )
    source.add_argument(
        "--target",
        help="a target domain: 'default' (the shipped synthetic target) or a YAML file of "
        "TargetDomainConfig fields (e.g. training/configs/targets/target_b.yaml)",
    )
    labelled.add_argument("--detector", choices=("clean", "noisy"), default="clean",
                          help="with --camera: perfect keypoints, or the default detector's "
                          "noise only")  # fmt: skip
    labelled.add_argument("--format", default="coco18", help="keypoint format of the detections")
    labelled.add_argument("--seed", type=int, default=0)
    labelled.add_argument("--body-model", type=Path, default=None)
    labelled.add_argument("--overwrite", action="store_true", help="replace an existing file")
    labelled.set_defaults(handler=_labelled)


def _amass(args: argparse.Namespace) -> int:
    from k2m_core.data.amass import build_amass_bank

    bank = build_amass_bank(args.root, args.include, target_fps=args.fps, out_folder=args.out,
                            strict=args.strict)  # fmt: skip
    print(f"wrote {args.out}: {len(bank):,} frames from {', '.join(bank.activity_names)}")
    return 0


def _synthetic(args: argparse.Namespace) -> int:
    from k2m_core.data.synthetic_motion import training_motion

    bank = training_motion(args.frames, seed=args.seed)
    bank.save(args.out)
    print(f"wrote {args.out}: {len(bank):,} frames of {', '.join(bank.activity_names)}")
    return 0


def _labelled(args: argparse.Namespace) -> int:
    from k2m_core.body.smpl import SmplModel
    from k2m_core.cli.outputs import refuse_existing
    from k2m_core.config import load_config
    from k2m_core.data.robot_cameras import camera_config, labelled_from_target
    from k2m_core.data.synthetic_motion import held_out_test_motion
    from k2m_core.data.target_domain import TargetDomainConfig, make_target_domain
    from k2m_core.paths import default_body_model_path

    out = args.out if args.out.suffix == ".npz" else args.out.with_name(args.out.name + ".npz")
    refuse_existing([out], args.overwrite)
    if args.camera:
        config, group = camera_config(args.camera, args.detector), f"{args.camera}/{args.detector}"
    elif args.target == "default":
        config, group = TargetDomainConfig(), "target_default"
    else:
        config, group = (
            load_config(TargetDomainConfig, Path(args.target), []),
            Path(args.target).stem,
        )
    print(f"k2m data labelled: {group}: the held-out motion through that camera...", flush=True)
    body = SmplModel.from_file(args.body_model or default_body_model_path()).eval()
    target = make_target_domain(held_out_test_motion(), body, config, args.format, args.seed)
    labelled_from_target(target, body, group).save(out)
    print(f"wrote {out}: {len(target):,} people ({group}, {args.format})")
    return 0
