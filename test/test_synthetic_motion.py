"""Synthetic motion: limits, conversions, banks, splits, and that each activity does what its
name says, checked on the 3D joints of the generated SMPL-format body."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from k2m_core.body.skeleton import SMPL_JOINT_NAMES
from k2m_core.body.smpl import SmplModel
from k2m_core.data import synthetic_motion as sm

J = {name: i for i, name in enumerate(SMPL_JOINT_NAMES)}
SEQUENCES, FRAMES = 8, 60  # 2 s at 30 fps: at least 1.5 gait cycles, 2 wave cycles


def pose_joints(model: SmplModel, poses: np.ndarray) -> np.ndarray:
    """(N, 45, 3) joints of (N, 72) poses on the mean shape: shape is not what is tested."""
    p = torch.as_tensor(np.asarray(poses), dtype=torch.float32)
    with torch.no_grad():
        out = model(torch.zeros(len(p), model.num_betas), p[:, :3], p[:, 3:], return_vertices=False)
    return out.joints.numpy()


@pytest.fixture(scope="module")
def activity_joints(smpl_model: SmplModel) -> dict[str, np.ndarray]:
    """Joints (S, T, 45, 3) of a few sequences of each activity."""
    joints = {}
    for name in sm.ACTIVITIES:
        bank = sm.synthesize_motion(SEQUENCES, FRAMES, [name], seed=11)
        joints[name] = pose_joints(smpl_model, bank.poses).reshape(SEQUENCES, FRAMES, 45, 3)
    return joints


@pytest.fixture(scope="module")
def standing_pelvis_height(smpl_model: SmplModel) -> float:
    """Pelvis above the lowest joint (a heel or toe) in the rest pose."""
    joints = pose_joints(smpl_model, np.zeros((1, 72)))[0]
    return float(joints[J["pelvis"], 1] - joints[:, 1].min())


def pelvis_height(joints: np.ndarray) -> np.ndarray:
    """(S, T) pelvis above the lowest joint: the body has no translation, the ground is its
    lowest point."""
    return joints[..., J["pelvis"], 1] - joints[..., 1].min(axis=-1)


# --- limits and conversions -----------------------------------------------------------------


def test_limit_table_covers_every_body_joint_with_mirrored_sides() -> None:
    assert list(sm.JOINT_LIMITS_DEG) == list(SMPL_JOINT_NAMES[1:])
    assert sm.LIMITS_LOW_DEG.shape == sm.LIMITS_HIGH_DEG.shape == (23, 3)
    assert np.all(sm.LIMITS_LOW_DEG < sm.LIMITS_HIGH_DEG)
    for name, (x, y, z) in sm.JOINT_LIMITS_DEG.items():
        if name.startswith("left_"):
            rx, ry, rz = sm.JOINT_LIMITS_DEG[name.replace("left_", "right_")]
            assert rx == x and ry == (-y[1], -y[0]) and rz == (-z[1], -z[0])
    # hinges: a big flexion range about one axis, little about the others
    for hinge, axis in (("left_knee", 0), ("right_knee", 0), ("left_elbow", 1)):
        spans = np.ptp(np.array(sm.JOINT_LIMITS_DEG[hinge]), axis=1)
        assert spans[axis] >= 140 and np.delete(spans, axis).max() <= 40
    assert sm.JOINT_LIMITS_DEG["left_knee"][0] == (0.0, 150.0)  # +x bends the knee
    assert sm.JOINT_LIMITS_DEG["left_elbow"][1][1] == 0.0  # left elbow flexes towards -y
    # every middle Euler angle stays inside +-90 degrees, so decoding is unique
    for j, order in enumerate(sm.EULER_ORDERS):
        middle = "XYZ".index(order[1])
        assert sm.LIMITS_LOW_DEG[j, middle] > -90 and sm.LIMITS_HIGH_DEG[j, middle] < 90


def test_clamp_to_limits_clips_only_what_is_outside() -> None:
    euler = np.zeros((2, 23, 3))
    knee, r_elbow = J["left_knee"] - 1, J["right_elbow"] - 1
    euler[0, knee, 0] = 200.0  # over-flexed
    euler[1, knee, 0] = -30.0  # hyperextended
    euler[:, r_elbow, 1] = 90.0  # a right elbow flexes towards +y: inside
    clamped = sm.clamp_to_limits(euler)
    assert clamped[0, knee, 0] == 150.0 and clamped[1, knee, 0] == 0.0
    assert np.all(clamped[:, r_elbow, 1] == 90.0)
    assert sm.within_limits(clamped).all() and not sm.within_limits(euler).any()
    with_root = np.concatenate([np.full((2, 1, 3), 60.0), euler], axis=1)
    assert sm.clamp_to_limits(with_root)[0, 0].tolist() == [60.0, 45.0, 20.0]


def test_euler_conversion_matches_scipy_and_round_trips() -> None:
    rng = np.random.default_rng(0)
    low, high = sm.LIMITS_LOW_DEG, sm.LIMITS_HIGH_DEG
    euler = low + (high - low) * rng.random((50, 23, 3))
    axis_angle = sm.euler_to_axis_angle(euler)
    for j, order in enumerate(sm.EULER_ORDERS):
        angles = euler[:, j, ["XYZ".index(a) for a in order]]
        want = Rotation.from_euler(order, angles, degrees=True).as_matrix()
        got = Rotation.from_rotvec(axis_angle[:, j]).as_matrix()
        np.testing.assert_allclose(got, want, atol=1e-12)
    np.testing.assert_allclose(sm.axis_angle_to_euler(axis_angle), euler, atol=1e-8)


def test_mirrored_pose_is_the_mirror_image_of_the_body(smpl_model: SmplModel) -> None:
    euler, _ = sm.synthesize_euler(1, 4, ["wave"], seed=2)
    original = pose_joints(smpl_model, sm.euler_to_axis_angle(euler[0]).reshape(4, 72))
    mirrored = pose_joints(
        smpl_model, sm.euler_to_axis_angle(sm.mirror_euler(euler[0])).reshape(4, 72)
    )
    swap = [J[n.replace("left_", "right_") if "left_" in n else n.replace("right_", "left_")]
            for n in SMPL_JOINT_NAMES]  # fmt: skip
    reflected = original[:, swap] * np.array([-1.0, 1.0, 1.0])  # x -> -x, sides swapped
    np.testing.assert_allclose(mirrored[:, :24], reflected, atol=5e-3)
    assert np.abs(mirrored[:, :24] - original[:, :24]).max() > 0.1  # the wave changed sides
    np.testing.assert_allclose(sm.mirror_euler(sm.mirror_euler(euler)), euler)


# --- banks ----------------------------------------------------------------------------------


def test_bank_shapes_dtypes_and_grouping() -> None:
    bank = sm.synthesize_motion(6, 20, fps=25.0, seed=0)
    assert len(bank) == 120
    assert bank.poses.shape == (120, 72) and bank.poses.dtype == np.float32
    assert bank.betas.shape == (120, 10) and bank.betas.dtype == np.float32
    assert bank.activity.dtype == np.int16 and bank.sequence.dtype == np.int32
    assert bank.gender.dtype == np.int8 and not bank.gender.any()
    assert bank.activity_names == sm.ACTIVITIES and bank.fps == 25.0
    assert np.all(np.isfinite(bank.poses))
    per_sequence = bank.sequence.reshape(6, 20)
    assert np.all(per_sequence == np.arange(6)[:, None])
    for field in (bank.betas, bank.activity):  # one shape and one activity per sequence
        grouped = field.reshape(6, 20, -1)
        assert np.all(grouped == grouped[:, :1])
    assert len(np.unique(bank.betas[::20], axis=0)) == 6


def test_same_seed_same_bank_other_seed_other_bank() -> None:
    a = sm.synthesize_motion(5, 30, seed=7)
    b = sm.synthesize_motion(5, 30, seed=7)
    c = sm.synthesize_motion(5, 30, seed=8)
    for field in ("poses", "betas", "activity", "sequence", "gender"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
    assert np.abs(a.poses - c.poses).mean() > 0.05
    assert not np.allclose(a.betas, c.betas)


@pytest.mark.parametrize("extreme", [False, True])
def test_every_generated_pose_decodes_within_limits(extreme: bool) -> None:
    bank = sm.synthesize_motion(80, 30, seed=3, extreme=extreme)
    euler = sm.axis_angle_to_euler(bank.poses.reshape(-1, 24, 3))
    assert sm.within_limits(euler, tolerance_deg=0.01).all()
    # the clamp is reached at times (noise pushes knees straight), so it is doing its job
    assert np.isclose(euler[:, 1:], sm.LIMITS_LOW_DEG, atol=0.01).any()


def test_activity_choice_and_weights() -> None:
    only_walk = sm.synthesize_motion(20, 3, {"walk": 1.0, "run": 0.0}, seed=1)
    assert set(only_walk.activity.tolist()) == {sm.ACTIVITIES.index("walk")}
    two = sm.synthesize_motion(40, 3, ["sit", "kneel"], seed=1)
    assert set(two.activity.tolist()) == {sm.ACTIVITIES.index(a) for a in ("sit", "kneel")}
    everything = sm.synthesize_motion(200, 2, seed=1)
    assert set(everything.activity.tolist()) == set(range(len(sm.ACTIVITIES)))
    with pytest.raises(ValueError, match="unknown activities"):
        sm.synthesize_motion(2, 2, ["juggle"])
    with pytest.raises(ValueError, match=">= 0"):
        sm.synthesize_motion(2, 2, {"walk": -1.0})


def test_betas_are_normal_clipped_and_sigma_scales_them() -> None:
    rng = np.random.default_rng(0)
    unit = sm.sample_betas(rng, 20000)
    assert unit.shape == (20000, 10) and unit.dtype == np.float32
    assert 0.95 < unit.std() < 1.02 and abs(unit.mean()) < 0.02
    wide = sm.sample_betas(rng, 20000, sigma=2.0)
    assert np.abs(wide).max() == 3.0 and (np.abs(wide) == 3.0).mean() > 0.1


# --- temporal smoothness ----------------------------------------------------------------------


def frame_step_ratio(euler: np.ndarray) -> np.ndarray:
    """Largest frame-to-frame change of each angle over the range it covers in its sequence,
    for angles that move more than 5 degrees."""
    step = np.abs(np.diff(euler, axis=1)).max(axis=1)
    covered = np.ptp(euler, axis=1)
    return step[covered > 5.0] / covered[covered > 5.0]


def test_motion_is_smooth_in_time() -> None:
    euler, _ = sm.synthesize_euler(100, 60, seed=5)
    ratio = frame_step_ratio(euler)
    assert ratio.max() < 0.4 and np.median(ratio) < 0.12  # max: a runner's ankle push-off
    # the same frames out of order are anything but smooth: the measure can fail
    shuffled = euler[:, np.random.default_rng(0).permutation(60)]
    assert np.median(frame_step_ratio(shuffled)) > 0.5
    # no joint turns more than 25 degrees between frames at 30 fps (a runner's knee swings
    # at up to ~700 degrees/s, 23 per frame)
    rot = Rotation.from_rotvec(sm.euler_to_axis_angle(euler).reshape(-1, 3))
    mats = rot.as_matrix().reshape(100, 60, 24, 3, 3)
    relative = np.einsum("stjba,stjbc->stjac", mats[:, :-1], mats[:, 1:])
    turn = np.degrees(Rotation.from_matrix(relative.reshape(-1, 3, 3)).magnitude())
    assert turn.max() < 25.0


# --- each activity does what its name says ---------------------------------------------------


@pytest.mark.parametrize("name", ["walk", "run"])
def test_gaits_alternate_the_feet_and_swing_arms_against_legs(
    activity_joints: dict[str, np.ndarray], name: str
) -> None:
    joints = activity_joints[name]
    lead = joints[..., J["left_ankle"], 2] - joints[..., J["right_ankle"], 2]
    step = 0.1 if name == "walk" else 0.25
    assert np.all(lead.max(axis=1) > step) and np.all(lead.min(axis=1) < -step)
    arms = joints[..., J["left_wrist"], 2] - joints[..., J["right_wrist"], 2]
    corr = [np.corrcoef(lead[s], arms[s])[0, 1] for s in range(SEQUENCES)]
    assert np.median(corr) < -0.5  # left foot forward, left hand back


def test_running_bends_the_knees_more_than_walking() -> None:
    walk, _ = sm.synthesize_euler(20, 60, ["walk"], seed=4)
    run, _ = sm.synthesize_euler(20, 60, ["run"], seed=4)
    knee = J["left_knee"]
    walk_peak, run_peak = walk[:, :, knee, 0].max(axis=1), run[:, :, knee, 0].max(axis=1)
    assert np.all(run_peak > 75.0) and np.median(run_peak) > np.median(walk_peak) + 20.0


@pytest.mark.parametrize(("name", "most"), [("sit", 0.7), ("kneel", 0.7), ("crouch", 0.75)])
def test_getting_low_drops_the_pelvis(
    activity_joints: dict[str, np.ndarray], standing_pelvis_height: float, name: str, most: float
) -> None:
    low = pelvis_height(activity_joints[name]).min(axis=1)
    assert np.all(low < most * standing_pelvis_height)


@pytest.mark.parametrize("name", ["stand", "walk", "reach", "wave", "arms_raised"])
def test_upright_activities_keep_the_pelvis_up(
    activity_joints: dict[str, np.ndarray], standing_pelvis_height: float, name: str
) -> None:
    assert pelvis_height(activity_joints[name]).min() > 0.9 * standing_pelvis_height


def test_standing_keeps_both_feet_down(activity_joints: dict[str, np.ndarray]) -> None:
    joints = activity_joints["stand"]
    ankles = joints[..., [J["left_ankle"], J["right_ankle"]], 1]
    assert np.abs(ankles[..., 0] - ankles[..., 1]).max() < 0.05


def test_arms_raised_puts_both_wrists_above_the_head(
    activity_joints: dict[str, np.ndarray],
) -> None:
    def both_above(joints: np.ndarray) -> np.ndarray:
        wrists = joints[..., [J["left_wrist"], J["right_wrist"]], 1]
        return (wrists > joints[..., J["head"], 1][..., None]).all(axis=-1)

    assert np.all(both_above(activity_joints["arms_raised"]).mean(axis=1) >= 0.5)
    assert not both_above(activity_joints["stand"]).any()


def test_wave_holds_a_wrist_above_the_shoulder_and_swings_it(
    activity_joints: dict[str, np.ndarray],
) -> None:
    joints = activity_joints["wave"]
    for s in range(SEQUENCES):
        waving = []
        for side in ("left", "right"):
            wrist, shoulder = joints[s, :, J[f"{side}_wrist"]], joints[s, :, J[f"{side}_shoulder"]]
            if np.all(wrist[:, 1] > shoulder[:, 1]):
                sideways = wrist[:, 0] - shoulder[:, 0]
                turns = np.count_nonzero(np.diff(np.sign(np.diff(sideways))) != 0)
                waving.append(np.ptp(sideways) > 0.05 and turns >= 2)
        assert any(waving), f"sequence {s}: no raised, oscillating wrist"


def test_bend_tilts_the_torso_forward(activity_joints: dict[str, np.ndarray]) -> None:
    def head_ahead(joints: np.ndarray) -> np.ndarray:
        return joints[..., J["head"], 2] - joints[..., J["pelvis"], 2]

    assert np.all(head_ahead(activity_joints["bend"]).max(axis=1) > 0.25)
    assert head_ahead(activity_joints["stand"]).max() < 0.2


def test_reach_extends_a_wrist_far_from_the_torso(
    activity_joints: dict[str, np.ndarray], smpl_model: SmplModel
) -> None:
    rest = pose_joints(smpl_model, np.zeros((1, 72)))[0]
    arm_length = np.linalg.norm(rest[J["left_wrist"]] - rest[J["left_shoulder"]])

    def reach_angle(joints: np.ndarray) -> np.ndarray:
        """(S,) widest angle between an outstretched arm and the trunk's downward axis: a
        hanging arm stays near 0, a reach forward is near 90, up near 180."""
        down = joints[..., J["pelvis"], :] - joints[..., J["neck"], :]
        down /= np.linalg.norm(down, axis=-1, keepdims=True)
        widest = np.zeros(len(joints))
        for side in ("left", "right"):
            arm = joints[..., J[f"{side}_wrist"], :] - joints[..., J[f"{side}_shoulder"], :]
            length = np.linalg.norm(arm, axis=-1)
            angle = np.degrees(np.arccos(np.clip((arm * down).sum(-1) / length, -1.0, 1.0)))
            widest = np.maximum(widest, np.where(length > 0.9 * arm_length, angle, 0.0).max(1))
        return widest

    assert np.all(reach_angle(activity_joints["reach"]) > 40.0)
    assert np.all(reach_angle(activity_joints["stand"]) < 35.0)


# --- fixed splits -----------------------------------------------------------------------------


def test_held_out_set_is_fixed_and_apart_from_training() -> None:
    test_a, test_b = sm.held_out_test_motion(), sm.held_out_test_motion()
    assert len(test_a) == sm.HELD_OUT_SEQUENCES * sm.HELD_OUT_FRAMES_PER_SEQUENCE == 5120
    for field in ("poses", "betas", "activity", "sequence"):
        np.testing.assert_array_equal(getattr(test_a, field), getattr(test_b, field))
    assert sm.HELD_OUT_SEED not in {sm.training_seed(s) for s in range(10_000)}
    train = sm.training_motion(2000, seed=0)
    assert len(train) == 2000  # cut to the frame
    shared = set(map(bytes, train.poses)) & set(map(bytes, test_a.poses))
    assert not shared
    assert sm.HELD_OUT_WEIGHTS != sm.TRAINING_WEIGHTS
    assert set(test_a.activity.tolist()) == set(range(len(sm.ACTIVITIES)))
    assert test_a.betas.std() > 1.1  # wider shapes than training's sigma 1


def test_training_seeds_give_different_frames() -> None:
    a, b = sm.training_motion(300, seed=0), sm.training_motion(300, seed=1)
    assert np.abs(a.poses - b.poses).mean() > 0.05
    np.testing.assert_array_equal(a.poses, sm.training_motion(300, seed=0).poses)


def test_extreme_parameters_spread_wider() -> None:
    """The held-out set draws parameter ranges towards their ends: peak knee flexion of walks
    then varies more from sequence to sequence."""
    knee = J["left_knee"]
    spread = []
    for extreme in (False, True):
        euler, _ = sm.synthesize_euler(300, 60, ["walk"], seed=9, extreme=extreme)
        spread.append(euler[:, :, knee, 0].max(axis=1).std())
    assert spread[1] > 1.15 * spread[0]
