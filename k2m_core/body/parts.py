"""Body parts of the mesh: which SMPL joint moves each triangle (from the skinning weights),
so that parts no keypoint showed can be drawn apart from the seen ones."""

from __future__ import annotations

import numpy as np


def face_joints(faces: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """(F,) the SMPL joint that moves each triangle most (summed skinning weights of its
    corners; weights (V, 24), dense or scipy sparse)."""
    dense = weights.toarray() if hasattr(weights, "toarray") else np.asarray(weights)
    per_face = dense[np.asarray(faces, np.int64)].sum(axis=1)  # (F, J)
    return per_face.argmax(axis=1).astype(np.int64)


def face_alpha(observed: np.ndarray, joints: np.ndarray, seen: float, guessed: float) -> np.ndarray:
    """(N, F) opacity per person and face: ``seen`` where the face's joint was observed."""
    return np.where(np.asarray(observed, bool)[:, joints], seen, guessed).astype(np.float32)
