"""The camera fit of :mod:`k2m_core.infer.camera_fit` as torch operations with a fixed shape of
computation, so that it runs inside the exported graph (ONNX Runtime, TensorRT) instead of as
hundreds of small numpy calls after it: at batch 1 those cost as much as the network.

Same method, step for step: aim along the keypoints' centroid ray, linear least squares for
the translation, three turns of the view frame onto the placed body, then Huber-robust
Gauss-Newton on the pixel error with step halving. Data-dependent control flow becomes masks:
the halvings are tried all at once and the first one that lowers the cost is taken (what the
sequential loop picks); people whose steps fall below the tolerance or find no better point
keep their translation. 3x3 systems are solved by their adjugate. Float32 throughout: the
refinement works on pixel residuals, so it lands within micrometres of the float64 reference
(a test checks 1e-5 m). Also here: the placed body (root rotation, SMPL ``transl``, joints,
keypoints, vertices in the camera's optical frame), axis-angles, the person confidence and
which SMPL joints a used keypoint shows.
"""

from __future__ import annotations

import torch

from k2m_core.infer.camera_fit import (
    _GN_HALVINGS,
    _GN_STEPS,
    _GN_TOLERANCE_M,
    _HUBER_BOX_FRACTION,
    _MIN_DEPTH_M,
    _RIDGE,
    _RIDGE_FLOOR,
    DEFAULT_PRIOR_DEPTH_M,
    MIN_KEYPOINTS,
)

_OPTICAL_FLIP = (1.0, -1.0, -1.0)  # SMPL-style axes <-> optical axes (its own inverse)
_HALVING_SCALES = tuple(0.5**i for i in range(_GN_HALVINGS))
_REPROJECTION_SCALE = 0.1  # k2m_core.infer.engine's: error in box sizes where trust is 1/e


def solve3(matrix: torch.Tensor, rhs: torch.Tensor) -> torch.Tensor:
    """(B, 3) solutions of (B, 3, 3) x = (B, 3) by the adjugate (no linalg op to export)."""
    c0, c1, c2 = matrix[..., :, 0], matrix[..., :, 1], matrix[..., :, 2]
    r0, r1, r2 = (
        torch.cross(c1, c2, dim=-1),
        torch.cross(c2, c0, dim=-1),
        torch.cross(c0, c1, dim=-1),
    )
    det = (c0 * r0).sum(-1, keepdim=True)
    inverse_rows = torch.stack([r0, r1, r2], dim=-2) / det[..., None]
    return (inverse_rows @ rhs[..., None])[..., 0]


def look_at_optical(target: torch.Tensor) -> torch.Tensor:
    """(B, 3, 3) camera_from_view aiming at optical-frame ``target`` (B, 3): camera_fit's."""
    from k2m_core.geometry.camera import look_at

    flip = target.new_tensor(_OPTICAL_FLIP)
    smpl_from_view = look_at(target * flip)
    return flip[:, None] * smpl_from_view  # diag(flip) @ R


def _rays(pixels: torch.Tensor, intrinsics: torch.Tensor) -> torch.Tensor:
    focal, centre = intrinsics[:, None, 0:2], intrinsics[:, None, 2:4]
    return (pixels - centre) / focal


def _ridge(weights: torch.Tensor) -> torch.Tensor:
    return _RIDGE * (weights.sum(dim=1) + _RIDGE_FLOOR)


def linear_translation(
    points: torch.Tensor, rays: torch.Tensor, weights: torch.Tensor, prior: torch.Tensor
) -> torch.Tensor:
    """camera_fit._linear_translation: the weighted 3x3 normal equations, written out."""
    x, y = rays[..., 0], rays[..., 1]
    X, Y, Z = points[..., 0], points[..., 1], points[..., 2]
    w = weights
    sw, swx, swy = w.sum(1), (w * x).sum(1), (w * y).sum(1)
    sxy2 = (w * (x * x + y * y)).sum(1)
    bx, by = x * Z - X, y * Z - Y
    zeros = torch.zeros_like(sw)
    normal = torch.stack(
        [
            torch.stack([sw, zeros, -swx], -1),
            torch.stack([zeros, sw, -swy], -1),
            torch.stack([-swx, -swy, sxy2], -1),
        ],
        -2,
    )
    rhs = torch.stack([(w * bx).sum(1), (w * by).sum(1), -(w * (x * bx + y * by)).sum(1)], -1)
    ridge = _ridge(weights)
    eye = torch.eye(3, dtype=points.dtype, device=points.device)
    return solve3(normal + ridge[:, None, None] * eye, rhs + ridge[:, None] * prior)


def _project(points: torch.Tensor, intrinsics: torch.Tensor) -> torch.Tensor:
    z = points[..., 2:3].clamp(min=_MIN_DEPTH_M)
    return points[..., 0:2] / z * intrinsics[:, None, 0:2] + intrinsics[:, None, 2:4]


def box_size(pixels: torch.Tensor, used: torch.Tensor) -> torch.Tensor:
    """(B,) max side of the used keypoints' box, 0 for fewer than two (camera_fit's)."""
    big = torch.finfo(pixels.dtype).max
    lo = torch.where(used[..., None], pixels, big).amin(dim=1)
    hi = torch.where(used[..., None], pixels, -big).amax(dim=1)
    size = (hi - lo).amax(dim=1)
    return torch.where(used.sum(1) > 0, size, torch.zeros_like(size))


def _in_front(points: torch.Tensor, t: torch.Tensor, used: torch.Tensor) -> torch.Tensor:
    depth = points[..., 2] + t[:, None, 2]
    return ((depth > _MIN_DEPTH_M) | ~used).all(dim=1)


def _cost(
    points: torch.Tensor,
    pixels: torch.Tensor,
    weights: torch.Tensor,
    t: torch.Tensor,
    intrinsics: torch.Tensor,
    delta: torch.Tensor,
    ridge: torch.Tensor,
    prior: torch.Tensor,
) -> torch.Tensor:
    """(B, S) Huber pixel cost + ridge of S candidate translations t (B, S, 3); +inf where a
    used keypoint is behind the camera."""
    placed = points[:, None] + t[:, :, None]  # (B, S, K, 3)
    z = placed[..., 2:3].clamp(min=_MIN_DEPTH_M)
    focal, centre = intrinsics[:, None, None, 0:2], intrinsics[:, None, None, 2:4]
    error = (placed[..., 0:2] / z * focal + centre - pixels[:, None]).norm(dim=-1)
    d = delta[:, None, None]
    rho = torch.where(error <= d, 0.5 * error * error, d * (error - 0.5 * d))
    total = (weights[:, None] * rho).sum(-1) + 0.5 * ridge[:, None] * (
        (t - prior[:, None]) ** 2
    ).sum(-1)
    behind = (placed[..., 2] <= _MIN_DEPTH_M) & (weights[:, None] > 0)
    return torch.where(behind.any(-1), torch.full_like(total, float("inf")), total)


def refine_translation(
    points: torch.Tensor,
    pixels: torch.Tensor,
    weights: torch.Tensor,
    t: torch.Tensor,
    intrinsics: torch.Tensor,
    prior: torch.Tensor,
) -> torch.Tensor:
    """camera_fit._refine_translation with the halvings tried side by side."""
    used = weights > 0
    delta = (_HUBER_BOX_FRACTION * box_size(pixels, used)).clamp(min=1.0)
    ridge = _ridge(weights)
    focal = intrinsics[:, None, 0:2]
    eye = torch.eye(3, dtype=points.dtype, device=points.device)
    current = _cost(points, pixels, weights, t[:, None], intrinsics, delta, ridge, prior)[:, 0]
    active = torch.isfinite(current)
    scales = t.new_tensor(_HALVING_SCALES)[None, :, None]
    for _ in range(_GN_STEPS):
        placed = points + t[:, None]
        z = placed[..., 2].clamp(min=_MIN_DEPTH_M)
        residual = _project(placed, intrinsics) - pixels
        error = residual.norm(dim=-1)
        robust = torch.where(
            error <= delta[:, None], torch.ones_like(error), delta[:, None] / error.clamp(1e-12)
        )
        w = weights * robust
        # d(u, v)/dt rows: (f/z, 0, -f x/z^2) and (0, f/z, -f y/z^2)
        a = focal[..., 0] / z
        b = focal[..., 1] / z
        cu = -focal[..., 0] * placed[..., 0] / (z * z)
        cv = -focal[..., 1] * placed[..., 1] / (z * z)
        zeros = torch.zeros_like(ridge)
        hessian = (
            torch.stack(
                [
                    torch.stack([(w * a * a).sum(1), zeros, (w * a * cu).sum(1)], -1),
                    torch.stack([zeros, (w * b * b).sum(1), (w * b * cv).sum(1)], -1),
                    torch.stack(
                        [
                            (w * a * cu).sum(1),
                            (w * b * cv).sum(1),
                            (w * (cu * cu + cv * cv)).sum(1),
                        ],
                        -1,
                    ),
                ],
                -2,
            )
            + ridge[:, None, None] * eye
        )
        ru, rv = residual[..., 0], residual[..., 1]
        gradient = torch.stack(
            [(w * a * ru).sum(1), (w * b * rv).sum(1), (w * (cu * ru + cv * rv)).sum(1)], -1
        ) + ridge[:, None] * (t - prior)
        step = -solve3(hessian, gradient)
        active = active & (step.abs().amax(dim=1) > _GN_TOLERANCE_M)
        trials = t[:, None] + scales * step[:, None]  # (B, halvings, 3)
        costs = _cost(points, pixels, weights, trials, intrinsics, delta, ridge, prior)
        better = (costs <= current[:, None]) & active[:, None]
        # the first scale that helps: a running "none before" mask over the halvings
        taken = better & (torch.cumsum(better.to(costs.dtype), 1) == 1)
        found = better.any(dim=1)
        t = torch.where(found[:, None], (taken[..., None].to(t.dtype) * trials).sum(1), t)
        chosen = torch.where(taken, costs, torch.zeros_like(costs)).sum(1)
        current = torch.where(found, chosen, current)
        active = active & found
    return t


def fit(
    points_view: torch.Tensor,
    pixels: torch.Tensor,
    confidence: torch.Tensor,
    available: torch.Tensor,
    intrinsics: torch.Tensor,
    min_confidence: float,
    iterations: int = 3,
    prior_depth: float = DEFAULT_PRIOR_DEPTH_M,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """camera_fit.fit_body_to_camera (sight point: the body origin, refinement on) ->
    (translation (B, 3), camera_from_view (B, 3, 3), reprojection_px (B,), valid (B,),
    weights (B, K) the confidences the fit used)."""
    used = available[None] & (confidence >= min_confidence) & (confidence > 0)
    weights = torch.where(used, confidence, torch.zeros_like(confidence))
    rays = _rays(pixels, intrinsics)
    prior = torch.zeros_like(intrinsics[:, :3]) + pixels.new_tensor([0.0, 0.0, prior_depth])
    total = weights.sum(1, keepdim=True)
    centroid = (weights[..., None] * rays).sum(1) / total.clamp(min=1e-12)
    rotation = look_at_optical(torch.cat([centroid, torch.ones_like(total)], -1))

    def place(r: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        rotated = points_view @ r.transpose(1, 2)
        return rotated, linear_translation(rotated, rays, weights, prior)

    rotated, t = place(rotation)
    for _ in range(iterations):
        ahead = t[:, 2] > 0
        rotation = torch.where(ahead[:, None, None], look_at_optical(t), rotation)
        rotated, t = place(rotation)
    t = refine_translation(rotated, pixels, weights, t, intrinsics, prior)
    valid = (used.sum(1) >= MIN_KEYPOINTS) & _in_front(rotated, t, used)
    error = (_project(rotated + t[:, None], intrinsics) - pixels).norm(dim=-1)
    sum_w = weights.sum(1)
    reprojection = torch.where(
        sum_w > 0, (weights * error).sum(1) / sum_w.clamp(min=1e-12), torch.zeros_like(sum_w)
    )
    return t, rotation, reprojection, valid, weights


def person_confidence(
    keypoints: torch.Tensor, available: torch.Tensor, reprojection_px: torch.Tensor,
    min_confidence: float,
) -> torch.Tensor:  # fmt: skip
    """engine.person_confidence: mean confidence over the keypoints the model reads, times
    the fit's agreement with them (reprojection error in box sizes)."""
    conf = torch.where(available[None], keypoints[..., 2], torch.zeros_like(keypoints[..., 2]))
    support = conf.sum(1) / float(max(int(available.sum()), 1))
    box = box_size(keypoints[..., :2], conf >= min_confidence).clamp(min=1.0)
    ratio = reprojection_px / box / _REPROJECTION_SCALE
    return support * torch.exp(-ratio * ratio)
