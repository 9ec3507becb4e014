"""Assemble the generated SMPL-format body from its parts (anatomy -> skin -> rig -> shape)."""

from __future__ import annotations

import numpy as np

from k2m_core.body.generate.anatomy import body_primitives, h36m_joint_targets, rest_joints
from k2m_core.body.generate.landmarks import landmark_vertex_ids
from k2m_core.body.generate.shape_space import SHAPE_DIRECTION_NAMES, shape_directions
from k2m_core.body.generate.skinning import joint_regressor, smooth_skinning_weights
from k2m_core.body.generate.surface import mesh_primitives, nearest_primitive
from k2m_core.body.model_file import SmplData
from k2m_core.body.skeleton import NUM_POSE_CORRECTIVES, SMPL_PARENTS

GENERATED_BODY_SOURCE = "k2m generated body v1"


def kintree_table() -> np.ndarray:
    """SMPL's (2, 24) kintree_table, root parent stored as 2^32 - 1 like the official files."""
    parents = np.array(SMPL_PARENTS, dtype=np.int64)
    parents[0] = 4294967295
    return np.stack([parents, np.arange(len(SMPL_PARENTS), dtype=np.int64)])


def generate_body(grid_spacing: float = 0.006) -> SmplData:
    """A deterministic SMPL-format body: same joints, file layout and vertex count as SMPL.

    Pose correctives are zero: blend skinning alone, which is what smplx computes for them.
    """
    primitives = body_primitives()
    vertices, faces = mesh_primitives(primitives, spacing=grid_spacing)
    owners = np.array([p.owner for p in primitives])[nearest_primitive(vertices, primitives)]
    weights = smooth_skinning_weights(owners, faces)
    joints = rest_joints()
    return SmplData(
        v_template=vertices.astype(np.float32),
        faces=faces.astype(np.int64),
        j_regressor=joint_regressor(vertices, joints).astype(np.float32),
        weights=weights.astype(np.float32),
        shapedirs=shape_directions(vertices, joints, weights).astype(np.float32),
        posedirs=np.zeros((len(vertices), 3, NUM_POSE_CORRECTIVES), np.float32),
        kintree_table=kintree_table(),
        vertex_ids=landmark_vertex_ids(vertices),
        j_regressor_h36m=joint_regressor(vertices, h36m_joint_targets()).astype(np.float32),
        source=GENERATED_BODY_SOURCE,
        shape_direction_names=SHAPE_DIRECTION_NAMES,
    )
