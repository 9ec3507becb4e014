"""Which body parts the keypoints show: the visibility rule, per-joint support, the torso rule."""

from __future__ import annotations

import numpy as np

from k2m_core.body.skeleton import SMPL_JOINT_NAMES
from k2m_core.keypoints.formats import get_format
from k2m_core.keypoints.support import (
    SEEN_CONFIDENCE,
    TORSO_CONFIDENCE,
    keep_seen,
    observed_joints,
    torso_problem,
)

FMT = "coco18"
NAMES = get_format(FMT).keypoint_names


def _person(confidence: dict[str, float] | float = 0.9) -> np.ndarray:
    """(18, 3) a standing person in a 640x480 image, confidence per keypoint name."""
    rng = np.random.default_rng(0)
    kps = np.column_stack([rng.uniform(200, 400, 18), rng.uniform(100, 400, 18), np.zeros(18)])
    for i, name in enumerate(NAMES):
        kps[i, 2] = confidence.get(name, 0.0) if isinstance(confidence, dict) else confidence
    return kps.astype(np.float32)


def _joint(name: str) -> int:
    return SMPL_JOINT_NAMES.index(name)


def test_limbs_need_an_even_chance_torso_anchors_less() -> None:
    kps = _person({"left_knee": 0.45, "right_knee": 0.55, "left_hip": 0.25, "right_hip": 0.15})
    kept = keep_seen(kps, FMT, (640, 480))
    conf = dict(zip(NAMES, kept[:, 2].tolist(), strict=True))
    assert conf["left_knee"] == 0.0 and conf["right_knee"] > SEEN_CONFIDENCE
    assert conf["left_hip"] > TORSO_CONFIDENCE and conf["right_hip"] == 0.0
    np.testing.assert_array_equal(kept[:, :2], kps[:, :2])  # positions are never moved


def test_keypoints_outside_the_image_are_not_seen_whatever_their_confidence() -> None:
    kps = _person(1.0)
    hip = NAMES.index("left_hip")
    kps[hip, 1] = 480 + 0.03 * 640  # below the image, beyond the margin
    kps[NAMES.index("right_hip"), 1] = 480 + 0.01 * 640  # within the margin: still seen
    kept = keep_seen(kps, FMT, (640, 480))
    assert kept[hip, 2] == 0.0 and kept[NAMES.index("right_hip"), 2] == 1.0
    assert keep_seen(kps, FMT)[hip, 2] == 1.0  # no image size: confidence only


def test_observed_joints_follow_their_keypoints_and_the_spine_needs_shoulder_and_hip() -> None:
    arm_only = _person({"left_shoulder": 1, "left_elbow": 1, "left_wrist": 1, "nose": 1})
    observed = observed_joints(arm_only[None], FMT)[0]
    for name in ("left_shoulder", "left_elbow", "left_wrist", "left_hand", "head", "neck"):
        assert observed[_joint(name)], name
    for name in ("right_elbow", "pelvis", "left_knee", "spine1", "spine3"):
        assert not observed[_joint(name)], name
    whole = observed_joints(_person(1.0)[None], FMT)[0]
    assert whole.all()
    body25 = np.zeros((1, 25, 3), np.float32)
    body25[0, get_format("body25").keypoint_names.index("left_heel"), 2] = 1.0
    assert observed_joints(body25, "body25")[0, _joint("left_foot")]


def test_a_body_needs_a_shoulder_and_a_hip() -> None:
    assert torso_problem(_person(1.0), FMT) == ""
    portrait = _person({"nose": 1, "left_eye": 1, "left_shoulder": 1, "right_shoulder": 1})
    assert "head and shoulders" in torso_problem(portrait, FMT)
    legs = _person({"left_hip": 1, "left_knee": 1, "left_ankle": 1})
    assert "legs only" in torso_problem(legs, FMT)
    assert "neither" in torso_problem(_person({"nose": 1}), FMT)
