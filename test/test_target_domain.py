"""The synthetic target domain: each shift does what its knob says and nothing else, and the
truth is in the frame a box-normalised model can predict."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from k2m_core.body.smpl import SmplModel
from k2m_core.data.motion_bank import MotionBank
from k2m_core.data.normalize import MIN_CONFIDENCE, normalise_keypoints
from k2m_core.data.synthetic_motion import held_out_test_motion
from k2m_core.data.target_domain import (
    DEFINITION_OFFSETS,
    SyntheticTarget,
    TargetDomainConfig,
    default_target_domain,
    make_target_domain,
    split_target,
)
from k2m_core.geometry.camera import project_pinhole, project_training_camera, smpl_frame_to_optical
from k2m_core.geometry.rotations import rotation_about_axis
from k2m_core.keypoints.convert import keypoints_from_smpl
from k2m_core.keypoints.formats import get_format

COCO18 = get_format("coco18")


def _standing_bank(n: int, root_yaw_deg: float = 0.0, seed: int = 0) -> MotionBank:
    """Upright people, legs straight, arms in random poses: every frame stands equally tall."""
    rng = np.random.default_rng(seed)
    poses = np.zeros((n, 72), np.float32)
    poses[:, 1] = math.radians(root_yaw_deg)
    for joint in (16, 17, 18, 19):  # shoulders and elbows
        poses[:, 3 * joint : 3 * joint + 3] = rng.uniform(-0.7, 0.7, (n, 3))
    return MotionBank(
        poses=poses,
        betas=np.zeros((n, 10), np.float32),
        activity=np.zeros(n, np.int16),
        sequence=np.arange(n, dtype=np.int32) // 4,
        gender=np.zeros(n, np.int8),
        activity_names=("stand",),
        fps=30.0,
    )


@pytest.fixture(scope="module")
def origin_height(smpl_model: SmplModel) -> float:
    """How high the model origin of the standing bank's body is above its lowest point."""
    zeros = torch.zeros(1, 72)
    out = smpl_model(torch.zeros(1, 10), zeros[:, :3], zeros[:, 3:], return_vertices=False)
    return float(-out.joints[0, :, 1].min())


@pytest.fixture(scope="module")
def level_on_axis(origin_height: float) -> TargetDomainConfig:
    """A perfect detector; a level, unrolled camera at the body's origin height, 6 m away,
    with the person on its axis: the training camera's perspective."""
    return replace(
        TargetDomainConfig().without_detector_shifts(),
        camera_height_m=(origin_height, origin_height),
        distance_m=(6.0, 6.0),
        elevation_noise_deg=0.0,
        roll_std_deg=0.0,
        lateral_offset=0.0,
    )


@pytest.fixture(scope="module")
def held_out_bank() -> MotionBank:
    return held_out_test_motion().select(np.arange(0, 5120, 8))  # 640 frames, all activities


def _normalised(kps: np.ndarray) -> torch.Tensor:
    return normalise_keypoints(torch.tensor(np.array(kps, dtype=np.float32))).coords


def _training_view(joints: np.ndarray) -> torch.Tensor:
    """Truth keypoints through Key2Mesh's training camera, normalised like its input."""
    px = project_training_camera(torch.as_tensor(joints, dtype=torch.float32))
    return _normalised(torch.cat([px, torch.ones_like(px[..., :1])], dim=-1).numpy())


def _projected_truth(target: SyntheticTarget) -> np.ndarray:
    """(N, K, 2) the truth's clean keypoints through the robot camera."""
    optical = smpl_frame_to_optical(target.joints_in_camera().astype(np.float64))
    return project_pinhole(optical, target.intrinsics)


# --- determinism and truth ---------------------------------------------------------------------


def test_same_seed_same_target_other_seed_differs(
    smpl_model: SmplModel, held_out_bank: MotionBank
) -> None:
    bank = held_out_bank.select(np.arange(64))
    a, b = (make_target_domain(bank, smpl_model, seed=3) for _ in range(2))
    c = make_target_domain(bank, smpl_model, seed=4)
    assert np.array_equal(a.detections.keypoints, b.detections.keypoints)
    assert np.array_equal(a.truth_rot_mats, b.truth_rot_mats)
    assert not np.allclose(a.detections.keypoints, c.detections.keypoints)
    assert a.detections.frame_ids == b.detections.frame_ids


def test_truth_poses_the_body_and_reprojects_to_clean_detections(
    smpl_model: SmplModel, held_out_bank: MotionBank
) -> None:
    """Default robot camera, perfect detector: body(truth) gives truth_joints_3d, and those,
    placed by truth_transl and turned into the camera, land exactly on the detections."""
    bank = held_out_bank.select(np.arange(0, 640, 5))
    target = make_target_domain(bank, smpl_model, TargetDomainConfig().without_detector_shifts())
    rot = torch.as_tensor(target.truth_rot_mats)
    out = smpl_model(
        torch.as_tensor(target.truth_betas), rot[:, 0], rot[:, 1:], return_vertices=False
    )
    joints, _ = keypoints_from_smpl(out.joints, COCO18)
    np.testing.assert_allclose(joints.detach().numpy(), target.truth_joints_3d, atol=2e-5)
    np.testing.assert_allclose(
        _projected_truth(target), target.detections.keypoints[..., :2], atol=2e-3
    )
    assert (target.detections.keypoints[..., 2] == 1.0).all()
    # Non-root joints are the bank's own; the root is a proper rotation.
    np.testing.assert_allclose(np.linalg.det(target.truth_rot_mats[:, 0]), 1.0, atol=1e-5)


def test_training_camera_view_equals_the_detections_with_matching_perspective(
    smpl_model: SmplModel, level_on_axis: TargetDomainConfig
) -> None:
    target = make_target_domain(_standing_bank(32), smpl_model, level_on_axis, seed=1)
    torch.testing.assert_close(
        _normalised(target.detections.keypoints),
        _training_view(target.truth_joints_3d),
        atol=1e-4,
        rtol=0,
    )
    np.testing.assert_allclose(target.camera_from_view, np.broadcast_to(np.eye(3), (32, 3, 3)))
    np.testing.assert_allclose(target.truth_transl, [[0.0, 0.0, -6.0]] * 32, atol=1e-5)


def test_default_camera_differs_from_training_only_by_perspective(
    smpl_model: SmplModel, held_out_bank: MotionBank
) -> None:
    """Close and off-centre people look a little different; in box units, a little only."""
    target = make_target_domain(
        held_out_bank, smpl_model, TargetDomainConfig().without_detector_shifts()
    )
    error = _normalised(target.detections.keypoints) - _training_view(target.truth_joints_3d)
    error = error.norm(dim=-1)
    assert 1e-3 < error.mean() < 0.02
    assert error.quantile(0.95) < 0.06


# --- root orientation convention -----------------------------------------------------------------


def test_frontal_upright_person_and_level_camera_give_an_identity_root(
    smpl_model: SmplModel, level_on_axis: TargetDomainConfig
) -> None:
    cfg = replace(level_on_axis, person_yaw_deg=0.0, distance_m=(2.0, 6.0))
    target = make_target_domain(_standing_bank(16), smpl_model, cfg)
    identity = np.broadcast_to(np.eye(3), (16, 3, 3))
    np.testing.assert_allclose(target.truth_rot_mats[:, 0], identity, atol=1e-6)
    np.testing.assert_allclose(target.root_in_camera(), identity, atol=1e-6)


def test_camera_above_sees_the_body_tilted_toward_it(
    smpl_model: SmplModel, level_on_axis: TargetDomainConfig, origin_height: float
) -> None:
    """1 m higher at 3 m: the root is a pitch of atan(1/3) bringing the head toward the camera
    (to within the turn that aims at the body's origin as re-posed in the view frame, about
    |J0| / 3 m of the pitch: see _view_rotation)."""
    h = origin_height + 1.0
    cfg = replace(level_on_axis, person_yaw_deg=0.0, camera_height_m=(h, h), distance_m=(3, 3))
    target = make_target_domain(_standing_bank(4), smpl_model, cfg)
    pitch = rotation_about_axis(torch.tensor(math.atan(1.0 / 3.0), dtype=torch.float64), "x")
    np.testing.assert_allclose(
        target.truth_rot_mats[:, 0], np.stack([pitch.numpy()] * 4), atol=2e-3
    )
    assert (target.truth_rot_mats[:, 0, 2, 1] > 0).all()  # body up axis gains +z (toward us)
    # The camera pitched down just enough to centre the person: no turn to the line of sight.
    np.testing.assert_allclose(
        target.camera_from_view, np.broadcast_to(np.eye(3), (4, 3, 3)), atol=2e-3
    )


def test_off_centre_person_root_is_relative_to_the_line_of_sight(
    smpl_model: SmplModel, level_on_axis: TargetDomainConfig
) -> None:
    """A person facing the camera's heading but standing off to the side: level and square in
    the camera frame, yawed by the ray's angle in the view frame the model predicts in."""
    cfg = replace(level_on_axis, person_yaw_deg=0.0, lateral_offset=0.9)
    target = make_target_domain(_standing_bank(32), smpl_model, cfg, seed=2)
    np.testing.assert_allclose(
        target.root_in_camera(), np.broadcast_to(np.eye(3), (32, 3, 3)), atol=1e-6
    )
    root = target.truth_rot_mats[:, 0]
    np.testing.assert_allclose(root, target.camera_from_view.transpose(0, 2, 1), atol=1e-6)
    # A person right of centre (x > 0) is seen turned to their own left: yaw +atan(x / depth),
    # measured at the hips, which lie within 3 cm of the model origin's line of sight.
    i = COCO18.index
    hips = target.joints_in_camera()[:, [i("left_hip"), i("right_hip")]].mean(axis=1)
    azimuth = np.arctan2(hips[:, 0], -hips[:, 2])
    yaw = np.arctan2(root[:, 0, 2], root[:, 2, 2])
    np.testing.assert_allclose(yaw, azimuth, atol=5e-3)
    np.testing.assert_allclose(root[:, 1], np.broadcast_to([0.0, 1.0, 0.0], (32, 3)), atol=1e-6)
    assert yaw.max() > math.radians(15) and yaw.min() < -math.radians(15)


# --- detector shifts, one knob at a time -------------------------------------------------------


def test_truncation_drops_exactly_the_keypoints_outside_the_image(
    smpl_model: SmplModel, held_out_bank: MotionBank
) -> None:
    cfg = replace(TargetDomainConfig().without_detector_shifts(), truncation=True)
    target = make_target_domain(held_out_bank, smpl_model, cfg)
    clean = _projected_truth(target)
    width, height = cfg.image_size
    outside = (clean[..., 0] < 0) | (clean[..., 0] >= width) | (clean[..., 1] < 0)
    outside |= clean[..., 1] >= height
    kps = target.detections.keypoints
    assert 0.005 < outside.mean() < 0.2
    assert np.array_equal(kps[..., 2] == 0, outside)
    np.testing.assert_allclose(kps[~outside][:, :2], clean[~outside], atol=2e-3)


def test_swap_probability_one_swaps_exactly_the_left_right_pairs(
    smpl_model: SmplModel, held_out_bank: MotionBank
) -> None:
    """Every other shift on: only the rows move, each to its mirror partner."""
    never = replace(TargetDomainConfig(), swap_prob_front=0.0, swap_prob_back=0.0)
    always = replace(never, swap_prob_front=1.0, swap_prob_back=1.0)
    a = make_target_domain(held_out_bank, smpl_model, never).detections.keypoints
    b = make_target_domain(held_out_bank, smpl_model, always).detections.keypoints
    flip = list(COCO18.flip_indices)
    assert not np.array_equal(a, b)
    assert np.array_equal(b, a[:, flip])


def test_left_right_swaps_happen_when_seen_from_behind(
    smpl_model: SmplModel, level_on_axis: TargetDomainConfig
) -> None:
    cfg = replace(level_on_axis, person_yaw_deg=0.0, swap_prob_front=0.0, swap_prob_back=1.0)
    flip = list(COCO18.flip_indices)
    front = make_target_domain(_standing_bank(16), smpl_model, cfg).detections.keypoints
    back = make_target_domain(_standing_bank(16, 180.0), smpl_model, cfg).detections.keypoints
    unswapped = make_target_domain(
        _standing_bank(16, 180.0), smpl_model, replace(cfg, swap_prob_back=0.0)
    ).detections.keypoints
    front_unswapped = make_target_domain(
        _standing_bank(16), smpl_model, replace(cfg, swap_prob_back=0.0)
    ).detections.keypoints
    assert np.array_equal(front, front_unswapped)  # a frontal view is (almost) never swapped
    assert np.array_equal(back, unswapped[:, flip])


def test_definition_offsets_move_hips_and_shoulders_as_documented(
    smpl_model: SmplModel, level_on_axis: TargetDomainConfig
) -> None:
    """Facing the camera, the body's left is the image's right and up is -v."""
    cfg = replace(level_on_axis, person_yaw_deg=0.0)
    bank = _standing_bank(8)
    clean = make_target_domain(bank, smpl_model, cfg).detections.keypoints
    shifted = make_target_domain(
        bank, smpl_model, replace(cfg, definition_offset_scale=1.0)
    ).detections.keypoints
    du, dv = (shifted - clean)[..., 0], (shifted - clean)[..., 1]
    i = COCO18.index
    assert (dv[:, i("left_hip")] > 0).all() and (dv[:, i("right_hip")] > 0).all()  # lower
    assert (du[:, i("left_hip")] > 0).all() and (du[:, i("right_hip")] < 0).all()  # wider
    assert (dv[:, i("left_shoulder")] < 0).all() and (dv[:, i("right_shoulder")] < 0).all()
    assert (du[:, i("left_shoulder")] > 0).all() and (du[:, i("right_shoulder")] < 0).all()
    assert (dv[:, i("neck")] < 0).all() and (dv[:, i("left_ankle")] > 0).all()
    # the table's drop at 6 m with f = 550; the nose has no offset
    drop = -DEFINITION_OFFSETS["left_hip"][1][1]
    np.testing.assert_allclose(dv[:, i("left_hip")], 550 * drop / 6, rtol=0.1)
    np.testing.assert_allclose(du[:, i("nose")], 0.0, atol=1e-3)


def test_limb_occlusion_hides_whole_chains_and_nothing_else(
    smpl_model: SmplModel, level_on_axis: TargetDomainConfig
) -> None:
    cfg = replace(level_on_axis, limb_occlusion_prob=1.0)
    conf = make_target_domain(_standing_bank(8), smpl_model, cfg).detections.keypoints[..., 2]
    chains = {"elbow", "wrist", "knee", "ankle"}
    in_chain = np.array([bool(chains & set(n.split("_"))) for n in COCO18.keypoint_names])
    assert (conf[:, in_chain] == 0).all()
    assert (conf[:, ~in_chain] == 1).all()


def test_self_occlusion_hides_the_face_from_behind_only(
    smpl_model: SmplModel, level_on_axis: TargetDomainConfig
) -> None:
    cfg = replace(level_on_axis, person_yaw_deg=0.0, self_occlusion_drop=1.0)
    face = [COCO18.index(n) for n in ("nose", "left_eye", "right_eye")]
    front = make_target_domain(_standing_bank(8), smpl_model, cfg).detections.keypoints
    back = make_target_domain(_standing_bank(8, 180.0), smpl_model, cfg).detections.keypoints
    assert (front[:, face, 2] == 1).all()
    assert (back[:, face, 2] == 0).all()
    # Turned 90 degrees to face image right, the body's left side is the far side: its
    # shoulder and hip are behind the torso, the near ones are not.
    side = make_target_domain(_standing_bank(8, 90.0), smpl_model, cfg).detections.keypoints
    assert (side[:, [COCO18.index("left_shoulder"), COCO18.index("left_hip")], 2] == 0).all()
    assert (side[:, [COCO18.index("right_shoulder"), COCO18.index("right_hip")], 2] == 1).all()


def test_occluded_but_reported_keypoints_get_low_confidence(
    smpl_model: SmplModel, level_on_axis: TargetDomainConfig
) -> None:
    cfg = replace(level_on_axis, person_yaw_deg=0.0, self_occlusion_confidence_drop=0.6)
    back = make_target_domain(_standing_bank(8, 180.0), smpl_model, cfg).detections.keypoints
    nose, neck = COCO18.index("nose"), COCO18.index("neck")
    np.testing.assert_allclose(back[:, nose, 2], 0.4, atol=1e-6)
    assert (back[:, neck, 2] == 1).all()


def test_jitter_scales_with_the_person_and_lowers_confidence(
    smpl_model: SmplModel, held_out_bank: MotionBank
) -> None:
    base = TargetDomainConfig().without_detector_shifts()
    clean = make_target_domain(held_out_bank, smpl_model, base).detections.keypoints
    cfg = replace(base, jitter_frac=0.02, confidence_error_sensitivity=25.0)
    noisy = make_target_domain(held_out_bank, smpl_model, cfg).detections.keypoints
    box = np.ptp(clean[..., :2], axis=1).max(-1)  # (N,)
    error = np.linalg.norm(noisy[..., :2] - clean[..., :2], axis=-1) / box[:, None]
    assert 0.01 < np.median(error) < 0.05  # a fraction of the box, not pixels
    assert np.corrcoef(error.ravel(), noisy[..., 2].ravel())[0, 1] < -0.5


def test_default_detections_are_graded_and_miss_more_than_the_source(
    smpl_model: SmplModel, held_out_bank: MotionBank
) -> None:
    kps = make_target_domain(held_out_bank, smpl_model).detections.keypoints
    conf = kps[..., 2]
    assert conf.min() >= 0.0 and conf.max() <= 1.0
    missing = conf < MIN_CONFIDENCE
    assert 0.25 < missing.mean() < 0.45  # the source domain drops 20%
    reported = conf[~missing]
    assert ((reported > 0.2) & (reported < 0.95)).mean() > 0.8  # graded, not 0/1
    assert (kps[conf == 0][:, :2] == 0).all()  # missing keypoints are reported as zeros
    assert ((kps[~missing][:, 0] >= 0) & (kps[~missing][:, 0] < 640)).all()


# --- splits and the default --------------------------------------------------------------------


def test_split_is_by_sequence_disjoint_and_complete(
    smpl_model: SmplModel, held_out_bank: MotionBank
) -> None:
    target = make_target_domain(held_out_bank, smpl_model)
    parts = split_target(target, (0.6, 0.2, 0.2), seed=1)
    seqs = [set(p.sequence.tolist()) for p in parts]
    assert all(seqs) and not (seqs[0] & seqs[1] or seqs[0] & seqs[2] or seqs[1] & seqs[2])
    assert seqs[0] | seqs[1] | seqs[2] == set(target.sequence.tolist())
    assert sum(len(p) for p in parts) == len(target)
    assert [len(s) for s in seqs] == [48, 16, 16]  # of 80 sequences
    ids = {f for p in parts for f in p.detections.frame_ids}
    assert ids == set(target.detections.frame_ids)
    test = parts.test
    row = target.detections.frame_ids.index(test.detections.frame_ids[0])
    np.testing.assert_array_equal(test.truth_rot_mats[0], target.truth_rot_mats[row])
    other = split_target(target, seed=2)
    assert set(other.test.sequence.tolist()) != seqs[2]
    with pytest.raises(ValueError, match="fractions"):
        split_target(target, (0.5, 0.2, 0.2))


def test_default_target_domain_is_the_held_out_motion_on_the_robot_camera() -> None:
    target = default_target_domain()
    assert len(target) == 5120 and target.detections.keypoint_format == "coco18"
    assert target.truth_rot_mats.shape == (5120, 24, 3, 3)
    assert target.truth_joints_3d.shape == (5120, 18, 3)
    assert target.intrinsics.fx == TargetDomainConfig().focal_px
    assert np.array_equal(target.detections.image_sizes[0], [640, 480])
