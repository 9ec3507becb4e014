"""Shape directions of the generated body: ten named, anatomically meaningful displacement
fields (metres per unit beta, about one standard deviation of adults), ordered like SMPL's
PCA from the largest variation down. Each field is smooth over the skin: part-relative
displacements are blended with the skinning weights, and positional ramps are smoothsteps.
"""

from __future__ import annotations

import numpy as np

from k2m_core.body.skeleton import SMPL_PARENTS

SHAPE_DIRECTION_NAMES: tuple[str, ...] = (
    "height",
    "weight",
    "leg_length",
    "shoulder_width",
    "hip_width",
    "arm_length",
    "torso_length",
    "belly",
    "chest",
    "head_size",
)

# Girth change per unit "weight" beta, as a fraction of the distance from each joint's bone.
_GIRTH: dict[int, float] = {
    0: 0.12, 3: 0.14, 6: 0.12, 9: 0.1,  # pelvis and spine
    1: 0.1, 2: 0.1, 4: 0.07, 5: 0.07,  # thighs and shins
    13: 0.06, 14: 0.06, 16: 0.09, 17: 0.09, 18: 0.07, 19: 0.07,  # collars and arms
    12: 0.06,  # neck
}  # fmt: skip


def smoothstep(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """0 below lo, 1 above hi, C1-smooth in between (so the skin does not crease)."""
    t = np.clip((x - lo) / (hi - lo), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def _bone_segments(joints: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(J, 3) start and end of the bone each joint moves: towards its first child."""
    ends = joints.copy()
    for child in range(len(joints) - 1, 0, -1):
        ends[SMPL_PARENTS[child]] = joints[child]
    ends[15] = joints[15] + (0.0, 0.12, 0.0)  # head: up to the crown
    leaves = {10: (0.0, 0.0, 0.08), 11: (0.0, 0.0, 0.08)}
    for j, offset in leaves.items():
        ends[j] = joints[j] + np.asarray(offset)
    for j in (22, 23):
        ends[j] = joints[j] + (joints[j] - joints[SMPL_PARENTS[j]])
    return joints, ends


def _radial_offsets(vertices: np.ndarray, joints: np.ndarray) -> np.ndarray:
    """(V, J, 3) vector from each joint's bone axis to each vertex."""
    starts, ends = _bone_segments(joints)
    axis = ends - starts
    t = np.einsum("vjk,jk->vj", vertices[:, None, :] - starts[None], axis)
    t = np.clip(t / np.maximum((axis * axis).sum(axis=1), 1e-12), 0.0, 1.0)
    closest = starts[None] + t[..., None] * axis[None]
    return vertices[:, None, :] - closest


def shape_directions(vertices: np.ndarray, joints: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """(V, 3, 10) displacement fields in the order of SHAPE_DIRECTION_NAMES."""
    x, y, z = vertices.T
    side = np.sign(x)
    zeros = np.zeros_like(x)
    radial = _radial_offsets(vertices, joints)
    girth = np.zeros(weights.shape[1])
    for joint, amount in _GIRTH.items():
        girth[joint] = amount
    head_centre = np.array([0.0, 0.44, 0.03])

    def along_x(amount: np.ndarray) -> np.ndarray:
        return np.stack([side * amount, zeros, zeros], axis=1)

    def along(axis: int, amount: np.ndarray) -> np.ndarray:
        out = np.zeros_like(vertices)
        out[:, axis] = amount
        return out

    belly = np.exp(-(((y + 0.06) / 0.11) ** 2) - (x / 0.12) ** 2) * smoothstep(z, 0.0, 0.1)
    chest = np.exp(-(((y - 0.11) / 0.07) ** 2) - ((np.abs(x) - 0.075) / 0.07) ** 2)
    chest = chest * smoothstep(z, 0.02, 0.1)
    arm_zone = smoothstep(y, 0.0, 0.1)
    fields = [
        0.04 * (vertices - joints[0]),
        np.einsum("vj,j,vjk->vk", weights, girth, radial),
        along(1, -0.05 * smoothstep(-y, 0.30, 1.09)),
        along_x(0.022 * smoothstep(np.abs(x), 0.04, 0.18) * smoothstep(y, 0.05, 0.17)),
        along_x(0.018 * smoothstep(np.abs(x), 0.0, 0.12) * (1.0 - smoothstep(y, -0.15, 0.0))),
        along_x(0.035 * smoothstep(np.abs(x), 0.17, 0.69) * arm_zone),
        along(1, 0.035 * smoothstep(y, -0.15, 0.15)),
        along(2, 0.035 * belly),
        along(2, 0.02 * chest),
        0.05 * weights[:, 15:16] * (vertices - head_centre),
    ]
    return np.stack(fields, axis=2)
