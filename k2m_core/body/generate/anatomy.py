"""Proportions of the generated body: rest joints close to SMPL's neutral template, and the
primitive solids whose smooth union is its skin.

Coordinates are SMPL's: metres, y up, the body faces +z, its left side is +x, T-pose.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Rest joints, rounded from the SMPL neutral template so that bodies generated here move like
# SMPL bodies (same bone lengths to about a centimetre), mirrored to be exactly symmetric.
_HALF_JOINTS: dict[str, tuple[float, float, float]] = {
    "pelvis": (0.0, -0.223, 0.028),
    "hip": (0.069, -0.314, 0.024),
    "spine1": (0.0, -0.114, 0.002),
    "knee": (0.102, -0.689, 0.017),
    "spine2": (0.0, 0.020, 0.003),
    "ankle": (0.088, -1.090, -0.027),
    "spine3": (0.0, 0.076, 0.029),
    "foot": (0.119, -1.148, 0.095),
    "neck": (0.0, 0.290, -0.013),
    "collar": (0.078, 0.193, -0.003),
    "head": (0.0, 0.365, 0.051),
    "shoulder": (0.173, 0.228, -0.017),
    "elbow": (0.433, 0.218, -0.043),
    "wrist": (0.692, 0.223, -0.036),
    "hand": (0.774, 0.217, -0.054),
}


def rest_joints() -> np.ndarray:
    """(24, 3) rest joint positions in SMPL's joint order (left = +x)."""
    order = (
        "pelvis", "L hip", "R hip", "spine1", "L knee", "R knee", "spine2", "L ankle",
        "R ankle", "spine3", "L foot", "R foot", "neck", "L collar", "R collar", "head",
        "L shoulder", "R shoulder", "L elbow", "R elbow", "L wrist", "R wrist", "L hand",
        "R hand",
    )  # fmt: skip
    joints = []
    for name in order:
        side, _, base = name.rpartition(" ")
        x, y, z = _HALF_JOINTS[base]
        joints.append((-x if side == "R" else x, y, z))
    return np.asarray(joints, dtype=np.float64)


@dataclass(frozen=True)
class Primitive:
    """A rounded cone from `a` (radius r_a) to `b` (radius r_b), squashed along one axis.

    `owner` is the SMPL joint whose rotation moves this piece of skin; `blend` is how far (m)
    it melts into its neighbours; `squash` scales the solid along `squash_axis` (0, 1, 2)
    about the segment, giving the flat cross-sections of a torso, hand or foot.
    """

    name: str
    owner: int
    a: tuple[float, float, float]
    b: tuple[float, float, float]
    r_a: float
    r_b: float
    blend: float = 0.03
    squash: float = 1.0
    squash_axis: int = 2


def _mirror(p: Primitive, owner: int) -> Primitive:
    def flip(v: tuple[float, float, float]) -> tuple[float, float, float]:
        return (-v[0], v[1], v[2])

    return Primitive(
        p.name.replace("left", "right"),
        owner,
        flip(p.a),
        flip(p.b),
        p.r_a,
        p.r_b,
        p.blend,
        p.squash,
        p.squash_axis,
    )


# Left-side pieces with the owner index of the left joint; mirrored to the right below.
_LEFT_PIECES: tuple[tuple[Primitive, int], ...] = (
    (
        Primitive(
            "left_thigh", 1, (0.085, -0.29, 0.025), (0.103, -0.68, 0.015), 0.088, 0.056, 0.03
        ),
        2,
    ),
    (
        Primitive(
            "left_shin", 4, (0.103, -0.69, 0.012), (0.088, -1.075, -0.03), 0.052, 0.036, 0.025
        ),
        5,
    ),
    (
        Primitive("left_calf", 4, (0.104, -0.74, -0.02), (0.094, -0.90, -0.025), 0.05, 0.042, 0.03),
        5,
    ),
    (
        Primitive(
            "left_heel",
            7,
            (0.088, -1.12, -0.045),
            (0.112, -1.15, 0.075),
            0.04,
            0.037,
            0.03,
            0.65,
            1,
        ),
        8,
    ),
    (
        Primitive(
            "left_toes",
            10,
            (0.114, -1.155, 0.08),
            (0.122, -1.158, 0.165),
            0.037,
            0.027,
            0.02,
            0.55,
            1,
        ),
        11,
    ),
    (
        Primitive(
            "left_collar", 13, (0.03, 0.235, -0.02), (0.165, 0.226, -0.022), 0.07, 0.058, 0.035
        ),
        14,
    ),
    (
        Primitive(
            "left_upper_arm", 16, (0.17, 0.226, -0.02), (0.433, 0.214, -0.043), 0.056, 0.042, 0.025
        ),
        17,
    ),
    (
        Primitive(
            "left_forearm", 18, (0.433, 0.216, -0.043), (0.69, 0.221, -0.036), 0.043, 0.029, 0.02
        ),
        19,
    ),
    (
        Primitive(
            "left_palm",
            20,
            (0.69, 0.221, -0.036),
            (0.78, 0.215, -0.048),
            0.03,
            0.036,
            0.012,
            0.5,
            1,
        ),
        21,
    ),
    (
        Primitive(
            "left_thumb", 20, (0.715, 0.212, -0.005), (0.77, 0.205, 0.028), 0.013, 0.01, 0.008
        ),
        21,
    ),
    (
        Primitive(
            "left_fingers",
            22,
            (0.78, 0.215, -0.05),
            (0.87, 0.209, -0.052),
            0.034,
            0.027,
            0.012,
            0.42,
            1,
        ),
        23,
    ),
    (
        Primitive(
            "left_ear", 15, (0.077, 0.425, 0.01), (0.079, 0.46, 0.005), 0.017, 0.016, 0.01, 0.45, 0
        ),
        15,
    ),
    (Primitive("left_breast", 9, (0.075, 0.12, 0.05), (0.075, 0.10, 0.07), 0.055, 0.045, 0.05), 9),
    (
        Primitive(
            "left_buttock", 0, (0.07, -0.22, -0.04), (0.07, -0.30, -0.045), 0.075, 0.07, 0.05
        ),
        0,
    ),
)

_CENTRE_PIECES: tuple[Primitive, ...] = (
    Primitive("hips", 0, (0.0, -0.29, 0.02), (0.0, -0.13, 0.015), 0.165, 0.145, 0.05, 0.68),
    Primitive("abdomen", 3, (0.0, -0.13, 0.015), (0.0, 0.02, 0.01), 0.145, 0.138, 0.05, 0.66),
    Primitive("chest", 6, (0.0, 0.02, 0.005), (0.0, 0.15, 0.0), 0.142, 0.16, 0.05, 0.64),
    Primitive("upper_chest", 9, (0.0, 0.15, 0.0), (0.0, 0.23, -0.02), 0.16, 0.11, 0.05, 0.62),
    Primitive("neck", 12, (0.0, 0.24, -0.02), (0.0, 0.38, 0.01), 0.058, 0.05, 0.03),
    Primitive("skull", 15, (0.0, 0.44, 0.02), (0.0, 0.47, 0.025), 0.092, 0.09, 0.03, 0.9, 0),
    Primitive("jaw", 15, (0.0, 0.40, 0.045), (0.0, 0.375, 0.075), 0.058, 0.04, 0.03, 0.95, 0),
    Primitive("nose", 15, (0.0, 0.447, 0.108), (0.0, 0.425, 0.128), 0.013, 0.011, 0.01),
)


def body_primitives() -> tuple[Primitive, ...]:
    """Every solid of the generated body, left pieces followed by their mirrors."""
    pieces = list(_CENTRE_PIECES)
    for left, right_owner in _LEFT_PIECES:
        pieces.append(left)
        pieces.append(_mirror(left, right_owner))
    return tuple(pieces)


# Where the landmark vertices sit (left side; mirrored for the right), used to pick vertex ids.
LANDMARK_TARGETS: dict[str, tuple[float, float, float]] = {
    "nose": (0.0, 0.432, 0.15),
    "leye": (0.032, 0.465, 0.12),
    "lear": (0.092, 0.443, 0.008),
    "LBigToe": (0.095, -1.16, 0.2),
    "LSmallToe": (0.15, -1.165, 0.17),
    "LHeel": (0.088, -1.19, -0.1),
    "lthumb": (0.78, 0.205, 0.05),
    "lindex": (0.92, 0.21, -0.03),
    "lmiddle": (0.92, 0.21, -0.046),
    "lring": (0.92, 0.21, -0.06),
    "lpinky": (0.92, 0.21, -0.075),
}


def h36m_joint_targets() -> np.ndarray:
    """(17, 3) where this body's Human3.6M-style joints sit, in H36M order.

    They differ from SMPL's joints as the real H36M regressor's do (hips lower and wider,
    thorax below the neck joint, a head-top point), so evaluation exercises a second regressor.
    """
    j = rest_joints()
    pelvis_hips = [j[2] + (-0.012, -0.025, 0.0), j[1] + (0.012, -0.025, 0.0)]
    right_leg = [pelvis_hips[0], j[5], j[8]]
    left_leg = [pelvis_hips[1], j[4], j[7]]
    centre = [(0.0, -0.02, 0.0), (0.0, 0.235, -0.015), (0.0, 0.375, 0.065), (0.0, 0.53, 0.02)]
    left_arm = [j[16] + (0.0, 0.005, 0.0), j[18], j[20]]
    right_arm = [j[17] + (0.0, 0.005, 0.0), j[19], j[21]]
    pelvis = np.mean(pelvis_hips, axis=0)
    return np.array([pelvis, *right_leg, *left_leg, *centre, *left_arm, *right_arm], float)
