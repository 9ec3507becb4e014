"""Adversarial body prior (HMR, Kanazawa et al. 2018): discriminators on SMPL parameters.

Domain adaptation fits target 2D keypoints and nothing in that loss stops the body from
drifting into shapes and joint angles no human has, as long as they reproject well. HMR's
remedy: discriminators trained (least-squares GAN) to tell MoCap bodies from the model's
predictions; the adapted model is then also trained to fool them, which keeps its bodies on
the manifold of real ones. One score per joint, one for the whole pose and one for the shape
let the prior catch both a single broken joint and an odd combination of plausible ones.

Inputs are body-pose rotation matrices (B, 23, 3, 3), root excluded (the global orientation
depends on the camera, not on the body), and betas (B, 10). Matrices rather than axis-angle
because they are continuous in the rotation (HMR's choice too).

The scores double as a per-body plausibility in [0, 1] that an inference engine can report.
"""

from __future__ import annotations

import math
from itertools import pairwise
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn
from torch.func import functional_call

from k2m_core.body.skeleton import NUM_BODY_POSE_JOINTS, NUM_SMPL_JOINTS, SMPL_JOINT_NAMES
from k2m_core.geometry.rotations import axis_angle_to_matrix

if TYPE_CHECKING:  # only its .poses, .betas and len() are used: no model -> data import
    from k2m_core.data.motion_bank import MotionBank

NUM_BETAS = 10
NUM_SCORES = NUM_BODY_POSE_JOINTS + 2  # 23 joints, the whole pose, the shape
SCORE_NAMES: tuple[str, ...] = (*SMPL_JOINT_NAMES[1:], "whole_pose", "shape")
"""What each of the 25 columns of BodyPrior's output judges: a report can name the worst."""


def _mlp(sizes: list[int]) -> nn.Sequential:
    """Linear layers with ReLU between them and none after the last (raw LSGAN scores)."""
    layers: list[nn.Module] = []
    for n_in, n_out in pairwise(sizes):
        layers += [nn.Linear(n_in, n_out), nn.ReLU()]
    return nn.Sequential(*layers[:-1])


def _check_inputs(rot_mats: torch.Tensor, betas: torch.Tensor, num_betas: int) -> None:
    """Fail early with a message that says what to pass; a wrong joint count is easy to make
    because the network outputs 24 rotations, root included."""
    if rot_mats.ndim != 4 or rot_mats.shape[1:] != (NUM_BODY_POSE_JOINTS, 3, 3):
        hint = (
            " (drop the root: rot_mats[:, 1:])" if rot_mats.shape[1:2] == (NUM_SMPL_JOINTS,) else ""
        )
        raise ValueError(
            f"body prior expects rotation matrices (B, {NUM_BODY_POSE_JOINTS}, 3, 3), got "
            f"{tuple(rot_mats.shape)}{hint}"
        )
    if betas.shape != (rot_mats.shape[0], num_betas):
        raise ValueError(
            f"body prior expects betas ({rot_mats.shape[0]}, {num_betas}), got {tuple(betas.shape)}"
        )


class BodyPrior(nn.Module):
    """HMR's discriminator: per-joint, whole-pose and shape heads -> (B, 25) raw scores.

    LSGAN targets are 1 for MoCap bodies and 0 for predictions, so a score near 1 reads
    "looks like MoCap". Every joint's 9 rotation numbers go through one shared embedding
    (HMR's two 1x1 convolutions); each joint then has its own linear head, and the whole-pose
    head sees all embeddings at once to judge combinations of joints.
    """

    def __init__(
        self, num_betas: int = NUM_BETAS, embed_dim: int = 32, pose_width: int = 1024
    ) -> None:
        super().__init__()
        self.num_betas = num_betas
        self.embed = nn.Sequential(
            nn.Linear(9, embed_dim), nn.ReLU(), nn.Linear(embed_dim, embed_dim), nn.ReLU()
        )
        # 23 separate Linear(embed_dim -> 1) as one (23, embed_dim) weight: one einsum, no loop.
        bound = 1.0 / math.sqrt(embed_dim)  # nn.Linear's default initialisation
        self.joint_weight = nn.Parameter(
            torch.empty(NUM_BODY_POSE_JOINTS, embed_dim).uniform_(-bound, bound)
        )
        self.joint_bias = nn.Parameter(torch.empty(NUM_BODY_POSE_JOINTS).uniform_(-bound, bound))
        self.pose_head = _mlp([NUM_BODY_POSE_JOINTS * embed_dim, pose_width, pose_width, 1])
        self.shape_head = _mlp([num_betas, 10, 5, 1])

    def forward(self, rot_mats: torch.Tensor, betas: torch.Tensor) -> torch.Tensor:
        """(B, 23, 3, 3) body-pose rotations, (B, num_betas) -> (B, 25) raw scores, columns
        in SCORE_NAMES order."""
        _check_inputs(rot_mats, betas, self.num_betas)
        embedded = self.embed(rot_mats.flatten(-2))  # (B, 23, E)
        joints = torch.einsum("bje,je->bj", embedded, self.joint_weight) + self.joint_bias
        pose = self.pose_head(embedded.flatten(1))
        shape = self.shape_head(betas)
        return torch.cat([joints, pose, shape], dim=1)


def discriminator_loss(
    prior: BodyPrior,
    real_rot: torch.Tensor,
    real_betas: torch.Tensor,
    fake_rot: torch.Tensor,
    fake_betas: torch.Tensor,
) -> torch.Tensor:
    """LSGAN loss of the discriminator (HMR eq. 6), averaged over the 25 heads:
    E[(D(real) - 1)^2] + E[D(fake)^2].

    The fakes are detached: this step trains the prior only, never the model that made them.
    The mean over heads (HMR sums) keeps the scale independent of the number of heads.
    """
    real = prior(real_rot, real_betas)
    fake = prior(fake_rot.detach(), fake_betas.detach())
    return ((real - 1.0) ** 2).mean() + (fake**2).mean()


def adversarial_loss(
    prior: BodyPrior, fake_rot: torch.Tensor, fake_betas: torch.Tensor
) -> torch.Tensor:
    """The model's loss for fooling the prior (HMR eq. 5), averaged over the 25 heads:
    E[(D(fake) - 1)^2].

    Runs the prior with detached copies of its parameters, so gradients reach the inputs (and
    the model behind them) but the prior's parameters get none: a generator step cannot
    move the discriminator, whatever optimiser the caller holds.
    """
    frozen = {name: p.detach() for name, p in prior.named_parameters()}
    scores = functional_call(prior, frozen, (fake_rot, fake_betas))
    return ((scores - 1.0) ** 2).mean()


def plausibility_from_scores(scores: torch.Tensor) -> torch.Tensor:
    """(B, 25) raw scores -> (B,) plausibility: the lowest score, clipped to [0, 1].

    The minimum, not the mean: a body is as plausible as its worst part, and a mean over 25
    heads would dilute one backwards knee to a 4 % drop. Clipping keeps a score above 1
    (more MoCap-like than MoCap) from counting as extra plausible.
    """
    return scores.min(dim=1).values.clamp(0.0, 1.0)


@torch.no_grad()
def plausibility(prior: BodyPrior, rot_mats: torch.Tensor, betas: torch.Tensor) -> torch.Tensor:
    """(B,) plausibility in [0, 1] of bodies, for reporting (no gradients).

    1: every head takes the body for MoCap; 0: some part looks like nothing in MoCap. The
    prior is trained against the model's own predictions, so a prediction the prior cannot
    tell from MoCap settles near 0.5 (the LSGAN optimum): compare scores, do not read 0.5 as
    "half implausible".
    """
    return plausibility_from_scores(prior(rot_mats, betas))


def sample_real(
    bank: MotionBank,
    batch: int,
    generator: torch.Generator,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Random frames of a motion bank as (rot_mats (B, 23, 3, 3), betas (B, 10)).

    Drawn with a CPU generator, so a seeded run samples the same frames on any device; read in
    sorted order because a large bank is a memory map. The root is dropped, as the prior wants.
    """
    if len(bank) == 0:
        raise ValueError("the motion bank is empty: no real bodies to sample")
    index = torch.randint(len(bank), (batch,), generator=generator).numpy()
    index = np.sort(index)
    poses = torch.as_tensor(np.asarray(bank.poses[index]), dtype=dtype, device=device)
    betas = torch.as_tensor(np.asarray(bank.betas[index]), dtype=dtype, device=device)
    body_pose = poses.view(batch, NUM_SMPL_JOINTS, 3)[:, 1:]
    return axis_angle_to_matrix(body_pose), betas


class PriorTrainer:
    """The prior's optimiser and its supply of MoCap bodies: adaptation calls `step` with each
    batch of predictions and keeps only the model's side of the GAN in its own loop.

    Defaults are HMR's discriminator settings (Adam, lr 1e-4, weight decay 1e-4).
    """

    def __init__(
        self,
        prior: BodyPrior,
        bank: MotionBank,
        lr: float = 1e-4,
        weight_decay: float = 1e-4,
        seed: int = 0,
    ) -> None:
        if len(bank) == 0:
            raise ValueError("the motion bank is empty: no real bodies to train the prior on")
        self.prior = prior
        self.bank = bank
        self.optimizer = torch.optim.Adam(prior.parameters(), lr=lr, weight_decay=weight_decay)
        self.generator = torch.Generator().manual_seed(seed)

    def step(self, fake_rot: torch.Tensor, fake_betas: torch.Tensor) -> torch.Tensor:
        """One discriminator update on the predictions and as many MoCap frames.

        Returns the detached loss (a tensor: calling .item() every step would stall a GPU).
        """
        real_rot, real_betas = sample_real(
            self.bank, len(fake_rot), self.generator, fake_rot.device, fake_rot.dtype
        )
        loss = discriminator_loss(self.prior, real_rot, real_betas, fake_rot, fake_betas)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return loss.detach()
