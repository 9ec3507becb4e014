"""Scoring labelled external data through the inference engine, as a robot would run it.

Detections go through the engine exactly as in the nodes (format conversion, the network, the
camera fit with the set's intrinsics); predicted and true bodies are compared in the camera's
optical frame on the 14 LSP joints (the H36M regressor), with the standard metrics and the
placement a robot acts on:

- MPJPE (hip midpoints aligned: the body's orientation relative to the camera counts), PA-MPJPE
  and PVE (vertices, hip midpoints aligned), millimetres;
- pelvis error: distance between the predicted and true hip midpoints, metres;
- depth error: predicted minus true hip-midpoint z (positive: placed too far), metres;
- distance error: predicted minus true hip-midpoint distance from the camera, % of the true.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from k2m_core.body.smpl import SmplModel
from k2m_core.data.labelled_set import LabelledSet
from k2m_core.eval.metrics import LSP14_HIP_INDICES, mpjpe, pa_mpjpe
from k2m_core.geometry.camera import PinholeIntrinsics
from k2m_core.keypoints.convert import convert_keypoints, keypoints_from_smpl
from k2m_core.keypoints.formats import get_format

if TYPE_CHECKING:  # the engine is passed in: eval does not import infer
    from k2m_core.infer.engine import Key2MeshEngine

MM = 1000.0
EVAL_FORMAT = "lsp14"


@dataclass(frozen=True)
class LabelledErrors:
    """Per person (row of the set); metres unless named otherwise."""

    mpjpe: np.ndarray  # (N, 14)
    pa_mpjpe: np.ndarray  # (N, 14)
    pve: np.ndarray | None  # (N,) mean over vertices; None without SMPL truth or a mesh
    pelvis_error: np.ndarray  # (N,)
    depth_error: np.ndarray  # (N,) signed, + too far
    distance_error_pct: np.ndarray  # (N,) signed, + too far
    placed: np.ndarray  # (N,) bool: the camera fit had enough keypoints


PREDICTED = ("betas", "global_orient_matrix", "body_pose_matrices", "translation", "placed")


def predict_rows(labelled: LabelledSet, engine: Key2MeshEngine) -> dict[str, np.ndarray]:
    """The engine's bodies for every person, in the set's order (the PREDICTED fields): rows
    sharing a camera (intrinsics and image size) go through the engine together."""
    keypoints = convert_keypoints(
        labelled.detections.keypoints, labelled.detections.keypoint_format, engine.keypoint_format
    ).astype(np.float32)
    cameras = np.concatenate([labelled.intrinsics, labelled.image_sizes], axis=1)
    unique, which = np.unique(cameras, axis=0, return_inverse=True)
    which = which.reshape(-1)
    parts: dict[str, list[np.ndarray]] = {name: [] for name in PREDICTED}
    order = []
    for index, camera in enumerate(unique):
        members = np.flatnonzero(which == index)
        fx, fy, cx, cy, width, height = (float(v) for v in camera)
        bodies = engine.predict(
            keypoints[members], (round(width), round(height)), PinholeIntrinsics(fx, fy, cx, cy)
        )
        for name in PREDICTED:
            parts[name].append(getattr(bodies, name))
        order.append(members)
    back = np.argsort(np.concatenate(order))
    return {name: np.concatenate(values)[back] for name, values in parts.items()}


def _lsp_and_vertices(
    body: SmplModel,
    betas: np.ndarray,
    root: np.ndarray,
    pose: np.ndarray,
    transl: np.ndarray,
    with_vertices: bool,
) -> tuple[np.ndarray, np.ndarray | None]:
    """(N, 14, 3) LSP joints and (N, V, 3) vertices of posed, placed SMPL bodies (optical)."""
    t = lambda a: torch.as_tensor(np.asarray(a), dtype=torch.float32)  # noqa: E731
    with torch.no_grad():
        out = body(t(betas), t(root), t(pose), t(transl), return_vertices=with_vertices,
                   return_h36m=True)  # fmt: skip
        lsp, _ = keypoints_from_smpl(out.joints, get_format(EVAL_FORMAT), out.h36m_joints)
    vertices = out.vertices.double().numpy() if with_vertices else None
    return lsp.double().numpy(), vertices


def _truth_points(
    labelled: LabelledSet, body: SmplModel, rows: slice, with_vertices: bool
) -> tuple[np.ndarray, np.ndarray | None]:
    """The truth's LSP joints (and vertices, from SMPL truth) in the optical frame."""
    if labelled.smpl is not None:
        s = {k: v[rows] for k, v in labelled.smpl.items()}
        return _lsp_and_vertices(body, s["betas"], s["global_orient"], s["body_pose"],
                                 s["transl"], with_vertices)  # fmt: skip
    joints = np.asarray(labelled.joints_3d, np.float64)[rows]
    if labelled.joints_format != EVAL_FORMAT:
        joints = convert_keypoints(joints, labelled.joints_format, EVAL_FORMAT)
    return joints, None


def _predicted_points(
    predicted: dict[str, np.ndarray], body: SmplModel, rows: slice, with_vertices: bool
) -> tuple[np.ndarray, np.ndarray | None]:
    """The predicted bodies' LSP joints (and vertices) in the optical frame."""
    p = {k: v[rows] for k, v in predicted.items()}
    return _lsp_and_vertices(body, p["betas"], p["global_orient_matrix"],
                             p["body_pose_matrices"], p["translation"], with_vertices)  # fmt: skip


def labelled_errors(
    labelled: LabelledSet, engine: Key2MeshEngine, body: SmplModel, chunk: int = 512
) -> LabelledErrors:
    """Run the engine over the set and compare with its truth (``chunk`` people at a time
    through the body model: meshes of thousands of people do not fit in memory at once)."""
    if not body.has_h36m:
        raise ValueError(f"{body.source} has no H36M joint regressor, which LSP-14 needs")
    predicted = predict_rows(labelled, engine)
    with_vertices = labelled.smpl is not None
    hips = list(LSP14_HIP_INDICES)
    preds, trues, pves = [], [], []
    for start in range(0, len(labelled), chunk):
        rows = slice(start, start + chunk)
        pred, pred_vertices = _predicted_points(predicted, body, rows, with_vertices)
        true, true_vertices = _truth_points(labelled, body, rows, with_vertices)
        preds.append(pred)
        trues.append(true)
        if pred_vertices is not None and true_vertices is not None:
            pred_hip, true_hip = pred[:, hips].mean(axis=1), true[:, hips].mean(axis=1)
            moved = (pred_vertices - pred_hip[:, None]) - (true_vertices - true_hip[:, None])
            pves.append(np.linalg.norm(moved, axis=-1).mean(axis=1))
    pred, true = np.concatenate(preds), np.concatenate(trues)
    pred_hip, true_hip = pred[:, hips].mean(axis=1), true[:, hips].mean(axis=1)
    true_distance = np.linalg.norm(true_hip, axis=1)
    p, t = torch.as_tensor(pred), torch.as_tensor(true)
    return LabelledErrors(
        mpjpe=mpjpe(p, t).numpy(),
        pa_mpjpe=pa_mpjpe(p, t).numpy(),
        pve=np.concatenate(pves) if pves else None,
        pelvis_error=np.linalg.norm(pred_hip - true_hip, axis=1),
        depth_error=pred_hip[:, 2] - true_hip[:, 2],
        distance_error_pct=100.0
        * (np.linalg.norm(pred_hip, axis=1) - true_distance)
        / true_distance,
        placed=predicted["placed"].astype(bool),
    )


def _figures(errors: LabelledErrors, rows: np.ndarray) -> dict[str, float]:
    out = {
        "people": int(rows.sum()),
        "mpjpe_mm": MM * float(errors.mpjpe[rows].mean()),
        "pa_mpjpe_mm": MM * float(errors.pa_mpjpe[rows].mean()),
        "pelvis_error_m": float(errors.pelvis_error[rows].mean()),
        "depth_error_m": float(errors.depth_error[rows].mean()),
        "distance_error_pct_median": float(np.median(np.abs(errors.distance_error_pct[rows]))),
        "distance_error_pct_signed": float(np.median(errors.distance_error_pct[rows])),
        "placed_share": float(errors.placed[rows].mean()),
    }
    if errors.pve is not None:
        out["pve_mm"] = MM * float(errors.pve[rows].mean())
    return out


def summarise_labelled(errors: LabelledErrors, groups: np.ndarray) -> dict[str, Any]:
    """Figures overall and per group: means, except the distance error's medians (absolute
    and signed: one person placed 3x too far should not hide how the rest do)."""
    everyone = np.ones(len(errors.placed), bool)
    summary: dict[str, Any] = {"all": _figures(errors, everyone)}
    labels = np.asarray(groups).astype(str)
    if len(np.unique(labels)) > 1:
        summary["groups"] = {g: _figures(errors, labels == g) for g in np.unique(labels)}
    return summary


def format_labelled(summary: dict[str, Any]) -> str:
    """The summary as a table, a row per group."""
    header = (f"{'group':<22} {'people':>6} {'PA-MPJPE':>9} {'MPJPE':>7} {'PVE':>7} "
              f"{'pelvis m':>9} {'depth m':>8} {'|dist| %':>9} {'dist %':>7}")  # fmt: skip
    lines = [header, "-" * len(header)]
    rows = dict(summary.get("groups", {}))
    rows["all"] = summary["all"]
    for name, f in rows.items():
        pve = f"{f['pve_mm']:7.1f}" if "pve_mm" in f else f"{'-':>7}"
        lines.append(
            f"{name:<22} {f['people']:>6} {f['pa_mpjpe_mm']:9.1f} {f['mpjpe_mm']:7.1f} {pve} "
            f"{f['pelvis_error_m']:9.3f} {f['depth_error_m']:+8.3f} "
            f"{f['distance_error_pct_median']:9.1f} {f['distance_error_pct_signed']:+7.1f}"
        )
    lines.append("mm; pelvis/depth: means; dist %: medians of |error| and of the signed error")
    return "\n".join(lines)
