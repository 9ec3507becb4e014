"""Camera frames and projections: hand-computed pixels, frame identities, intrinsics handling."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from k2m_core.geometry.camera import (
    TRAINING_CAMERA_DISTANCE,
    TRAINING_FOCAL,
    PinholeIntrinsics,
    optical_to_smpl_frame,
    project_pinhole,
    project_training_camera,
    smpl_frame_to_optical,
    smpl_to_training_camera_frame,
)
from k2m_core.geometry.rotations import rotation_about_axis

INTRINSICS = PinholeIntrinsics(fx=500.0, fy=400.0, cx=320.0, cy=240.0)


def _random_points(*shape: int, seed: int = 0) -> torch.Tensor:
    """Body-sized point clouds around the origin, float64."""
    return torch.randn(
        *shape, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(seed)
    )


# --- training camera -----------------------------------------------------------------------


def test_training_constants() -> None:
    assert TRAINING_FOCAL == 256.0
    assert TRAINING_CAMERA_DISTANCE == 6.0


def test_project_training_camera_known_points() -> None:
    points = torch.tensor([[1.0, 0.5, 0.0], [0.0, 0.0, 0.0], [0.0, 1.0, 2.0], [-0.3, -0.6, -1.5]])
    expected = torch.tensor(
        [
            [256.0 / 6.0, -128.0 / 6.0],  # u = 256 * 1 / 6, v = -256 * 0.5 / 6
            [0.0, 0.0],
            [0.0, -256.0 / 4.0],  # nearer the camera (z = 2): depth 4
            [-76.8 / 7.5, 153.6 / 7.5],  # depth 6 - (-1.5) = 7.5; below the centre -> v > 0
        ]
    )
    torch.testing.assert_close(project_training_camera(points), expected)


def test_project_training_camera_focal_and_distance_arguments() -> None:
    point = torch.tensor([2.0, -1.0, 1.0])
    # focal 100, distance 3: depth 2 -> (100 * 2 / 2, -100 * -1 / 2).
    torch.testing.assert_close(
        project_training_camera(point, focal=100.0, distance=3.0), torch.tensor([100.0, 50.0])
    )


def test_training_camera_equals_pinhole_on_training_camera_frame() -> None:
    points = _random_points(4, 6890)
    training = PinholeIntrinsics(fx=TRAINING_FOCAL, fy=TRAINING_FOCAL, cx=0.0, cy=0.0)
    via_pinhole = project_pinhole(smpl_to_training_camera_frame(points), training)
    torch.testing.assert_close(via_pinhole, project_training_camera(points))


def test_training_camera_frame_is_optical_frame_shifted_by_distance() -> None:
    points = _random_points(50)
    shift = torch.tensor([0.0, 0.0, TRAINING_CAMERA_DISTANCE], dtype=points.dtype)
    torch.testing.assert_close(
        smpl_to_training_camera_frame(points), smpl_frame_to_optical(points) + shift
    )


def test_body_in_front_of_training_camera_has_positive_depth() -> None:
    # The origin (where the body is) is 6 m in front of the camera.
    origin = smpl_to_training_camera_frame(torch.zeros(3))
    torch.testing.assert_close(origin, torch.tensor([0.0, 0.0, 6.0]))


@pytest.mark.parametrize("shape", [(), (5,), (2, 3)])
def test_projection_shapes_and_dtype(shape: tuple[int, ...]) -> None:
    points = torch.randn(*shape, 3).float()
    assert project_training_camera(points).shape == (*shape, 2)
    assert project_training_camera(points).dtype == torch.float32
    assert project_pinhole(points, INTRINSICS).shape == (*shape, 2)
    assert smpl_to_training_camera_frame(points).shape == (*shape, 3)


def test_numpy_inputs_give_numpy_outputs() -> None:
    points = _random_points(10)
    out = project_training_camera(points.numpy())
    assert isinstance(out, np.ndarray)
    np.testing.assert_allclose(out, project_training_camera(points).numpy())
    pixels = project_pinhole(smpl_to_training_camera_frame(points.numpy()), INTRINSICS)
    assert isinstance(pixels, np.ndarray)


# --- frames --------------------------------------------------------------------------------


def test_smpl_frame_to_optical_is_half_turn_about_x() -> None:
    points = _random_points(100)
    half_turn = rotation_about_axis(torch.tensor(math.pi, dtype=torch.float64), "x")
    torch.testing.assert_close(smpl_frame_to_optical(points), points @ half_turn.T)


def test_smpl_frame_to_optical_maps_up_to_image_up() -> None:
    # SMPL up (+y) is optical -y (image up); facing the camera (+z) is optical -z (toward lens).
    torch.testing.assert_close(
        smpl_frame_to_optical(torch.eye(3)),
        torch.tensor([[1.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, -1.0]]),
    )


def test_optical_round_trip() -> None:
    points = _random_points(3, 7)
    torch.testing.assert_close(optical_to_smpl_frame(smpl_frame_to_optical(points)), points)
    torch.testing.assert_close(smpl_frame_to_optical(optical_to_smpl_frame(points)), points)


def test_frame_functions_do_not_modify_input() -> None:
    points = _random_points(10)
    before = points.clone()
    smpl_frame_to_optical(points)
    smpl_to_training_camera_frame(points)
    project_pinhole(points, INTRINSICS)
    torch.testing.assert_close(points, before, atol=0, rtol=0)


# --- pinhole -------------------------------------------------------------------------------


def test_project_pinhole_known_point() -> None:
    # u = 500 * 0.5 / 2 + 320 = 445, v = 400 * -0.25 / 2 + 240 = 190.
    pixels = project_pinhole(torch.tensor([0.5, -0.25, 2.0]), INTRINSICS)
    torch.testing.assert_close(pixels, torch.tensor([445.0, 190.0]))


def test_point_on_optical_axis_hits_principal_point() -> None:
    pixels = project_pinhole(torch.tensor([[0.0, 0.0, 0.1], [0.0, 0.0, 50.0]]), INTRINSICS)
    torch.testing.assert_close(pixels, torch.tensor([[320.0, 240.0], [320.0, 240.0]]))


def test_points_behind_camera_project_to_nan() -> None:
    points = torch.tensor(
        [[0.1, 0.2, 1.0], [0.1, 0.2, 0.0], [0.1, 0.2, -1.0], [0.0, 0.0, -3.0]], requires_grad=True
    )
    pixels = project_pinhole(points, INTRINSICS)
    assert torch.isfinite(pixels[0]).all()
    assert torch.isnan(pixels[1:]).all()
    # NaN pixels must not poison the gradients of the visible points.
    pixels[0].sum().backward()
    assert points.grad is not None
    assert torch.isfinite(points.grad).all()
    assert torch.all(points.grad[1:] == 0)


def test_points_behind_camera_project_to_nan_with_numpy() -> None:
    pixels = project_pinhole(np.array([[0.1, 0.2, 1.0], [0.1, 0.2, -1.0]]), INTRINSICS)
    assert np.isfinite(pixels[0]).all()
    assert np.isnan(pixels[1]).all()


# --- intrinsics ----------------------------------------------------------------------------


def test_intrinsics_from_matrix_and_camera_info_agree() -> None:
    K = [[525.0, 0.0, 319.5], [0.0, 520.0, 239.5], [0.0, 0.0, 1.0]]
    k = [525.0, 0.0, 319.5, 0.0, 520.0, 239.5, 0.0, 0.0, 1.0]  # CameraInfo.k: row-major
    from_k = PinholeIntrinsics.from_camera_info_k(k)
    assert from_k == PinholeIntrinsics(fx=525.0, fy=520.0, cx=319.5, cy=239.5)
    assert PinholeIntrinsics.from_matrix(K) == from_k
    assert PinholeIntrinsics.from_matrix(np.array(K)) == from_k
    assert PinholeIntrinsics.from_matrix(torch.tensor(K, dtype=torch.float32)) == from_k
    assert PinholeIntrinsics.from_camera_info_k(tuple(k)) == from_k
    np.testing.assert_array_equal(from_k.as_matrix(), np.array(K))


def test_as_matrix_projects_like_project_pinhole() -> None:
    points = _random_points(20).abs() + torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64)
    homogeneous = points @ torch.from_numpy(INTRINSICS.as_matrix()).T
    torch.testing.assert_close(
        project_pinhole(points, INTRINSICS), homogeneous[:, :2] / homogeneous[:, 2:]
    )


def test_scaled_intrinsics_match_resized_image_coordinates() -> None:
    # Resizing a 640x480 image to 320x360 scales every pixel coordinate by (0.5, 0.75).
    sx, sy = 320 / 640, 360 / 480
    points = _random_points(30).abs() + torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64)
    original = project_pinhole(points, INTRINSICS)
    resized = project_pinhole(points, INTRINSICS.scaled(sx, sy))
    torch.testing.assert_close(resized, original * torch.tensor([sx, sy], dtype=original.dtype))
    # The image's far corner (640, 480) lands on the resized image's far corner (320, 360).
    corner_ray = torch.tensor([(640 - 320) / 500, (480 - 240) / 400, 1.0])
    torch.testing.assert_close(
        project_pinhole(corner_ray, INTRINSICS.scaled(sx, sy)), torch.tensor([320.0, 360.0])
    )


def test_intrinsics_are_immutable() -> None:
    with pytest.raises(AttributeError):
        INTRINSICS.fx = 1.0  # type: ignore[misc]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"fx": 0.0}, r"fx must be positive and finite, got 0\.0"),
        ({"fy": -400.0}, r"fy must be positive and finite, got -400\.0"),
        ({"fx": math.nan}, r"fx must be positive and finite, got nan"),
        ({"fy": math.inf}, r"fy must be positive and finite, got inf"),
        ({"cx": math.inf}, r"cx must be finite, got inf"),
        ({"cy": math.nan}, r"cy must be finite, got nan"),
    ],
)
def test_invalid_intrinsics_raise(kwargs: dict[str, float], message: str) -> None:
    values = {"fx": 500.0, "fy": 400.0, "cx": 320.0, "cy": 240.0} | kwargs
    with pytest.raises(ValueError, match=message):
        PinholeIntrinsics(**values)


def test_invalid_matrices_raise() -> None:
    with pytest.raises(ValueError, match=r"3x3.*\(2, 3\)"):
        PinholeIntrinsics.from_matrix([[500.0, 0.0, 320.0], [0.0, 400.0, 240.0]])
    with pytest.raises(ValueError, match="form"):  # skew
        PinholeIntrinsics.from_matrix([[500.0, 2.0, 320.0], [0.0, 400.0, 240.0], [0.0, 0.0, 1.0]])
    with pytest.raises(ValueError, match="form"):  # a projection row, not K
        PinholeIntrinsics.from_matrix([[500.0, 0.0, 320.0], [0.0, 400.0, 240.0], [0.0, 0.0, 2.0]])
    with pytest.raises(ValueError, match="9 entries"):
        PinholeIntrinsics.from_camera_info_k([500.0, 0.0, 320.0, 0.0, 400.0, 240.0, 0.0, 0.0])
    with pytest.raises(ValueError, match="fx must be positive"):  # an all-zero, uncalibrated K
        PinholeIntrinsics.from_camera_info_k([0.0] * 8 + [1.0])


@pytest.mark.parametrize(("sx", "sy", "bad"), [(0.0, 1.0, "sx"), (1.0, -2.0, "sy")])
def test_invalid_scale_raises(sx: float, sy: float, bad: str) -> None:
    with pytest.raises(ValueError, match=f"{bad} must be positive"):
        INTRINSICS.scaled(sx, sy)


def test_look_at_puts_the_target_on_the_axis_and_keeps_x_level() -> None:
    from k2m_core.geometry.camera import look_at

    target = torch.tensor(
        [[1.0, -0.5, -4.0], [0.0, 0.0, -3.0], [0.0, 2.0, 0.0]], dtype=torch.float64
    )
    r = look_at(target)
    torch.testing.assert_close(
        r @ r.transpose(1, 2), torch.eye(3, dtype=torch.float64).expand(3, 3, 3)
    )
    axis = -r[:2, :, 2]  # -z of the view frame, in camera coordinates
    torch.testing.assert_close(axis, target[:2] / target[:2].norm(dim=-1, keepdim=True))
    assert torch.allclose(r[:2, 1, 0], torch.zeros(2, dtype=torch.float64))  # x has no up part
    torch.testing.assert_close(r[1], torch.eye(3, dtype=torch.float64))  # on-axis: no turn
    torch.testing.assert_close(r[2], torch.eye(3, dtype=torch.float64))  # straight up: degenerate
