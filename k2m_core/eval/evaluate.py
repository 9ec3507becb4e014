"""Run a Key2Mesh model (or a baseline) over evaluation pairs and measure it the standard way:
14 LSP joints from the H36M regressor, MPJPE (hip-aligned), PA-MPJPE and PVE, in millimetres,
overall, per joint and per activity."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from k2m_core.body.smpl import SmplModel, SmplOutput
from k2m_core.data.motion_bank import MotionBank
from k2m_core.data.pairs import PairBatch
from k2m_core.eval.metrics import mpjpe, pa_mpjpe, pve, summarise
from k2m_core.geometry.rotations import axis_angle_to_matrix
from k2m_core.keypoints.convert import keypoints_from_smpl
from k2m_core.keypoints.formats import get_format
from k2m_core.model.key2mesh import Key2Mesh

MM = 1000.0
EVAL_FORMAT = "lsp14"


@dataclass(frozen=True)
class BodyPrediction:
    betas: torch.Tensor  # (B, 10)
    rot_mats: torch.Tensor  # (B, 24, 3, 3)


def _pose_body(body: SmplModel, pred: BodyPrediction, with_vertices: bool) -> SmplOutput:
    return body(pred.betas, pred.rot_mats[:, 0], pred.rot_mats[:, 1:],
                return_vertices=with_vertices)  # fmt: skip


def predict(model: Key2Mesh, inputs: torch.Tensor, batch_size: int = 2048) -> BodyPrediction:
    """Model predictions in eval mode (dropout off, batch-norm running statistics)."""
    model.eval()
    betas, rots = [], []
    with torch.no_grad():
        for chunk in inputs.split(batch_size):
            out = model(chunk)
            betas.append(out.betas)
            rots.append(out.rot_mats)
    return BodyPrediction(torch.cat(betas), torch.cat(rots))


def body_errors(
    body: SmplModel,
    pred: BodyPrediction,
    target: BodyPrediction,
    with_vertices: bool = True,
    batch_size: int = 512,
) -> dict[str, torch.Tensor]:
    """Per-sample errors in metres: mpjpe/pa_mpjpe (B, 14) and pve (B, V) when asked."""
    if not body.has_h36m:
        raise ValueError(
            f"{body.source} has no H36M joint regressor, which the LSP-14 evaluation joints "
            "come from: pass one with the body model (J_regressor_h36m)"
        )
    fmt = get_format(EVAL_FORMAT)
    parts: dict[str, list[torch.Tensor]] = {"mpjpe": [], "pa_mpjpe": [], "pve": []}
    with torch.no_grad():
        for start in range(0, len(pred.betas), batch_size):
            sl = slice(start, start + batch_size)
            p = _pose_body(body, BodyPrediction(pred.betas[sl], pred.rot_mats[sl]), with_vertices)
            t = _pose_body(body, BodyPrediction(target.betas[sl], target.rot_mats[sl]),
                           with_vertices)  # fmt: skip
            pj, _ = keypoints_from_smpl(p.joints, fmt, p.h36m_joints)
            tj, _ = keypoints_from_smpl(t.joints, fmt, t.h36m_joints)
            parts["mpjpe"].append(mpjpe(pj.double(), tj.double()))
            parts["pa_mpjpe"].append(pa_mpjpe(pj.double(), tj.double()))
            if with_vertices:
                parts["pve"].append(pve(p.vertices.double(), t.vertices.double()))
    return {k: torch.cat(v) for k, v in parts.items() if v}


def summarise_errors(
    errors: dict[str, torch.Tensor], groups: np.ndarray | None = None
) -> dict[str, Any]:
    """{metric: {mean, per_joint, per_group, group_sizes}} in millimetres. PVE keeps no
    per-vertex list: 6890 numbers nobody reads would dominate the JSON."""
    out = {name: dict(summarise(err, groups, to_mm=MM)) for name, err in errors.items()}
    if "pve" in out:
        out["pve"].pop("per_joint", None)
    return out


def target_of(pairs: PairBatch) -> BodyPrediction:
    return BodyPrediction(pairs.betas, pairs.rot_mats)


def mean_pose_baseline(bank: MotionBank, pairs: PairBatch) -> BodyPrediction:
    """Predict the training set's mean body pose and shape for everyone.

    The mean of each joint's rotation is the chordal mean (average matrix projected back onto
    rotations). The global orientation is taken from the ground truth: generous to the
    baseline, and PA-MPJPE removes it anyway.
    """
    poses = torch.as_tensor(np.asarray(bank.poses), dtype=torch.float32).view(-1, 24, 3)
    mean_rot = axis_angle_to_matrix(poses[:, 1:]).mean(dim=0)
    u, _, vh = torch.linalg.svd(mean_rot)
    det = torch.linalg.det(u @ vh)
    fix = torch.diag_embed(torch.stack([torch.ones_like(det), torch.ones_like(det), det], -1))
    mean_rot = u @ fix @ vh
    betas = torch.as_tensor(np.asarray(bank.betas), dtype=torch.float32).mean(dim=0)
    n = len(pairs.betas)
    rot_mats = torch.cat([pairs.rot_mats[:, :1], mean_rot.expand(n, -1, -1, -1)], dim=1)
    return BodyPrediction(betas.expand(n, -1).clone(), rot_mats)
