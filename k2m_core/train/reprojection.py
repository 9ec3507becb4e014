"""Reprojection of predicted bodies into the camera that saw the detections, for adaptation.

The paper's reprojection loss compares the detections with the prediction as the *training*
camera would see it, each normalised by its own box. Detections from a robot's camera carry
that camera's perspective (near parts larger, off-axis people sheared), which no body seen
from 6 m on the optical axis reproduces: the loss then pays the network to bend the body
toward the other camera's perspective, and the global pose and MPJPE suffer. Here the
prediction is placed in the detections' own camera first (the camera fit's aim-and-solve, in
torch, without gradients), then projected there; the error is in pixels over the detection
box's size, so it does not depend on how large the person appears.
"""

from __future__ import annotations

import torch

from k2m_core.geometry.camera import look_at

_FLIP = (1.0, -1.0, -1.0)  # SMPL-style axes <-> optical axes (its own inverse)
_MIN_DEPTH_M = 0.1
_RIDGE = 1e-6


def _camera_from_view(target: torch.Tensor) -> torch.Tensor:
    """(B, 3, 3) rotation from the view frame (SMPL-style axes) into the optical frame for a
    view aimed at optical-frame ``target`` (B, 3), as the engine's camera fit builds it."""
    flip = target.new_tensor(_FLIP)
    return flip[:, None] * look_at(target * flip)


def _translation(points: torch.Tensor, rays: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """(B, 3) least-squares t with points + t on the rays (x, y, 1) * depth: the linear solve."""
    x, y = rays[..., 0], rays[..., 1]
    px, py, pz = points.unbind(-1)
    w = weights
    sw, swx, swy = w.sum(1), (w * x).sum(1), (w * y).sum(1)
    sxy2 = (w * (x * x + y * y)).sum(1)
    bx, by = x * pz - px, y * pz - py
    zeros = torch.zeros_like(sw)
    normal = torch.stack([torch.stack([sw, zeros, -swx], -1), torch.stack([zeros, sw, -swy], -1),
                          torch.stack([-swx, -swy, sxy2], -1)], -2)  # fmt: skip
    rhs = torch.stack([(w * bx).sum(1), (w * by).sum(1), -(w * (x * bx + y * by)).sum(1)], -1)
    eye = torch.eye(3, dtype=points.dtype, device=points.device)
    ridge = _RIDGE * (sw + 1.0)
    return torch.linalg.solve(normal + ridge[:, None, None] * eye, rhs)


def place_in_camera(
    points_view: torch.Tensor,
    pixels: torch.Tensor,
    weights: torch.Tensor,
    camera: torch.Tensor,
    turns: int = 2,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(camera_from_view (B, 3, 3), translation (B, 3)) placing view-frame keypoints
    (B, K, 3) on the detections (B, K, 2 pixels, weights (B, K) >= 0) of ``camera`` (B, 4)
    [fx, fy, cx, cy]: aim along the detections' centroid ray, solve, re-aim at the placed
    body ``turns`` times. No gradients: the placement is the camera's, not the network's."""
    with torch.no_grad():
        rays = (pixels - camera[:, None, 2:4]) / camera[:, None, 0:2]
        w = weights / weights.sum(1, keepdim=True).clamp_min(1e-9)
        centroid = (w[..., None] * rays).sum(1)
        rotation = _camera_from_view(torch.cat([centroid, torch.ones_like(centroid[:, :1])], 1))
        for turn in range(turns + 1):
            rotated = points_view @ rotation.transpose(1, 2)
            shift = _translation(rotated, rays, weights)
            if turn < turns:
                rotation = _camera_from_view(shift)
    return rotation, shift


def camera_reprojection_error(
    points_view: torch.Tensor,
    pixels: torch.Tensor,
    weights: torch.Tensor,
    camera: torch.Tensor,
) -> torch.Tensor:
    """(B,) weighted mean pixel distance between the placed, projected prediction and the
    detections, over the detections' box size (max side of the weighted keypoints)."""
    rotation, shift = place_in_camera(points_view, pixels, weights, camera)
    placed = points_view @ rotation.transpose(1, 2) + shift[:, None]
    depth = placed[..., 2:3].clamp_min(_MIN_DEPTH_M)
    projected = placed[..., :2] / depth * camera[:, None, 0:2] + camera[:, None, 2:4]
    used = weights > 0
    big = torch.finfo(pixels.dtype).max
    low = torch.where(used[..., None], pixels, big).amin(1)
    high = torch.where(used[..., None], pixels, -big).amax(1)
    size = (high - low).amax(1).clamp_min(1.0)
    error = (projected - pixels).norm(dim=-1) / size[:, None]
    return (weights * error).sum(1) / weights.sum(1).clamp_min(1e-9)
