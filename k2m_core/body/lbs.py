"""Linear blend skinning as pure torch functions, written for export.

Same mathematics as smplx.lbs, but the kinematic tree is a Python tuple, so the chain unrolls
at trace time (smplx indexes with a `parents` tensor, which the ONNX exporter rejects), and
skinning blends 3x4 transforms instead of 4x4 ones.
"""

from __future__ import annotations

import torch


def blend_shapes(betas: torch.Tensor, template: torch.Tensor, dirs: torch.Tensor) -> torch.Tensor:
    """template (N, 3) + dirs (N, 3, S) · betas (B, S) -> (B, N, 3)."""
    return template + torch.einsum("bs,nks->bnk", betas, dirs)


def regress(regressor: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """regressor (K, N) applied to points (B, N, 3) -> (B, K, 3), as one (K, N) x (N, 3B)
    product rather than B skinny ones."""
    batch, num_points = points.shape[:2]
    flat = points.transpose(0, 1).reshape(num_points, batch * 3)
    return (regressor @ flat).view(-1, batch, 3).transpose(0, 1)


def pose_feature(rot_mats: torch.Tensor) -> torch.Tensor:
    """(B, 24, 3, 3) -> (B, 207): what SMPL's pose correctives are linear in."""
    eye = torch.eye(3, dtype=rot_mats.dtype, device=rot_mats.device)
    return (rot_mats[:, 1:] - eye).flatten(1)


def forward_kinematics(
    rot_mats: torch.Tensor, joints: torch.Tensor, parents: tuple[int, ...]
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Pose the skeleton.

    rot_mats (B, J, 3, 3) local rotations; joints (B, J, 3) rest joints.
    Returns posed joints (B, J, 3) and the skinning transforms that take a rest-pose point of
    each joint's body part to its posed place: rotations (B, J, 3, 3), translations (B, J, 3).
    """
    world_rot = [rot_mats[:, 0]]
    posed = [joints[:, 0]]
    for j in range(1, len(parents)):
        p = parents[j]
        bone = (joints[:, j] - joints[:, p]).unsqueeze(-1)
        posed.append(posed[p] + (world_rot[p] @ bone).squeeze(-1))
        world_rot.append(world_rot[p] @ rot_mats[:, j])
    rotations = torch.stack(world_rot, dim=1)
    posed_joints = torch.stack(posed, dim=1)
    translations = posed_joints - (rotations @ joints.unsqueeze(-1)).squeeze(-1)
    return posed_joints, rotations, translations


def skin(
    points: torch.Tensor,
    weights: torch.Tensor,
    rotations: torch.Tensor,
    translations: torch.Tensor,
) -> torch.Tensor:
    """Blend the joints' transforms per point: points (B, N, 3), weights (N, J) -> (B, N, 3).

    The batch folds into one (N, J) x (J, B*12) product (a broadcast matmul would run B
    skinny ones), and the blended 3x4 transforms are laid out column by column, so applying
    them is three multiply-adds over (B, N, 3) instead of B*N tiny matrix products.
    """
    batch, num_joints = rotations.shape[:2]
    columns = rotations.transpose(-1, -2).flatten(2)  # (B, J, 9): column 0, 1, 2 of each R
    transforms = torch.cat([columns, translations], dim=2)  # (B, J, 12)
    stacked = transforms.transpose(0, 1).reshape(num_joints, batch * 12)
    blended = (weights @ stacked).view(-1, batch, 12).transpose(0, 1)  # (B, N, 12)
    return (
        blended[..., 0:3] * points[..., 0:1]
        + blended[..., 3:6] * points[..., 1:2]
        + blended[..., 6:9] * points[..., 2:3]
        + blended[..., 9:12]
    )
