"""The Key2Mesh network: normalised 2D keypoints -> SMPL shape and joint rotations, one pass.

Feature extractor F: Linear(2K -> W) + BN + PReLU + Dropout, then residual blocks of
2 x [Linear(W -> W), BN, PReLU, Dropout]. SMPL head H: residual blocks of the same kind, then
Linear(W -> 10 + 24 * 6). Rotations come out in the 6D representation (Zhou et al., SPIN's
column convention) and are turned into matrices. Domain adaptation swaps F for an adapted copy
and keeps H, so the two are separate modules.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import nn

from k2m_core.body.skeleton import NUM_SMPL_JOINTS
from k2m_core.geometry.rotations import rotation_6d_to_matrix
from k2m_core.keypoints.formats import get_format


@dataclass(frozen=True)
class ModelConfig:
    keypoint_format: str = "coco18"  # the official model's input
    width: int = 1024
    extractor_blocks: int = 2  # residual blocks after the input layer (paper: 5 layers in all)
    head_blocks: int = 1  # residual blocks before the output layer (paper: 2 layers)
    dropout: float = 0.2
    num_betas: int = 10
    # also take the camera (k2m_core.data.normalize.camera_features): where the box sits and
    # how large it is, over the focal length; False: the paper's box-normalised keypoints only
    camera_input: bool = False

    @property
    def num_inputs(self) -> int:
        return 2 * get_format(self.keypoint_format).num_keypoints + (3 if self.camera_input else 0)

    @property
    def num_outputs(self) -> int:
        return self.num_betas + 6 * NUM_SMPL_JOINTS


def _layer(n_in: int, n_out: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(nn.Linear(n_in, n_out), nn.BatchNorm1d(n_out), nn.PReLU(),
                         nn.Dropout(dropout))  # fmt: skip


class ResidualBlock(nn.Module):
    """x + two layers of x: keeps gradients healthy through a deep plain MLP."""

    def __init__(self, width: int, dropout: float) -> None:
        super().__init__()
        self.layers = nn.Sequential(_layer(width, width, dropout), _layer(width, width, dropout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.layers(x)


class FeatureExtractor(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        blocks = [ResidualBlock(cfg.width, cfg.dropout) for _ in range(cfg.extractor_blocks)]
        self.net = nn.Sequential(_layer(cfg.num_inputs, cfg.width, cfg.dropout), *blocks)

    def forward(self, keypoints: torch.Tensor) -> torch.Tensor:
        return self.net(keypoints)


class SmplHead(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.num_betas = cfg.num_betas
        blocks = [ResidualBlock(cfg.width, cfg.dropout) for _ in range(cfg.head_blocks)]
        self.blocks = nn.Sequential(*blocks)
        self.out = nn.Linear(cfg.width, cfg.num_outputs)
        # Start from the rest pose: a zero output would otherwise be a degenerate 6D vector.
        identity_6d = torch.tensor([1.0, 0.0, 0.0, 1.0, 0.0, 0.0]).repeat(NUM_SMPL_JOINTS)
        self.register_buffer("rest_offset", torch.cat([torch.zeros(cfg.num_betas), identity_6d]))

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """-> betas (B, num_betas), rotation matrices (B, 24, 3, 3)."""
        out = self.out(self.blocks(features)) + self.rest_offset
        betas = out[:, : self.num_betas]
        rot_6d = out[:, self.num_betas :].reshape(-1, NUM_SMPL_JOINTS, 6)
        return betas, rotation_6d_to_matrix(rot_6d)


class Key2MeshOutput(NamedTuple):
    betas: torch.Tensor  # (B, num_betas)
    rot_mats: torch.Tensor  # (B, 24, 3, 3): global orientation then the 23 body joints
    features: torch.Tensor  # (B, width): what domain adaptation aligns


class Key2Mesh(nn.Module):
    def __init__(self, cfg: ModelConfig | None = None) -> None:
        super().__init__()
        self.cfg = cfg or ModelConfig()
        self.extractor = FeatureExtractor(self.cfg)
        self.head = SmplHead(self.cfg)

    def forward(self, keypoints: torch.Tensor) -> Key2MeshOutput:
        """keypoints: (B, 2K) normalised (see k2m_core.data.normalize), then the 3 camera
        features when the config says camera_input."""
        features = self.extractor(keypoints)
        betas, rot_mats = self.head(features)
        return Key2MeshOutput(betas, rot_mats, features)


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
