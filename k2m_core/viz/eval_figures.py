"""`k2m eval --plot`: predicted vs true bodies across the error range, and training curves."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import torch
from matplotlib.figure import Figure

from k2m_core.body.smpl import SmplModel
from k2m_core.data.pairs import PairBatch
from k2m_core.eval.evaluate import BodyPrediction, body_errors, target_of
from k2m_core.keypoints.convert import keypoints_from_smpl
from k2m_core.keypoints.formats import get_format
from k2m_core.viz.mesh_render import draw_body_view, draw_skeleton

TRUE_COLOUR = (0.72, 0.72, 0.72)
PRED_COLOUR = (0.55, 0.7, 0.95)


def _body_at(body: SmplModel, pred: BodyPrediction, i: int) -> tuple[np.ndarray, np.ndarray]:
    with torch.no_grad():
        out = body(pred.betas[i : i + 1], pred.rot_mats[i : i + 1, 0],
                   pred.rot_mats[i : i + 1, 1:])  # fmt: skip
        lsp, _ = keypoints_from_smpl(out.joints, "lsp14", out.h36m_joints)
    return out.vertices[0].numpy(), lsp[0].numpy()


def _draw_pair(ax, body: SmplModel, pred: BodyPrediction, truth: BodyPrediction, i: int) -> None:
    """Truth (grey) and prediction (blue) side by side, seen from the training camera."""
    faces = body.faces.numpy()
    edges = get_format("lsp14").edges
    for k, (bodies, colour, line) in enumerate(
        ((truth, TRUE_COLOUR, "tab:green"), (pred, PRED_COLOUR, "tab:red"))
    ):
        verts, joints = _body_at(body, bodies, i)
        shift = np.array([0.0 if k == 0 else 1.0, 0.0, 0.0])
        centre = verts.mean(axis=0) * np.array([1.0, 0.0, 0.0])
        draw_body_view(ax, verts - centre + shift, faces, colour=colour)
        draw_skeleton(ax, (joints - centre + shift)[:, :2], edges, colour=line, marker_size=5)
    ax.autoscale_view()


def _read_log(log_csv: Path) -> dict[str, np.ndarray]:
    with log_csv.open() as f:
        rows = list(csv.DictReader(f))

    def column(name: str) -> np.ndarray:
        return np.array([float(r[name]) if r.get(name) not in ("", None) else np.nan
                         for r in rows])  # fmt: skip

    return {k: column(k) for k in ("samples", "loss", "val_mpjpe_mm", "val_pa_mpjpe_mm")}


def evaluation_figure(
    body: SmplModel,
    pairs: PairBatch,
    pred: BodyPrediction,
    log_csv: Path | None,
    path: Path,
    panels: int = 5,
) -> Path:
    """Panels from the best to the worst PA-MPJPE sample (so the picture does not flatter)."""
    truth = target_of(pairs)
    errors = body_errors(body, pred, truth, with_vertices=False)["pa_mpjpe"].mean(dim=1)
    order = torch.argsort(errors)
    picks = order[np.linspace(0, len(order) - 1, panels).astype(int)]
    rows = 2 if log_csv is not None else 1
    fig = Figure(figsize=(3.2 * panels, 4.2 * rows))
    grid = fig.add_gridspec(rows, panels)
    for col, i in enumerate(picks.tolist()):
        ax = fig.add_subplot(grid[0, col])
        _draw_pair(ax, body, pred, truth, i)
        rank = ["best", "25%", "median", "75%", "worst"][col] if panels == 5 else f"#{col}"
        ax.set_title(f"{rank}: PA-MPJPE {1000 * errors[i]:.0f} mm\ntrue (grey) | predicted "
                     "(blue)", fontsize=8)  # fmt: skip
    if log_csv is not None:
        log = _read_log(log_csv)
        ax = fig.add_subplot(grid[1, : panels // 2])
        ax.plot(log["samples"], log["loss"], color="tab:blue")
        ax.set_yscale("log")
        ax.set_xlabel("training samples")
        ax.set_ylabel("training loss")
        ax.grid(alpha=0.3)
        ax = fig.add_subplot(grid[1, panels // 2 :])
        for key, label in (("val_mpjpe_mm", "MPJPE"), ("val_pa_mpjpe_mm", "PA-MPJPE")):
            ok = ~np.isnan(log[key])
            ax.plot(log["samples"][ok], log[key][ok], marker="o", markersize=3, label=label)
        ax.set_xlabel("training samples")
        ax.set_ylabel("validation error (mm)")
        ax.legend()
        ax.grid(alpha=0.3)
    fig.suptitle("Key2Mesh on held-out motion (training-time 2D noise)", fontsize=11)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    return path
