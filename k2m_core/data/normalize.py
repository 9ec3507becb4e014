"""Key2Mesh's input normalisation: keypoints relative to the box around the visible ones.

It makes the model blind to where the person stands in the image and how large they appear,
which is what lets a network trained with one fixed virtual camera run on any real camera.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from k2m_core.keypoints.support import MIN_CONFIDENCE

__all__ = [
    "MASKED_VALUE",
    "MIN_CONFIDENCE",
    "NormalisedKeypoints",
    "camera_features",
    "normalise_keypoints",
]

MASKED_VALUE = 0.5  # where unseen keypoints sit: the centre of the normalised box


class NormalisedKeypoints(NamedTuple):
    coords: torch.Tensor  # (B, K, 2) in box units, 0.5 = box centre; masked joints at 0.5
    visible: torch.Tensor  # (B, K) bool
    centre: torch.Tensor  # (B, 2) box centre in pixels
    size: torch.Tensor  # (B,) max(width, height) of the box in pixels


def box_of_visible(xy: torch.Tensor, visible: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Centre (B, 2) and size (B,) of the box around visible keypoints. A person with one or no
    visible keypoint gets size 1 so that nothing divides by zero (their input is then flat)."""
    big = torch.finfo(xy.dtype).max
    lo = torch.where(visible[..., None], xy, torch.full_like(xy, big)).amin(dim=1)
    hi = torch.where(visible[..., None], xy, torch.full_like(xy, -big)).amax(dim=1)
    any_visible = visible.any(dim=1, keepdim=True)
    lo = torch.where(any_visible, lo, torch.zeros_like(lo))
    hi = torch.where(any_visible, hi, torch.zeros_like(hi))
    centre = 0.5 * (lo + hi)
    size = (hi - lo).amax(dim=1)
    size = torch.where(size > 1e-6, size, torch.ones_like(size))
    return centre, size


def to_box_units(xy: torch.Tensor, centre: torch.Tensor, size: torch.Tensor) -> torch.Tensor:
    """Pixels -> normalised box units: (x - centre) / size + 0.5."""
    return (xy - centre[:, None, :]) / size[:, None, None] + MASKED_VALUE


def normalise_keypoints(
    keypoints: torch.Tensor, min_confidence: float = MIN_CONFIDENCE
) -> NormalisedKeypoints:
    """(B, K, 3) pixel keypoints [u, v, confidence] -> the model's normalised input."""
    xy = keypoints[..., :2]
    visible = keypoints[..., 2] >= min_confidence
    centre, size = box_of_visible(xy, visible)
    coords = to_box_units(xy, centre, size)
    coords = torch.where(visible[..., None], coords, torch.full_like(coords, MASKED_VALUE))
    return NormalisedKeypoints(coords, visible, centre, size)


def camera_features(centre: torch.Tensor, size: torch.Tensor, camera: torch.Tensor) -> torch.Tensor:
    """(B, 3) what box normalisation throws away, as CLIFF gives it to its network: the box
    centre relative to the principal point and the box size, over the focal length. ``camera``
    (B, 4) is [fx, fy, cx, cy] in pixels. It tells a network trained on many cameras where in
    the view the person stands (off-axis perspective) and how near they are for their size."""
    fx, fy, cx, cy = camera.unbind(-1)
    return torch.stack([(centre[:, 0] - cx) / fx, (centre[:, 1] - cy) / fy, size / fx], -1)
