"""The camera fit: bodies predicted in the view frame land where the camera saw them, on scenes
with known truth (random clouds, the synthetic target domain), with noise, gaps and outliers."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from k2m_core.body.smpl import SmplModel
from k2m_core.data.synthetic_motion import synthesize_motion
from k2m_core.data.target_domain import SyntheticTarget, TargetDomainConfig, make_target_domain
from k2m_core.geometry.camera import (
    OPTICAL_FROM_SMPL,
    PinholeIntrinsics,
    project_pinhole,
    project_training_camera,
    smpl_frame_to_optical,
)
from k2m_core.geometry.rotations import rotation_about_axis
from k2m_core.infer.camera_fit import (
    DEFAULT_PRIOR_DEPTH_M,
    default_intrinsics,
    fit_body_to_camera,
    look_at_optical,
    solve_translation,
    training_camera_intrinsics,
)
from k2m_core.paths import default_body_model_path

CAMERA = PinholeIntrinsics(fx=550.0, fy=550.0, cx=320.0, cy=240.0)
WIDTH, HEIGHT = 640, 480
ALL = np.ones(18, dtype=bool)

# An 18-keypoint person (COCO-18 order), SMPL-style axes, origin near the pelvis, 1.7 m tall.
TEMPLATE = np.array(
    [
        [0.00, 0.62, 0.10], [0.00, 0.45, 0.00], [-0.18, 0.45, 0.00], [-0.22, 0.18, 0.03],
        [-0.24, -0.08, 0.08], [0.18, 0.45, 0.00], [0.22, 0.18, 0.03], [0.24, -0.08, 0.08],
        [-0.10, 0.00, 0.00], [-0.11, -0.45, 0.03], [-0.11, -0.88, -0.02], [0.10, 0.00, 0.00],
        [0.11, -0.45, 0.03], [0.11, -0.88, -0.02], [-0.03, 0.67, 0.08], [0.03, 0.67, 0.08],
        [-0.08, 0.64, 0.00], [0.08, 0.64, 0.00],
    ]
)  # fmt: skip


def _rotation(angle: np.ndarray, axis: str) -> np.ndarray:
    return rotation_about_axis(torch.as_tensor(angle, dtype=torch.float64), axis).numpy()


def _random_bodies(n: int, rng: np.random.Generator) -> np.ndarray:
    """(N, 18, 3) person-shaped clouds in the view frame: jittered template, random yaw."""
    yaw = _rotation(rng.uniform(0.0, 2.0 * math.pi, n), "y")
    bodies = TEMPLATE + rng.normal(0.0, 0.04, (n, 18, 3))
    return np.einsum("nij,nkj->nki", yaw, bodies)


def _random_origins(n: int, rng: np.random.Generator, depth: tuple[float, float]) -> np.ndarray:
    """(N, 3) optical-frame body origins anywhere in the image (border included)."""
    u = rng.uniform(0.0, WIDTH, n)
    v = rng.uniform(0.0, HEIGHT, n)
    z = rng.uniform(*depth, n)
    return np.stack([(u - CAMERA.cx) / CAMERA.fx * z, (v - CAMERA.cy) / CAMERA.fy * z, z], -1)


def _turned_camera(origins: np.ndarray) -> np.ndarray:
    """(N, 3, 3) view (SMPL axes) -> optical, built independently of look_at_optical: yaw then
    pitch (so x stays level), with -z through the origin."""
    z = -smpl_frame_to_optical(origins) / np.linalg.norm(origins, axis=-1, keepdims=True)
    azimuth, elevation = np.arctan2(z[:, 0], z[:, 2]), np.arcsin(-z[:, 1])
    return OPTICAL_FROM_SMPL @ _rotation(azimuth, "y") @ _rotation(elevation, "x")


def _scene(n: int, seed: int, depth: tuple[float, float] = (2.0, 6.0)) -> tuple[np.ndarray, ...]:
    """Bodies in the view frame, their true translation and rotation, and exact pixels."""
    rng = np.random.default_rng(seed)
    bodies = _random_bodies(n, rng)
    origins = _random_origins(n, rng, depth)
    rotation = _turned_camera(origins)
    placed = np.einsum("nij,nkj->nki", rotation, bodies) + origins[:, None]
    return bodies, origins, rotation, project_pinhole(placed, CAMERA)


# --- (1) random bodies, noiseless ----------------------------------------------------------------


def test_solve_translation_is_exact_without_noise() -> None:
    rng = np.random.default_rng(0)
    n = 200
    points = _random_bodies(n, rng) @ OPTICAL_FROM_SMPL  # any orientation will do
    origins = _random_origins(n, rng, (2.0, 6.0))
    pixels = project_pinhole(points + origins[:, None], CAMERA)
    t = solve_translation(points, pixels, np.ones((n, 18)), CAMERA)
    assert np.abs(t - origins).max() < 1e-3
    assert np.abs(pixels[..., 0] - CAMERA.cx).max() > 0.45 * WIDTH  # people at the border too


def test_fit_recovers_off_axis_people_and_their_view_rotation() -> None:
    bodies, origins, rotation, pixels = _scene(200, seed=1)
    fit = fit_body_to_camera(bodies, pixels, np.ones((200, 18)), ALL, CAMERA)
    assert fit.valid.all()
    assert np.abs(fit.translation - origins).max() < 1e-3
    assert np.abs(fit.camera_from_view - rotation).max() < 1e-3
    assert fit.reprojection_px.max() < 0.05
    # aimed at the keypoints' centroid but never turned, off-axis people come out misplaced
    flat = fit_body_to_camera(bodies, pixels, np.ones((200, 18)), ALL, CAMERA, iterations=0)
    assert np.abs(flat.translation - origins).max() > 3e-3


def test_look_at_matches_a_level_turn_and_keeps_the_axis_for_centred_people() -> None:
    origins = _random_origins(50, np.random.default_rng(2), (2.0, 6.0))
    np.testing.assert_allclose(look_at_optical(origins), _turned_camera(origins), atol=1e-12)
    on_axis = look_at_optical(np.array([[0.0, 0.0, 3.0]]))
    np.testing.assert_allclose(on_axis[0], OPTICAL_FROM_SMPL, atol=1e-15)


def test_training_camera_places_the_body_six_metres_down_the_axis() -> None:
    bodies = _random_bodies(8, np.random.default_rng(3))
    pixels = project_training_camera(bodies)
    fit = fit_body_to_camera(bodies, pixels, np.ones((8, 18)), ALL, training_camera_intrinsics())
    np.testing.assert_allclose(fit.translation, [[0.0, 0.0, 6.0]] * 8, atol=1e-6)
    np.testing.assert_allclose(
        fit.camera_from_view, np.tile(OPTICAL_FROM_SMPL, (8, 1, 1)), atol=1e-6
    )


def test_default_intrinsics() -> None:
    k = default_intrinsics(640, 480)
    assert (k.fx, k.fy, k.cx, k.cy) == (640.0, 640.0, 320.0, 240.0)
    with pytest.raises(ValueError, match="width"):
        default_intrinsics(0, 480)


# --- (2) the synthetic target domain --------------------------------------------------------------


@pytest.fixture(scope="module")
def target() -> SyntheticTarget:
    bank = synthesize_motion(4, 16, seed=11)
    body = SmplModel.from_file(default_body_model_path()).eval()
    cfg = TargetDomainConfig().without_detector_shifts()
    return make_target_domain(bank, body, cfg, "coco18")


def _truth_in_optical(target: SyntheticTarget) -> tuple[np.ndarray, np.ndarray]:
    """The target's translation and view rotation in the optical frame (truth_transl is in
    the view frame; camera_from_view ends in the camera's SMPL-style frame)."""
    rotation = OPTICAL_FROM_SMPL @ target.camera_from_view.astype(np.float64)
    return np.einsum("nij,nj->ni", rotation, target.truth_transl.astype(np.float64)), rotation


def test_target_domain_truth_is_recovered(target: SyntheticTarget) -> None:
    kps = target.detections.keypoints
    fit = fit_body_to_camera(target.truth_joints_3d, kps[..., :2], kps[..., 2], ALL, CAMERA)
    translation, rotation = _truth_in_optical(target)
    assert fit.valid.all()
    # the generator aims its view frame where the training camera aims, at the model origin
    # of the body as posed in the view frame: the fit's default sight point, so it is exact
    np.testing.assert_allclose(fit.camera_from_view, rotation, atol=1e-4)
    np.testing.assert_allclose(fit.translation, translation, atol=1e-4)
    placed = np.einsum("nij,nkj->nki", fit.camera_from_view, target.truth_joints_3d)
    placed += fit.translation[:, None]
    truth = smpl_frame_to_optical(target.joints_in_camera().astype(np.float64))
    np.testing.assert_allclose(placed, truth, atol=1e-4)


# --- (3) pixel noise --------------------------------------------------------------------------


def test_error_grows_gracefully_with_pixel_noise() -> None:
    bodies, origins, _, pixels = _scene(300, seed=4, depth=(4.0, 4.0))
    rng = np.random.default_rng(5)
    errors = []
    for sigma in (0.5, 2.0):
        noisy = pixels + rng.normal(0.0, sigma, pixels.shape)
        fit = fit_body_to_camera(bodies, noisy, np.ones((300, 18)), ALL, CAMERA)
        errors.append(np.sqrt(np.mean(np.sum((fit.translation - origins) ** 2, axis=-1))))
        assert fit.valid.all()
    assert errors[1] < 0.05  # RMS at 4 m with 2 px noise
    assert 2.0 < errors[1] / errors[0] < 6.0  # about proportional to the noise


# --- (4) missing keypoints and bad input ----------------------------------------------------------


def test_missing_keypoints_are_ignored() -> None:
    bodies, origins, _, pixels = _scene(20, seed=6)
    confidence = np.ones((20, 18))
    confidence[:, [3, 4, 10]] = 0.0  # not detected
    confidence[:, 7] = 0.05  # below min_confidence
    garbage = pixels.copy()
    garbage[:, [3, 4, 7, 10]] = [1e4, -1e4]
    available = ALL.copy()
    available[13] = False  # the body model has no such point: zeros in points_view
    zeroed = bodies.copy()
    zeroed[:, 13] = 0.0
    fit = fit_body_to_camera(zeroed, garbage, confidence, available, CAMERA)
    assert fit.valid.all()
    assert np.abs(fit.translation - origins).max() < 1e-3


def test_too_few_keypoints_is_invalid_but_finite() -> None:
    bodies, _, _, pixels = _scene(3, seed=7)
    confidence = np.zeros((3, 18))
    confidence[1, 0] = 1.0  # one keypoint: its ray, at an unobserved depth
    confidence[2, :2] = 1.0  # two: enough
    fit = fit_body_to_camera(bodies, pixels, confidence, ALL, CAMERA)
    assert fit.valid.tolist() == [False, False, True]
    for value in fit:
        assert np.isfinite(value).all()
    np.testing.assert_allclose(fit.translation[0], [0.0, 0.0, DEFAULT_PRIOR_DEPTH_M], atol=1e-9)
    one = np.einsum("ij,j->i", fit.camera_from_view[1], bodies[1, 0]) + fit.translation[1]
    np.testing.assert_allclose(project_pinhole(one, CAMERA), pixels[1, 0], atol=1e-6)
    t = solve_translation(bodies @ OPTICAL_FROM_SMPL, pixels, confidence, CAMERA)
    assert np.isfinite(t).all()


def test_body_behind_the_camera_is_invalid() -> None:
    bodies, origins, rotation, _ = _scene(4, seed=8)
    behind = np.einsum("nij,nkj->nki", rotation, bodies) - origins[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):  # project without the z > 0 guard
        pixels = CAMERA.fx * behind[..., :2] / behind[..., 2:] + [CAMERA.cx, CAMERA.cy]
    fit = fit_body_to_camera(bodies, pixels, np.ones((4, 18)), ALL, CAMERA)
    assert not fit.valid.any()
    assert all(np.isfinite(value).all() for value in fit)


@pytest.mark.parametrize("argument", ["points_view", "keypoints_2d", "confidence"])
def test_nan_input_names_the_argument(argument: str) -> None:
    bodies, _, _, pixels = _scene(2, seed=9)
    inputs = {"points_view": bodies, "keypoints_2d": pixels, "confidence": np.ones((2, 18))}
    inputs[argument] = inputs[argument].copy()
    inputs[argument][1, 5] = np.nan
    with pytest.raises(ValueError, match=argument):
        fit_body_to_camera(**inputs, available=ALL, intrinsics=CAMERA)
    with pytest.raises(ValueError, match="keypoints_2d"):
        solve_translation(bodies, pixels[:, :17], np.ones((2, 18)), CAMERA)
    with pytest.raises(ValueError, match="available"):
        fit_body_to_camera(bodies, pixels, np.ones((2, 18)), ALL[:17], CAMERA)
    with pytest.raises(ValueError, match="weights"):
        solve_translation(bodies, pixels, -np.ones((2, 18)), CAMERA)


# --- (5) confidence weighting ---------------------------------------------------------------------


def test_low_confidence_outlier_barely_moves_the_fit() -> None:
    bodies, origins, _, pixels = _scene(50, seed=10, depth=(3.0, 5.0))
    outlier = pixels.copy()
    outlier[:, 4] += [60.0, -40.0]  # a wrist detected on the wrong arm
    moved = {}
    for weight in (0.15, 1.0):
        confidence = np.ones((50, 18))
        confidence[:, 4] = weight
        fit = fit_body_to_camera(bodies, outlier, confidence, ALL, CAMERA)
        moved[weight] = np.linalg.norm(fit.translation - origins, axis=-1)
    assert moved[0.15].max() < 0.02
    assert moved[0.15].mean() < 0.25 * moved[1.0].mean()
