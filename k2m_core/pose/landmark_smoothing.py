"""MediaPipe's pose landmark filtering for video mode: a tracked person standing still should
have still landmarks, one moving should be followed without lag.

As MediaPipe 0.10's pose_landmark_filtering.pbtxt: a One Euro filter per coordinate with
min_cutoff 0.1 Hz, beta 40, derivative cutoff 1 Hz, the speed measured in person sizes per
second (the size: the mean side of the landmarks' box), and visibility low-passed with alpha
0.1. The auxiliary points that place the next frame's crop are smoothed much harder
(min_cutoff 0.01 Hz, beta 1), so the crop of a still person stops moving: the landmark model's
output follows its crop, and a wobbling crop makes wobbling landmarks.
"""

from __future__ import annotations

import numpy as np

from k2m_core.filters.one_euro import OneEuroFilter

MIN_CUTOFF_HZ, BETA = 0.1, 20.0  # landmarks (MediaPipe: 40; measured in bench/pose_recall.py)
AUX_MIN_CUTOFF_HZ, AUX_BETA = 0.01, 1.0  # crop-placing auxiliary points
DERIVATIVE_CUTOFF_HZ = 1.0
VISIBILITY_ALPHA = 0.1


def object_scale(points: np.ndarray) -> float:
    """The mean side of the points' box (pixels, at least 1): MediaPipe's object scale."""
    extent = np.ptp(np.asarray(points, np.float64).reshape(-1, 2), axis=0)
    return max(float(extent.mean()), 1.0)


class LandmarkSmoother:
    """One tracked person's landmarks over time (pixels, with a visibility column)."""

    def __init__(self) -> None:
        self._points = OneEuroFilter(MIN_CUTOFF_HZ, BETA, DERIVATIVE_CUTOFF_HZ)
        self._aux = OneEuroFilter(AUX_MIN_CUTOFF_HZ, AUX_BETA, DERIVATIVE_CUTOFF_HZ)
        self._visibility: np.ndarray | None = None

    def __call__(
        self, keypoints: np.ndarray, aux: np.ndarray, stamp_ns: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """(K, 3) [u, v, visibility] and (A, 2) auxiliary points -> both smoothed."""
        keypoints = np.asarray(keypoints, np.float64)
        speed_scale = 1.0 / object_scale(keypoints[:, :2])
        xy = self._points(keypoints[:, :2], stamp_ns, speed_scale)
        aux_xy = self._aux(np.asarray(aux, np.float64), stamp_ns, speed_scale)
        visibility = keypoints[:, 2]
        if self._visibility is not None and self._visibility.shape == visibility.shape:
            visibility = self._visibility + VISIBILITY_ALPHA * (visibility - self._visibility)
        self._visibility = visibility
        out = np.concatenate([xy, visibility[:, None]], axis=1)
        return out.astype(np.float32), aux_xy.astype(np.float32)
