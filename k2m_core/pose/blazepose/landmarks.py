"""BlazePose landmark stage without the model: ROI crops in, landmarks in image pixels out.

Mirrors MediaPipe's pose_landmark_by_roi graph: ImageToTensor (rotated crop, replicate
border, [0, 1]), TensorsToLandmarks, RefineLandmarksFromHeatmap, LandmarkProjection and
WorldLandmarkProjection. Letterbox removal is skipped: ROIs are square, so it is the identity.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from k2m_core.pose.blazepose.roi import (
    Roi,
    apply_affine,
    crop_to_image_matrix,
    image_to_crop_matrix,
)
from k2m_core.pose.boxes import sigmoid

LANDMARK_SIZE = 256
NUM_MODEL_LANDMARKS = 39  # 33 pose + 2 auxiliary (ROI tracking) + 4 unused
NUM_POSE_LANDMARKS = 33
AUX_CENTRE, AUX_SCALE = 33, 34
HEATMAP_KERNEL = 7
HEATMAP_MIN_CONFIDENCE = 0.5


def crop_rois(image: np.ndarray, rois: Sequence[Roi], size: int = LANDMARK_SIZE) -> np.ndarray:
    """(B, size, size, 3) float32 in [0, 1]: each ROI warped upright, border replicated."""
    crops = np.empty((len(rois), size, size, 3), dtype=np.uint8)
    for i, roi in enumerate(rois):
        cv2.warpAffine(
            image,
            image_to_crop_matrix(roi, size),
            (size, size),
            dst=crops[i],
            flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_REPLICATE,
        )
    return crops.astype(np.float32) * np.float32(1.0 / 255.0)


def decode_landmarks(raw: np.ndarray, size: int = LANDMARK_SIZE) -> np.ndarray:
    """(B, 195) raw -> (B, 39, 5) [x, y, z, visibility, presence]: x, y, z in crop units
    ([0, 1] across the crop), visibility and presence as probabilities."""
    values = raw.reshape(raw.shape[0], NUM_MODEL_LANDMARKS, 5).astype(np.float32)
    out = np.empty_like(values)
    out[..., :3] = values[..., :3] / np.float32(size)
    out[..., 3:] = sigmoid(values[..., 3:])
    return out


def refine_with_heatmap(
    xy: np.ndarray,
    heatmap: np.ndarray,
    kernel: int = HEATMAP_KERNEL,
    min_confidence: float = HEATMAP_MIN_CONFIDENCE,
) -> np.ndarray:
    """(B, L, 2) crop-unit points -> refined copy: the sigmoid-weighted mean cell of a
    kernel x kernel window of the (B, H, W, C >= L) heatmap logits around each point, where
    the window's peak confidence reaches min_confidence (zero border; points off the heatmap
    stay). Like MediaPipe: truncating cell index, no half-cell offset."""
    batch, count = xy.shape[:2]
    height, width = heatmap.shape[1:3]
    cols = np.trunc(xy[..., 0] * width).astype(np.int64)
    rows = np.trunc(xy[..., 1] * height).astype(np.int64)
    inside = (cols >= 0) & (cols < width) & (rows >= 0) & (rows < height)
    steps = np.arange(kernel) - (kernel - 1) // 2
    win_rows = rows[..., :, None, None] + steps[:, None]  # (B, L, k, 1)
    win_cols = cols[..., :, None, None] + steps[None, :]  # (B, L, 1, k)
    valid = (win_rows >= 0) & (win_rows < height) & (win_cols >= 0) & (win_cols < width)
    b = np.arange(batch)[:, None, None, None]
    c = np.arange(count)[None, :, None, None]
    logits = heatmap[b, np.clip(win_rows, 0, height - 1), np.clip(win_cols, 0, width - 1), c]
    confidence = np.where(valid, sigmoid(logits.astype(np.float32)), 0.0)  # (B, L, k, k)
    total = confidence.sum(axis=(2, 3))
    peak = confidence.max(axis=(2, 3))
    safe = np.where(total > 0.0, total, 1.0)
    mean_col = (confidence * win_cols).sum(axis=(2, 3)) / safe / width
    mean_row = (confidence * win_rows).sum(axis=(2, 3)) / safe / height
    refine = inside & (peak >= min_confidence) & (total > 0.0)
    out = xy.copy()
    out[..., 0] = np.where(refine, mean_col, xy[..., 0])
    out[..., 1] = np.where(refine, mean_row, xy[..., 1])
    return out


def project_to_image(xy: np.ndarray, roi: Roi) -> np.ndarray:
    """(L, 2) crop-unit points -> image pixels: rotate back by the ROI angle, scale by its
    size, add its centre."""
    return apply_affine(crop_to_image_matrix(roi, 1), xy).astype(np.float32)


def rotate_world(world: np.ndarray, roi: Roi) -> np.ndarray:
    """(L, 3) metric landmarks of the upright crop -> turned by the ROI rotation about the
    hip centre (z untouched), as MediaPipe's WorldLandmarkProjection does."""
    cos, sin = np.cos(roi.rotation), np.sin(roi.rotation)
    out = world.astype(np.float32).copy()
    out[:, 0] = cos * world[:, 0] - sin * world[:, 1]
    out[:, 1] = sin * world[:, 0] + cos * world[:, 1]
    return out
