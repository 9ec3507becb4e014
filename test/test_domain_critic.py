"""WDGRL's critic pieces on cases with known answers."""

from __future__ import annotations

import pytest
import torch

from k2m_core.data.normalize import normalise_keypoints
from k2m_core.geometry.camera import project_training_camera
from k2m_core.model.domain_critic import DomainCritic, gradient_penalty, wasserstein_estimate
from k2m_core.train.adapt import reprojection_error


def linear_critic(width: int, slope: torch.Tensor) -> DomainCritic:
    """A critic that computes slope . x exactly (identity layers, PReLU slope 1, no dropout)."""
    critic = DomainCritic(width, dropout=0.0).eval()
    with torch.no_grad():
        for layer in critic.net:
            if isinstance(layer, torch.nn.Linear) and layer.out_features == width:
                layer.weight.copy_(torch.eye(width))
                layer.bias.zero_()
            elif isinstance(layer, torch.nn.PReLU):
                layer.weight.fill_(1.0)
        critic.net[-1].weight.copy_(slope[None])
        critic.net[-1].bias.zero_()
    return critic


@pytest.mark.parametrize(("norm", "expected"), [(1.0, 0.0), (2.0, 1.0), (0.5, 0.25)])
def test_gradient_penalty_of_a_linear_critic(norm: float, expected: float) -> None:
    slope = torch.zeros(8)
    slope[3] = norm  # |grad C| = norm everywhere, so the penalty is (norm - 1)^2
    critic = linear_critic(8, slope)
    gp = gradient_penalty(critic, torch.randn(64, 8), torch.randn(64, 8))
    assert gp.item() == pytest.approx(expected, abs=1e-6)


def test_wasserstein_estimate_of_a_linear_critic() -> None:
    critic = linear_critic(4, torch.tensor([1.0, 0.0, 0.0, 0.0]))
    source = torch.zeros(10, 4) + torch.tensor([3.0, 1.0, 0.0, 0.0])
    target = torch.zeros(10, 4)
    assert wasserstein_estimate(critic, source, target).item() == pytest.approx(3.0)


def test_a_trained_critic_estimates_the_distance_between_shifted_gaussians() -> None:
    """W1 between N(0, I) and N(d, I) is |d|; a critic trained with the penalty recovers it."""
    torch.manual_seed(0)
    shift = torch.zeros(8)
    shift[0], shift[1] = 1.2, 1.6  # |d| = 2
    critic = DomainCritic(8, hidden=64, dropout=0.0)
    opt = torch.optim.Adam(critic.parameters(), lr=1e-3)
    for _ in range(600):
        source, target = torch.randn(256, 8) + shift, torch.randn(256, 8)
        loss = -wasserstein_estimate(critic, source, target) + 10 * gradient_penalty(
            critic, source, target
        )
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        estimate = wasserstein_estimate(critic, torch.randn(4096, 8) + shift, torch.randn(4096, 8))
    assert estimate.item() == pytest.approx(2.0, rel=0.2)


def test_reprojection_error_ignores_where_and_how_large_the_person_is() -> None:
    gen = torch.Generator().manual_seed(0)
    joints = 0.4 * torch.randn(6, 18, 3, generator=gen)
    projected = project_training_camera(joints)
    # the same view as another camera reports it: scaled, shifted, all keypoints confident
    seen = torch.cat([2.3 * projected + torch.tensor([320.0, 240.0]), torch.ones(6, 18, 1)], -1)
    weights = torch.ones(18)
    norm = normalise_keypoints(seen)
    exact = reprojection_error(joints, norm, seen[..., 2], weights)
    assert exact.abs().max() < 1e-5
    wrong = joints.clone()
    wrong[:, 4] += 0.2  # move one wrist 20 cm
    assert (reprojection_error(wrong, norm, seen[..., 2], weights) > 1e-3).all()


def test_reprojection_error_skips_missing_keypoints() -> None:
    joints = 0.4 * torch.randn(2, 18, 3, generator=torch.Generator().manual_seed(1))
    projected = project_training_camera(joints)
    seen = torch.cat([projected, torch.ones(2, 18, 1)], -1)
    seen[:, 7, 2] = 0.0  # the detector missed this keypoint ...
    moved = joints.clone()
    moved[:, 7] += 1.0  # ... so where the model puts it does not matter
    norm = normalise_keypoints(seen)
    err = reprojection_error(moved, norm, seen[..., 2], torch.ones(18))
    assert err.abs().max() < 1e-5
