"""Which parts of a body the 2D keypoints actually show.

A pose estimator reports every keypoint, seen or not: BlazePose gives legs behind a table and
hips below the image border a place, with a low visibility. Key2Mesh then fits a body to them
and a robot cannot tell a seen arm from an invented one. These rules say, per SMPL joint,
whether a detected keypoint supports it, and whether enough of the torso is seen to place a
body at all.
"""

from __future__ import annotations

from functools import cache

import numpy as np

from k2m_core.body.skeleton import SMPL_JOINT_NAMES
from k2m_core.keypoints.formats import get_format

MIN_CONFIDENCE = 0.1  # below it the network treats a keypoint as missing (its input mask)
# BlazePose's visibility is the probability that a landmark is in view. Limbs and face need
# an even chance: an occluded knee or wrist is placed anywhere (legs "through" a table). The
# torso's anchors are placed well from the body's shape even when half hidden (a hip at the
# lower border of a waist-up photo), and without them there is no body: a lower bar.
SEEN_CONFIDENCE = 0.5
TORSO_CONFIDENCE = 0.2
TORSO_KEYPOINTS = ("left_shoulder", "right_shoulder", "left_hip", "right_hip", "neck", "mid_hip")
OUTSIDE_MARGIN = 0.02  # of the image's larger side: keypoints farther out are guesses

# SMPL joint -> the keypoints (by name) that show it; any one of them seen is enough
_EVIDENCE: dict[str, tuple[str, ...]] = {
    "pelvis": ("left_hip", "right_hip", "mid_hip"),
    "left_hip": ("left_hip",),
    "right_hip": ("right_hip",),
    "left_knee": ("left_knee",),
    "right_knee": ("right_knee",),
    "left_ankle": ("left_ankle",),
    "right_ankle": ("right_ankle",),
    "left_foot": ("left_ankle", "left_big_toe", "left_heel"),
    "right_foot": ("right_ankle", "right_big_toe", "right_heel"),
    "neck": ("neck", "left_shoulder", "right_shoulder"),
    "left_collar": ("left_shoulder",),
    "right_collar": ("right_shoulder",),
    "head": ("nose", "left_eye", "right_eye", "left_ear", "right_ear"),
    "left_shoulder": ("left_shoulder",),
    "right_shoulder": ("right_shoulder",),
    "left_elbow": ("left_elbow",),
    "right_elbow": ("right_elbow",),
    "left_wrist": ("left_wrist",),
    "right_wrist": ("right_wrist",),
    "left_hand": ("left_wrist",),
    "right_hand": ("right_wrist",),
}
# the spine is seen when a shoulder and a hip are: it lies between them
_SPINE = ("spine1", "spine2", "spine3")
SHOULDERS = ("left_shoulder", "right_shoulder")
HIPS = ("left_hip", "right_hip")


@cache
def evidence_matrix(keypoint_format: str) -> np.ndarray:
    """(24, K) bool: keypoint k shows SMPL joint j (the spine rows are empty: see below)."""
    fmt = get_format(keypoint_format)
    index = {name: i for i, name in enumerate(fmt.keypoint_names)}
    matrix = np.zeros((len(SMPL_JOINT_NAMES), len(index)), bool)
    for joint, names in _EVIDENCE.items():
        for name in names:
            if name in index:
                matrix[SMPL_JOINT_NAMES.index(joint), index[name]] = True
    return matrix


@cache
def seen_thresholds(keypoint_format: str) -> np.ndarray:
    """(K,) the confidence each keypoint needs to count as seen (torso anchors less)."""
    names = get_format(keypoint_format).keypoint_names
    return np.array(
        [TORSO_CONFIDENCE if n in TORSO_KEYPOINTS else SEEN_CONFIDENCE for n in names], np.float32
    )


def seen(
    keypoints: np.ndarray, keypoint_format: str, image_size: tuple[int, int] | None = None
) -> np.ndarray:
    """(..., K) bool: confident enough and, with ``image_size`` (width, height), inside the
    image (up to a small margin)."""
    points = np.asarray(keypoints)
    mask = points[..., 2] >= seen_thresholds(keypoint_format)
    if image_size is not None:
        width, height = image_size
        margin = OUTSIDE_MARGIN * max(width, height)
        u, v = points[..., 0], points[..., 1]
        mask &= (u >= -margin) & (u <= width + margin) & (v >= -margin) & (v <= height + margin)
    return mask


def keep_seen(
    keypoints: np.ndarray, keypoint_format: str, image_size: tuple[int, int] | None = None
) -> np.ndarray:
    """The keypoints with confidence 0 where they are not seen: the network then treats them
    as missing (it was trained with dropped joints) instead of trusting a guess, and the
    camera fit does not lean on them."""
    out = np.array(keypoints, np.float32, copy=True)
    out[..., 2] = np.where(seen(out, keypoint_format, image_size), out[..., 2], 0.0)
    return out


def observed_joints(keypoints: np.ndarray, keypoint_format: str) -> np.ndarray:
    """(N, 24) bool: SMPL joints shown by a keypoint with non-zero confidence (call
    :func:`keep_seen` first to apply the visibility rule)."""
    points = np.asarray(keypoints, np.float32)
    present = points[..., 2] > 0  # (N, K)
    observed = (present[:, None, :] & evidence_matrix(keypoint_format)[None]).any(axis=-1)
    torso = _any_named(present, keypoint_format, SHOULDERS) & _any_named(
        present, keypoint_format, HIPS
    )
    for joint in _SPINE:
        observed[:, SMPL_JOINT_NAMES.index(joint)] = torso
    return observed


def _any_named(present: np.ndarray, keypoint_format: str, names: tuple[str, ...]) -> np.ndarray:
    index = {name: i for i, name in enumerate(get_format(keypoint_format).keypoint_names)}
    columns = [index[n] for n in names if n in index]
    return present[:, columns].any(axis=1) if columns else np.zeros(len(present), bool)


def torso_problem(keypoints: np.ndarray, keypoint_format: str) -> str:
    """Why a person (K, 3), after :func:`keep_seen`, gives no body; '' when one shoulder and
    one hip are seen. Without them the network's root and scale are guesses: a head-and-
    shoulders close-up became a small tilted body, legs alone a body of any height."""
    present = np.asarray(keypoints)[None, :, 2] > 0
    shoulder = bool(_any_named(present, keypoint_format, SHOULDERS)[0])
    hip = bool(_any_named(present, keypoint_format, HIPS)[0])
    if shoulder and hip:
        return ""
    if shoulder:
        return "no hip seen (head and shoulders only): too little of the torso for a body"
    if hip:
        return "no shoulder seen (legs only): too little of the torso for a body"
    return "neither shoulders nor hips seen: too little of the torso for a body"
