"""A synthetic target domain: keypoints as an off-the-shelf detector on a robot's camera reports
them, with the 3D truth kept aside for evaluation only.

Key2Mesh's domain adaptation (paper §3.4-3.6) needs unlabelled keypoints from the domain the
model will serve. Without real images, this module simulates that domain from MoCap with the
shifts a real robot and estimator bring, each a knob of :class:`TargetDomainConfig`:

- robot camera: a pinhole at 0.8-1.4 m on a robot, people 2-6 m away standing on the floor,
  seen from slightly above, off-centre and sometimes cut by the image border;
- keypoint definitions: a detector's "hip" or "shoulder" is not SMPL's joint; systematic
  body-frame offsets (hips lower and wider, shoulders higher and wider, ...);
- occlusion: image borders, the torso hiding what is behind it, whole limbs hidden, dropouts;
- left/right confusions, more often for people seen from behind;
- noise proportional to the person's size, partly shared along a limb, with confidences that
  fall with error and occlusion as a real detector's do.

The shifts are systematic on purpose (the same offsets, views and occlusion patterns in every
frame), so adaptation can learn them from 2D alone; pure noise could only be averaged out.

Frames: the world ``G`` is level at the camera (y up, the camera's heading is -z); the camera's
SMPL-style frame ``S`` (x right, y up, z toward the viewer, i.e. the training camera's
convention) is ``G`` pitched down by the elevation and rolled; its optical frame is ``S``
flipped by :func:`smpl_frame_to_optical`. Ground truth lives in the view frame ``V``: ``S``
turned to look straight at the person, as the training camera does (see SyntheticTarget).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields, replace
from typing import NamedTuple

import numpy as np
import torch

from k2m_core.body.skeleton import SMPL_JOINT_NAMES, SMPL_PARENTS
from k2m_core.body.smpl import SmplModel
from k2m_core.data.detections import Detections
from k2m_core.data.motion_bank import MotionBank
from k2m_core.geometry.camera import (
    PinholeIntrinsics,
    look_at,
    project_pinhole,
    smpl_frame_to_optical,
)
from k2m_core.geometry.rotations import axis_angle_to_matrix, rotation_about_axis
from k2m_core.keypoints.convert import keypoints_from_smpl
from k2m_core.keypoints.formats import KeypointFormat, get_format

__all__ = [
    "DEFINITION_OFFSETS",
    "Placement",
    "SyntheticTarget",
    "TargetDomainConfig",
    "TargetSplit",
    "default_target_domain",
    "make_target_domain",
    "split_target",
]

Vec3 = tuple[float, float, float]

# Detector keypoint definitions vs SMPL's joints: (SMPL joint whose orientation carries the
# offset, offset in that joint's frame in metres: x = body's left, y = up, z = forward), at
# definition_offset_scale 1. COCO-style annotators click the visible hip and shoulder bumps,
# not the joint centres a skeleton model uses (SPIN and SMPLify-X leave OpenPose's hips out of
# their fits for this reason). The magnitudes are assumptions, not measured here. A first
# guess 2.5x smaller than these hid inside the detector noise (removing it changed the
# pre-trained model's PA-MPJPE by 0.6 mm) and left adaptation nothing systematic to learn;
# docs/results/ablation.md reports the ablation at both.
DEFINITION_OFFSETS: dict[str, tuple[str, Vec3]] = {
    "left_hip": ("pelvis", (0.05, -0.10, 0.0)),
    "right_hip": ("pelvis", (-0.05, -0.10, 0.0)),
    "mid_hip": ("pelvis", (0.0, -0.10, 0.0)),
    "left_shoulder": ("spine3", (0.05, 0.075, 0.0)),
    "right_shoulder": ("spine3", (-0.05, 0.075, 0.0)),
    "neck": ("spine3", (0.0, 0.075, 0.0)),
    "left_knee": ("left_hip", (0.0, 0.0, 0.05)),  # thigh frame: toward the kneecap
    "right_knee": ("right_hip", (0.0, 0.0, 0.05)),
    "left_ankle": ("left_knee", (0.0, -0.075, 0.0)),  # shank frame: further down the shin
    "right_ankle": ("right_knee", (0.0, -0.075, 0.0)),
}

# Relative keypoint noise: detectors localise extremities worst and the face best.
_NOISE_SCALE_BY_WORD: dict[str, float] = {
    "wrist": 1.6, "pinky": 1.6, "index": 1.6, "thumb": 1.6, "ankle": 1.4, "heel": 1.4,
    "toe": 1.4, "foot": 1.4, "elbow": 1.2, "knee": 1.2, "hip": 1.2, "nose": 0.6, "eye": 0.6,
    "ear": 0.8, "mouth": 0.6, "neck": 0.8,
}  # fmt: skip

_LEG_WORDS = ("hip", "knee", "ankle", "heel", "toe", "foot")  # before arms: 'foot_index'
_ARM_WORDS = ("collar", "shoulder", "elbow", "wrist", "pinky", "index", "thumb", "hand")
_HEAD_WORDS = ("nose", "eye", "ear", "mouth", "head")
_PARTS = ("left_arm", "right_arm", "left_leg", "right_leg", "head", "torso")
_SWAP_GROUPS = ("arm", "leg", "head")  # each swaps its left/right pairs as one unit
_CHAINS = ("left_arm", "right_arm", "left_leg", "right_leg", "lower_legs")

# The torso as an elliptic cylinder from just below the hips to just above mid-shoulders; a
# keypoint whose line of sight runs through more than _OCCLUDING_CHORD_M of it is hidden.
_TORSO_HALF_WIDTH_OF_SHOULDERS = 0.45
_TORSO_HALF_DEPTH_M = 0.10
_TORSO_BELOW_HIPS_M = 0.05
_TORSO_ABOVE_SHOULDERS_M = 0.04
_OCCLUDING_CHORD_M = 0.15
# Face points see along body-fixed normals (head frame); hidden when facing away this much.
_FACE_HIDDEN_BELOW_COS = -0.2


@dataclass(frozen=True)
class TargetDomainConfig:
    """Every shift of the target domain is a knob; at 0 (or False) a knob removes its shift.

    Defaults: a 640x480 robot RGB camera (f 550 px, ~60 degrees wide) at 0.8-1.4 m, people
    2-6 m away, and an off-the-shelf detector's definitions, misses, confusions and noise.
    """

    # robot camera
    focal_px: float = 550.0
    image_size: tuple[int, int] = (640, 480)  # width, height
    camera_height_m: tuple[float, float] = (0.8, 1.4)  # above the floor the person stands on
    distance_m: tuple[float, float] = (2.0, 6.0)  # horizontal, camera to the body's origin
    elevation_noise_deg: float = 3.0  # std added to the pitch that centres the person
    roll_std_deg: float = 2.0
    lateral_offset: float = 0.9  # body origin at U(-x, x) of the image half-width
    person_yaw_deg: float = 360.0  # heading uniform in [0, x); 0 faces the camera
    # keypoint definitions
    definition_offset_scale: float = 1.0  # multiplies DEFINITION_OFFSETS
    # occlusion
    truncation: bool = True  # keypoints outside the image are missing
    self_occlusion_drop: float = 0.8  # P(a torso- or head-occluded keypoint is missing)
    self_occlusion_confidence_drop: float = 0.6  # occluded but reported: confidence x (1 - x)
    self_occlusion_extra_noise: float = 1.5  # occluded but reported: jitter x (1 + x)
    limb_occlusion_prob: float = 0.08  # per arm / leg: elbow + wrist or knee + ankle missing
    lower_body_occlusion_prob: float = 0.1  # both legs below the hips (furniture, robot base)
    base_dropout: float = 0.08
    # left/right confusions (per arm, leg and face group)
    swap_prob_front: float = 0.02
    swap_prob_back: float = 0.15
    # noise, as fractions of the person's 2D box size max(w, h)
    jitter_frac: float = 0.012  # per keypoint, times a per-keypoint scale
    limb_jitter_frac: float = 0.008  # one shift shared by a limb's keypoints
    pixel_noise_px: float = 0.5
    # confidence = (1 - spread * U) * exp(-(sensitivity * error / box)^2 / 2)
    confidence_spread: float = 0.25
    confidence_error_sensitivity: float = 25.0

    def __post_init__(self) -> None:
        for name in ("focal_px", "image_size", "camera_height_m", "distance_m"):
            if any(not (math.isfinite(v) and v > 0) for v in np.atleast_1d(getattr(self, name))):
                raise ValueError(f"TargetDomainConfig.{name} must be positive and finite")
        for name in ("camera_height_m", "distance_m"):
            lo, hi = getattr(self, name)
            if lo > hi:
                raise ValueError(f"TargetDomainConfig.{name}: low {lo} exceeds high {hi}")
        probabilities = (
            "self_occlusion_drop", "self_occlusion_confidence_drop", "limb_occlusion_prob",
            "lower_body_occlusion_prob", "base_dropout", "swap_prob_front", "swap_prob_back",
            "confidence_spread",
        )  # fmt: skip
        for name in probabilities:
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"TargetDomainConfig.{name} must be in [0, 1]")
        for f in fields(self):
            value = getattr(self, f.name)
            number = isinstance(value, int | float) and not isinstance(value, bool)
            if number and not (math.isfinite(value) and value >= 0):
                raise ValueError(f"TargetDomainConfig.{f.name} must be >= 0, got {value}")

    def without_detector_shifts(self) -> TargetDomainConfig:
        """The same camera and views, with a perfect detector: clean SMPL keypoints, all seen.

        For isolating the camera's own shift, or one detector knob turned back on.
        """
        return replace(
            self,
            definition_offset_scale=0.0,
            truncation=False,
            self_occlusion_drop=0.0,
            self_occlusion_confidence_drop=0.0,
            self_occlusion_extra_noise=0.0,
            limb_occlusion_prob=0.0,
            lower_body_occlusion_prob=0.0,
            base_dropout=0.0,
            swap_prob_front=0.0,
            swap_prob_back=0.0,
            jitter_frac=0.0,
            limb_jitter_frac=0.0,
            pixel_noise_px=0.0,
            confidence_spread=0.0,
            confidence_error_sensitivity=0.0,
        )


@dataclass(frozen=True, eq=False)
class SyntheticTarget:
    """Target-domain detections plus the truth a real target would not have.

    The truth is in the *view frame*: the SMPL-style frame (x right, y up, z toward the
    viewer) of the robot camera turned about its centre to look straight at the body's model
    origin, keeping its up direction. That is Key2Mesh's training camera (body on the optical
    axis), and box normalisation hides where in the image a person stood, so this frame's root
    is exactly the global orientation a perfect model predicts. For a person on the optical
    axis the view frame is the camera frame. ``truth_joints_3d`` are the clean format keypoints
    of ``body(truth_betas, truth_rot_mats)`` (no translation); adding ``truth_transl`` puts
    them where they stand in the view frame. ``camera_from_view`` (N, 3, 3) rotates view-frame
    vectors into the camera's SMPL-style frame (``smpl_frame_to_optical`` then gives optical).
    """

    detections: Detections
    intrinsics: PinholeIntrinsics
    truth_betas: np.ndarray  # (N, 10)
    truth_rot_mats: np.ndarray  # (N, 24, 3, 3) root in the view frame
    truth_joints_3d: np.ndarray  # (N, K, 3) view frame, body model origin at 0
    truth_transl: np.ndarray  # (N, 3) view frame
    camera_from_view: np.ndarray  # (N, 3, 3)
    activity: np.ndarray  # (N,)
    activity_names: tuple[str, ...]
    sequence: np.ndarray  # (N,)
    config: TargetDomainConfig = field(default_factory=TargetDomainConfig)

    def __len__(self) -> int:
        return len(self.detections)

    @property
    def keypoint_format(self) -> KeypointFormat:
        return self.detections.format

    def root_in_camera(self) -> np.ndarray:
        """(N, 3, 3) root orientation in the camera's SMPL-style frame (for placing meshes)."""
        return self.camera_from_view @ self.truth_rot_mats[:, 0]

    def joints_in_camera(self) -> np.ndarray:
        """(N, K, 3) clean keypoints where they stand, in the camera's SMPL-style frame."""
        placed = self.truth_joints_3d + self.truth_transl[:, None]
        return np.einsum("nij,nkj->nki", self.camera_from_view, placed)

    def select(self, index: np.ndarray) -> SyntheticTarget:
        """Frames by integer index or boolean mask."""
        rows = np.atleast_1d(np.arange(len(self))[index])
        return replace(
            self,
            detections=self.detections.select(rows),
            truth_betas=self.truth_betas[rows],
            truth_rot_mats=self.truth_rot_mats[rows],
            truth_joints_3d=self.truth_joints_3d[rows],
            truth_transl=self.truth_transl[rows],
            camera_from_view=self.camera_from_view[rows],
            activity=self.activity[rows],
            sequence=self.sequence[rows],
        )


class TargetSplit(NamedTuple):
    adaptation: SyntheticTarget  # detections used unlabelled by domain adaptation
    selection: SyntheticTarget  # detections for label-free model selection
    test: SyntheticTarget  # evaluation against the truth


# --- randomness ---------------------------------------------------------------------------------


class Placement(NamedTuple):
    """Where each frame's person stands, as the unit draws the config's ranges map: distance,
    height, lateral and yaw in [0, 1) (U(0, 1) by default), elevation and roll noise in
    standard deviations (N(0, 1)). (N,) each. Pass one to make_target_domain to hold a
    person's placement over a video instead of drawing it anew every frame."""

    distance: np.ndarray
    height: np.ndarray
    lateral: np.ndarray
    yaw: np.ndarray
    elevation: np.ndarray
    roll: np.ndarray


class _Draws(NamedTuple):
    """All random numbers, drawn up front in a fixed order whatever the knobs, so that turning
    one knob changes only its own effect (the tests rely on it)."""

    distance: torch.Tensor  # (N,) U(0, 1)
    height: torch.Tensor
    lateral: torch.Tensor
    yaw: torch.Tensor
    elevation: torch.Tensor  # (N,) N(0, 1)
    roll: torch.Tensor
    self_occlusion: torch.Tensor  # (N, K) U(0, 1)
    chains: torch.Tensor  # (N, len(_CHAINS)) U(0, 1)
    dropout: torch.Tensor  # (N, K) U(0, 1)
    swap: torch.Tensor  # (N, len(_SWAP_GROUPS)) U(0, 1)
    jitter: torch.Tensor  # (N, K, 2) N(0, 1)
    limb_jitter: torch.Tensor  # (N, len(_PARTS), 2) N(0, 1)
    pixel: torch.Tensor  # (N, K, 2) N(0, 1)
    spread: torch.Tensor  # (N, K) U(0, 1)


def _draw(n: int, k: int, seed: int) -> _Draws:
    gen = torch.Generator().manual_seed(seed)

    def u(*shape: int) -> torch.Tensor:
        return torch.rand(shape, generator=gen, dtype=torch.float64)

    def g(*shape: int) -> torch.Tensor:
        return torch.randn(shape, generator=gen, dtype=torch.float64)

    return _Draws(
        u(n), u(n), u(n), u(n), g(n), g(n), u(n, k), u(n, len(_CHAINS)), u(n, k),
        u(n, len(_SWAP_GROUPS)), g(n, k, 2), g(n, len(_PARTS), 2), g(n, k, 2), u(n, k),
    )  # fmt: skip


def _between(unit: torch.Tensor, span: tuple[float, float]) -> torch.Tensor:
    return span[0] + unit * (span[1] - span[0])


# --- keypoint vocabulary --------------------------------------------------------------------------


def _part_of(name: str) -> str:
    """Which of _PARTS a keypoint belongs to, from its name."""
    words = name.split("_")
    side = "left" if "left" in words else "right" if "right" in words else None
    if any(w in words for w in _LEG_WORDS) and side:
        return f"{side}_leg"
    if any(w in words for w in _ARM_WORDS) and side:
        return f"{side}_arm"
    if any(w in words for w in _HEAD_WORDS):
        return "head"
    return "torso"  # neck, mid_hip, pelvis, thorax, spine


def _noise_scale(name: str) -> float:
    return max((s for w, s in _NOISE_SCALE_BY_WORD.items() if w in name.split("_")), default=1.0)


def _chain_mask(fmt: KeypointFormat) -> np.ndarray:
    """(len(_CHAINS), K) bool: keypoints that vanish together, limb root (shoulder, hip) kept."""
    mask = np.zeros((len(_CHAINS), fmt.num_keypoints), dtype=bool)
    for k, name in enumerate(fmt.keypoint_names):
        part, words = _part_of(name), name.split("_")
        if part.endswith(("_arm", "_leg")) and not {"shoulder", "hip"} & set(words):
            mask[_CHAINS.index(part), k] = True
            mask[_CHAINS.index("lower_legs"), k] |= part.endswith("_leg")
    return mask


def _swap_permutations(fmt: KeypointFormat) -> np.ndarray:
    """(len(_SWAP_GROUPS), K): per group, the keypoint order with that group's sides swapped."""
    flip = np.asarray(fmt.flip_indices)
    perms = np.tile(np.arange(fmt.num_keypoints), (len(_SWAP_GROUPS), 1))
    for k, name in enumerate(fmt.keypoint_names):
        part = _part_of(name)
        group = part.split("_")[-1]
        if flip[k] != k and group in _SWAP_GROUPS:
            perms[_SWAP_GROUPS.index(group), k] = flip[k]
    return perms


def _face_normal(name: str) -> Vec3 | None:
    """Outward normal of a face keypoint in the head frame (x left, z forward); None if not."""
    words = name.split("_")
    side = 1.0 if "left" in words else -1.0 if "right" in words else 0.0
    if "ear" in words:
        return (side, 0.0, 0.0)
    if "nose" in words:
        return (0.0, 0.0, 1.0)
    if "eye" in words or "mouth" in words:
        return (0.35 * side, 0.0, 0.94)
    return None


# --- geometry -----------------------------------------------------------------------------------


def _global_rotations(local: torch.Tensor) -> torch.Tensor:
    """(N, 24, 3, 3) local joint rotations -> each joint's orientation in the root's parent."""
    out = [local[:, 0]]
    for j in range(1, len(SMPL_PARENTS)):
        out.append(out[SMPL_PARENTS[j]] @ local[:, j])
    return torch.stack(out, dim=1)


def _definition_offsets(
    fmt: KeypointFormat, global_rot: torch.Tensor, scale: float
) -> torch.Tensor:
    """(N, K, 3) displacement from SMPL's keypoints to the detector's, in the posed frame."""
    out = torch.zeros(global_rot.shape[0], fmt.num_keypoints, 3, dtype=global_rot.dtype)
    for k, name in enumerate(fmt.keypoint_names):
        if name in DEFINITION_OFFSETS and scale != 0:
            joint, offset = DEFINITION_OFFSETS[name]
            vec = torch.tensor(offset, dtype=global_rot.dtype) * scale
            out[:, k] = global_rot[:, SMPL_JOINT_NAMES.index(joint)] @ vec
    return out


def _torso_chord(points: torch.Tensor, joints: torch.Tensor) -> torch.Tensor:
    """(N, K) length of the camera->point segment inside the torso cylinder (camera at 0).

    The cylinder runs from just below the hips to just above the shoulders, its section
    sized from the shoulders; joints are the 45 SMPL outputs in the same camera frame.
    """
    j = SMPL_JOINT_NAMES.index
    hips = 0.5 * (joints[:, j("left_hip")] + joints[:, j("right_hip")])
    top = 0.5 * (joints[:, j("left_shoulder")] + joints[:, j("right_shoulder")])
    across = joints[:, j("left_shoulder")] - joints[:, j("right_shoulder")]
    up = torch.nn.functional.normalize(top - hips, dim=-1)
    left = torch.nn.functional.normalize(across - (across * up).sum(-1, keepdim=True) * up, dim=-1)
    forward = torch.cross(left, up, dim=-1)
    half_width = _TORSO_HALF_WIDTH_OF_SHOULDERS * across.norm(dim=-1)
    length = (top - hips).norm(dim=-1)

    def local(p: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        rel = p - hips[:, None]
        return (
            (rel * left[:, None]).sum(-1) / half_width[:, None],
            (rel * up[:, None]).sum(-1),
            (rel * forward[:, None]).sum(-1) / _TORSO_HALF_DEPTH_M,
        )

    cx, cy, cz = local(torch.zeros_like(points))
    px, py, pz = local(points)
    dx, dy, dz = px - cx, py - cy, pz - cz
    a = (dx * dx + dz * dz).clamp_min(1e-12)
    b = 2.0 * (cx * dx + cz * dz)
    c = cx * cx + cz * cz - 1.0
    disc = b * b - 4.0 * a * c
    root = disc.clamp_min(0.0).sqrt()
    t_in, t_out = (-b - root) / (2.0 * a), (-b + root) / (2.0 * a)
    safe_dy = torch.where(dy.abs() > 1e-12, dy, torch.full_like(dy, 1e-12))
    top_y = length[:, None] + _TORSO_ABOVE_SHOULDERS_M
    ty0, ty1 = (-_TORSO_BELOW_HIPS_M - cy) / safe_dy, (top_y - cy) / safe_dy
    t_lo = torch.maximum(torch.maximum(t_in, torch.minimum(ty0, ty1)), torch.zeros_like(t_in))
    t_hi = torch.minimum(torch.minimum(t_out, torch.maximum(ty0, ty1)), torch.ones_like(t_in))
    inside = (t_hi - t_lo).clamp_min(0.0) * (disc > 0)
    return inside * points.norm(dim=-1)


def _face_hidden(fmt: KeypointFormat, points: torch.Tensor, head_rot: torch.Tensor) -> torch.Tensor:
    """(N, K) bool: face keypoints on the far side of the head from the camera (camera at 0)."""
    hidden = torch.zeros(points.shape[:2], dtype=torch.bool)
    for k, name in enumerate(fmt.keypoint_names):
        normal = _face_normal(name)
        if normal is None:
            continue
        n = head_rot @ torch.nn.functional.normalize(
            torch.tensor(normal, dtype=points.dtype), dim=0
        )
        to_camera = torch.nn.functional.normalize(-points[:, k], dim=-1)
        hidden[:, k] = (n * to_camera).sum(-1) < _FACE_HIDDEN_BELOW_COS
    return hidden


# --- the target domain --------------------------------------------------------------------------


class _Scene(NamedTuple):
    """Bodies in front of the robot camera: truth in the view frame V, the rest in S."""

    root: torch.Tensor  # (N, 3, 3) root orientation in V
    transl: torch.Tensor  # (N, 3) truth_transl, V
    clean: torch.Tensor  # (N, K, 3) format keypoints at the model origin, V
    camera_from_view: torch.Tensor  # (N, 3, 3) R_SV
    root_in_camera: torch.Tensor  # (N, 3, 3) root orientation in S
    detector: torch.Tensor  # (N, K, 3) detector-defined keypoints, camera at 0, S
    joints: torch.Tensor  # (N, 45, 3) SMPL outputs, camera at 0, S
    head_rot: torch.Tensor  # (N, 3, 3) head orientation in S
    available: torch.Tensor  # (K,) bool


def _camera_rotation(elevation: torch.Tensor, roll: torch.Tensor) -> torch.Tensor:
    """(N, 3, 3) R_GS: the camera's S axes in the level world G (pitched down, then rolled)."""
    return rotation_about_axis(-elevation, "x") @ rotation_about_axis(roll, "z")


def _view_rotation(
    origin: torch.Tensor, posed_pelvis: torch.Tensor, rest_pelvis: torch.Tensor, turns: int = 4
) -> torch.Tensor:
    """(N, 3, 3) R_SV: the camera turned to look at the body's model origin *as the body is
    posed in that view frame*, as the training camera looks at its bodies.

    SMPL turns the root about the rest pelvis J0, so re-posing the body with its root in V
    keeps the pelvis and moves the model origin to ``origin + posed_pelvis - R_SV J0`` (S
    coordinates; ``posed_pelvis`` is the pelvis's offset from ``origin`` in S). That aim
    depends on R_SV: a fixed point, reached by turning a few times (each turn shrinks the
    error by about |J0| / distance). Aiming at the world-posed origin instead would leave the
    truth's root up to a degree away from what a perfect model predicts.
    """
    r_sv = look_at(origin)
    for _ in range(turns):
        r_sv = look_at(origin + posed_pelvis - torch.einsum("nij,nj->ni", r_sv, rest_pelvis))
    return r_sv


def _rotate_rows(p: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
    """(N, ..., 3) points p -> R^T p per frame: coordinates in the frame R's columns span."""
    return torch.einsum("n...i,nij->n...j", p, r)


def _pose_in_camera(
    bank: MotionBank,
    body: SmplModel,
    fmt: KeypointFormat,
    cfg: TargetDomainConfig,
    draws: _Draws,
) -> _Scene:
    """Stand each body on the floor in front of the robot camera; express it in S and V."""
    dt = torch.float64
    poses = torch.as_tensor(np.asarray(bank.poses), dtype=dt).view(-1, 24, 3)
    betas = torch.as_tensor(np.asarray(bank.betas), dtype=dt)
    local = axis_angle_to_matrix(poses)
    yaw = rotation_about_axis(draws.yaw * math.radians(cfg.person_yaw_deg), "y")
    local = torch.cat([(yaw @ local[:, 0])[:, None], local[:, 1:]], dim=1)
    device = next(body.buffers()).device

    def on_body(x: torch.Tensor) -> torch.Tensor:
        return x.to(device=device, dtype=torch.float32)

    with torch.no_grad():  # the body stays float32 where it is; the geometry is float64, CPU
        out = body(on_body(betas), on_body(local[:, 0]), on_body(local[:, 1:]), None, False,
                   fmt.needs_h36m)  # fmt: skip
    joints_g = out.joints.to("cpu", dt)  # world orientation, model origin at 0
    h36m = None if out.h36m_joints is None else out.h36m_joints.to("cpu", dt)
    kps_g, available = keypoints_from_smpl(joints_g, fmt, h36m)
    global_rot = _global_rotations(local)
    detector_g = kps_g + _definition_offsets(fmt, global_rot, cfg.definition_offset_scale)

    # The lowest point stands on the floor; the camera pitches to centre the model origin
    # (as the training camera does), plus noise, and the person stands off to one side.
    origin_height = -joints_g[..., 1].amin(dim=1)
    height = _between(draws.height, cfg.camera_height_m)
    distance = _between(draws.distance, cfg.distance_m)
    half_width = 0.5 * cfg.image_size[0]
    side = cfg.lateral_offset * (2.0 * draws.lateral - 1.0) * half_width / cfg.focal_px
    azimuth = torch.atan(side)
    origin = torch.stack(
        [distance * torch.sin(azimuth), origin_height - height, -distance * torch.cos(azimuth)], -1
    )
    elevation = torch.atan2(height - origin_height, distance)
    elevation = elevation + math.radians(cfg.elevation_noise_deg) * draws.elevation
    r_gs = _camera_rotation(elevation, math.radians(cfg.roll_std_deg) * draws.roll)
    pelvis = joints_g[:, 0]
    r_sv = _view_rotation(_rotate_rows(origin, r_gs), _rotate_rows(pelvis, r_gs), pelvis)
    r_gv = r_gs @ r_sv

    # SMPL rotates about the rest pelvis J0, not the origin: with root R_V and this
    # translation, body(...) + transl lands exactly on the placed body.
    return _Scene(
        root=r_gv.transpose(1, 2) @ local[:, 0],
        transl=_rotate_rows(origin + pelvis, r_gv) - pelvis,
        clean=_rotate_rows(kps_g - pelvis[:, None], r_gv) + pelvis[:, None],
        camera_from_view=r_sv,
        root_in_camera=r_gs.transpose(1, 2) @ local[:, 0],
        detector=_rotate_rows(detector_g + origin[:, None], r_gs),
        joints=_rotate_rows(joints_g + origin[:, None], r_gs),
        head_rot=r_gs.transpose(1, 2) @ global_rot[:, SMPL_JOINT_NAMES.index("head")],
        available=available,
    )


def _self_occluded(fmt: KeypointFormat, scene: _Scene) -> torch.Tensor:
    """(N, K) bool: hidden behind the torso, or a face point on the far side of the head."""
    face = _face_hidden(fmt, scene.detector, scene.head_rot)
    is_face = torch.tensor([_face_normal(n) is not None for n in fmt.keypoint_names])
    torso = _torso_chord(scene.detector, scene.joints) > _OCCLUDING_CHORD_M
    return torch.where(is_face, face, torso)


def _swap_probability(cfg: TargetDomainConfig, scene: _Scene) -> torch.Tensor:
    """(N,) from front to back view: detectors confuse sides most for people seen from behind."""
    facing = scene.root_in_camera[:, :, 2]  # the body's forward axis in S
    to_camera = torch.nn.functional.normalize(-scene.joints[:, 0], dim=-1)  # from the pelvis
    away = 0.5 * (1.0 - (facing * to_camera).sum(-1))
    return cfg.swap_prob_front + (cfg.swap_prob_back - cfg.swap_prob_front) * away


def _report(
    fmt: KeypointFormat, cfg: TargetDomainConfig, scene: _Scene, draws: _Draws
) -> torch.Tensor:
    """(N, K, 3) what the detector reports: [u, v, confidence], missing keypoints all zero."""
    intrinsics = _intrinsics(cfg)
    clean_px = project_pinhole(smpl_frame_to_optical(scene.detector), intrinsics)
    available = scene.available[None].expand(clean_px.shape[:2])
    finite = torch.isfinite(clean_px).all(-1)  # behind the camera: nothing to report
    seen = available & finite
    safe_px = torch.where(seen[..., None], clean_px, torch.zeros_like(clean_px))
    big = torch.finfo(safe_px.dtype).max
    lo = torch.where(seen[..., None], safe_px, big).amin(1)
    hi = torch.where(seen[..., None], safe_px, -big).amax(1)
    box = (hi - lo).amax(-1).clamp_min(1.0)[:, None]  # (N, 1)

    occluded = _self_occluded(fmt, scene)
    kept_occluded = occluded & (draws.self_occlusion >= cfg.self_occlusion_drop)
    scale = torch.tensor([_noise_scale(n) for n in fmt.keypoint_names], dtype=safe_px.dtype)
    sigma = cfg.jitter_frac * box * scale * (1.0 + cfg.self_occlusion_extra_noise * kept_occluded)
    part = torch.tensor([_PARTS.index(_part_of(n)) for n in fmt.keypoint_names])
    noise = (
        sigma[..., None] * draws.jitter
        + cfg.limb_jitter_frac * box[..., None] * draws.limb_jitter[:, part]
        + cfg.pixel_noise_px * draws.pixel
    )
    px = safe_px + noise

    missing = ~seen | (draws.dropout < cfg.base_dropout)
    missing |= occluded & (draws.self_occlusion < cfg.self_occlusion_drop)
    chain_prob = torch.tensor(
        [cfg.limb_occlusion_prob] * 4 + [cfg.lower_body_occlusion_prob], dtype=px.dtype
    )
    hidden_chains = (draws.chains < chain_prob).to(px.dtype)
    chains = torch.as_tensor(_chain_mask(fmt), dtype=px.dtype)
    missing |= (hidden_chains @ chains) > 0
    if cfg.truncation:
        width, height = cfg.image_size
        inside = (
            (px[..., 0] >= 0) & (px[..., 0] < width) & (px[..., 1] >= 0) & (px[..., 1] < height)
        )
        missing |= ~inside

    error = noise.norm(dim=-1) / box
    confidence = (1.0 - cfg.confidence_spread * draws.spread) * torch.exp(
        -0.5 * (cfg.confidence_error_sensitivity * error) ** 2
    )
    confidence = confidence * (1.0 - cfg.self_occlusion_confidence_drop * kept_occluded)
    report = torch.cat([px, confidence[..., None]], dim=-1)
    report = torch.where(missing[..., None], torch.zeros_like(report), report)
    return _swap_sides(fmt, report, draws.swap < _swap_probability(cfg, scene)[:, None])


def _swap_sides(fmt: KeypointFormat, report: torch.Tensor, swap: torch.Tensor) -> torch.Tensor:
    """Swap left/right rows (position and confidence travel together) per group where told."""
    for g, perm in enumerate(_swap_permutations(fmt)):
        report = torch.where(swap[:, g, None, None], report[:, perm], report)
    return report


def _intrinsics(cfg: TargetDomainConfig) -> PinholeIntrinsics:
    width, height = cfg.image_size
    return PinholeIntrinsics(cfg.focal_px, cfg.focal_px, 0.5 * width, 0.5 * height)


def make_target_domain(
    bank: MotionBank,
    body: SmplModel,
    cfg: TargetDomainConfig | None = None,
    keypoint_format: str | KeypointFormat = "coco18",
    seed: int = 0,
    placement: Placement | None = None,
) -> SyntheticTarget:
    """Render every bank frame as a robot-camera detection, keeping the truth aside.

    Same bank, body, config and seed: the same target, bit for bit. One batched pass
    (float64 on the CPU), about a second for 5k frames.
    """
    cfg = cfg or TargetDomainConfig()
    fmt = get_format(keypoint_format)
    n = len(bank)
    if n == 0:
        raise ValueError("the motion bank is empty: no target domain to make")
    draws = _draw(n, fmt.num_keypoints, seed)
    if placement is not None:
        held = {k: torch.as_tensor(np.asarray(v), dtype=torch.float64)
                for k, v in placement._asdict().items()}  # fmt: skip
        if any(v.shape != (n,) for v in held.values()):
            raise ValueError(f"placement arrays must each have shape ({n},), one per frame")
        draws = draws._replace(**held)
    scene = _pose_in_camera(bank, body, fmt, cfg, draws)
    report = _report(fmt, cfg, scene, draws)
    sequence = np.asarray(bank.sequence)
    width, height = cfg.image_size
    local = axis_angle_to_matrix(torch.as_tensor(np.asarray(bank.poses)).view(n, 24, 3))
    rot_mats = torch.cat([scene.root.to(local.dtype)[:, None], local[:, 1:]], dim=1)
    return SyntheticTarget(
        detections=Detections(
            keypoints=report.numpy().astype(np.float32),
            keypoint_format=fmt.name,
            frame_ids=tuple(f"seq{s:05d}/frame{i:06d}" for i, s in enumerate(sequence)),
            image_sizes=np.tile(np.array([width, height], np.float32), (n, 1)),
        ),
        intrinsics=_intrinsics(cfg),
        truth_betas=np.asarray(bank.betas, np.float32).copy(),
        truth_rot_mats=rot_mats.numpy().astype(np.float32),
        truth_joints_3d=scene.clean.numpy().astype(np.float32),
        truth_transl=scene.transl.numpy().astype(np.float32),
        camera_from_view=scene.camera_from_view.numpy().astype(np.float32),
        activity=np.asarray(bank.activity).copy(),
        activity_names=bank.activity_names,
        sequence=sequence.copy(),
        config=cfg,
    )


def split_target(
    target: SyntheticTarget,
    fractions: tuple[float, float, float] = (0.6, 0.2, 0.2),
    seed: int = 0,
) -> TargetSplit:
    """Adaptation / selection / test parts by whole sequences, so no clip leaks across parts
    (neighbouring frames are near-duplicates). Part sizes follow the fractions of sequences."""
    if len(fractions) != 3 or any(f < 0 for f in fractions) or not math.isclose(sum(fractions), 1):
        raise ValueError(
            f"fractions must be three non-negative numbers summing to 1, got {fractions}"
        )
    sequences = np.unique(target.sequence)
    order = np.random.default_rng(seed).permutation(sequences)
    bounds = np.rint(np.cumsum(fractions) * len(order)).astype(int)
    parts = np.split(order, bounds[:2])
    return TargetSplit(*(target.select(np.isin(target.sequence, p)) for p in parts))


def default_target_domain(seed: int = 0) -> SyntheticTarget:
    """The embedded default: the held-out test motion, seen by the default robot camera and
    detector, on k2m's generated body (COCO-18, the paper's input format)."""
    from k2m_core.data.synthetic_motion import held_out_test_motion
    from k2m_core.paths import default_body_model_path

    body = SmplModel.from_file(default_body_model_path()).eval()
    return make_target_domain(held_out_test_motion(), body, TargetDomainConfig(), "coco18", seed)
