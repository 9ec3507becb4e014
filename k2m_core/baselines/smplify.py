"""SMPLify (Bogo et al. 2016) as a baseline: SMPL fitted to each person's 2D keypoints by
optimisation alone, no learning, batched over people as in SPIN's re-implementation.

Objective of person n (summed over its keypoints k; all people optimised together, their
objectives summed, which with Adam is the same as fitting each alone):

    E_n = sum_k c_k^2 GM(s_n (pi(J_k) - x_k))      robust reprojection, both coordinates
        + w_pose  * NLL_GMM(body pose)              pose prior (GaussianMixturePrior)
        + w_bend  * sum_j exp(2 b_j theta_j)         elbows and knees bent the unnatural way
        + w_shape * |betas|^2                        shape prior (SMPL's betas are whitened)

GM(r) = sigma^2 r^2 / (sigma^2 + r^2) is Geman-McClure's robust penalty; c_k the detector's
confidence (keypoints under min_confidence, or that SMPL cannot provide, weigh 0); s_n rescales
person n to a box of reference_size_px pixels, so that one sigma and one set of weights suit a
person 80 px tall as well as one 300 px tall (SMPLify worked on crops of one size).

Stages, as in SMPLify: first the camera (root orientation and translation) with the mean body
(the prior's mean pose, zero betas) on the torso and face keypoints, from the translation that
similar triangles give (the mean body's 3D shoulder-to-hip length over its 2D length) and from
`yaw_hypotheses` headings (0, 90, 180, 270 degrees about the camera's up axis by default), all
optimised, the best `hypotheses_kept` (1) per person kept; then everything (pose, shape, root,
translation), with the prior weights decreasing stage by stage, and the lowest final objective
kept per person.

Frames: the fit lives in the camera's SMPL-style frame S (x right, y up, z toward the viewer;
`smpl_frame_to_optical` maps it to the optical frame), the intrinsics being known. A person
stands at negative z. `smplify_to_view_frame` expresses a fit in a SyntheticTarget's view frame.

Left out from SMPLify: the interpenetration term (SMPL capsules), and fitting the focal length.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, NamedTuple, get_args

import numpy as np
import torch

from k2m_core.baselines.pose_prior import BODY_POSE_DIM, GaussianMixturePrior
from k2m_core.body import lbs
from k2m_core.body.skeleton import SMPL_JOINT_NAMES
from k2m_core.body.smpl import SmplModel
from k2m_core.data.normalize import box_of_visible
from k2m_core.data.target_domain import SyntheticTarget
from k2m_core.eval.evaluate import BodyPrediction, body_errors
from k2m_core.geometry.camera import PinholeIntrinsics, look_at
from k2m_core.keypoints.convert import FormatLike, keypoints_from_smpl, smpl_selection_matrix
from k2m_core.keypoints.formats import KeypointFormat, get_format
from k2m_core.train.losses import keypoint_weights

__all__ = [
    "DEFAULT_STAGES",
    "SmplifyConfig",
    "SmplifyResult",
    "SmplifyStage",
    "ViewFrameFit",
    "evaluate_on_target",
    "fit_smplify",
    "smplify_to_view_frame",
]

Optimiser = Literal["adam", "lbfgs"]
EvalFrame = Literal["camera", "view"]

_MIN_DEPTH_M = 0.05  # projection clamps depth here so a point crossing the camera stays finite
_DEPTH_RANGE_M = (0.3, 100.0)  # similar-triangles depths are clamped to this

# Elbows bend about y, knees about x; SMPLify's angle prior penalises the unnatural direction:
# (body-pose index of the angle, sign b with exp(b * theta) large when bent the wrong way).
_BEND_ANGLES: tuple[tuple[str, int, float], ...] = (
    ("left_elbow", 1, 1.0),
    ("right_elbow", 1, -1.0),
    ("left_knee", 0, -1.0),
    ("right_knee", 0, -1.0),
)
_TORSO_SIDES = (("left_shoulder", "left_hip"), ("right_shoulder", "right_hip"))


@dataclass(frozen=True)
class SmplifyStage:
    """One stage over all parameters: its optimiser steps and its prior weights."""

    iterations: int
    pose_prior: float
    shape_prior: float
    bend_prior: float

    def __post_init__(self) -> None:
        if self.iterations < 0:
            raise ValueError(f"SmplifyStage.iterations must be >= 0, got {self.iterations}")
        for name in ("pose_prior", "shape_prior", "bend_prior"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"SmplifyStage.{name} must be finite and >= 0, got {value}")


# SMPLify's schedule shape (prior weights falling ~5x per stage), tuned on synthetic people of
# the robot-camera domain (seed 123, neither training nor test motion) at a 200 px reference
# size. On 256 held-out test people: PA-MPJPE 55 mm with a perfect detector, 111 mm with the
# default one (the mean pose with its fitted camera: 140 mm).
DEFAULT_STAGES: tuple[SmplifyStage, ...] = (
    SmplifyStage(iterations=60, pose_prior=200.0, shape_prior=200.0, bend_prior=200.0),
    SmplifyStage(iterations=60, pose_prior=40.0, shape_prior=50.0, bend_prior=50.0),
    SmplifyStage(iterations=80, pose_prior=8.0, shape_prior=10.0, bend_prior=10.0),
)


@dataclass(frozen=True)
class SmplifyConfig:
    """Knobs of fit_smplify; the defaults are the measured baseline (see the module doc)."""

    stages: tuple[SmplifyStage, ...] = DEFAULT_STAGES
    camera_iterations: int = 60
    camera_depth_weight: float = 100.0  # x (relative depth change)^2, camera stage only
    # Torso as in SMPLify, plus the face, which tells a front view from a back one.
    camera_keypoints: tuple[str, ...] = (
        "left_shoulder", "right_shoulder", "left_hip", "right_hip", "neck", "mid_hip",
        "nose", "left_eye", "right_eye", "left_ear", "right_ear",
    )  # fmt: skip
    yaw_hypotheses: int = 4  # initial headings 360 / n degrees apart; 0 faces the camera
    hypotheses_kept: int = 1  # best headings per person fitted fully (cost x this); best kept
    sigma_px: float = 100.0  # Geman-McClure scale, pixels at reference_size_px
    reference_size_px: float | None = 200.0  # None: raw pixels, as SMPLify
    min_confidence: float = 0.1
    joint_weights: bool = False  # True: also weigh keypoints by k2m's training joint weights
    # Adam is elementwise, so a batch fits exactly as its people would alone; batched L-BFGS
    # shares one line search and history across people and measured far worse here.
    optimiser: Optimiser = "adam"
    lr: float = 0.05  # Adam; L-BFGS uses lbfgs_lr with a strong-Wolfe line search
    lbfgs_lr: float = 1.0
    lbfgs_history: int = 20
    fallback_depth_m: float = 4.0  # for people with too few keypoints to measure

    def __post_init__(self) -> None:
        object.__setattr__(self, "stages", tuple(self.stages))  # a list would be mutable
        object.__setattr__(self, "camera_keypoints", tuple(self.camera_keypoints))
        if self.optimiser not in get_args(Optimiser):
            raise ValueError(
                f"SmplifyConfig.optimiser must be one of {get_args(Optimiser)}, "
                f"got {self.optimiser!r}"
            )
        counts = ("yaw_hypotheses", "hypotheses_kept", "lbfgs_history")
        if self.camera_iterations < 0 or any(getattr(self, c) < 1 for c in counts):
            raise ValueError(
                f"SmplifyConfig needs camera_iterations >= 0 and {', '.join(counts)} >= 1"
            )
        positive = ("sigma_px", "lr", "lbfgs_lr", "fallback_depth_m")
        for name in positive:
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"SmplifyConfig.{name} must be positive and finite, got {value}")
        if self.reference_size_px is not None and not (
            math.isfinite(self.reference_size_px) and self.reference_size_px > 0
        ):
            raise ValueError("SmplifyConfig.reference_size_px must be None or positive")
        if not 0.0 <= self.min_confidence <= 1.0:
            raise ValueError(
                f"SmplifyConfig.min_confidence must be in [0, 1], got {self.min_confidence}"
            )
        if not (math.isfinite(self.camera_depth_weight) and self.camera_depth_weight >= 0):
            raise ValueError("SmplifyConfig.camera_depth_weight must be finite and >= 0")
        if not all(isinstance(s, SmplifyStage) for s in self.stages):
            raise ValueError("SmplifyConfig.stages must be SmplifyStage instances")


@dataclass(frozen=True, eq=False)
class SmplifyResult:
    """Fitted bodies in the camera's SMPL-style frame S (x right, y up, z toward the viewer).

    ``body(betas, rot_mats[:, 0], rot_mats[:, 1:], transl)`` puts each body where it was
    seen; ``smpl_frame_to_optical`` then ``project_pinhole`` gives its pixels.
    """

    betas: torch.Tensor  # (N, num_betas)
    rot_mats: torch.Tensor  # (N, 24, 3, 3), root in S
    transl: torch.Tensor  # (N, 3) metres, S
    body_pose: torch.Tensor  # (N, 69) the optimised axis-angles (rot_mats[:, 1:] as vectors)
    loss: torch.Tensor  # (N,) final objective (last stage's weights, scale-normalised pixels)
    reprojection_px: torch.Tensor  # (N,) mean pixel error over used keypoints; NaN if none
    keypoints_used: torch.Tensor  # (N,) int64, keypoints with confidence >= min_confidence
    yaw_hypothesis: torch.Tensor  # (N,) int64, the initial heading kept (index)
    iterations: int  # optimiser iterations per person, all stages
    evaluations: int  # forward + backward passes (each over the whole batch)
    wall_time_s: float

    def __len__(self) -> int:
        return int(self.betas.shape[0])

    def prediction(self) -> BodyPrediction:
        """Shape and rotations for `body_errors` (root in S)."""
        return BodyPrediction(self.betas, self.rot_mats)


class ViewFrameFit(NamedTuple):
    """A fit expressed in the view frame V of SyntheticTarget (see smplify_to_view_frame)."""

    betas: torch.Tensor  # (N, num_betas)
    rot_mats: torch.Tensor  # (N, 24, 3, 3), root in V
    transl: torch.Tensor  # (N, 3), V
    camera_from_view: torch.Tensor  # (N, 3, 3) R_SV, as SyntheticTarget.camera_from_view


# --- the problem --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Problem:
    """Everything fixed during the fit: targets, weights, intrinsics, the body and its prior."""

    fmt: KeypointFormat
    body: SmplModel
    prior: GaussianMixturePrior
    intrinsics: PinholeIntrinsics
    cfg: SmplifyConfig
    targets: torch.Tensor  # (N, K, 2) pixels
    weights: torch.Tensor  # (N, K) c^2 (x joint weights), 0 where unused
    used: torch.Tensor  # (N, K) bool
    scale: torch.Tensor  # (N,) pixels -> reference pixels
    bend_index: torch.Tensor  # (4,) body-pose entries of the elbow and knee bends
    bend_sign: torch.Tensor  # (4,) +1 / -1: exp(sign * angle) grows when bent the wrong way


class _Params(NamedTuple):
    """Optimised tensors; translation is t0 + depth0 * delta so one lr suits any distance."""

    root: torch.Tensor  # (B, 3) axis-angle
    body_pose: torch.Tensor  # (B, 69) axis-angle
    betas: torch.Tensor  # (B, num_betas)
    delta: torch.Tensor  # (B, 3)


def _bend_indices() -> tuple[torch.Tensor, torch.Tensor]:
    index = [3 * (SMPL_JOINT_NAMES.index(joint) - 1) + axis for joint, axis, _ in _BEND_ANGLES]
    return torch.tensor(index), torch.tensor([sign for *_, sign in _BEND_ANGLES])


def _check_keypoints(
    keypoints: np.ndarray | torch.Tensor, fmt: KeypointFormat, device: torch.device
) -> torch.Tensor:
    if isinstance(keypoints, torch.Tensor):
        kps = keypoints.detach()
    else:  # a copy: detections are often read-only arrays, which torch warns about
        kps = torch.from_numpy(np.array(keypoints))
    if kps.ndim != 3 or kps.shape[1:] != (fmt.num_keypoints, 3):
        raise ValueError(
            f"keypoints must be (N, {fmt.num_keypoints}, 3) [u, v, confidence] in pixels for "
            f"format {fmt.name!r}, got {tuple(kps.shape)}"
        )
    if not kps.is_floating_point():
        kps = kps.float()
    if not bool(torch.isfinite(kps).all()):
        bad = torch.nonzero(~torch.isfinite(kps))[0].tolist()
        raise ValueError(
            f"keypoints contain NaN or Inf (first at person {bad[0]}, keypoint "
            f"{fmt.keypoint_names[bad[1]]!r}); give missing keypoints confidence 0 instead"
        )
    return kps.to(device=device, dtype=torch.float32)


def _check_models(body: SmplModel, prior: GaussianMixturePrior, fmt: KeypointFormat) -> None:
    if fmt.needs_h36m and not body.has_h36m:
        raise ValueError(
            f"format {fmt.name!r} is regressed from H36M joints, but {body.source} has no H36M "
            "joint regressor"
        )
    if prior.dim != BODY_POSE_DIM:
        raise ValueError(
            f"the pose prior must be over {BODY_POSE_DIM}-d body poses, got {prior.dim}"
        )


def _make_problem(
    kps: torch.Tensor,
    fmt: KeypointFormat,
    body: SmplModel,
    prior: GaussianMixturePrior,
    intrinsics: PinholeIntrinsics,
    cfg: SmplifyConfig,
) -> _Problem:
    _, available = smpl_selection_matrix(fmt)
    available_t = torch.as_tensor(available, device=kps.device)
    confidence = kps[..., 2]
    used = (confidence >= cfg.min_confidence) & (confidence > 0) & available_t
    weights = torch.where(used, confidence.square(), torch.zeros_like(confidence))
    if cfg.joint_weights:
        jw = keypoint_weights(fmt).to(kps.device)
        weights = weights * jw / jw[available_t].mean()
    targets = kps[..., :2]
    scale = torch.ones(len(kps), device=kps.device)
    if cfg.reference_size_px is not None:
        _, size = box_of_visible(targets, used)  # 1 px for fewer than two points
        scale = cfg.reference_size_px / size.clamp_min(1.0)
    index, sign = _bend_indices()
    return _Problem(fmt, body, prior, intrinsics, cfg, targets, weights, used, scale,
                    index.to(kps.device), sign.to(kps.device))  # fmt: skip


# --- model, projection and terms ------------------------------------------------------------------


def _model_keypoints(
    body: SmplModel,
    fmt: KeypointFormat,
    betas: torch.Tensor,
    root: torch.Tensor,
    body_pose: torch.Tensor,
    transl: torch.Tensor | None,
) -> torch.Tensor:
    """(B, K, 3) format keypoints of posed bodies (zero rows where SMPL has none), S frame."""
    out = body(betas, root, body_pose, transl, return_vertices=False, return_h36m=fmt.needs_h36m)
    kps, _ = keypoints_from_smpl(out.joints, fmt, out.h36m_joints)
    return kps


def _project(points: torch.Tensor, intr: PinholeIntrinsics) -> torch.Tensor:
    """S-frame points (..., 3) -> pixels (..., 2); depth clamped so gradients stay finite."""
    depth = (-points[..., 2]).clamp_min(_MIN_DEPTH_M)
    u = intr.fx * points[..., 0] / depth + intr.cx
    v = -intr.fy * points[..., 1] / depth + intr.cy
    return torch.stack([u, v], dim=-1)


def _geman_mcclure(residual: torch.Tensor, sigma: float) -> torch.Tensor:
    squared = residual.square()
    return sigma**2 * squared / (sigma**2 + squared)


def _reprojection(
    pixels: torch.Tensor, problem: _Problem, weights: torch.Tensor, index: torch.Tensor
) -> torch.Tensor:
    """(B,) robust, confidence-weighted reprojection term; `index` maps rows to people."""
    residual = (pixels - problem.targets[index]) * problem.scale[index, None, None]
    per_keypoint = _geman_mcclure(residual, problem.cfg.sigma_px).sum(-1)
    return (weights * per_keypoint).sum(-1)


def _bend(body_pose: torch.Tensor, problem: _Problem) -> torch.Tensor:
    angles = body_pose[:, problem.bend_index] * problem.bend_sign
    return torch.exp(2.0 * angles).sum(-1)


def _yaw_roots(count: int) -> torch.Tensor:
    """(count, 3) axis-angle roots turned 360 / count degrees apart about the up axis."""
    yaw = torch.arange(count, dtype=torch.float32) * (2.0 * math.pi / count)
    return torch.stack([torch.zeros_like(yaw), yaw, torch.zeros_like(yaw)], -1)


# --- initialisation -------------------------------------------------------------------------------


def _mean_body_keypoints(problem: _Problem, roots: torch.Tensor) -> torch.Tensor:
    """(H, K, 3) the mean body (zero betas, the prior's mean pose) under each root, transl 0."""
    body = problem.body
    h = len(roots)
    betas = torch.zeros(h, body.num_betas, device=roots.device)
    pose = problem.prior.mean_pose().to(roots.device).expand(h, -1)
    with torch.no_grad():
        return _model_keypoints(body, problem.fmt, betas, roots, pose, None)


def _initial_depth(problem: _Problem, mean_kps: torch.Tensor) -> torch.Tensor:
    """(N,) depth by similar triangles: focal x (3D length / 2D length) of the mean body's
    shoulder-to-hip sides; failing those, of the spread of every used keypoint."""
    fmt, cfg, intr = problem.fmt, problem.cfg, problem.intrinsics
    focal = 0.5 * (intr.fx + intr.fy)
    n = len(problem.targets)
    length_3d = torch.zeros(n, device=mean_kps.device)
    length_2d = torch.zeros(n, device=mean_kps.device)
    names = set(fmt.keypoint_names)
    for top, bottom in _TORSO_SIDES:
        if top not in names or bottom not in names:
            continue
        a, b = fmt.index(top), fmt.index(bottom)
        both = (problem.used[:, a] & problem.used[:, b]).float()
        length_3d += both * (mean_kps[a] - mean_kps[b]).norm()
        length_2d += both * (problem.targets[:, a] - problem.targets[:, b]).norm(dim=-1)
    spread_3d = _spread(mean_kps[None, :, :2].expand(n, -1, -1), problem.used)
    spread_2d = _spread(problem.targets, problem.used)
    torso_ok = length_2d > 1.0
    spread_ok = (problem.used.sum(-1) >= 3) & (spread_2d > 1.0)
    depth = torch.full((n,), cfg.fallback_depth_m, device=mean_kps.device)
    depth = torch.where(spread_ok, focal * spread_3d / spread_2d.clamp_min(1.0), depth)
    depth = torch.where(torso_ok, focal * length_3d / length_2d.clamp_min(1.0), depth)
    return depth.clamp(*_DEPTH_RANGE_M)


def _spread(points: torch.Tensor, used: torch.Tensor) -> torch.Tensor:
    """(N,) RMS distance of the used points from their centroid."""
    w = used.float()
    count = w.sum(-1).clamp_min(1.0)
    centre = (points * w[..., None]).sum(1) / count[:, None]
    return (((points - centre[:, None]).square().sum(-1) * w).sum(-1) / count).sqrt()


def _camera_mask(problem: _Problem) -> torch.Tensor:
    """(N, K) bool: torso keypoints for the camera stage; all used ones where < 2 are seen."""
    names = [n for n in problem.cfg.camera_keypoints if n in problem.fmt.keypoint_names]
    torso = torch.zeros(problem.fmt.num_keypoints, dtype=torch.bool, device=problem.used.device)
    torso[[problem.fmt.index(n) for n in names]] = True
    mask = problem.used & torso
    enough = mask.sum(-1, keepdim=True) >= 2
    return torch.where(enough, mask, problem.used)


def _initial_translation(
    problem: _Problem, mask: torch.Tensor, depth: torch.Tensor, mean_kps: torch.Tensor
) -> torch.Tensor:
    """(N, H, 3) translations putting each hypothesis's masked-keypoint centroid on the ray
    through the detected centroid, at `depth`."""
    intr = problem.intrinsics
    w = mask.float()
    count = w.sum(-1).clamp_min(1.0)
    centre_2d = (problem.targets * w[..., None]).sum(1) / count[:, None]
    image_centre = torch.tensor([intr.cx, intr.cy], device=depth.device)
    centre_2d = torch.where(mask.any(-1, keepdim=True), centre_2d, image_centre)
    ray = torch.stack(
        [
            (centre_2d[:, 0] - intr.cx) / intr.fx,
            -(centre_2d[:, 1] - intr.cy) / intr.fy,
            -torch.ones_like(depth),
        ],
        dim=-1,
    )
    centre_3d = torch.einsum("nk,hkd->nhd", w, mean_kps) / count[:, None, None]  # (N, H, 3)
    return (depth[:, None] * ray)[:, None, :] - centre_3d


# --- optimisation ---------------------------------------------------------------------------------


def _run_optimiser(
    params: list[torch.Tensor],
    objective: Callable[[], torch.Tensor],
    iterations: int,
    cfg: SmplifyConfig,
) -> int:
    """Minimise objective().sum() for `iterations` steps; returns the evaluations made."""
    if iterations == 0:
        return 0
    evaluations = 0

    def closure() -> torch.Tensor:
        nonlocal evaluations
        evaluations += 1
        optimiser.zero_grad(set_to_none=True)
        loss = objective().sum()
        loss.backward()
        return loss

    if cfg.optimiser == "adam":
        optimiser: torch.optim.Optimizer = torch.optim.Adam(params, lr=cfg.lr)
        for _ in range(iterations):
            optimiser.step(closure)
    else:
        optimiser = torch.optim.LBFGS(
            params,
            lr=cfg.lbfgs_lr,
            max_iter=iterations,
            history_size=cfg.lbfgs_history,
            line_search_fn="strong_wolfe",
            tolerance_grad=1e-9,
            tolerance_change=1e-12,
        )
        optimiser.step(closure)
    return evaluations


class _CameraFit(NamedTuple):
    """Camera stage outcome per person and heading hypothesis."""

    root: torch.Tensor  # (N, H, 3) axis-angle
    delta: torch.Tensor  # (N, H, 3)
    loss: torch.Tensor  # (N, H)
    evaluations: int


def _fit_camera(problem: _Problem, transl0: torch.Tensor, depth0: torch.Tensor) -> _CameraFit:
    """Root orientation and translation of every (person, heading) pair, mean body fixed."""
    cfg, body = problem.cfg, problem.body
    n, h = transl0.shape[:2]
    device = transl0.device
    person = torch.arange(n, device=device).repeat_interleave(h)
    root = _yaw_roots(h).to(device).repeat(n, 1).requires_grad_(True)
    delta = torch.zeros(n * h, 3, device=device, requires_grad=True)
    t0, d0 = transl0.reshape(n * h, 3), depth0[person]
    weights = problem.weights[person] * _camera_mask(problem)[person]
    betas = torch.zeros(n * h, body.num_betas, device=device)
    pose = problem.prior.mean_pose().to(device).expand(n * h, -1)

    def objective() -> torch.Tensor:
        transl = t0 + d0[:, None] * delta
        kps = _model_keypoints(body, problem.fmt, betas, root, pose, transl)
        data = _reprojection(_project(kps, problem.intrinsics), problem, weights, person)
        return data + cfg.camera_depth_weight * delta[:, 2].square()

    evaluations = _run_optimiser([root, delta], objective, cfg.camera_iterations, cfg)
    with torch.no_grad():
        loss = objective().view(n, h)
    return _CameraFit(
        root.detach().view(n, h, 3), delta.detach().view(n, h, 3), loss, evaluations + 1
    )


class _Start(NamedTuple):
    """Rows of the full fit: which person each is, and its translation origin and scale."""

    person: torch.Tensor  # (R,) row -> person
    hypothesis: torch.Tensor  # (R,) the heading it started from
    transl: torch.Tensor  # (R, 3) t0
    depth: torch.Tensor  # (R,) translation = t0 + depth * delta


def _stage_objective(
    problem: _Problem,
    params: _Params,
    start: _Start,
    stage: SmplifyStage,
) -> Callable[[], torch.Tensor]:
    """E per row (see the module doc) under one stage's weights, as a closure to minimise."""

    def objective() -> torch.Tensor:
        transl = start.transl + start.depth[:, None] * params.delta
        kps = _model_keypoints(problem.body, problem.fmt, params.betas, params.root,
                               params.body_pose, transl)  # fmt: skip
        pixels = _project(kps, problem.intrinsics)
        data = _reprojection(pixels, problem, problem.weights[start.person], start.person)
        pose = problem.prior.negative_log_likelihood(params.body_pose)
        return (
            data
            + stage.pose_prior * pose
            + stage.shape_prior * params.betas.square().sum(-1)
            + stage.bend_prior * _bend(params.body_pose, problem)
        )

    return objective


def fit_smplify(
    keypoints: np.ndarray | torch.Tensor,
    keypoint_format: FormatLike,
    intrinsics: PinholeIntrinsics,
    body: SmplModel,
    prior: GaussianMixturePrior,
    cfg: SmplifyConfig | None = None,
) -> SmplifyResult:
    """Fit SMPL to N people's keypoints (N, K, 3) [u, v, confidence] in pixels, all at once.

    The body and prior stay where they are (device, float32); the keypoints follow them.
    Empty input gives an empty result; NaN or Inf input raises (mark misses with confidence
    0). A person with no usable keypoint keeps the mean body at `fallback_depth_m` in front of
    the camera, with reprojection_px NaN.
    """
    cfg = cfg or SmplifyConfig()
    fmt = get_format(keypoint_format)
    clock = time.perf_counter()
    _check_models(body, prior, fmt)
    device = body.joint_template.device
    kps = _check_keypoints(keypoints, fmt, device)
    n = len(kps)
    if n == 0:
        return _empty_result(body, device, time.perf_counter() - clock)
    problem = _make_problem(kps, fmt, body, prior, intrinsics, cfg)

    roots = _yaw_roots(cfg.yaw_hypotheses).to(device)
    mean_kps = _mean_body_keypoints(problem, roots)  # (H, K, 3)
    depth0 = _initial_depth(problem, mean_kps[0])
    transl0 = _initial_translation(problem, _camera_mask(problem), depth0, mean_kps)
    camera = _fit_camera(problem, transl0, depth0)

    # The best `hypotheses_kept` headings per person go through the full fit as rows.
    kept = min(cfg.hypotheses_kept, cfg.yaw_hypotheses)
    best = camera.loss.topk(kept, dim=1, largest=False).indices  # (N, M)
    person = torch.arange(n, device=device).repeat_interleave(kept)
    hypothesis = best.flatten()
    start = _Start(person, hypothesis, transl0[person, hypothesis], depth0[person])
    params = _Params(
        root=camera.root[person, hypothesis].clone().requires_grad_(True),
        body_pose=prior.mean_pose().to(device).expand(len(person), -1).clone().requires_grad_(),
        betas=torch.zeros(len(person), body.num_betas, device=device, requires_grad=True),
        delta=camera.delta[person, hypothesis].clone().requires_grad_(True),
    )
    loss = camera.loss[person, hypothesis]
    evaluations = camera.evaluations
    for stage in cfg.stages:
        objective = _stage_objective(problem, params, start, stage)
        evaluations += _run_optimiser(list(params), objective, stage.iterations, cfg)
        with torch.no_grad():
            loss = objective()
        evaluations += 1
    rows = torch.arange(n, device=device) * kept + loss.view(n, kept).argmin(dim=1)
    iterations = cfg.camera_iterations + sum(s.iterations for s in cfg.stages)
    return _finish(problem, params, start, loss, rows, (iterations, evaluations), clock)


def _finish(
    problem: _Problem,
    params: _Params,
    start: _Start,
    loss: torch.Tensor,
    rows: torch.Tensor,
    counts: tuple[int, int],
    clock: float,
) -> SmplifyResult:
    """The chosen row of every person, posed once more for its outputs and pixel error."""
    p = _Params(*(t.detach()[rows] for t in params))
    with torch.no_grad():
        transl = start.transl[rows] + start.depth[rows, None] * p.delta
        out = problem.body(p.betas, p.root, p.body_pose, transl,
                           return_vertices=False, return_h36m=problem.fmt.needs_h36m)  # fmt: skip
        kps, _ = keypoints_from_smpl(out.joints, problem.fmt, out.h36m_joints)
        error = (_project(kps, problem.intrinsics) - problem.targets).norm(dim=-1)
        used = problem.used.float()
        count = used.sum(-1)
        reprojection = torch.where(
            count > 0, (error * used).sum(-1) / count.clamp_min(1.0), torch.nan
        )
    return SmplifyResult(
        betas=p.betas.clone(),
        rot_mats=out.rot_mats.clone(),
        transl=transl,
        body_pose=p.body_pose.clone(),
        loss=loss.detach()[rows],
        reprojection_px=reprojection,
        keypoints_used=problem.used.sum(-1),
        yaw_hypothesis=start.hypothesis[rows],
        iterations=counts[0],
        evaluations=counts[1],
        wall_time_s=time.perf_counter() - clock,
    )


def _empty_result(body: SmplModel, device: torch.device, elapsed: float) -> SmplifyResult:
    def zeros(*shape: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        return torch.zeros(shape, dtype=dtype, device=device)

    return SmplifyResult(
        betas=zeros(0, body.num_betas),
        rot_mats=zeros(0, 24, 3, 3),
        transl=zeros(0, 3),
        body_pose=zeros(0, BODY_POSE_DIM),
        loss=zeros(0),
        reprojection_px=zeros(0),
        keypoints_used=zeros(0, dtype=torch.long),
        yaw_hypothesis=zeros(0, dtype=torch.long),
        iterations=0,
        evaluations=0,
        wall_time_s=elapsed,
    )


# --- frames and evaluation ------------------------------------------------------------------------


def smplify_to_view_frame(result: SmplifyResult, body: SmplModel) -> ViewFrameFit:
    """Express a fit in the view frame V of a SyntheticTarget: S turned to look at the body
    model's origin as the body is posed in V (the training camera's convention).

    SMPL turns the root about the rest pelvis J0, so re-posing in V keeps the pelvis at
    ``transl + J0`` and puts the origin at ``transl + J0 - R_SV J0``: a fixed point, reached
    by turning a few times, exactly as the target domain's generator does.
    """
    j0 = lbs.blend_shapes(result.betas, body.joint_template, body.joint_shapedirs)[:, 0]
    pelvis = result.transl + j0
    r_sv = look_at(result.transl)
    for _ in range(4):
        r_sv = look_at(pelvis - (r_sv @ j0[..., None])[..., 0])
    r_vs = r_sv.transpose(1, 2)
    root = r_vs @ result.rot_mats[:, 0]
    transl = (r_vs @ pelvis[..., None])[..., 0] - j0
    rot_mats = torch.cat([root[:, None], result.rot_mats[:, 1:]], dim=1)
    return ViewFrameFit(result.betas, rot_mats, transl, r_sv)


def evaluate_on_target(
    result: SmplifyResult,
    target: SyntheticTarget,
    body: SmplModel,
    frame: EvalFrame = "camera",
    with_vertices: bool = False,
) -> dict[str, torch.Tensor]:
    """Per-person errors in metres against a SyntheticTarget's truth (`body_errors`: LSP-14
    mpjpe / pa_mpjpe (N, 14), pve (N, V) when asked).

    Which comparisons are fair: PA-MPJPE aligns rotation, scale and translation, so it is the
    same in any frame. MPJPE only subtracts the hip midpoint, so the root orientation counts:
    frame "camera" compares in the camera's frame S (the truth's root rotated there exactly,
    nothing of the truth enters the prediction): SMPLify's own frame and its fair MPJPE.
    Frame "view" moves the fit to the view frame with smplify_to_view_frame (level-camera
    assumption), the frame Key2Mesh predicts in, at the cost of that small approximation.
    Translation and depth never count (both metrics centre the joints); PVE does not align.
    """
    if len(result) != len(target):
        raise ValueError(f"{len(result)} fitted people for {len(target)} target frames")
    if frame not in get_args(EvalFrame):
        raise ValueError(f"frame must be one of {get_args(EvalFrame)}, got {frame!r}")
    device = result.betas.device
    truth_rot = torch.as_tensor(target.truth_rot_mats, device=device)
    if frame == "camera":
        root = torch.as_tensor(target.root_in_camera(), device=device)
        truth_rot = torch.cat([root[:, None], truth_rot[:, 1:]], dim=1)
        pred_rot = result.rot_mats
    else:
        pred_rot = smplify_to_view_frame(result, body).rot_mats
    truth = BodyPrediction(torch.as_tensor(target.truth_betas, device=device), truth_rot)
    return body_errors(body, BodyPrediction(result.betas, pred_rot), truth, with_vertices)
