"""People from any estimator -> the keypoint array a Key2Mesh model reads.

Each estimator speaks its own format (BlazePose 33, COCO 17, ...); the model was trained on
one. Conversion copies by keypoint name and synthesises neck / mid-hip as midpoints with the
lower confidence of their sources (see k2m_core.keypoints.convert), so one undetected shoulder
leaves the neck undetected instead of inventing it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from k2m_core.keypoints.convert import convert_keypoints
from k2m_core.keypoints.formats import KeypointFormat, UnknownKeypointFormatError, get_format
from k2m_core.pose.base import Person, PoseError


def resolve_format(name: str | KeypointFormat) -> KeypointFormat:
    """The registry's format, or a PoseError listing the known ones."""
    try:
        return get_format(name)
    except UnknownKeypointFormatError as err:
        raise PoseError(str(err)) from None


def person_keypoints(person: Person, keypoint_format: str | KeypointFormat) -> np.ndarray:
    """(K, 3) float32 keypoints of one person in ``keypoint_format``."""
    target = resolve_format(keypoint_format)
    source = resolve_format(person.keypoint_format)
    kps = np.asarray(person.keypoints, dtype=np.float32)
    if kps.shape != (source.num_keypoints, 3):
        raise PoseError(
            f"a person's keypoints have shape {kps.shape}, but format {source.name!r} needs "
            f"({source.num_keypoints}, 3) [u, v, confidence]; the estimator mislabels its format"
        )
    if source.name == target.name:
        return kps.copy()
    return convert_keypoints(kps, source, target).astype(np.float32)


def to_model_format(people: Sequence[Person], keypoint_format: str) -> np.ndarray:
    """(N, K, 3) float32 [u, v, confidence] pixels in ``keypoint_format``; (0, K, 3) for none."""
    target = resolve_format(keypoint_format)
    if not people:
        return np.zeros((0, target.num_keypoints, 3), dtype=np.float32)
    return np.stack([person_keypoints(p, target) for p in people])
