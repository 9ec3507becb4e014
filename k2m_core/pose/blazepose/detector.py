"""BlazePose detector stage without the model: letterboxed input, box decoding, weighted NMS.

Everything mirrors MediaPipe's pose_detection graph (ImageToTensor, TensorsToDetections,
NonMaxSuppression with the WEIGHTED algorithm, DetectionLetterboxRemoval), so the detections
match what MediaPipe would pass on to the landmark stage.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from k2m_core.pose.boxes import box_iou, sigmoid, xywh_to_xyxy

DETECTOR_SIZE = 224
NUM_DETECTOR_KEYPOINTS = 4
SCORE_CLIP = 100.0


@dataclass(frozen=True)
class Detections:
    """N detections, best first: boxes (N, 4) [x_min, y_min, x_max, y_max], keypoints
    (N, 4, 2) [x, y] (0 mid-hip, 1 full-body scale point, 2 mid-shoulder, 3 upper-body scale
    point), scores (N,). Units depend on the stage: normalised tensor coordinates after
    decoding, image pixels after ``remove_letterbox``."""

    boxes: np.ndarray
    keypoints: np.ndarray
    scores: np.ndarray

    def __len__(self) -> int:
        return int(self.scores.shape[0])


def letterbox_matrix(width: int, height: int, size: int = DETECTOR_SIZE) -> np.ndarray:
    """(2, 3) affine map image pixels -> size x size tensor pixels: the image centred in a
    square of its long side, scaled to ``size``. Corners map to corners (MediaPipe's
    rect-to-rect warp), not pixel centres to pixel centres as cv2.resize would."""
    side = float(max(width, height))
    scale = size / side
    offset_x = (side - width) / 2.0 * scale
    offset_y = (side - height) / 2.0 * scale
    return np.array([[scale, 0.0, offset_x], [0.0, scale, offset_y]], dtype=np.float64)


def detector_input(image: np.ndarray, size: int = DETECTOR_SIZE) -> tuple[np.ndarray, np.ndarray]:
    """uint8 RGB image -> ((1, size, size, 3) float32 in [-1, 1] with a zero (black → -1)
    border, the (2, 3) letterbox matrix to undo it)."""
    height, width = image.shape[:2]
    matrix = letterbox_matrix(width, height, size)
    boxed = cv2.warpAffine(
        image, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT
    )
    tensor = boxed.astype(np.float32) * np.float32(2.0 / 255.0) - np.float32(1.0)
    return tensor[None], matrix


def decode_detections(
    raw_boxes: np.ndarray,
    raw_scores: np.ndarray,
    anchors: np.ndarray,
    threshold: float = 0.5,
    size: int = DETECTOR_SIZE,
) -> Detections:
    """One image's raw outputs (N, 12) and (N, 1) -> detections scoring >= threshold,
    in normalised tensor coordinates, best first.

    Centres and keypoints are raw / size * anchor size + anchor centre; box sizes raw / size
    * anchor size (MediaPipe's reverse_output_order: x before y).
    """
    if raw_boxes.shape != (anchors.shape[0], 4 + 2 * NUM_DETECTOR_KEYPOINTS):
        raise ValueError(
            f"detector boxes have shape {raw_boxes.shape}, expected ({anchors.shape[0]}, "
            f"{4 + 2 * NUM_DETECTOR_KEYPOINTS}); is this the BlazePose pose detector?"
        )
    logits = np.clip(raw_scores.reshape(-1).astype(np.float32), -SCORE_CLIP, SCORE_CLIP)
    scores = sigmoid(logits)
    keep = np.flatnonzero(scores >= threshold)
    keep = keep[np.argsort(-scores[keep], kind="stable")]
    raw = raw_boxes[keep].astype(np.float32) / np.float32(size)
    anchor = anchors[keep]
    centre = raw[:, 0:2] * anchor[:, 2:4] + anchor[:, 0:2]
    boxes = xywh_to_xyxy(np.concatenate([centre, raw[:, 2:4] * anchor[:, 2:4]], axis=1))
    points = raw[:, 4:].reshape(-1, NUM_DETECTOR_KEYPOINTS, 2)
    keypoints = points * anchor[:, None, 2:4] + anchor[:, None, 0:2]
    return Detections(boxes, keypoints, scores[keep])


def weighted_nms(
    detections: Detections,
    iou_threshold: float = 0.3,
    max_detections: int | None = None,
    blend_min_score: float = 0.0,
) -> Detections:
    """MediaPipe's weighted NMS: each best remaining detection absorbs all with IoU above the
    threshold (itself included); boxes and keypoints become their score-weighted mean, the
    score stays the best one's. Input must be sorted best first (decode_detections does).

    A detection scoring at least ``blend_min_score`` averages only members that do too:
    decoded below MediaPipe's 0.5 to find people it misses, a confident person's box stays
    MediaPipe's (weak neighbours of a strong detection only blur it); a weak one averages all
    its members, as MediaPipe would at a lower threshold."""
    boxes, points, scores = [], [], []
    remaining = np.arange(len(detections))
    while remaining.size and (max_detections is None or len(scores) < max_detections):
        best = remaining[0]
        overlap = box_iou(detections.boxes[best], detections.boxes[remaining]) > iou_threshold
        group = remaining[overlap] if overlap.any() else remaining[:1]
        confident = float(detections.scores[best]) >= blend_min_score
        floor = blend_min_score if confident else 0.0
        group = group[detections.scores[group] >= floor]
        weights = detections.scores[group][:, None]
        total = weights.sum()
        boxes.append((detections.boxes[group] * weights).sum(axis=0) / total)
        points.append((detections.keypoints[group] * weights[:, :, None]).sum(axis=0) / total)
        scores.append(detections.scores[best])
        remaining = remaining[~overlap] if overlap.any() else remaining[1:]
    if not scores:
        return Detections(
            np.zeros((0, 4), np.float32),
            np.zeros((0, NUM_DETECTOR_KEYPOINTS, 2), np.float32),
            np.zeros((0,), np.float32),
        )
    return Detections(
        np.asarray(boxes, np.float32), np.asarray(points, np.float32), np.asarray(scores)
    )


def remove_letterbox(
    detections: Detections, matrix: np.ndarray, size: int = DETECTOR_SIZE
) -> Detections:
    """Normalised tensor coordinates -> image pixels, undoing ``letterbox_matrix``."""
    scale = matrix[0, 0]
    offset = matrix[:, 2]

    def to_image(xy: np.ndarray) -> np.ndarray:
        return ((xy * size - offset) / scale).astype(np.float32)

    boxes = to_image(detections.boxes.reshape(-1, 2, 2)).reshape(-1, 4)
    return Detections(boxes, to_image(detections.keypoints), detections.scores)
