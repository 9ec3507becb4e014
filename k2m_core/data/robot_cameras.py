"""Cameras robots carry, as synthetic labelled sets: the held-out motion seen from a low base, a
mast, a camera pitched down at people close by, wide and narrow lenses, with clean or noisy 2D.

Each camera is a :class:`~k2m_core.data.target_domain.TargetDomainConfig` whose detector is
perfect ("clean": SMPL's own keypoints, all seen) or only noisy ("noisy": the default target's
jitter and confidences, without its keypoint conventions, occlusion or swaps). The full target
domains (the default one and any given in YAML) add those. :func:`labelled_from_target` turns
any of them into a :class:`~k2m_core.data.labelled_set.LabelledSet` with SMPL truth in the
camera's optical frame, the format `k2m eval --labelled` reads.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch

from k2m_core.body.smpl import SmplModel
from k2m_core.data.labelled_set import LabelledSet
from k2m_core.data.target_domain import SyntheticTarget, TargetDomainConfig
from k2m_core.geometry.axis_angle import matrix_to_axis_angle
from k2m_core.geometry.camera import OPTICAL_FROM_SMPL

_BASE = TargetDomainConfig()

# name -> (what it is, the camera: lens, height above the floor, distances, people's spread)
ROBOT_CAMERAS: dict[str, tuple[str, TargetDomainConfig]] = {
    "training_like": (
        "level, 6 m away, people centred, f 256 px on 512 px: the paper's training camera",
        replace(_BASE, focal_px=256.0, image_size=(512, 512), camera_height_m=(0.9, 1.1),
                distance_m=(5.5, 6.5), elevation_noise_deg=0.0, roll_std_deg=0.0,
                lateral_offset=0.0),
    ),
    "base_low": (
        "a small base: 0.3-0.5 m up, people 1.5-5 m away, f 550 px on 640x480",
        replace(_BASE, camera_height_m=(0.3, 0.5), distance_m=(1.5, 5.0)),
    ),
    "mast_high": (
        "a mast or ceiling corner: 2.2-2.8 m up, people 2-7 m away, f 550 px",
        replace(_BASE, camera_height_m=(2.2, 2.8), distance_m=(2.0, 7.0)),
    ),
    "pitched_close": (
        "head height, people 1-2.5 m away, camera pitched 8 deg off them (std), f 550 px",
        replace(_BASE, camera_height_m=(1.4, 1.7), distance_m=(1.0, 2.5), elevation_noise_deg=8.0),
    ),
    "wide": (
        "a wide lens: f 300 px on 640x480 (~94 deg), 0.8-1.4 m up, people 1-5 m away",
        replace(_BASE, focal_px=300.0, distance_m=(1.0, 5.0)),
    ),
    "narrow": (
        "a narrow lens: f 1100 px on 640x480 (~33 deg), 0.8-1.4 m up, people 4-7 m away",
        replace(_BASE, focal_px=1100.0, distance_m=(4.0, 7.0)),
    ),
}  # fmt: skip

DETECTORS = ("clean", "noisy")


def camera_config(name: str, detector: str = "clean") -> TargetDomainConfig:
    """The named robot camera with a perfect (clean) or merely noisy detector."""
    if name not in ROBOT_CAMERAS:
        raise ValueError(f"unknown robot camera {name!r}: choose one of {', '.join(ROBOT_CAMERAS)}")
    if detector not in DETECTORS:
        raise ValueError(f"unknown detector {detector!r}: choose one of {', '.join(DETECTORS)}")
    camera = ROBOT_CAMERAS[name][1]
    clean = camera.without_detector_shifts()
    if detector == "clean":
        return clean
    return replace(clean, jitter_frac=camera.jitter_frac, limb_jitter_frac=camera.limb_jitter_frac,
                   pixel_noise_px=camera.pixel_noise_px, confidence_spread=camera.confidence_spread,
                   confidence_error_sensitivity=camera.confidence_error_sensitivity)  # fmt: skip


def rest_pelvis(body: SmplModel, betas: np.ndarray) -> np.ndarray:
    """(N, 3) SMPL's rest pelvis J0 for each shape: the point the root turns about."""
    n = len(betas)
    eye = torch.eye(3).expand(n, 3, 3)
    with torch.no_grad():
        shape = torch.as_tensor(betas, dtype=torch.float32)
        out = body(shape, eye, eye[:, None].expand(n, 23, 3, 3), return_vertices=False)
    return out.joints[:, 0].double().numpy()


def labelled_from_target(
    target: SyntheticTarget, body: SmplModel, group: str = "all"
) -> LabelledSet:
    """The target's detections with its truth as SMPL in the optical frame.

    The truth root R_V and translation t_V live in the view frame; the camera's SMPL-style
    frame is ``camera_from_view`` C away and the optical frame OPTICAL_FROM_SMPL O. SMPL turns
    the root about the rest pelvis J0, so in the optical frame the root is O C R_V and the
    translation O C (J0 + t_V) - J0.
    """
    turn = OPTICAL_FROM_SMPL[None] @ target.camera_from_view.astype(np.float64)
    root = turn @ target.truth_rot_mats[:, 0].astype(np.float64)
    j0 = rest_pelvis(body, target.truth_betas)
    transl = np.einsum("nij,nj->ni", turn, j0 + target.truth_transl) - j0
    pose = matrix_to_axis_angle(target.truth_rot_mats[:, 1:].astype(np.float64))
    orient = matrix_to_axis_angle(root)
    k = target.intrinsics
    n = len(target)
    return LabelledSet(
        detections=target.detections,
        intrinsics=np.tile([k.fx, k.fy, k.cx, k.cy], (n, 1)).astype(np.float64),
        image_sizes=np.tile(target.config.image_size, (n, 1)).astype(np.float64),
        smpl={
            "betas": target.truth_betas.astype(np.float32),
            "global_orient": orient.astype(np.float32),
            "body_pose": pose.reshape(n, 69).astype(np.float32),
            "transl": transl.astype(np.float32),
        },
        joints_3d=None,
        joints_format=None,
        groups=np.full(n, group),
    )
