"""Landmark vertices of the generated body (nose, eyes, ears, toes, heels, fingertips): the
generated topology's counterparts of smplx's 'smplh' vertex ids."""

from __future__ import annotations

import numpy as np

from k2m_core.body.generate.anatomy import LANDMARK_TARGETS
from k2m_core.body.skeleton import VERTEX_KEYPOINT_NAMES

_RIGHT_OF = {
    "leye": "reye", "lear": "rear", "LBigToe": "RBigToe", "LSmallToe": "RSmallToe",
    "LHeel": "RHeel", "lthumb": "rthumb", "lindex": "rindex", "lmiddle": "rmiddle",
    "lring": "rring", "lpinky": "rpinky",
}  # fmt: skip


def _nearest(vertices: np.ndarray, point: np.ndarray) -> int:
    return int(np.argmin(np.linalg.norm(vertices - point, axis=1)))


def landmark_vertex_ids(vertices: np.ndarray) -> dict[str, int]:
    """The skin vertex nearest each landmark's target point.

    Targets sit just outside the skin, so the nearest vertex is the surface point under them
    (tip of the nose, front of the big toe, back of the heel, ...). The decimated mesh is not
    vertex-symmetric, so each right landmark is the vertex nearest the mirror image of the
    left one: left and right keypoints then agree to within the mesh's resolution.
    """
    ids = {name: _nearest(vertices, np.asarray(xyz)) for name, xyz in LANDMARK_TARGETS.items()}
    for left, right in _RIGHT_OF.items():
        ids[right] = _nearest(vertices, vertices[ids[left]] * np.array([-1.0, 1.0, 1.0]))
    return {name: ids[name] for name in VERTEX_KEYPOINT_NAMES}
