"""`k2m eval`: a model on fixed held-out pairs (clean 2D and training-time noise) next to the
mean-pose baseline, as a dict for JSON and a table for people."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from k2m_core.config import from_dict
from k2m_core.data.motion_bank import MotionBank
from k2m_core.data.pairs import AugmentationConfig
from k2m_core.eval.evaluate import (
    body_errors,
    mean_pose_baseline,
    predict,
    summarise_errors,
    target_of,
)
from k2m_core.keypoints.formats import get_format
from k2m_core.train.checkpoint import load_model
from k2m_core.train.pretrain import DataConfig, fixed_pairs, load_banks, load_body

NOISE_SETTINGS = ("clean", "train_noise")


def _baseline_bank(choice: str, train_config: dict[str, Any]) -> MotionBank | None:
    if choice == "none":
        return None
    if choice != "training":
        return MotionBank.load(choice)
    data = from_dict(DataConfig, train_config.get("data", {}))
    if data.train_bank is None:  # synthetic: a smaller draw of the same motion is enough
        from k2m_core.data.synthetic_motion import training_motion

        return training_motion(min(data.synthetic_frames, 50_000), seed=data.synthetic_seed)
    return load_banks(data)[0]


def training_log_of(checkpoint: Path) -> Path | None:
    """A run's log.csv (runs/NAME/checkpoints/x.safetensors) or a shipped model's NAME_log.csv."""
    for log in (checkpoint.parent.parent / "log.csv",
                checkpoint.with_name(f"{checkpoint.stem}_log.csv")):  # fmt: skip
        if log.is_file():
            return log
    return None


def evaluate_checkpoint(
    checkpoint: Path,
    data: str = "held-out",
    body_model: Path | None = None,
    samples: int = 4096,
    seed: int = 1234,
    baseline_bank: str = "training",
    plot: Path | None = None,
    progress: Callable[[str], None] = lambda message: None,
) -> dict[str, Any]:
    """Clean and training-noise errors (and the mean-pose baseline) on fixed views of the
    motion; ``progress`` hears a line per stage (the whole takes up to a minute on a CPU)."""
    model, meta = load_model(checkpoint)
    train_config = meta.get("train_config", {})
    aug = from_dict(AugmentationConfig, train_config.get("augmentation", {}))
    body = load_body(body_model, "cpu")
    if data == "held-out":
        from k2m_core.data.synthetic_motion import held_out_test_motion

        bank = held_out_test_motion()
    else:
        bank = MotionBank.load(data)
    fmt = get_format(model.cfg.keypoint_format)
    results: dict[str, Any] = {
        "checkpoint": str(checkpoint), "body_model": body.source, "data": data,
        "keypoint_format": fmt.name, "units": "mm",
    }  # fmt: skip
    for setting in NOISE_SETTINGS:
        progress(f"{setting.replace('_', ' ')}: {samples} views of {len(bank):,} frames")
        view = aug.clean() if setting == "clean" else aug
        pairs = fixed_pairs(bank, body, fmt.name, view, samples, seed)
        groups = np.asarray(bank.activity_names)[np.asarray(bank.activity)[pairs.frame_index]]
        pred = predict(model, pairs.model_inputs(model.cfg.camera_input))
        errors = body_errors(body, pred, target_of(pairs))
        results[setting] = summarise_errors(errors, groups)
        results["samples"] = len(pairs.inputs)
        if setting == "train_noise":
            reference = _baseline_bank(baseline_bank, train_config)
            if reference is not None:
                progress("mean-pose baseline")
                base = mean_pose_baseline(reference, pairs)
                results["mean_pose_baseline"] = summarise_errors(
                    body_errors(body, base, target_of(pairs)), groups
                )
            if plot is not None:
                from k2m_core.viz.eval_figures import evaluation_figure

                progress(f"figure {plot}")
                evaluation_figure(body, pairs, pred, training_log_of(Path(checkpoint)), plot)
    if "mean_pose_baseline" in results:
        base = results["mean_pose_baseline"]["pa_mpjpe"]["mean"]
        results["pa_mpjpe_vs_mean_pose"] = {
            s: results[s]["pa_mpjpe"]["mean"] / base for s in NOISE_SETTINGS
        }
    return results


def print_report(results: dict[str, Any]) -> None:
    rows = [("key2mesh, clean 2D", "clean"), ("key2mesh, training noise", "train_noise"),
            ("mean-pose baseline", "mean_pose_baseline")]  # fmt: skip
    print(f"{results['samples']} samples of {results['data']} motion, input "
          f"{results['keypoint_format']}, body {results['body_model']} (mm)")  # fmt: skip
    print(f"{'':26}{'MPJPE':>9}{'PA-MPJPE':>10}{'PVE':>9}")
    for label, key in rows:
        if key in results:
            r = results[key]
            print(
                f"{label:26}{r['mpjpe']['mean']:9.1f}{r['pa_mpjpe']['mean']:10.1f}"
                f"{r['pve']['mean']:9.1f}"
            )
    if "pa_mpjpe_vs_mean_pose" in results:
        ratios = results["pa_mpjpe_vs_mean_pose"]
        print(
            f"PA-MPJPE / mean-pose baseline: {ratios['clean']:.2f} (clean 2D), "
            f"{ratios['train_noise']:.2f} (training noise)"
        )
    noisy = results["train_noise"]
    print(
        "PA-MPJPE per activity (training noise): "
        + ", ".join(f"{k} {v:.1f}" for k, v in sorted(noisy["pa_mpjpe"]["per_group"].items()))
    )
    names = get_format("lsp14").keypoint_names
    print(
        "MPJPE per joint (training noise): "
        + ", ".join(f"{n} {v:.0f}" for n, v in zip(names, noisy["mpjpe"]["per_joint"], strict=True))
    )
