"""WDGRL's domain critic: scores feature vectors so that its mean difference between source and
target estimates their Wasserstein-1 distance (Shen et al. 2018), kept 1-Lipschitz by a
gradient penalty (Gulrajani et al. 2017). No normalisation layers, as the paper found best
(batch norm would also break the per-sample gradient penalty)."""

from __future__ import annotations

import torch
from torch import nn


class DomainCritic(nn.Module):
    def __init__(self, width: int, hidden: int | None = None, dropout: float = 0.2) -> None:
        super().__init__()
        hidden = hidden or width
        self.net = nn.Sequential(
            nn.Linear(width, hidden), nn.PReLU(), nn.Dropout(dropout),
            nn.Linear(hidden, hidden), nn.PReLU(), nn.Dropout(dropout),
            nn.Linear(hidden, 1),
        )  # fmt: skip

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.net(features).squeeze(-1)


def wasserstein_estimate(
    critic: DomainCritic, source: torch.Tensor, target: torch.Tensor
) -> torch.Tensor:
    """E[C(source)] - E[C(target)]: the critic maximises it, the target extractor minimises it."""
    return critic(source).mean() - critic(target).mean()


def gradient_penalty(
    critic: DomainCritic,
    source: torch.Tensor,
    target: torch.Tensor,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """E[(|grad C(x)| - 1)^2] at random points on lines between source and target features."""
    n = min(len(source), len(target))
    alpha = torch.rand(n, 1, generator=generator, device=source.device)
    mixed = (alpha * source[:n] + (1 - alpha) * target[:n]).detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(mixed).sum(), mixed, create_graph=True)
    return ((grad.norm(dim=1) - 1.0) ** 2).mean()
