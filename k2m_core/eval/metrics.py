"""Key2Mesh evaluation metrics: MPJPE, PA-MPJPE and PVE, batched in torch.

The protocol (README, "Key2Mesh: pre-training and evaluation"): 14 LSP joints; MPJPE after
subtracting the hip midpoint; PA-MPJPE after a similarity (scale, rotation, translation)
Procrustes fit; PVE is the vertex error with no alignment at all. Every metric returns
per-sample, per-point errors in the input unit (metres in k2m) so callers can break results
down per joint and per activity;
:func:`summarise` averages them and converts to millimetres.

All functions keep the inputs' dtype (float64 stays float64) and device, loop over nothing in
Python, and are differentiable. They validate their inputs eagerly, which reads tensor values
back to the host: fine for evaluation, not meant for ``torch.export``.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import TypedDict

import numpy as np
import torch

from k2m_core.keypoints.formats import LSP14

LSP14_HIP_INDICES: tuple[int, int] = (LSP14.index("right_hip"), LSP14.index("left_hip"))
"""(2, 3): the joints whose midpoint is the root for MPJPE on the 14 LSP joints."""

# A point set whose RMS spread about its centroid is below this many ulps of its largest
# coordinate is one repeated point up to rounding (the centroid itself is rounded).
_DEGENERATE_SPREAD_ULPS = 64.0


class ErrorSummary(TypedDict):
    """Means of a (B, K) error array, in the unit chosen by ``summarise(to_mm=...)``."""

    mean: float
    per_joint: list[float]
    per_group: dict[Hashable, float]
    group_sizes: dict[Hashable, int]


# --- validation ------------------------------------------------------------------------------


def _check_points(name: str, points: torch.Tensor) -> None:
    """Reject anything but a finite floating (B, K, 3) tensor, naming the argument."""
    if points.ndim != 3 or points.shape[-1] != 3:
        raise ValueError(f"{name} must have shape (B, K, 3), got {tuple(points.shape)}")
    if not points.is_floating_point():
        raise ValueError(f"{name} must be a floating-point tensor, got {points.dtype}")
    if not bool(torch.isfinite(points).all()):
        raise ValueError(f"{name} contains NaN or Inf values")


def _check_pair(pred: torch.Tensor, target: torch.Tensor) -> None:
    """Validate both point sets and that they correspond point for point."""
    _check_points("pred", pred)
    _check_points("target", target)
    if pred.shape != target.shape:
        raise ValueError(
            f"pred and target shapes differ: {tuple(pred.shape)} vs {tuple(target.shape)}"
        )


# --- alignment -------------------------------------------------------------------------------


def align_by_hips(
    joints: torch.Tensor, hip_indices: Sequence[int] = LSP14_HIP_INDICES
) -> torch.Tensor:
    """Subtract the mean of the ``hip_indices`` joints (the hip midpoint) from every joint.

    MPJPE is defined relative to this root so a global offset of the body is not an error.
    """
    _check_points("joints", joints)
    num_joints = joints.shape[1]
    if len(hip_indices) == 0 or any(not 0 <= i < num_joints for i in hip_indices):
        raise ValueError(
            f"hip_indices {tuple(hip_indices)} must be non-empty and in [0, {num_joints})"
        )
    root = joints[:, list(hip_indices)].mean(dim=1, keepdim=True)
    return joints - root


def _is_degenerate(centred: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """(B,) bool: the points are one repeated point, up to rounding in their own dtype."""
    eps = torch.finfo(centred.dtype).eps
    mean_square_spread = centred.square().sum(dim=-1).mean(dim=-1)
    magnitude = points.abs().amax(dim=(-2, -1))
    return mean_square_spread <= (_DEGENERATE_SPREAD_ULPS * eps * magnitude).square()


def procrustes_transform(
    pred: torch.Tensor, target: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Similarity (scale (B,), rotation (B, 3, 3), translation (B, 3)) mapping pred onto target.

    Minimises sum_k |s R pred_k + t - target_k|^2 (Umeyama 1991; SPIN's
    ``compute_similarity_transform``). The determinant correction keeps R a proper rotation:
    a mirrored body is an error, not something alignment may hide.

    Degenerate samples, where pred or target is a single repeated point, get scale 0, R = I and
    t = target centroid, which is an exact minimiser there (every point lands on the target
    centroid); their gradients are finite (zero through R). Collinear inputs still make the
    SVD's gradient undefined.
    """
    _check_pair(pred, target)
    if pred.shape[1] < 3:
        raise ValueError(f"Procrustes needs at least 3 points per sample, got {pred.shape[1]}")
    work = torch.promote_types(torch.promote_types(pred.dtype, target.dtype), torch.float32)
    pred, target = pred.to(work), target.to(work)

    mu_pred = pred.mean(dim=1, keepdim=True)
    mu_target = target.mean(dim=1, keepdim=True)
    x = pred - mu_pred
    y = target - mu_target
    degenerate = _is_degenerate(x, pred) | _is_degenerate(y, target)

    # Cross-covariance sum_k x_k y_k^T; degenerate samples get a stand-in with distinct
    # singular values so the batched SVD and its backward stay finite for the whole batch.
    cov = x.mT @ y
    eye = torch.eye(3, dtype=work, device=pred.device).expand_as(cov)
    stand_in = torch.diag(torch.tensor([3.0, 2.0, 1.0], dtype=work, device=pred.device))
    cov = torch.where(degenerate[:, None, None], stand_in.expand_as(cov), cov)
    u, sigma, vh = torch.linalg.svd(cov)
    v = vh.mT

    # R = V diag(1, 1, d) U^T with d = det(V U^T) = +-1 flips the weakest axis if needed.
    det = torch.linalg.det(v @ u.mT)
    ones = torch.ones_like(det)
    signs = torch.stack([ones, ones, torch.where(det < 0, -ones, ones)], dim=-1)
    rotation = torch.where(degenerate[:, None, None], eye, (v * signs[:, None, :]) @ u.mT)

    variance = x.square().sum(dim=(1, 2))
    safe_variance = torch.where(degenerate, torch.ones_like(variance), variance)
    fitted = (sigma * signs).sum(dim=-1) / safe_variance
    scale = torch.where(degenerate, torch.zeros_like(fitted), fitted)

    translation = mu_target[:, 0] - scale[:, None] * (rotation @ mu_pred[:, 0, :, None])[..., 0]
    return scale, rotation, translation


def procrustes_align(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """pred (B, K, 3) moved by its best similarity onto target; see procrustes_transform."""
    scale, rotation, translation = procrustes_transform(pred, target)
    work = rotation.dtype
    aligned = scale[:, None, None] * (pred.to(work) @ rotation.mT) + translation[:, None, :]
    return aligned.to(torch.promote_types(pred.dtype, target.dtype))


# --- metrics ---------------------------------------------------------------------------------


def _point_errors(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Euclidean distance per point, (B, K, 3) x 2 -> (B, K)."""
    return torch.linalg.vector_norm(a - b, dim=-1)


def mpjpe(
    pred: torch.Tensor, target: torch.Tensor, hip_indices: Sequence[int] = LSP14_HIP_INDICES
) -> torch.Tensor:
    """Per-joint position error (B, K) after moving both hip midpoints to the origin."""
    _check_pair(pred, target)
    return _point_errors(align_by_hips(pred, hip_indices), align_by_hips(target, hip_indices))


def pa_mpjpe(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-joint error (B, K) after the best similarity transform of pred onto target."""
    return _point_errors(procrustes_align(pred, target), target)


def pve(pred_vertices: torch.Tensor, target_vertices: torch.Tensor) -> torch.Tensor:
    """Per-vertex error (B, V) with no alignment, as in Key2Mesh's 3DPW protocol."""
    _check_pair(pred_vertices, target_vertices)
    return _point_errors(pred_vertices, target_vertices)


# --- summaries -------------------------------------------------------------------------------


def _as_label(label: object) -> Hashable:
    """numpy scalar -> Python scalar, so summary keys print and serialise as plain values."""
    return label.item() if isinstance(label, np.generic) else label


def summarise(
    errors: torch.Tensor | np.ndarray,
    groups: Sequence[Hashable] | np.ndarray | None = None,
    to_mm: float = 1.0,
) -> ErrorSummary:
    """Mean error overall, per joint and per group (e.g. activity), times ``to_mm``.

    Pass ``to_mm=1000.0`` for k2m's metre inputs. A group's mean weights its samples equally,
    so it is the mean of all its (sample, joint) errors.
    """
    values = (
        errors.detach().to("cpu", torch.float64).numpy()
        if isinstance(errors, torch.Tensor)
        else np.asarray(errors, dtype=np.float64)
    )
    if values.ndim != 2 or values.shape[0] == 0:
        raise ValueError(f"errors must have shape (B, K) with B > 0, got {values.shape}")
    if not np.isfinite(values).all():
        raise ValueError("errors contains NaN or Inf values")
    if not (np.isfinite(to_mm) and to_mm > 0):
        raise ValueError(f"to_mm must be a positive finite factor, got {to_mm}")
    values = values * to_mm
    per_group: dict[Hashable, float] = {}
    group_sizes: dict[Hashable, int] = {}
    if groups is not None:
        labels = np.asarray(groups)
        if labels.shape != (values.shape[0],):
            raise ValueError(
                f"groups must hold one label per sample ({values.shape[0]}), "
                f"got shape {labels.shape}"
            )
        unique, inverse = np.unique(labels, return_inverse=True)
        sample_means = values.mean(axis=1)
        sums = np.bincount(inverse, weights=sample_means, minlength=len(unique))
        counts = np.bincount(inverse, minlength=len(unique))
        for label, total, count in zip(unique, sums, counts, strict=True):
            per_group[_as_label(label)] = float(total / count)
            group_sizes[_as_label(label)] = int(count)
    return ErrorSummary(
        mean=float(values.mean()),
        per_joint=[float(v) for v in values.mean(axis=0)],
        per_group=per_group,
        group_sizes=group_sizes,
    )
