"""Training pairs made on the fly from MoCap frames: SMPL parameters -> 2D keypoints as seen by
Key2Mesh's fixed virtual camera, with the paper's augmentation. Batched torch on any device, so
pair generation keeps up with the training step."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import NamedTuple

import numpy as np
import torch

from k2m_core.body.smpl import SmplModel
from k2m_core.data.motion_bank import MotionBank
from k2m_core.data.normalize import (
    MIN_CONFIDENCE,
    camera_features,
    normalise_keypoints,
    to_box_units,
)
from k2m_core.geometry.camera import (
    TRAINING_CAMERA_DISTANCE,
    TRAINING_FOCAL,
    look_at,
    project_aimed_view,
)
from k2m_core.geometry.rotations import axis_angle_to_matrix, rotation_about_axis
from k2m_core.keypoints.convert import keypoints_from_smpl
from k2m_core.keypoints.formats import KeypointFormat, get_format


@dataclass(frozen=True)
class AugmentationConfig:
    """The paper's per-sample augmentation, and the camera the pairs are seen by; every range is
    a config value.

    The paper's camera is fixed: ``focal`` px, ``camera_distance`` m, the body on the optical
    axis, tilted by up to ``tilt_deg``. Setting the ranges draws a robot's camera per sample
    instead: focal length, distance, where in a ``image_size`` image the body stands (up to
    ``offset_share`` of the half-width and half-height off centre) and the pitch of the line of
    sight (positive: the camera above, looking down). Targets stay in the view frame (the
    camera turned to look at the body), as the camera fit expects.
    """

    yaw_deg: float = 360.0  # global rotation about the vertical, uniform in [0, yaw_deg)
    tilt_deg: float = 20.0  # about the two other axes, uniform in [-tilt_deg, tilt_deg]
    joint_dropout: float = 0.2  # probability that a keypoint is reported missing
    jitter_px: float = 1.0  # std of Gaussian pixel noise at the training focal length
    round_pixels: bool = True  # detectors report integer pixels
    min_confidence: float = MIN_CONFIDENCE
    focal: float = TRAINING_FOCAL
    camera_distance: float = TRAINING_CAMERA_DISTANCE
    focal_range_px: tuple[float, float] | None = None  # None: always `focal`
    distance_range_m: tuple[float, float] | None = None  # None: always `camera_distance`
    pitch_range_deg: tuple[float, float] | None = None  # None: +-tilt_deg like the roll
    offset_share: float = 0.0  # 0: the body on the optical axis
    image_size: tuple[int, int] = (640, 480)  # where off-centre bodies may stand

    def clean(self) -> AugmentationConfig:
        """The same views without detector-like noise: for evaluation on clean 2D."""
        return replace(self, joint_dropout=0.0, jitter_px=0.0, round_pixels=False)


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
    camera: torch.Tensor  # (B, 4) [fx, fy, cx, cy]: pixels are relative to the principal point
    camera_from_view: torch.Tensor  # (B, 3, 3) the line of sight's turn off the optical axis
    distance: torch.Tensor  # (B,) metres from the camera to the body origin

    def model_inputs(self, camera_input: bool) -> torch.Tensor:
        """The network's input: normalised keypoints, then (camera_input) camera_features."""
        if not camera_input:
            return self.inputs
        return torch.cat([self.inputs, camera_features(self.box_centre, self.box_size,
                                                       self.camera)], dim=1)  # fmt: skip


def random_global_rotation(
    batch: int, aug: AugmentationConfig, generator: torch.Generator, device: torch.device
) -> torch.Tensor:
    """(B, 3, 3) yaw about y, then tilts about x and z: a camera anywhere around the person."""

    def uniform(lo: float, hi: float) -> torch.Tensor:
        u = torch.rand(batch, generator=generator, device=device)
        return math.radians(lo) + u * math.radians(hi - lo)

    yaw = rotation_about_axis(uniform(0.0, aug.yaw_deg), "y")
    low, high = aug.pitch_range_deg or (-aug.tilt_deg, aug.tilt_deg)
    pitch = rotation_about_axis(uniform(low, high), "x")
    roll = rotation_about_axis(uniform(-aug.tilt_deg, aug.tilt_deg), "z")
    return roll @ pitch @ yaw


class Cameras(NamedTuple):
    focal: torch.Tensor  # (B,) px
    distance: torch.Tensor  # (B,) m
    camera_from_view: torch.Tensor  # (B, 3, 3)


def draw_cameras(
    batch: int, aug: AugmentationConfig, generator: torch.Generator, device: torch.device
) -> Cameras:
    """A camera per sample: the paper's fixed one, or focal length, distance and the body's
    place in the image drawn from the configured ranges (the view turned to look at it)."""

    def uniform(span: tuple[float, float] | None, fixed: float) -> torch.Tensor:
        if span is None:
            return torch.full((batch,), float(fixed), device=device)
        u = torch.rand(batch, generator=generator, device=device)
        return span[0] + u * (span[1] - span[0])

    focal = uniform(aug.focal_range_px, aug.focal)
    distance = uniform(aug.distance_range_m, aug.camera_distance)
    if aug.offset_share <= 0:
        turn = torch.eye(3, device=device).expand(batch, 3, 3)
        return Cameras(focal, distance, turn)
    width, height = aug.image_size
    u = (2 * torch.rand(batch, generator=generator, device=device) - 1) * aug.offset_share
    v = (2 * torch.rand(batch, generator=generator, device=device) - 1) * aug.offset_share
    # the body origin's direction in the camera's SMPL-style frame (y up, looking down -z)
    sight = torch.stack([u * 0.5 * width / focal, -v * 0.5 * height / focal,
                         -torch.ones_like(focal)], -1)  # fmt: skip
    return Cameras(focal, distance, look_at(sight))


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
        cams = draw_cameras(len(idx), self.aug, self.generator, self.device)
        clean_2d = project_aimed_view(joints_3d, cams.camera_from_view, cams.distance, cams.focal)
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
            camera=torch.stack(
                [
                    cams.focal,
                    cams.focal,
                    torch.zeros_like(cams.focal),
                    torch.zeros_like(cams.focal),
                ],
                -1,
            ),
            camera_from_view=cams.camera_from_view,
            distance=cams.distance,
        )
