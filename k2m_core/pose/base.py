"""What every 2D pose estimator offers: an RGB image in, the people found in it out."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np


class PoseError(ValueError):
    """An image or model the estimator cannot use; the message names the problem and the fix."""


@dataclass(frozen=True, eq=False)
class Person:
    """One detected person.

    ``keypoints`` (K, 3) float32 [u, v, confidence] in pixels of the input image, in format
    ``keypoint_format`` (a name in k2m_core.keypoints.formats); confidence 0 means not found.
    ``bbox`` (4,) float32 [x_min, y_min, x_max, y_max] pixels; ``score`` the detection score in
    [0, 1]. ``extras`` holds estimator-specific arrays (e.g. BlazePose world landmarks).
    """

    keypoints: np.ndarray
    keypoint_format: str
    bbox: np.ndarray
    score: float
    extras: dict[str, np.ndarray] = field(default_factory=dict)


@runtime_checkable
class PoseEstimator(Protocol):
    name: str  # registry name, e.g. "blazepose", "yolo_pose", "passthrough"
    keypoint_format: str  # the format of the Person.keypoints it returns

    def detect(self, image: np.ndarray) -> list[Person]:
        """(H, W, 3) uint8 RGB -> the people found, best first (possibly none)."""
        ...

    def reset(self) -> None:
        """Forget any state carried between frames (video tracking)."""
        ...


def check_image(image: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 RGB as a contiguous array, or a PoseError saying what is wrong."""
    array = np.asarray(image)
    if array.ndim != 3 or array.shape[2] != 3:
        raise PoseError(
            f"images must be (height, width, 3) RGB, got shape {array.shape}; convert "
            "grayscale or RGBA first (e.g. cv2.cvtColor)"
        )
    if array.dtype != np.uint8:
        raise PoseError(
            f"images must be uint8 RGB, got dtype {array.dtype}; scale floats in [0, 1] by 255"
        )
    if array.shape[0] < 8 or array.shape[1] < 8:
        raise PoseError(f"image {array.shape[1]}x{array.shape[0]} is too small to hold a person")
    return np.ascontiguousarray(array)
