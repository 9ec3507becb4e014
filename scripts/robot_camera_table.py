"""Score checkpoints on every robot camera (clean and noisy 2D) and on the synthetic target
domains, through `k2m data labelled` and `k2m eval --labelled`, and write one markdown table.

    python scripts/robot_camera_table.py --model old=models/key2mesh/k2m_default.safetensors \
        --model new=runs/robot/checkpoints/best.safetensors --sets runs/labelled \
        --out docs/results/robot_cameras.md --plot docs/results/robot_cameras.png

Labelled sets are made once into --sets and reused; each score is also kept as JSON there.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from k2m_core.cli.main import main as k2m
from k2m_core.data.robot_cameras import DETECTORS, ROBOT_CAMERAS

TARGETS = {
    "target A (full)": "default",
    "target B (full)": "training/configs/targets/target_b.yaml",
}
COLUMNS = (("pa_mpjpe_mm", "PA-MPJPE", ".1f"), ("mpjpe_mm", "MPJPE", ".1f"),
           ("pve_mm", "PVE", ".1f"),
           ("pelvis_error_m", "pelvis m", ".3f"), ("depth_error_m", "depth m", "+.3f"),
           ("distance_error_pct_median", "|dist| %", ".1f"),
           ("distance_error_pct_signed", "dist %", "+.1f"))  # fmt: skip


def labelled_sets(folder: Path) -> dict[str, Path]:
    """Every set, made if missing: robot cameras x detectors, then the full targets."""
    sets = {}
    for camera in ROBOT_CAMERAS:
        for detector in DETECTORS:
            path = folder / f"{camera}_{detector}.npz"
            if not path.exists():
                run(["data", "labelled", str(path), "--camera", camera, "--detector", detector])
            sets[f"{camera} {detector}"] = path
    for name, target in TARGETS.items():
        path = folder / f"{name.split(' (')[0].replace(' ', '_')}.npz"
        if not path.exists():
            run(["data", "labelled", str(path), "--target", target])
        sets[name] = path
    return sets


def score(model: str, checkpoint: Path, labelled: Path) -> dict:
    out = labelled.with_name(f"{labelled.stem}.{model}.json")
    if not out.exists() or out.stat().st_mtime < checkpoint.stat().st_mtime:
        args = ["eval", str(checkpoint), "--labelled", str(labelled), "--json", str(out)]
        run([*args, "--overwrite"])  # replaces a stale score of an older checkpoint
    return json.loads(out.read_text())["all"]


def run(args: list[str]) -> None:
    print("k2m", " ".join(args), flush=True)
    if k2m(args) != 0:
        raise SystemExit(f"failed: k2m {' '.join(args)}")


def table(results: dict[str, dict[str, dict]], models: list[str]) -> str:
    head = "| camera, 2D | model | " + " | ".join(c[1] for c in COLUMNS) + " |"
    lines = [head, "|" + "---|" * (len(COLUMNS) + 2)]
    for name, by_model in results.items():
        for model in models:
            f = by_model[model]
            cells = " | ".join(format(f[key], spec) for key, _, spec in COLUMNS)
            lines.append(f"| {name} | {model} | {cells} |")
    return "\n".join(lines) + "\n"


def plot(results: dict[str, dict[str, dict]], models: list[str], path: Path) -> None:
    """Bars per set and model for the errors people compare first: PA-MPJPE, MPJPE, distance."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    shown = (("pa_mpjpe_mm", "PA-MPJPE (mm)"), ("mpjpe_mm", "MPJPE (mm)"),
             ("distance_error_pct_median", "median |distance error| (%)"))  # fmt: skip
    names = list(results)
    rows = np.arange(len(names))
    height = 0.8 / len(models)
    fig, axes = plt.subplots(1, len(shown), figsize=(15, 0.42 * len(names) + 1.5), sharey=True)
    for ax, (key, label) in zip(axes, shown, strict=True):
        for i, model in enumerate(models):
            values = [results[name][model][key] for name in names]
            ax.barh(rows + (i - (len(models) - 1) / 2) * height, values, height, label=model)
        ax.set_xlabel(label)
        ax.grid(axis="x", alpha=0.3)
    axes[0].set_yticks(rows, names)
    axes[0].invert_yaxis()
    axes[0].legend(loc="upper right")
    fig.suptitle("k2m eval --labelled: robot cameras (clean / noisy 2D) and synthetic targets")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    print(f"wrote {path}")


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", required=True, metavar="NAME=CHECKPOINT")
    parser.add_argument("--sets", type=Path, default=Path("runs/labelled"))
    parser.add_argument("--out", type=Path, default=None, help="markdown table (default: print)")
    parser.add_argument("--plot", type=Path, default=None, help="PNG of the main errors")
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    models = dict(m.split("=", 1) for m in args.model)
    args.sets.mkdir(parents=True, exist_ok=True)
    results = {name: {m: score(m, Path(c), path) for m, c in models.items()}
               for name, path in labelled_sets(args.sets).items()}  # fmt: skip
    text = table(results, list(models))
    if args.plot:
        plot(results, list(models), args.plot)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
