"""Rotation matrices -> axis-angle without torch, compiled (k2m_core.jit): the engine turns
24 rotations per person into SMPL's axis-angle parameters every frame.

The same method as k2m_core.geometry.rotations.matrix_to_axis_angle (pytorch3d's): the
quaternion from the largest of its four diagonal-based candidates (stable near 180 degrees),
w >= 0, then atan2 for the angle (exact near 0 and 180 degrees); angle in [0, pi].
"""

from __future__ import annotations

import math

import numpy as np

from k2m_core.jit import jit

_SMALL_HALF_ANGLE = 1e-3  # rotations.py's: below it sin(h)/(2h) is its Taylor series


@jit
def _to_axis_angle(m: np.ndarray, out: np.ndarray) -> None:
    m00, m01, m02 = m[0, 0], m[0, 1], m[0, 2]
    m10, m11, m12 = m[1, 0], m[1, 1], m[1, 2]
    m20, m21, m22 = m[2, 0], m[2, 1], m[2, 2]
    q_abs = np.empty(4)
    q_abs[0] = math.sqrt(max(1.0 + m00 + m11 + m22, 0.0))
    q_abs[1] = math.sqrt(max(1.0 + m00 - m11 - m22, 0.0))
    q_abs[2] = math.sqrt(max(1.0 - m00 + m11 - m22, 0.0))
    q_abs[3] = math.sqrt(max(1.0 - m00 - m11 + m22, 0.0))
    best = 0
    for i in range(1, 4):
        if q_abs[i] > q_abs[best]:
            best = i
    denominator = 2.0 * max(q_abs[best], 0.1)
    if best == 0:
        w, x, y, z = q_abs[0] ** 2, m21 - m12, m02 - m20, m10 - m01
    elif best == 1:
        w, x, y, z = m21 - m12, q_abs[1] ** 2, m10 + m01, m02 + m20
    elif best == 2:
        w, x, y, z = m02 - m20, m10 + m01, q_abs[2] ** 2, m12 + m21
    else:
        w, x, y, z = m10 - m01, m20 + m02, m21 + m12, q_abs[3] ** 2
    w, x, y, z = w / denominator, x / denominator, y / denominator, z / denominator
    if w < 0.0:
        w, x, y, z = -w, -x, -y, -z
    half = math.atan2(math.sqrt(x * x + y * y + z * z), w)
    if abs(half) < _SMALL_HALF_ANGLE:
        scale = 0.5 - half * half / 12.0
    else:
        scale = 0.5 * math.sin(half) / half
    out[0], out[1], out[2] = x / scale, y / scale, z / scale


@jit
def _all_to_axis_angle(matrices: np.ndarray, out: np.ndarray) -> None:
    for i in range(matrices.shape[0]):
        _to_axis_angle(matrices[i], out[i])


def matrix_to_axis_angle(matrices: np.ndarray) -> np.ndarray:
    """(..., 3, 3) rotation matrices -> (..., 3) axis-angle (float32 in, float32 out)."""
    array = np.asarray(matrices)
    flat = np.ascontiguousarray(array.reshape(-1, 3, 3), dtype=np.float64)
    out = np.empty((len(flat), 3))
    _all_to_axis_angle(flat, out)
    return out.reshape(*array.shape[:-2], 3).astype(array.dtype, copy=False)
