"""Pre-training losses (LGD's, which Key2Mesh builds on): SMPL parameters, 2D reprojection and
3D keypoints, with extremities weighted up because they are where poses differ most."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from k2m_core.keypoints.convert import smpl_selection_matrix
from k2m_core.keypoints.formats import KeypointFormat

# Per-joint weights of the keypoint terms, by the joint's name.
JOINT_WEIGHTS: dict[str, float] = {
    "wrist": 8.0, "ankle": 8.0, "elbow": 4.0, "knee": 4.0, "shoulder": 2.0, "hip": 2.0,
}  # fmt: skip


@dataclass(frozen=True)
class LossWeights:
    pose: float = 1.0  # rotation matrices, MSE
    betas: float = 1.0  # shape, MSE
    keypoints_2d: float = 0.3  # reprojection, weighted L1 in the input's box units
    joints_3d: float = 0.3  # 3D keypoints, weighted L1 in metres


def keypoint_weights(fmt: KeypointFormat) -> torch.Tensor:
    """(K,) weight per keypoint; zero for keypoints SMPL cannot provide in this format."""
    _, available = smpl_selection_matrix(fmt)
    weights = []
    for name, ok in zip(fmt.keypoint_names, available, strict=True):
        w = next((v for part, v in JOINT_WEIGHTS.items() if part in name), 1.0)
        weights.append(w if ok else 0.0)
    return torch.tensor(weights)


def weighted_l1(pred: torch.Tensor, target: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Mean over the batch of sum_k w_k |pred_k - target_k|_1 / sum_k w_k."""
    per_joint = (pred - target).abs().sum(dim=-1)
    return (per_joint * weights).sum(dim=-1).mean() / weights.sum()


def pretrain_losses(
    pred_rot_mats: torch.Tensor,
    pred_betas: torch.Tensor,
    pred_2d: torch.Tensor,
    pred_3d: torch.Tensor,
    target_rot_mats: torch.Tensor,
    target_betas: torch.Tensor,
    target_2d: torch.Tensor,
    target_3d: torch.Tensor,
    joint_weights: torch.Tensor,
    weights: LossWeights,
) -> dict[str, torch.Tensor]:
    """Each term and their weighted sum under 'total'."""
    terms = {
        "pose": torch.mean((pred_rot_mats - target_rot_mats) ** 2),
        "betas": torch.mean((pred_betas - target_betas) ** 2),
        "keypoints_2d": weighted_l1(pred_2d, target_2d, joint_weights),
        "joints_3d": weighted_l1(pred_3d, target_3d, joint_weights),
    }
    terms["total"] = sum(getattr(weights, name) * value for name, value in terms.items())
    return terms
