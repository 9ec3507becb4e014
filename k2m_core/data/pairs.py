"""Training pairs made on the fly from MoCap frames: SMPL parameters -> 2D keypoints as seen by
Key2Mesh's fixed virtual camera, with the paper's augmentation. Batched torch on any device, so
pair generation keeps up with the training step."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch

from k2m_core.body.smpl import SmplModel
from k2m_core.data.motion_bank import MotionBank
from k2m_core.data.normalize import MIN_CONFIDENCE, normalise_keypoints, to_box_units
from k2m_core.geometry.camera import (
    TRAINING_CAMERA_DISTANCE,
    TRAINING_FOCAL,
    project_training_camera,
)
from k2m_core.geometry.rotations import axis_angle_to_matrix, rotation_about_axis
from k2m_core.keypoints.convert import keypoints_from_smpl
from k2m_core.keypoints.formats import KeypointFormat, get_format


@dataclass(frozen=True)
class AugmentationConfig:
    """The paper's per-sample augmentation; every range is a config value."""

    yaw_deg: float = 360.0  # global rotation about the vertical, uniform in [0, yaw_deg)
    tilt_deg: float = 20.0  # about the two other axes, uniform in [-tilt_deg, tilt_deg]
    joint_dropout: float = 0.2  # probability that a keypoint is reported missing
    jitter_px: float = 1.0  # std of Gaussian pixel noise at the training focal length
    round_pixels: bool = True  # detectors report integer pixels
    min_confidence: float = MIN_CONFIDENCE
    focal: float = TRAINING_FOCAL
    camera_distance: float = TRAINING_CAMERA_DISTANCE

    def clean(self) -> AugmentationConfig:
        """The same views without detector-like noise: for evaluation on clean 2D."""
        return AugmentationConfig(
            self.yaw_deg,
            self.tilt_deg,
            0.0,
            0.0,
            False,
            self.min_confidence,
            self.focal,
            self.camera_distance,
        )


class PairBatch(NamedTuple):
    inputs: torch.Tensor  # (B, 2K) model input: normalised keypoints
    keypoints_px: torch.Tensor  # (B, K, 3) noisy pixel keypoints + confidence, as a detector
    target_2d: torch.Tensor  # (B, K, 2) clean projection in the input's box units
    box_centre: torch.Tensor  # (B, 2)
    box_size: torch.Tensor  # (B,)
    visible: torch.Tensor  # (B, K) bool
    rot_mats: torch.Tensor  # (B, 24, 3, 3) ground truth, augmented root included
    betas: torch.Tensor  # (B, 10)
    joints_3d: torch.Tensor  # (B, K, 3) ground-truth 3D keypoints of the format
    frame_index: torch.Tensor  # (B,) frames of the bank these came from


def random_global_rotation(
    batch: int, aug: AugmentationConfig, generator: torch.Generator, device: torch.device
) -> torch.Tensor:
    """(B, 3, 3) yaw about y, then tilts about x and z: a camera anywhere around the person."""

    def uniform(lo: float, hi: float) -> torch.Tensor:
        u = torch.rand(batch, generator=generator, device=device)
        return math.radians(lo) + u * math.radians(hi - lo)

    yaw = rotation_about_axis(uniform(0.0, aug.yaw_deg), "y")
    pitch = rotation_about_axis(uniform(-aug.tilt_deg, aug.tilt_deg), "x")
    roll = rotation_about_axis(uniform(-aug.tilt_deg, aug.tilt_deg), "z")
    return roll @ pitch @ yaw


def detector_view(
    points_2d: torch.Tensor,
    available: torch.Tensor,
    aug: AugmentationConfig,
    generator: torch.Generator,
) -> torch.Tensor:
    """Clean projections (B, K, 2) -> what a detector reports (B, K, 3): jittered, rounded,
    some keypoints dropped (confidence 0); keypoints the format lacks are always missing."""
    noisy = points_2d
    if aug.jitter_px > 0:
        noise = torch.randn(points_2d.shape, generator=generator, device=points_2d.device)
        noisy = noisy + aug.jitter_px * noise
    if aug.round_pixels:
        noisy = torch.round(noisy)
    keep = torch.rand(points_2d.shape[:2], generator=generator, device=points_2d.device)
    confidence = ((keep >= aug.joint_dropout) & available).to(points_2d.dtype)
    return torch.cat([noisy, confidence[..., None]], dim=-1)


class PairGenerator:
    """Samples frames from a motion bank and renders them into training pairs."""

    def __init__(
        self,
        bank: MotionBank,
        body: SmplModel,
        keypoint_format: str | KeypointFormat,
        augmentation: AugmentationConfig,
        device: torch.device | str = "cpu",
        seed: int = 0,
    ) -> None:
        if len(bank) == 0:
            raise ValueError("the motion bank is empty: nothing to train on")
        self.bank = bank
        self.body = body
        self.format = get_format(keypoint_format)
        self.aug = augmentation
        self.device = torch.device(device)
        self.generator = torch.Generator(device=self.device).manual_seed(seed)
        # The bank stays where it is (possibly a memory map); only sampled frames move.
        self.index_generator = torch.Generator().manual_seed(seed + 1)

    def sample(self, batch_size: int) -> PairBatch:
        index = torch.randint(len(self.bank), (batch_size,), generator=self.index_generator)
        return self.render(index)

    def render(self, index: torch.Tensor) -> PairBatch:
        """Pairs for given bank frames (random views and noise from this generator)."""
        idx = np.sort(index.numpy())  # sorted reads are kind to memory-mapped banks
        poses = torch.as_tensor(np.asarray(self.bank.poses[idx]), device=self.device)
        betas = torch.as_tensor(np.asarray(self.bank.betas[idx]), device=self.device)
        rot_mats = axis_angle_to_matrix(poses.view(-1, 24, 3))
        turn = random_global_rotation(len(idx), self.aug, self.generator, self.device)
        rot_mats = torch.cat([(turn @ rot_mats[:, 0])[:, None], rot_mats[:, 1:]], dim=1)
        with torch.no_grad():
            body = self.body(
                betas,
                rot_mats[:, 0],
                rot_mats[:, 1:],
                return_vertices=False,
                return_h36m=self.format.needs_h36m,
            )
            joints_3d, available = keypoints_from_smpl(body.joints, self.format, body.h36m_joints)
        clean_2d = project_training_camera(joints_3d, self.aug.focal, self.aug.camera_distance)
        available = available.expand(len(idx), -1)
        keypoints_px = detector_view(clean_2d, available, self.aug, self.generator)
        norm = normalise_keypoints(keypoints_px, self.aug.min_confidence)
        return PairBatch(
            inputs=norm.coords.flatten(1),
            keypoints_px=keypoints_px,
            target_2d=to_box_units(clean_2d, norm.centre, norm.size),
            box_centre=norm.centre,
            box_size=norm.size,
            visible=norm.visible,
            rot_mats=rot_mats,
            betas=betas,
            joints_3d=joints_3d,
            frame_index=torch.as_tensor(idx),
        )
