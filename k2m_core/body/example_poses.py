"""A few hand-made, named body poses for pictures and smoke tests (not training data).

Each pose is a list of (joint name, axis, degrees) turns, applied in order, in the joint's
parent frame at T-pose. SMPL's conventions: +x rotation bends a knee, -x flexes a hip forward,
-z lowers the left arm (+z the right one).
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

from k2m_core.body.skeleton import NUM_BODY_POSE_JOINTS, SMPL_JOINT_NAMES

Turn = tuple[str, str, float]

EXAMPLE_POSES: dict[str, tuple[Turn, ...]] = {
    "rest": (),
    "a_pose": (("left_shoulder", "z", -55), ("right_shoulder", "z", 55)),
    "walk": (
        ("left_hip", "x", -28), ("left_knee", "x", 12), ("right_hip", "x", 18),
        ("right_knee", "x", 35), ("right_ankle", "x", 10),
        ("left_shoulder", "z", -72), ("left_shoulder", "y", 22), ("left_elbow", "y", -25),
        ("right_shoulder", "z", 72), ("right_shoulder", "y", 20), ("right_elbow", "y", 20),
        ("spine1", "y", -5), ("head", "x", 5),
    ),
    "arms_up": (
        ("left_shoulder", "z", 55), ("right_shoulder", "z", -55), ("left_elbow", "z", 20),
        ("right_elbow", "z", -20), ("left_hip", "z", 10), ("right_hip", "z", -10),
        ("spine2", "x", -8), ("neck", "x", -10),
    ),
    "sit": (
        ("left_hip", "x", -85), ("right_hip", "x", -85), ("left_knee", "x", 90),
        ("right_knee", "x", 90), ("left_hip", "z", 8), ("right_hip", "z", -8),
        ("left_shoulder", "z", -65), ("right_shoulder", "z", 65), ("left_elbow", "y", -70),
        ("right_elbow", "y", 70), ("spine1", "x", 10),
    ),
    "reach": (
        ("spine1", "x", 15), ("spine2", "x", 10), ("left_shoulder", "y", -70),
        ("left_shoulder", "z", -10), ("right_shoulder", "z", 70), ("right_elbow", "y", 30),
        ("right_knee", "x", 30), ("right_hip", "x", -15), ("left_hip", "x", 10),
        ("head", "x", 15),
    ),
    "wave": (
        ("right_shoulder", "z", -20), ("right_elbow", "z", -95), ("right_wrist", "z", -15),
        ("left_shoulder", "z", -75), ("left_elbow", "y", -15), ("head", "y", -15),
        ("left_hip", "y", 10), ("left_knee", "x", 5),
    ),
}  # fmt: skip


def example_body_pose(name: str) -> np.ndarray:
    """(23, 3) axis-angle body pose (root excluded) for one of EXAMPLE_POSES."""
    if name not in EXAMPLE_POSES:
        raise KeyError(f"unknown example pose {name!r}; known: {', '.join(EXAMPLE_POSES)}")
    rotations = [Rotation.identity() for _ in SMPL_JOINT_NAMES]
    for joint, axis, degrees in EXAMPLE_POSES[name]:
        j = SMPL_JOINT_NAMES.index(joint)
        rotations[j] = Rotation.from_euler(axis, degrees, degrees=True) * rotations[j]
    return np.stack([r.as_rotvec() for r in rotations[1 : NUM_BODY_POSE_JOINTS + 1]])
