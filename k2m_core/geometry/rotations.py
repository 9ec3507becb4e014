"""Rotation conversions, batched over any leading dims and safe to export.

Every function keeps the input's dtype and device, is differentiable, and avoids Python
control flow on tensor values and in-place ops, so models built on them trace and export
(ONNX, ``torch.export``) with dynamic batch sizes.

Conventions:

- Rotation matrices act on column vectors: ``v' = R @ v``.
- Axis-angle vectors are ``angle * unit_axis`` (radians), as in SMPL poses.
- Quaternions are scalar-first ``(w, x, y, z)``, like pytorch3d. scipy's ``Rotation.as_quat``
  and ROS ``geometry_msgs/Quaternion`` are scalar-last ``(x, y, z, w)``; convert with
  :func:`quaternion_wxyz_to_xyzw` / :func:`quaternion_xyzw_to_wxyz` at those boundaries.
- The 6D representation (Zhou et al., CVPR 2019) follows SPIN / HMR, which Key2Mesh's official
  code uses: the 6 numbers reshape to ``(3, 2)`` and are the first two *columns* of the
  matrix. pytorch3d's ``matrix_to_rotation_6d`` takes the first two *rows* instead (the
  transpose), so network weights trained with one convention do not transfer to the other.
"""

from __future__ import annotations

from typing import Literal, TypeVar

import numpy as np
import torch
from torch.nn.functional import normalize

Axis = Literal["x", "y", "z"]
ArrayT = TypeVar("ArrayT", torch.Tensor, np.ndarray)

_AXES: tuple[str, ...] = ("x", "y", "z")
# Below this half angle sin(h) / h uses its Taylor series; the error there is O(h^4) < 1e-16.
_SMALL_HALF_ANGLE = 1e-4


def _stack_matrix(entries: list[torch.Tensor]) -> torch.Tensor:
    """Stack 9 same-shaped tensors, row-major, into (..., 3, 3)."""
    return torch.stack(entries, dim=-1).unflatten(-1, (3, 3))


def _cross(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Cross product over the last dim, spelled out because not every exporter maps linalg.cross."""
    ax, ay, az = a.unbind(-1)
    bx, by, bz = b.unbind(-1)
    return torch.stack([ay * bz - az * by, az * bx - ax * bz, ax * by - ay * bx], dim=-1)


def _sin_half_over_angle(half_angle: torch.Tensor) -> torch.Tensor:
    """sin(h) / (2 h): the axis-angle <-> quaternion-vector scale, finite with finite grad at 0.

    Written with ``torch.where`` and a safe denominator instead of ``torch.sinc`` so the
    exporters need no special op and the unused branch cannot inject NaN gradients.
    """
    small = half_angle.abs() < _SMALL_HALF_ANGLE
    safe = torch.where(small, torch.ones_like(half_angle), half_angle)
    taylor = 0.5 - half_angle * half_angle / 12.0
    return torch.where(small, taylor, 0.5 * torch.sin(safe) / safe)


def _sqrt_positive_part(x: torch.Tensor) -> torch.Tensor:
    """sqrt(max(x, 0)) whose gradient stays finite (zero) where x <= 0."""
    positive = x > 0
    return torch.where(positive, torch.sqrt(torch.where(positive, x, torch.ones_like(x))), 0.0)


def axis_angle_to_matrix(axis_angle: torch.Tensor) -> torch.Tensor:
    """Rodrigues' formula, exactly as smplx's ``batch_rodrigues``.

    The ``+ 1e-8`` inside the norm is smplx's: it keeps the angle (and the gradient) finite at
    zero rotation, and copying it makes our SMPL forward match smplx to float precision.
    """
    angle = torch.linalg.vector_norm(axis_angle + 1e-8, dim=-1, keepdim=True)
    rx, ry, rz = (axis_angle / angle).unbind(-1)
    zeros = torch.zeros_like(rx)
    K = _stack_matrix([zeros, -rz, ry, rz, zeros, -rx, -ry, rx, zeros])
    sin = torch.sin(angle).unsqueeze(-1)
    cos = torch.cos(angle).unsqueeze(-1)
    eye = torch.eye(3, dtype=axis_angle.dtype, device=axis_angle.device)
    return eye + sin * K + (1.0 - cos) * (K @ K)


def quaternion_to_matrix(quaternion: torch.Tensor) -> torch.Tensor:
    """(w, x, y, z) -> matrix; the quaternion need not be unit (it is normalised implicitly)."""
    w, x, y, z = quaternion.unbind(-1)
    two_s = 2.0 / (quaternion * quaternion).sum(-1)
    return _stack_matrix(
        [
            1 - two_s * (y * y + z * z),
            two_s * (x * y - z * w),
            two_s * (x * z + y * w),
            two_s * (x * y + z * w),
            1 - two_s * (x * x + z * z),
            two_s * (y * z - x * w),
            two_s * (x * z - y * w),
            two_s * (y * z + x * w),
            1 - two_s * (x * x + y * y),
        ]
    )


def standardize_quaternion(quaternion: torch.Tensor) -> torch.Tensor:
    """Pick the w >= 0 representative of q ~ -q, so equal rotations compare equal."""
    return torch.where(quaternion[..., :1] < 0, -quaternion, quaternion)


def matrix_to_quaternion(matrix: torch.Tensor) -> torch.Tensor:
    """Matrix -> unit (w, x, y, z) with w >= 0, stable for every rotation (pytorch3d's method).

    Each of the four components can be recovered from the diagonal and the others from it; we
    build all four candidates and keep the one divided by the largest component, so we never
    divide by something near zero (the naive trace formula fails near 180 degrees).
    """
    m00, m01, m02, m10, m11, m12, m20, m21, m22 = matrix.flatten(-2).unbind(-1)
    q_abs = _sqrt_positive_part(
        torch.stack(
            [
                1.0 + m00 + m11 + m22,
                1.0 + m00 - m11 - m22,
                1.0 - m00 + m11 - m22,
                1.0 - m00 - m11 + m22,
            ],
            dim=-1,
        )
    )
    # Row i is the quaternion multiplied by 4 * |q_i|.
    quat_by_wxyz = torch.stack(
        [
            torch.stack([q_abs[..., 0] ** 2, m21 - m12, m02 - m20, m10 - m01], dim=-1),
            torch.stack([m21 - m12, q_abs[..., 1] ** 2, m10 + m01, m02 + m20], dim=-1),
            torch.stack([m02 - m20, m10 + m01, q_abs[..., 2] ** 2, m12 + m21], dim=-1),
            torch.stack([m10 - m01, m20 + m02, m21 + m12, q_abs[..., 3] ** 2], dim=-1),
        ],
        dim=-2,
    )
    # The floor only guards rows we are about to discard; the kept row has |q_i| >= 0.5.
    candidates = quat_by_wxyz / (2.0 * q_abs.clamp(min=0.1)).unsqueeze(-1)
    best = q_abs.argmax(dim=-1, keepdim=True).unsqueeze(-1).expand(*q_abs.shape[:-1], 1, 4)
    quaternion = torch.gather(candidates, -2, best).squeeze(-2)
    return standardize_quaternion(quaternion)


def axis_angle_to_quaternion(axis_angle: torch.Tensor) -> torch.Tensor:
    """Axis-angle -> unit (w, x, y, z); finite with finite gradient at zero rotation."""
    half_angle = 0.5 * torch.linalg.vector_norm(axis_angle, dim=-1, keepdim=True)
    return torch.cat([torch.cos(half_angle), axis_angle * _sin_half_over_angle(half_angle)], dim=-1)


def quaternion_to_axis_angle(quaternion: torch.Tensor) -> torch.Tensor:
    """(w, x, y, z) -> axis-angle with angle in [0, pi]; q and -q give the same answer.

    ``atan2`` rather than ``acos(w)`` keeps precision near 0 and pi and tolerates
    non-unit input.
    """
    quaternion = standardize_quaternion(quaternion)
    vector = quaternion[..., 1:]
    half_angle = torch.atan2(
        torch.linalg.vector_norm(vector, dim=-1, keepdim=True), quaternion[..., :1]
    )
    return vector / _sin_half_over_angle(half_angle)


def matrix_to_axis_angle(matrix: torch.Tensor) -> torch.Tensor:
    """Matrix -> axis-angle, angle in [0, pi]; via quaternions so it stays exact near 0 and pi."""
    return quaternion_to_axis_angle(matrix_to_quaternion(matrix))


def quaternion_wxyz_to_xyzw(quaternion: ArrayT) -> ArrayT:
    """Scalar-first (ours) -> scalar-last (scipy, ROS geometry_msgs). Works on numpy too."""
    return quaternion[..., [1, 2, 3, 0]]


def quaternion_xyzw_to_wxyz(quaternion: ArrayT) -> ArrayT:
    """Scalar-last (scipy, ROS geometry_msgs) -> scalar-first (ours). Works on numpy too."""
    return quaternion[..., [3, 0, 1, 2]]


def rotation_6d_to_matrix(rotation_6d: torch.Tensor) -> torch.Tensor:
    """SPIN / HMR 6D -> matrix: Gram-Schmidt on the two columns, then their cross product.

    Any input (not only exact rotations) maps to a proper rotation, which is why networks
    regress this instead of matrices or axis-angle.
    """
    columns = rotation_6d.unflatten(-1, (3, 2))
    a1, a2 = columns[..., 0], columns[..., 1]
    b1 = normalize(a1, dim=-1)
    b2 = normalize(a2 - (b1 * a2).sum(-1, keepdim=True) * b1, dim=-1)
    b3 = _cross(b1, b2)
    return torch.stack([b1, b2, b3], dim=-1)


def matrix_to_rotation_6d(matrix: torch.Tensor) -> torch.Tensor:
    """Matrix -> SPIN / HMR 6D: the first two columns, flattened row-major from (3, 2)."""
    return matrix[..., :, :2].flatten(-2)


def rotation_about_axis(angle: torch.Tensor, axis: Axis) -> torch.Tensor:
    """Right-handed rotation by ``angle`` (radians, any shape) about a coordinate axis.

    Used for augmentation, e.g. a random yaw of the SMPL body is a rotation about ``"y"``.
    """
    if axis not in _AXES:
        raise ValueError(f"axis must be one of {_AXES}, got {axis!r}")
    cos, sin = torch.cos(angle), torch.sin(angle)
    one, zero = torch.ones_like(angle), torch.zeros_like(angle)
    if axis == "x":
        entries = [one, zero, zero, zero, cos, -sin, zero, sin, cos]
    elif axis == "y":
        entries = [cos, zero, sin, zero, one, zero, -sin, zero, cos]
    else:
        entries = [cos, -sin, zero, sin, cos, zero, zero, zero, one]
    return _stack_matrix(entries)
