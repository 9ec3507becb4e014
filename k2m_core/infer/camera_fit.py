"""Placing predicted bodies in a real camera: translation and view rotation from 2D keypoints.

Key2Mesh predicts a body in the *view frame* (paper §4.5 leaves placement to a least-squares
fit): the SMPL-style frame (x right, y up, z toward the viewer) of a camera turned about its
centre to look straight at the person, as the training camera always did. Box normalisation
hides where in the image the person stood, so a person off the optical axis needs both a
translation and the rotation from the view frame to the real camera, and that rotation depends
on the direction to the person, i.e. on the translation itself. :func:`fit_body_to_camera`
alternates the two until they agree.

Conventions (all numpy, float64 inside):

- ``translation`` is in the camera's optical frame (x right, y down, z forward, metres) and is
  where the origin of the body's own frame lands: ``camera_from_view @ p + translation`` is the
  optical-frame position of a view-frame point ``p``. The network's outputs share SMPL's model
  origin (the root rotates about the rest pelvis, no translation), so this is SMPL's ``transl``
  only after the pelvis correction the engine applies.
- ``camera_from_view`` rotates view-frame (SMPL-style) vectors into the optical frame. The view
  frame's z points from the body's origin to the camera and its x axis stays level in the
  camera's SMPL-style frame (x = up x z, no roll about the line of sight), as
  :mod:`k2m_core.data.target_domain`'s ``_look_at`` builds it.

The target domain aims its view frame at the model origin of the body as posed in the *world*.
SMPL rotates about the rest pelvis, so that point is not fixed to the predicted body: it sits at
``J0 - R_world_from_view^T J0`` in the body's frame, which depends on the camera's pitch and roll
relative to gravity that no 2D fit can see. Aiming at the body origin (the two coincide for a
level camera facing the person) leaves the fit off the generator's rotation by up to about half
a degree (1-2 mm in translation); ``sight_point`` accepts the true aim point where it is known.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from k2m_core.geometry.camera import (
    OPTICAL_FROM_SMPL,
    TRAINING_FOCAL,
    PinholeIntrinsics,
    default_intrinsics,
    look_at,
)
from k2m_core.infer import camera_fit_kernel as kernel

__all__ = [
    "DEFAULT_PRIOR_DEPTH_M",
    "MIN_KEYPOINTS",
    "CameraFit",
    "box_size",
    "default_intrinsics",
    "fit_body_to_camera",
    "look_at_optical",
    "solve_translation",
    "training_camera_intrinsics",
]

# Fewer usable keypoints than this leave the depth unobserved (one ray, any distance).
MIN_KEYPOINTS = 2
# Where a person without enough keypoints is put: mid-range of a robot's camera (2-6 m).
DEFAULT_PRIOR_DEPTH_M = 4.0
# Ridge toward the prior translation, relative to the total keypoint weight: far too small to
# bias a real fit (< 0.001 mm at 6 m), large enough to keep the normal equations invertible.
# (The ridge floor, in weight units, gives a person with no keypoints the prior. The robust
# refinement's Huber threshold is a share of the person's box, never below 1 px; it stops after
# GN_STEPS or at steps under 0.1 micrometre. All in camera_fit_kernel, where they are used.)
_RIDGE = kernel.RIDGE
_RIDGE_FLOOR = kernel.RIDGE_FLOOR

# SMPL-style axes (y up, z toward the viewer) -> optical axes (y down, z forward).


class CameraFit(NamedTuple):
    """N bodies placed in one camera (see the module docstring for the frames)."""

    translation: np.ndarray  # (N, 3) optical frame, metres: the body frame's origin
    camera_from_view: np.ndarray  # (N, 3, 3) view-frame SMPL-style axes -> optical
    reprojection_px: np.ndarray  # (N,) confidence-weighted mean pixel error; 0 if none used
    valid: np.ndarray  # (N,) bool: >= MIN_KEYPOINTS used and every one in front of the camera


def training_camera_intrinsics(focal: float = TRAINING_FOCAL) -> PinholeIntrinsics:
    """Key2Mesh's fixed training camera as a pinhole: pixels centred on the optical axis.

    With :func:`~k2m_core.geometry.camera.smpl_to_training_camera_frame` it reproduces
    :func:`~k2m_core.geometry.camera.project_training_camera`; a fit on training-camera
    pixels recovers the translation (0, 0, 6).
    """
    return PinholeIntrinsics(fx=focal, fy=focal, cx=0.0, cy=0.0)


# --- input checks ---------------------------------------------------------------------------------


def _as_array(name: str, value: np.ndarray, shape: tuple[int | None, ...]) -> np.ndarray:
    """float64 copy of ``value`` with the given shape (None: any size) and no NaN/inf."""
    array = np.asarray(value, dtype=np.float64)
    if array.ndim != len(shape) or any(
        want is not None and got != want for got, want in zip(array.shape, shape, strict=True)
    ):
        expected = "(" + ", ".join("*" if s is None else str(s) for s in shape) + ")"
        raise ValueError(f"{name} must have shape {expected}, got {array.shape}")
    if not np.isfinite(array).all():
        bad = np.argwhere(~np.isfinite(array))[0].tolist()
        raise ValueError(
            f"{name} holds {int((~np.isfinite(array)).sum())} NaN/inf values (first at index "
            f"{bad}); mark missing keypoints with weight 0 and finite coordinates instead"
        )
    return array


def _check_batch(
    points_3d: np.ndarray,
    keypoints_2d: np.ndarray,
    weights: np.ndarray,
    names: tuple[str, str, str],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The three per-keypoint arrays (named as the caller's arguments), checked for NaN and
    for agreeing (N, K) shapes."""
    points_name, pixels_name, weights_name = names
    points = _as_array(points_name, points_3d, (None, None, 3))
    n, k = points.shape[:2]
    pixels = _as_array(pixels_name, keypoints_2d, (n, k, 2))
    w = _as_array(weights_name, weights, (n, k))
    if (w < 0).any():
        raise ValueError(f"{weights_name} must be >= 0, got a minimum of {w.min():.3g}")
    return points, pixels, w


# --- the linear solve ---------------------------------------------------------------------------


def _normalised(pixels: np.ndarray, intrinsics: PinholeIntrinsics) -> np.ndarray:
    """Pixels -> normalised image coordinates (x/z, y/z of the ray)."""
    u = (pixels[..., 0] - intrinsics.cx) / intrinsics.fx
    v = (pixels[..., 1] - intrinsics.cy) / intrinsics.fy
    return np.stack([u, v], axis=-1)


def _ridge(weights: np.ndarray) -> np.ndarray:
    """(N,) ridge strength: relative to each person's total weight, floored for empty ones."""
    return _RIDGE * (weights.sum(axis=1) + _RIDGE_FLOOR)


def _prior(n: int, prior_depth: float) -> np.ndarray:
    if not (np.isfinite(prior_depth) and prior_depth > 0):
        raise ValueError(f"prior_depth must be positive and finite, got {prior_depth!r}")
    return np.tile([0.0, 0.0, float(prior_depth)], (n, 1))


def solve_translation(
    points_3d: np.ndarray,
    keypoints_2d: np.ndarray,
    weights: np.ndarray,
    intrinsics: PinholeIntrinsics,
    prior_depth: float = DEFAULT_PRIOR_DEPTH_M,
) -> np.ndarray:
    """(N, 3) optical-frame t so that ``points_3d + t`` projects onto ``keypoints_2d``.

    points_3d (N, K, 3) are already in optical-frame orientation; keypoints_2d (N, K, 2) in
    pixels; weights (N, K) >= 0 (confidences; 0 ignores a keypoint). The paper's linear least
    squares (the DLT-style linearisation of the pinhole, each row weighted by sqrt(weight)),
    solved as 3x3 normal equations per person. A negligible ridge toward (0, 0, prior_depth)
    keeps it finite for people with fewer than two keypoints (who get that depth).
    """
    points, pixels, w = _check_batch(
        points_3d, keypoints_2d, weights, ("points_3d", "keypoints_2d", "weights")
    )
    rays = _normalised(pixels, intrinsics)
    prior = _prior(len(points), prior_depth)
    out = np.empty_like(prior)
    for i in range(len(points)):
        kernel.linear_translation(points[i], rays[i], w[i], prior[i], out[i])
    return out


# --- the view rotation --------------------------------------------------------------------------


def look_at_optical(target: np.ndarray) -> np.ndarray:
    """(N, 3, 3) camera_from_view for optical-frame ``target`` (N, 3) points.

    The view frame's -z points at the target and its x stays level in the camera's
    SMPL-style frame (x = up x z with up = its +y), as the target domain's ``_look_at``; the
    result maps view (SMPL-style) vectors to optical ones. A target straight above or below
    the camera (or at it) has no level x: the camera frame itself is returned there.
    """
    target_smpl = target @ OPTICAL_FROM_SMPL  # the flip is symmetric and its own inverse
    smpl_from_view = look_at(target_smpl)
    return OPTICAL_FROM_SMPL @ smpl_from_view


# --- perspective refinement ------------------------------------------------------------------


def box_size(pixels: np.ndarray, used: np.ndarray) -> np.ndarray:
    """(N,) max(width, height) in pixels of the used keypoints' box (0 for fewer than two):
    pixels (N, K, 2), used (N, K) bool."""
    lo = np.where(used[..., None], pixels, np.inf).min(axis=1)
    hi = np.where(used[..., None], pixels, -np.inf).max(axis=1)
    size = (hi - lo).max(axis=1)
    return np.where(np.isfinite(size), size, 0.0)


# --- the whole fit ------------------------------------------------------------------------------


def _check_sight_point(sight_point: np.ndarray | None, n: int) -> np.ndarray:
    """(N, 3) view-frame line-of-sight point; the body origin when None."""
    if sight_point is None:
        return np.zeros((n, 3))
    point = np.asarray(sight_point, dtype=np.float64)
    if point.shape not in ((3,), (n, 3)) or not np.isfinite(point).all():
        raise ValueError(
            f"sight_point must be finite with shape (3,) or ({n}, 3), got {point.shape}"
        )
    return np.broadcast_to(point, (n, 3))


def fit_body_to_camera(
    points_view: np.ndarray,
    keypoints_2d: np.ndarray,
    confidence: np.ndarray,
    available: np.ndarray,
    intrinsics: PinholeIntrinsics,
    min_confidence: float = 0.1,
    iterations: int = 3,
    refine: bool = True,
    prior_depth: float = DEFAULT_PRIOR_DEPTH_M,
    sight_point: np.ndarray | None = None,
) -> CameraFit:
    """Place N predicted bodies in the camera that saw their keypoints.

    points_view (N, K, 3): the network's 3D keypoints, view frame (SMPL-style axes), body
    origin at 0; keypoints_2d (N, K, 2) pixels and confidence (N, K) from the detector;
    available (K,) bool: keypoints the body model provides (the others are zeros).
    Keypoints below min_confidence or unavailable are ignored.

    Aims the view frame along the ray through the keypoints' centroid, solves the linear
    translation, turns the view frame to look at the placed ``sight_point`` (view frame, (3,)
    or (N, 3); default the body origin, see the module docstring) and re-solves:
    ``iterations`` such turns, each shrinking the rotation's error about 15-fold for a person
    2 m away (more further off); 3 leave < 1e-4. ``refine`` adds robust (Huber)
    Gauss-Newton steps on the pixel error to every solve. People behind the camera keep their
    last rotation and are flagged invalid.
    """
    points, pixels, conf = _check_batch(
        points_view, keypoints_2d, confidence, ("points_view", "keypoints_2d", "confidence")
    )
    n, k = conf.shape
    mask = np.asarray(available)
    if mask.shape != (k,) or mask.dtype != np.bool_:
        raise ValueError(f"available must be a ({k},) bool array, got {mask.dtype} {mask.shape}")
    if not np.isfinite(min_confidence):
        raise ValueError(f"min_confidence must be finite, got {min_confidence!r}")
    if iterations < 0:
        raise ValueError(f"iterations must be >= 0, got {iterations}")
    sight = _check_sight_point(sight_point, n)
    used = mask[None] & (conf >= min_confidence) & (conf > 0)
    weights = np.where(used, conf, 0.0)
    camera = np.array([intrinsics.fx, intrinsics.fy, intrinsics.cx, intrinsics.cy])
    t, rotation, reprojection, front = kernel.fit_people(
        points, pixels, weights, camera, np.ascontiguousarray(sight), int(iterations),
        bool(refine), _prior(n, prior_depth),
    )  # fmt: skip
    valid = (used.sum(axis=1) >= MIN_KEYPOINTS) & front
    return CameraFit(
        translation=t, camera_from_view=rotation, reprojection_px=reprojection, valid=valid
    )
