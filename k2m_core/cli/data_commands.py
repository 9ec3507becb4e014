"""`k2m data ...`: build motion banks (AMASS, synthetic) for pre-training."""

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
