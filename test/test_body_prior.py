"""The adversarial body prior: its heads judge what they claim to, its losses are HMR's LSGAN
and train only the side they should, and a short training on synthetic MoCap against broken
bodies learns to tell them apart."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from k2m_core.body.skeleton import SMPL_JOINT_NAMES
from k2m_core.data import synthetic_motion as sm
from k2m_core.data.motion_bank import MotionBank
from k2m_core.geometry.rotations import axis_angle_to_matrix
from k2m_core.model.body_prior import (
    NUM_SCORES,
    SCORE_NAMES,
    BodyPrior,
    PriorTrainer,
    adversarial_loss,
    discriminator_loss,
    plausibility,
    plausibility_from_scores,
    sample_real,
)

BODY = {name: i for i, name in enumerate(SMPL_JOINT_NAMES[1:])}  # body joint -> column


def random_bodies(batch: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    torch.manual_seed(seed)
    return axis_angle_to_matrix(torch.randn(batch, 23, 3)), torch.randn(batch, 10)


def small_prior(seed: int = 0) -> BodyPrior:
    torch.manual_seed(seed)
    return BodyPrior(pose_width=64)


def constant_prior(value: float) -> BodyPrior:
    """A prior whose 25 heads all output `value`, whatever the body."""
    prior = small_prior()
    with torch.no_grad():
        prior.joint_weight.zero_()
        prior.joint_bias.fill_(value)
        for head in (prior.pose_head[-1], prior.shape_head[-1]):
            head.weight.zero_()
            head.bias.fill_(value)
    return prior


# ---------------------------------------------------------------------------------------------
# Architecture
# ---------------------------------------------------------------------------------------------


def test_default_architecture_is_hmrs() -> None:
    prior = BodyPrior()
    rot, betas = random_bodies(4)
    assert prior(rot, betas).shape == (4, NUM_SCORES) == (4, 25)
    assert len(SCORE_NAMES) == 25 and SCORE_NAMES[4] == "right_knee"
    assert [m.out_features for m in prior.embed if isinstance(m, torch.nn.Linear)] == [32, 32]
    assert prior.joint_weight.shape == (23, 32) and prior.joint_bias.shape == (23,)
    pose = [m for m in prior.pose_head if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in pose] == [(736, 1024), (1024, 1024),
                                                               (1024, 1)]  # fmt: skip
    shape = [m for m in prior.shape_head if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in shape] == [(10, 10), (10, 5), (5, 1)]


def test_changing_one_joint_moves_only_its_own_and_the_whole_pose_score() -> None:
    prior = small_prior()
    rot, betas = random_bodies(6)
    moved = rot.clone()
    moved[:, 5] = axis_angle_to_matrix(torch.tensor([2.0, -1.0, 0.5]))
    before, after = prior(rot, betas), prior(moved, betas)
    changed = (before != after).any(dim=0)
    expected = torch.zeros(25, dtype=torch.bool)
    expected[[5, 23]] = True
    assert torch.equal(changed, expected)


def test_changing_the_shape_moves_only_the_shape_score() -> None:
    prior = small_prior()
    rot, betas = random_bodies(6)
    changed = (prior(rot, betas) != prior(rot, betas + 1.0)).any(dim=0)
    assert changed.tolist() == [False] * 24 + [True]


def test_joint_heads_have_their_own_weights() -> None:
    """The same rotation at two joints scores differently: the heads are not one shared head."""
    prior = small_prior()
    rot = torch.eye(3).expand(1, 23, 3, 3).clone()
    scores = prior(rot, torch.zeros(1, 10))[0, :23]
    assert len(torch.unique(scores)) == 23


def test_a_full_24_joint_pose_is_refused_with_a_hint() -> None:
    rot, betas = random_bodies(2)
    with pytest.raises(ValueError, match=r"rot_mats\[:, 1:\]"):
        small_prior()(torch.cat([rot[:, :1], rot], dim=1), betas)
    with pytest.raises(ValueError, match="betas"):
        small_prior()(rot, betas[:, :8])


# ---------------------------------------------------------------------------------------------
# Losses and plausibility
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("c", [0.0, 0.3, 1.0, 1.7])
def test_losses_are_least_squares_gan(c: float) -> None:
    prior = constant_prior(c)
    real, fake = random_bodies(5, seed=1), random_bodies(7, seed=2)
    d_loss = discriminator_loss(prior, *real, *fake)
    g_loss = adversarial_loss(prior, *fake)
    assert d_loss.item() == pytest.approx((c - 1.0) ** 2 + c**2, abs=1e-6)
    assert g_loss.item() == pytest.approx((c - 1.0) ** 2, abs=1e-6)


def test_adversarial_loss_trains_the_inputs_not_the_prior() -> None:
    prior = small_prior()
    rot, betas = random_bodies(4)
    rot.requires_grad_(True)
    betas.requires_grad_(True)
    before = [p.detach().clone() for p in prior.parameters()]
    step = torch.optim.SGD([*prior.parameters(), rot, betas], lr=1.0)
    adversarial_loss(prior, rot, betas).backward()
    assert all(p.grad is None for p in prior.parameters())
    assert rot.grad is not None and rot.grad.abs().sum() > 0
    assert betas.grad is not None and betas.grad.abs().sum() > 0
    step.step()
    assert all(torch.equal(a, b) for a, b in zip(before, prior.parameters(), strict=True))


def test_discriminator_loss_trains_the_prior_not_the_fakes() -> None:
    prior = small_prior()
    real = random_bodies(4, seed=1)
    rot, betas = random_bodies(4, seed=2)
    rot.requires_grad_(True)
    betas.requires_grad_(True)
    discriminator_loss(prior, *real, rot, betas).backward()
    assert rot.grad is None and betas.grad is None
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in prior.parameters())


def test_plausibility_is_the_worst_score_clipped() -> None:
    scores = torch.full((3, 25), 0.9)
    scores[0, 7] = 0.2  # one bad joint decides
    scores[1] = 1.5  # beyond MoCap-like still reads 1
    scores[2, 24] = -0.4  # below fake-like still reads 0
    torch.testing.assert_close(plausibility_from_scores(scores), torch.tensor([0.2, 1.0, 0.0]))


def test_plausibility_is_in_unit_range_and_carries_no_graph() -> None:
    rot, betas = random_bodies(16)
    rot.requires_grad_(True)
    p = plausibility(small_prior(), rot, betas)
    assert p.shape == (16,) and not p.requires_grad
    assert bool(((p >= 0) & (p <= 1)).all())


# ---------------------------------------------------------------------------------------------
# Sampling real bodies
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bank() -> MotionBank:
    return sm.training_motion(1200, seed=0)


def test_sample_real_draws_bank_frames_without_the_root(bank: MotionBank) -> None:
    rot, betas = sample_real(bank, 32, torch.Generator().manual_seed(3))
    assert rot.shape == (32, 23, 3, 3) and betas.shape == (32, 10)
    assert rot.dtype == betas.dtype == torch.float32
    # Each sample is a bank frame: its betas and its body pose (root excluded) match one row.
    all_rot = axis_angle_to_matrix(torch.as_tensor(bank.poses).view(-1, 24, 3)[:, 1:])
    for r, b in zip(rot, betas, strict=True):
        rows = np.flatnonzero((bank.betas == b.numpy()).all(axis=1))
        assert any(torch.allclose(all_rot[i], r, atol=1e-6) for i in rows)
    again, _ = sample_real(bank, 32, torch.Generator().manual_seed(3))
    other, _ = sample_real(bank, 32, torch.Generator().manual_seed(4))
    assert torch.equal(rot, again) and not torch.equal(rot, other)


def test_sample_real_refuses_an_empty_bank(bank: MotionBank) -> None:
    with pytest.raises(ValueError, match="empty"):
        sample_real(bank.select(np.zeros(0, int)), 4, torch.Generator())


# ---------------------------------------------------------------------------------------------
# Learning to tell MoCap from broken bodies
# ---------------------------------------------------------------------------------------------


def beyond_limits(joint: int, axis: int, rng: np.random.Generator, count: int) -> np.ndarray:
    """(count, 3) axis-angle of a joint rotated 30-120 degrees past one of its limits about
    one axis (a knee bent backwards, an elbow overstretched), the other axes at rest."""
    euler = np.zeros((count, 23, 3))
    low, high = sm.LIMITS_LOW_DEG[joint, axis], sm.LIMITS_HIGH_DEG[joint, axis]
    past = rng.uniform(30.0, 120.0, count)
    euler[:, joint, axis] = np.where(rng.random(count) < 0.5, low - past, high + past)
    return sm.euler_to_axis_angle(euler)[:, joint]


def implausible(poses: np.ndarray, betas: np.ndarray, seed: int) -> tuple[np.ndarray, ...]:
    """Break real bodies: 1 to 3 joints each get a uniformly random rotation or one past
    their limits (few, so a single bad joint is what the prior must spot); half the bodies
    also get shapes far outside MoCap's."""
    rng = np.random.default_rng(seed)
    n = len(poses)
    body = poses.reshape(n, 24, 3)[:, 1:].astype(np.float64)
    order = rng.random((n, 23)).argsort(axis=1)
    broken = order < rng.integers(1, 4, (n, 1))  # 1 to 3 random joints per body
    for joint in range(23):
        rows = np.flatnonzero(broken[:, joint])
        haar = Rotation.random(len(rows), random_state=rng).as_rotvec()
        past = beyond_limits(joint, int(rng.integers(0, 3)), rng, len(rows))
        body[rows, joint] = np.where(rng.random((len(rows), 1)) < 0.5, haar, past)
    odd = rng.random(n) < 0.5
    far = rng.choice([-1.0, 1.0], (n, 10)) * rng.uniform(4.0, 8.0, (n, 10))
    return body, np.where(odd[:, None], far, betas)


def as_tensors(body_pose: np.ndarray, betas: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    rot = axis_angle_to_matrix(torch.as_tensor(body_pose, dtype=torch.float32))
    return rot, torch.as_tensor(betas, dtype=torch.float32)


def real_bodies(bank: MotionBank) -> tuple[torch.Tensor, torch.Tensor]:
    return as_tensors(bank.poses.reshape(-1, 24, 3)[:, 1:], bank.betas)


@pytest.fixture(scope="module")
def trained(bank: MotionBank) -> BodyPrior:
    """A prior (pose head narrowed to 128) after 200 steps of 128 MoCap vs 128 broken bodies.

    One thread: for a model this small, threads only add contention on a busy CI machine.
    """
    torch.manual_seed(0)
    prior = BodyPrior(pose_width=128)
    fakes = as_tensors(*implausible(bank.poses, bank.betas, seed=1))
    trainer = PriorTrainer(prior, bank, lr=3e-3, seed=0)
    pick = torch.Generator().manual_seed(1)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for _ in range(200):
            index = torch.randint(len(bank), (128,), generator=pick)
            trainer.step(fakes[0][index], fakes[1][index])
    finally:
        torch.set_num_threads(threads)
    return prior


@pytest.fixture(scope="module")
def held_out() -> MotionBank:
    """Other sequences (another seed) than the prior was trained on."""
    return sm.training_motion(240, seed=7)


def test_trained_prior_scores_held_out_mocap_above_broken_bodies(
    trained: BodyPrior, held_out: MotionBank
) -> None:
    real = plausibility(trained, *real_bodies(held_out))
    fake = plausibility(trained, *as_tensors(*implausible(held_out.poses, held_out.betas, 9)))
    print(f"plausibility real {real.mean():.3f} (min {real.min():.3f}), "
          f"broken {fake.mean():.3f} (max {fake.max():.3f})")  # fmt: skip
    assert real.mean() > fake.mean() + 0.25
    # ROC AUC: how often a real body outscores a broken one.
    assert (real[:, None] > fake[None, :]).float().mean() > 0.95


def test_adversarial_loss_is_higher_for_broken_bodies(
    trained: BodyPrior, held_out: MotionBank
) -> None:
    real = adversarial_loss(trained, *real_bodies(held_out))
    fake = adversarial_loss(trained, *as_tensors(*implausible(held_out.poses, held_out.betas, 9)))
    print(f"adversarial loss real {real:.3f}, broken {fake:.3f}")
    assert fake > real + 0.05  # mean over 25 heads, of which only the broken ones object


@pytest.mark.parametrize(
    ("joint", "axis", "degrees"),
    [("left_knee", 0, -70.0), ("right_elbow", 1, -60.0), ("neck", 0, 110.0)],
)
def test_one_absurd_joint_lowers_a_real_body_plausibility(
    trained: BodyPrior, held_out: MotionBank, joint: str, axis: int, degrees: float
) -> None:
    """A knee bent backwards, an elbow overstretched, a head folded onto the back."""
    rot, betas = real_bodies(held_out)
    euler = np.zeros((len(held_out), 23, 3))
    euler[:, BODY[joint], axis] = degrees
    assert not sm.within_limits(euler).any()
    broken = rot.clone()
    broken[:, BODY[joint]] = as_tensors(sm.euler_to_axis_angle(euler)[:, BODY[joint]], betas)[0]
    before, after = plausibility(trained, rot, betas), plausibility(trained, broken, betas)
    print(f"{joint}: plausibility {before.mean():.3f} -> {after.mean():.3f}")
    assert (after < before).float().mean() > 0.95
    assert (before - after).mean() > 0.1
