"""Regions of interest for the landmark model: a rotated square around the body, from two
alignment points (detector keypoints, or the landmark model's own auxiliary points when
tracking), and the affine maps between the image and the crop.

All in image pixels. MediaPipe's AlignmentPointsRects and RectTransformation calculators work
in normalised coordinates, but for a square-in-pixels ROI the result is the same.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

ROI_SCALE = 1.25  # margin the landmark model was trained with
TARGET_ANGLE = math.pi / 2.0  # the hip -> scale-point vector points up in an upright crop


@dataclass(frozen=True)
class Roi:
    """A square of side ``size`` pixels centred on (cx, cy), rotated clockwise on screen (y
    down) by ``rotation`` radians: the image is turned by -rotation to make the body upright."""

    cx: float
    cy: float
    size: float
    rotation: float


def held(previous: Roi, new: Roi, share: float, radians: float) -> Roi:
    """``previous`` while ``new`` lies within ``share`` of its size (centre and side) and
    ``radians`` of its turn, else ``new``: a still person's crop stops moving, so the
    landmark model, given the same pixels, gives the same landmarks."""
    tolerance = share * previous.size
    close = (
        math.hypot(new.cx - previous.cx, new.cy - previous.cy) <= tolerance
        and abs(new.size - previous.size) <= tolerance
        and abs(normalize_radians(new.rotation - previous.rotation)) <= radians
    )
    return previous if close else new


def normalize_radians(angle: float) -> float:
    """Angle in [-pi, pi)."""
    return angle - 2.0 * math.pi * math.floor((angle + math.pi) / (2.0 * math.pi))


def roi_from_alignment_points(
    centre: np.ndarray, scale_point: np.ndarray, scale: float = ROI_SCALE
) -> Roi:
    """The ROI MediaPipe derives from a body centre (mid-hip) and a scale point: side twice
    their distance times ``scale``, rotated so the centre -> scale-point vector points up."""
    x0, y0 = float(centre[0]), float(centre[1])
    x1, y1 = float(scale_point[0]), float(scale_point[1])
    side = 2.0 * math.hypot(x1 - x0, y1 - y0)
    rotation = normalize_radians(TARGET_ANGLE - math.atan2(-(y1 - y0), x1 - x0))
    return Roi(x0, y0, side * scale, rotation)


def image_to_crop_matrix(roi: Roi, crop_size: int) -> np.ndarray:
    """(2, 3) affine map image pixels -> crop pixels: the ROI's corners go to the crop's
    corners (the map MediaPipe builds from cv::boxPoints with getPerspectiveTransform)."""
    cos, sin = math.cos(roi.rotation), math.sin(roi.rotation)
    k = crop_size / roi.size
    linear = k * np.array([[cos, sin], [-sin, cos]])  # k * R^T
    offset = crop_size / 2.0 - linear @ np.array([roi.cx, roi.cy])
    return np.concatenate([linear, offset[:, None]], axis=1)


def crop_to_image_matrix(roi: Roi, crop_size: int) -> np.ndarray:
    """(2, 3) inverse of ``image_to_crop_matrix``: crop pixels -> image pixels."""
    cos, sin = math.cos(roi.rotation), math.sin(roi.rotation)
    k = roi.size / crop_size
    linear = k * np.array([[cos, -sin], [sin, cos]])  # k * R
    offset = np.array([roi.cx, roi.cy]) - linear @ np.full(2, crop_size / 2.0)
    return np.concatenate([linear, offset[:, None]], axis=1)


def apply_affine(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    """(..., 2) points through a (2, 3) affine matrix."""
    return points @ matrix[:, :2].T + matrix[:, 2]
