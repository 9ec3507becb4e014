"""Bodies: what the engine returns for N people, as plain numpy arrays (no torch), so the
ROS side and anything downstream can hold and pass them without the inference stack."""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np


@dataclass(frozen=True)
class Bodies:
    """N people, in the camera's optical frame (x right, y down, z forward; metres).

    ``smpl(betas, global_orient, body_pose, transl=translation)`` reproduces ``joints`` and
    ``vertices`` exactly: ``translation`` is SMPL's ``transl`` parameter, not the pelvis.
    """

    betas: np.ndarray  # (N, 10)
    global_orient: np.ndarray  # (N, 3) axis-angle, camera frame
    global_orient_matrix: np.ndarray  # (N, 3, 3)
    body_pose: np.ndarray  # (N, 23, 3) axis-angle, relative to each joint's parent
    body_pose_matrices: np.ndarray  # (N, 23, 3, 3)
    translation: np.ndarray  # (N, 3) SMPL transl in the camera frame
    joints: np.ndarray  # (N, 24, 3) SMPL joints, camera frame
    keypoints_3d: np.ndarray  # (N, K, 3) the input format's keypoints, camera frame
    vertices: np.ndarray | None  # (N, V, 3) camera frame; None in joints-only mode
    confidence: np.ndarray  # (N,) in [0, 1]: keypoint support x agreement with the detections
    reprojection_px: np.ndarray  # (N,) mean confidence-weighted pixel error of the fit
    placed: np.ndarray  # (N,) bool: the camera fit had enough keypoints to place the body
    # (N, 24) bool per SMPL joint: shown by a detected keypoint (else the network guessed it);
    # None where nobody says (ground truth, hand-made bodies)
    observed: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.betas)

    @property
    def rot_mats(self) -> np.ndarray:
        """(N, 24, 3, 3) SMPL's rotations in one array: the root (camera frame), then the body."""
        return np.concatenate([self.global_orient_matrix[:, None], self.body_pose_matrices], 1)

    def select(self, index: np.ndarray | slice) -> Bodies:
        return Bodies(**{f.name: _take(getattr(self, f.name), index) for f in fields(self)})


def _take(value: np.ndarray | None, index: np.ndarray | slice) -> np.ndarray | None:
    return None if value is None else value[index]
