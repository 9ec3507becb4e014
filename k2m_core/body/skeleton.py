"""SMPL's 24-joint kinematic tree: the contract every SMPL-format body (real or generated) keeps."""

from __future__ import annotations

SMPL_JOINT_NAMES: tuple[str, ...] = (
    "pelvis",
    "left_hip",
    "right_hip",
    "spine1",
    "left_knee",
    "right_knee",
    "spine2",
    "left_ankle",
    "right_ankle",
    "spine3",
    "left_foot",
    "right_foot",
    "neck",
    "left_collar",
    "right_collar",
    "head",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
    "left_hand",
    "right_hand",
)

# Parent of each joint; -1 for the root. Kept as a plain tuple so forward passes unroll at
# trace time instead of indexing with a tensor (which the ONNX exporter cannot handle).
SMPL_PARENTS: tuple[int, ...] = (
    -1,
    0,
    0,
    0,
    1,
    2,
    3,
    4,
    5,
    6,
    7,
    8,
    9,
    9,
    9,
    12,
    13,
    14,
    16,
    17,
    18,
    19,
    20,
    21,
)

NUM_SMPL_JOINTS = 24
NUM_BODY_POSE_JOINTS = 23  # every joint but the root
NUM_POSE_CORRECTIVES = 9 * NUM_BODY_POSE_JOINTS  # 207

# Extra keypoints taken from mesh vertices, in the order smplx's VertexJointSelector appends
# them after the 24 joints (SMPL output joint 24 is the nose, 25 the right eye, ...).
VERTEX_KEYPOINT_NAMES: tuple[str, ...] = (
    "nose",
    "reye",
    "leye",
    "rear",
    "lear",
    "LBigToe",
    "LSmallToe",
    "LHeel",
    "RBigToe",
    "RSmallToe",
    "RHeel",
    "lthumb",
    "lindex",
    "lmiddle",
    "lring",
    "lpinky",
    "rthumb",
    "rindex",
    "rmiddle",
    "rring",
    "rpinky",
)

NUM_OUTPUT_JOINTS = NUM_SMPL_JOINTS + len(VERTEX_KEYPOINT_NAMES)  # 45, as smplx.SMPL returns

# Vertex ids of those keypoints on the real SMPL topology (smplx.vertex_ids.vertex_ids['smplh']).
SMPL_VERTEX_IDS: dict[str, int] = {
    "nose": 332,
    "reye": 6260,
    "leye": 2800,
    "rear": 4071,
    "lear": 583,
    "LBigToe": 3216,
    "LSmallToe": 3226,
    "LHeel": 3387,
    "RBigToe": 6617,
    "RSmallToe": 6624,
    "RHeel": 6787,
    "lthumb": 2746,
    "lindex": 2319,
    "lmiddle": 2445,
    "lring": 2556,
    "lpinky": 2673,
    "rthumb": 6191,
    "rindex": 5782,
    "rmiddle": 5905,
    "rring": 6016,
    "rpinky": 6133,
}


def parents_from_kintree(kintree_table) -> tuple[int, ...]:
    """Parents from an SMPL file's kintree_table, whose root entry is a huge unsigned value."""
    parents = [int(p) for p in kintree_table[0]]
    parents[0] = -1
    return tuple(parents)
