"""Where the distance error comes from, on labelled sets: body scale (the predicted height
against the true one) and everything else (pose, proportions, keypoint conventions, the
camera fit). A monocular camera cannot tell a tall person far away from a short one near by,
so the height error passes straight into distance: with the predicted body rescaled to the
true height the rest is what remains.

    python scripts/placement_sources.py runs/labelled/wide_clean.npz [--checkpoint CKPT]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

from k2m_core.body.smpl import SmplModel
from k2m_core.data.labelled_set import load_labelled_set
from k2m_core.eval.labelled import labelled_errors, predict_rows
from k2m_core.infer.engine import create_engine
from k2m_core.paths import default_body_model_path


def rest_heights(body: SmplModel, betas: np.ndarray) -> np.ndarray:
    """(N,) standing height (m): the vertical extent of the rest mesh."""
    n = len(betas)
    eye = torch.eye(3).expand(n, 3, 3)
    with torch.no_grad():
        out = body(torch.as_tensor(betas, dtype=torch.float32), eye,
                   torch.eye(3).expand(n, 23, 3, 3), torch.zeros(n, 3))  # fmt: skip
    y = out.vertices[..., 1].double().numpy()
    return y.max(axis=1) - y.min(axis=1)


def sources(path: Path, checkpoint: Path | None) -> dict[str, float]:
    labelled = load_labelled_set(path)
    body = SmplModel.from_file(default_body_model_path()).eval()
    engine = create_engine("torch", checkpoint, default_body_model_path(), device="cpu")
    errors = labelled_errors(labelled, engine, body)
    predicted = predict_rows(labelled, engine)
    pred_h = rest_heights(body, predicted["betas"])
    true_h = rest_heights(body, labelled.smpl["betas"])
    ratio_pct = 100.0 * (pred_h / true_h - 1.0)
    dist = errors.distance_error_pct
    rescaled = 100.0 * ((1.0 + dist / 100.0) / (pred_h / true_h) - 1.0)
    return {
        "|dist| % median": float(np.median(np.abs(dist))),
        "dist % median": float(np.median(dist)),
        "height error % median |.|": float(np.median(np.abs(ratio_pct))),
        "corr(height error, dist error)": float(np.corrcoef(ratio_pct, dist)[0, 1]),
        "|dist| % at the true height": float(np.median(np.abs(rescaled))),
        "dist % at the true height": float(np.median(rescaled)),
        "true height sd (m)": float(true_h.std()),
        "predicted height sd (m)": float(pred_h.std()),
        "corr(predicted, true height)": float(np.corrcoef(pred_h, true_h)[0, 1]),
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("labelled", type=Path, nargs="+")
    parser.add_argument("--checkpoint", type=Path, default=None)
    args = parser.parse_args(argv)
    for path in args.labelled:
        figures = sources(path, args.checkpoint)
        print(path.stem + ": " + ", ".join(f"{k} {v:.3g}" for k, v in figures.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
