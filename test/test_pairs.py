"""Training pairs: the paper's normalisation and augmentation, checked on their definitions."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from k2m_core.body.smpl import SmplModel
from k2m_core.data.motion_bank import MotionBank
from k2m_core.data.normalize import MASKED_VALUE, normalise_keypoints
from k2m_core.data.pairs import (
    AugmentationConfig,
    PairGenerator,
    detector_view,
    random_global_rotation,
)
from k2m_core.geometry.camera import project_training_camera
from k2m_core.keypoints.formats import get_format


def test_normalisation_uses_the_box_of_visible_keypoints() -> None:
    kps = torch.tensor([[[10.0, 20.0, 1.0], [30.0, 60.0, 0.9], [500.0, 500.0, 0.05]]])
    norm = normalise_keypoints(kps)
    # box of the two visible joints: x 10..30, y 20..60 -> centre (20, 40), size max(20, 40)
    torch.testing.assert_close(norm.centre, torch.tensor([[20.0, 40.0]]))
    torch.testing.assert_close(norm.size, torch.tensor([40.0]))
    expected = torch.tensor([[[0.25, 0.0], [0.75, 1.0], [MASKED_VALUE, MASKED_VALUE]]])
    torch.testing.assert_close(norm.coords, expected)
    assert norm.visible.tolist() == [[True, True, False]]


def test_normalisation_ignores_image_position_and_scale() -> None:
    gen = torch.Generator().manual_seed(0)
    kps = torch.rand(8, 18, 3, generator=gen) * torch.tensor([640.0, 480.0, 1.0])
    moved = kps.clone()
    moved[..., :2] = 2.5 * kps[..., :2] + torch.tensor([100.0, -40.0])
    a, b = normalise_keypoints(kps), normalise_keypoints(moved)
    torch.testing.assert_close(a.coords, b.coords, atol=1e-5, rtol=0)


def test_nobody_visible_gives_a_flat_input_not_nan() -> None:
    norm = normalise_keypoints(torch.zeros(2, 18, 3))
    assert torch.isfinite(norm.coords).all()
    assert (norm.coords == MASKED_VALUE).all()


def test_global_rotation_covers_yaw_and_bounds_the_tilt() -> None:
    aug = AugmentationConfig(yaw_deg=360.0, tilt_deg=20.0)
    rot = random_global_rotation(20000, aug, torch.Generator().manual_seed(1), torch.device("cpu"))
    torch.testing.assert_close(torch.linalg.det(rot), torch.ones(20000), atol=1e-5, rtol=0)
    up = rot[:, :, 1]  # where the body's up axis goes
    tilt = torch.rad2deg(torch.acos(up[:, 1].clamp(-1, 1)))
    assert tilt.max() <= math.degrees(math.acos(math.cos(math.radians(20)) ** 2)) + 1e-3
    assert tilt.max() > 20.0  # both tilt axes are used
    forward = rot[:, :, 2]
    yaw = torch.rad2deg(torch.atan2(forward[:, 0], forward[:, 2]))
    counts = torch.histc(yaw, bins=12, min=-180, max=180)
    assert counts.min() > 0.7 * counts.mean()  # all directions, evenly


def test_detector_view_drops_jitters_and_rounds() -> None:
    clean = torch.rand(4000, 18, 2) * 200.0
    available = torch.ones(4000, 18, dtype=torch.bool)
    available[:, 3] = False
    aug = AugmentationConfig(joint_dropout=0.2, jitter_px=1.0, round_pixels=True)
    view = detector_view(clean, available, aug, torch.Generator().manual_seed(2))
    assert torch.equal(view[..., :2], torch.round(view[..., :2]))
    assert (view[:, 3, 2] == 0).all()  # a keypoint the format lacks is never reported
    dropped = (view[:, [0, 1, 2, 4], 2] == 0).float().mean()
    assert abs(dropped - 0.2) < 0.01
    # rounding N(0, 1) noise: the error's std is sqrt(1 + 1/12)
    err = (view[..., :2] - clean).flatten()
    assert abs(err.std() - math.sqrt(1 + 1 / 12)) < 0.02
    assert abs(err.mean()) < 0.01


@pytest.fixture(scope="module")
def small_bank() -> MotionBank:
    rng = np.random.default_rng(0)
    n = 64
    poses = np.zeros((n, 72), np.float32)
    poses[:, 3:] = 0.2 * rng.standard_normal((n, 69))
    return MotionBank(poses, rng.standard_normal((n, 10)).astype(np.float32),
                      np.zeros(n, np.int16), np.arange(n, dtype=np.int32), np.zeros(n, np.int8),
                      ("random",), 30.0)  # fmt: skip


@pytest.mark.parametrize("fmt", ["coco18", "coco17", "body25"])
def test_pairs_are_consistent_with_the_camera(
    small_bank: MotionBank, smpl_model: SmplModel, fmt: str
) -> None:
    gen = PairGenerator(small_bank, smpl_model, fmt, AugmentationConfig().clean(), seed=3)
    batch = gen.sample(32)
    k = get_format(fmt).num_keypoints
    assert batch.inputs.shape == (32, 2 * k)
    clean_px = project_training_camera(batch.joints_3d)
    # without noise the detector sees exactly the projection, and the input is its box units
    torch.testing.assert_close(batch.keypoints_px[..., :2], clean_px)
    torch.testing.assert_close(batch.inputs.view(32, k, 2), batch.target_2d)
    assert batch.inputs.min() >= -1e-6 and batch.inputs.max() <= 1 + 1e-6
    # the augmented root is a rotation, the rest of the pose is the bank's
    torch.testing.assert_close(torch.linalg.det(batch.rot_mats), torch.ones(32, 24), atol=1e-5,
                               rtol=0)  # fmt: skip
    torch.testing.assert_close(batch.betas, torch.as_tensor(small_bank.betas[batch.frame_index]))


def test_pairs_with_noise_keep_a_clean_target(
    small_bank: MotionBank, smpl_model: SmplModel
) -> None:
    gen = PairGenerator(small_bank, smpl_model, "coco18", AugmentationConfig(), seed=4)
    batch = gen.sample(256)
    dropped = ~batch.visible
    assert 0.1 < dropped.float().mean() < 0.3
    inputs = batch.inputs.view(256, 18, 2)
    assert (inputs[dropped] == MASKED_VALUE).all()
    # the target is the clean projection in the same box: close to the noisy input (1 px noise
    # in a ~100 px box), never equal to the masked value for dropped joints
    gap = (inputs - batch.target_2d)[batch.visible].abs()
    assert gap.max() < 0.1


def test_pair_generation_is_seeded(small_bank: MotionBank, smpl_model: SmplModel) -> None:
    a = PairGenerator(small_bank, smpl_model, "coco18", AugmentationConfig(), seed=5).sample(16)
    b = PairGenerator(small_bank, smpl_model, "coco18", AugmentationConfig(), seed=5).sample(16)
    c = PairGenerator(small_bank, smpl_model, "coco18", AugmentationConfig(), seed=6).sample(16)
    assert torch.equal(a.inputs, b.inputs)
    assert not torch.equal(a.inputs, c.inputs)


def test_empty_bank_is_refused(smpl_model: SmplModel, small_bank: MotionBank) -> None:
    with pytest.raises(ValueError, match="empty"):
        PairGenerator(small_bank.select(np.zeros(0, np.int64)), smpl_model, "coco18",
                      AugmentationConfig())  # fmt: skip
