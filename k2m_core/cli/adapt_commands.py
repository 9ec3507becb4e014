"""`k2m adapt` and `k2m ablation`: unsupervised domain adaptation to a target's detections."""

from __future__ import annotations

import argparse
from pathlib import Path

from k2m_core.cli.outputs import add_overwrite


def add_parsers(groups: argparse._SubParsersAction) -> None:
    adapt = groups.add_parser(
        "adapt", help="adapt a pre-trained model to target 2D detections (no 3D labels)"
    )
    adapt.add_argument("config", type=Path, help="YAML config, e.g. training/configs/adapt_*.yaml")
    adapt.add_argument(
        "overrides",
        nargs="*",
        metavar="KEY=VALUE",
        help="config overrides, e.g. epochs=3 target.detections=dets/",
    )
    adapt.add_argument("--no-progress", action="store_true")
    add_overwrite(adapt)
    adapt.set_defaults(handler=_adapt)

    abl = groups.add_parser(
        "ablation", help="the paper's Table 3 on the synthetic target: markdown table + PNG"
    )
    abl.add_argument("config", type=Path)
    abl.add_argument("overrides", nargs="*", metavar="KEY=VALUE")
    abl.add_argument(
        "--prior-weight",
        type=float,
        default=0.5,
        help="body-prior weight of the last row (default: %(default)s)",
    )
    abl.add_argument("--no-progress", action="store_true")
    abl.set_defaults(handler=_ablation)


def _load(args: argparse.Namespace):
    from k2m_core.config import load_config
    from k2m_core.train.adapt import AdaptConfig, load_target_splits

    cfg = load_config(AdaptConfig, args.config, args.overrides)
    return cfg, load_target_splits(cfg)


def _adapt(args: argparse.Namespace) -> int:
    from k2m_core.cli.outputs import refuse_existing
    from k2m_core.train.adapt import Adapter

    cfg, splits = _load(args)
    refuse_existing([cfg.run_dir / "summary.json"], args.overwrite)  # an earlier run's results
    summary = Adapter(cfg, splits, progress=not args.no_progress).run()
    print(f"epochs: {cfg.run_dir / 'epochs.csv'}; summary: {cfg.run_dir / 'summary.json'}")
    return 0 if summary["epochs"] else 1


def _ablation(args: argparse.Namespace) -> int:
    from k2m_core.train.ablation import markdown_table, run_ablation, write_ablation

    cfg, splits = _load(args)
    result = run_ablation(cfg, splits, prior_weight=args.prior_weight,
                          progress=not args.no_progress)  # fmt: skip
    md, js, png = write_ablation(result, cfg.run_dir)
    print(markdown_table(result))
    print(f"wrote {md}, {js} and {png}")
    return 0
