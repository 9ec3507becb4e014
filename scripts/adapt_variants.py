"""Adaptation variants on a synthetic target, from one model, with the label-free choice of
each marked and how well each label-free criterion ranks the checkpoints by true error.

    python scripts/adapt_variants.py --target default --out docs/results/adapt_target_a.md
    python scripts/adapt_variants.py --target training/configs/targets/target_b.yaml \
        --out docs/results/adapt_target_b.md

Each variant is `k2m adapt training/configs/adapt_default.yaml` with the overrides listed in
VARIANTS (runs in runs/adapt_variants/<target>/<variant>, resumed from summary.json if there).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from scipy.stats import spearmanr

from k2m_core.config import load_config
from k2m_core.train.adapt import AdaptConfig, Adapter, load_target_splits

CONFIG = Path("training/configs/adapt_default.yaml")
VARIANTS = {  # name: (run folder, overrides of adapt_default.yaml)
    "paper settings, training-camera reprojection (as first built)": (
        "paper_training_camera", ["reprojection_camera=training", "loss.feature=20"]),
    "paper settings, in-camera reprojection": ("paper_in_camera", ["loss.feature=20"]),
    "loss.feature=2, in-camera reprojection (default)": ("feature2_in_camera", []),
    "reprojection only, in-camera": ("reprojection_only", ["loss.domain=0", "loss.feature=0"]),
}  # fmt: skip
CRITERIA = {
    "in-camera reprojection": "selection_camera_error",
    "training-camera reprojection": "selection_reprojection",
}
TRUE = {"PA-MPJPE": "test_pa_mpjpe_mm", "MPJPE": "test_mpjpe_mm", "pelvis": "test_pelvis_error_m"}


def run_variant(target: str, name: str, out: Path, checkpoint: str | None) -> dict:
    slug, overrides = VARIANTS[name]
    summary_path = out / slug / "summary.json"
    if summary_path.exists():
        return json.loads(summary_path.read_text())
    extra = [] if target == "default" else [f"target.domain_file={target}"]
    extra += [f"checkpoint={checkpoint}"] if checkpoint else []
    cfg = load_config(AdaptConfig, CONFIG, [f"out_dir={out}", f"name={slug}", *extra, *overrides])
    print(f"== {name}", flush=True)
    return Adapter(cfg, load_target_splits(cfg), progress=False).run()


def row(label: str, e: dict, epoch: str) -> str:
    return (
        f"| {label} | {epoch} | {e['test_pa_mpjpe_mm']:.1f} | {e['test_mpjpe_mm']:.1f} | "
        f"{e['test_pve_mm']:.1f} | {e['test_pelvis_error_m']:.3f} | "
        f"{e['test_distance_error_pct']:.1f} |"
    )


def report(summaries: dict[str, dict]) -> str:
    first = next(iter(summaries.values()))["epochs"][0]
    lines = [
        "| variant | epoch | PA-MPJPE | MPJPE | PVE | pelvis m | |dist| % |",
        "|---|---|---|---|---|---|---|",
        row("pre-trained", first, "-"),
    ]
    for name, s in summaries.items():
        chosen = s["selected"] or s["epochs"][0]
        lines.append(row(f"{name}: **label-free choice**", chosen, str(chosen["epoch"])))
        lines.append(row(f"{name}: last epoch", s["epochs"][-1], str(s["epochs"][-1]["epoch"])))
    epochs = [e for s in summaries.values() for e in s["epochs"][1:]] + [first]
    lines += ["", f"Spearman rank correlation over {len(epochs)} checkpoints (all variants):", ""]
    lines += ["| criterion | " + " | ".join(TRUE) + " |", "|---|" + "---|" * len(TRUE)]
    for label, key in CRITERIA.items():
        rhos = rank_rhos(epochs, key)
        lines.append(f"| {label} | " + " | ".join(f"{r:.2f}" for r in rhos) + " |")
    header = "| variant, criterion | " + " | ".join(TRUE) + " |"
    lines += ["", "Within each run (epochs 0-N of one variant: what label-free selection chooses",
              "among):", "", header, "|---|" + "---|" * len(TRUE)]  # fmt: skip
    for name, s in summaries.items():
        for label, key in CRITERIA.items():
            rhos = rank_rhos(s["epochs"], key)
            lines.append(f"| {name}, {label} | " + " | ".join(f"{r:.2f}" for r in rhos) + " |")
    return "\n".join(lines) + "\n"


def rank_rhos(epochs: list[dict], criterion: str) -> list[float]:
    """Spearman's rho of a label-free criterion against each true error, over checkpoints."""
    return [spearmanr([e[criterion] for e in epochs], [e[t] for e in epochs]).statistic
            for t in TRUE.values()]  # fmt: skip


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", default="default", help="'default' or a target YAML")
    parser.add_argument("--checkpoint", default=None, help="start model (default: shipped)")
    parser.add_argument("--runs", type=Path, default=Path("runs/adapt_variants"))
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    tag = "target_a" if args.target == "default" else Path(args.target).stem
    out = args.runs / tag
    summaries = {name: run_variant(args.target, name, out, args.checkpoint) for name in VARIANTS}
    text = report(summaries)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
