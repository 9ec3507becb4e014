"""Rotation conversions: scipy as the reference, round trips, edge angles, shapes, gradients."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from k2m_core.geometry.rotations import (
    axis_angle_to_matrix,
    axis_angle_to_quaternion,
    matrix_to_axis_angle,
    matrix_to_quaternion,
    matrix_to_rotation_6d,
    quaternion_to_axis_angle,
    quaternion_to_matrix,
    quaternion_wxyz_to_xyzw,
    quaternion_xyzw_to_wxyz,
    rotation_6d_to_matrix,
    rotation_about_axis,
)

# Angles where naive formulas break: 0 (division by the angle) and pi (axis from the sin term).
EDGE_ANGLES = (0.0, 1e-9, 1e-6, 1e-3, 0.5, 2.0, math.pi - 1e-3, math.pi - 1e-6, math.pi)
BATCH_SHAPES = ((), (5,), (2, 3))


def _random_axis_angles(n: int, seed: int = 0) -> torch.Tensor:
    """n random rotations plus every edge angle about random axes, float64, shape (m, 3)."""
    rng = np.random.default_rng(seed)
    random_rotvecs = Rotation.random(n, random_state=rng).as_rotvec()
    axes = rng.normal(size=(len(EDGE_ANGLES), 3))
    axes /= np.linalg.norm(axes, axis=-1, keepdims=True)
    edge_rotvecs = axes * np.asarray(EDGE_ANGLES)[:, None]
    return torch.from_numpy(np.concatenate([random_rotvecs, edge_rotvecs]))


def _random_matrices(n: int, seed: int = 0) -> torch.Tensor:
    """Exactly orthonormal matrices (scipy's) for the same rotations as _random_axis_angles.

    axis_angle_to_matrix inherits smplx's 1e-8 offset, so its output is orthonormal only to
    ~1e-8; tests of the other conversions start from these instead.
    """
    return torch.from_numpy(Rotation.from_rotvec(_random_axis_angles(n, seed).numpy()).as_matrix())


def _assert_proper_rotation(R: torch.Tensor, atol: float) -> None:
    eye = torch.eye(3, dtype=R.dtype).expand_as(R)
    torch.testing.assert_close(R @ R.transpose(-1, -2), eye, atol=atol, rtol=0)
    torch.testing.assert_close(
        torch.linalg.det(R), torch.ones(R.shape[:-2], dtype=R.dtype), atol=atol, rtol=0
    )


def _same_up_to_sign(a: torch.Tensor, b: torch.Tensor, atol: float) -> None:
    """q and -q are the same rotation: compare after flipping each row to agree with b."""
    sign = torch.where((a * b).sum(-1, keepdim=True) < 0, -1.0, 1.0).to(a.dtype)
    torch.testing.assert_close(a * sign, b, atol=atol, rtol=0)


def _smplx_batch_rodrigues(rot_vecs: torch.Tensor) -> torch.Tensor:
    """smplx.lbs.batch_rodrigues, verbatim apart from names: the reference SMPL code path."""
    batch_size = rot_vecs.shape[0]
    angle = torch.norm(rot_vecs + 1e-8, dim=1, keepdim=True)
    rot_dir = rot_vecs / angle
    cos = torch.unsqueeze(torch.cos(angle), dim=1)
    sin = torch.unsqueeze(torch.sin(angle), dim=1)
    rx, ry, rz = torch.split(rot_dir, 1, dim=1)
    zeros = torch.zeros((batch_size, 1), dtype=rot_vecs.dtype)
    K = torch.cat([zeros, -rz, ry, rz, zeros, -rx, -ry, rx, zeros], dim=1).view(batch_size, 3, 3)
    ident = torch.eye(3, dtype=rot_vecs.dtype).unsqueeze(dim=0)
    return ident + sin * K + (1 - cos) * torch.bmm(K, K)


# --- against scipy (float64) ---------------------------------------------------------------


def test_axis_angle_to_matrix_matches_scipy() -> None:
    aa = _random_axis_angles(200)
    expected = torch.from_numpy(Rotation.from_rotvec(aa.numpy()).as_matrix())
    # smplx's 1e-8 offset inside the norm costs ~1e-8 of accuracy, by design.
    torch.testing.assert_close(axis_angle_to_matrix(aa), expected, atol=1e-7, rtol=0)


def test_axis_angle_to_matrix_matches_smplx_in_float32() -> None:
    aa = (_random_axis_angles(300) * 1.3).float()  # also angles beyond pi, as poses can have
    torch.testing.assert_close(
        axis_angle_to_matrix(aa), _smplx_batch_rodrigues(aa), atol=1e-6, rtol=0
    )


def test_matrix_to_axis_angle_matches_scipy_away_from_pi() -> None:
    # At exactly pi, v and -v are both correct, so the comparison is done by round trip below.
    aa = _random_axis_angles(200)
    aa = aa[torch.linalg.vector_norm(aa, dim=-1) < math.pi - 1e-4]
    R = Rotation.from_rotvec(aa.numpy()).as_matrix()
    expected = torch.from_numpy(Rotation.from_matrix(R).as_rotvec())
    torch.testing.assert_close(
        matrix_to_axis_angle(torch.from_numpy(R)), expected, atol=1e-9, rtol=0
    )


def test_quaternion_to_matrix_matches_scipy_xyzw() -> None:
    q_xyzw = Rotation.random(100, random_state=1).as_quat()  # scipy is scalar-last
    q_wxyz = quaternion_xyzw_to_wxyz(torch.from_numpy(q_xyzw))
    expected = torch.from_numpy(Rotation.from_quat(q_xyzw).as_matrix())
    torch.testing.assert_close(quaternion_to_matrix(q_wxyz), expected, atol=1e-12, rtol=0)


def test_matrix_to_quaternion_matches_scipy_up_to_sign() -> None:
    R = Rotation.from_rotvec(_random_axis_angles(200).numpy())
    ours = quaternion_wxyz_to_xyzw(matrix_to_quaternion(torch.from_numpy(R.as_matrix())))
    _same_up_to_sign(ours, torch.from_numpy(R.as_quat()), atol=1e-9)


def test_axis_angle_to_quaternion_matches_scipy() -> None:
    aa = _random_axis_angles(200)
    # For angles in [0, pi], cos(angle / 2) >= 0 so there is no sign ambiguity.
    expected = torch.from_numpy(Rotation.from_rotvec(aa.numpy()).as_quat())
    ours = quaternion_wxyz_to_xyzw(axis_angle_to_quaternion(aa))
    torch.testing.assert_close(ours, expected, atol=1e-12, rtol=0)


def test_small_angle_quaternions_keep_full_relative_precision() -> None:
    # Sweeps through the switch to the small-angle series; any error there shows up here.
    angles = torch.logspace(-8, 0, 161, dtype=torch.float64)
    aa = angles[:, None] * torch.tensor([0.48, -0.6, 0.64], dtype=torch.float64)
    expected = torch.from_numpy(Rotation.from_rotvec(aa.numpy()).as_quat())
    ours = quaternion_wxyz_to_xyzw(axis_angle_to_quaternion(aa))
    torch.testing.assert_close(ours, expected, atol=0, rtol=1e-14)
    torch.testing.assert_close(
        quaternion_to_axis_angle(axis_angle_to_quaternion(aa)), aa, atol=0, rtol=1e-14
    )


def test_quaternion_to_axis_angle_matches_scipy() -> None:
    q_xyzw = Rotation.random(100, random_state=2).as_quat()
    expected = torch.from_numpy(Rotation.from_quat(q_xyzw).as_rotvec())
    ours = quaternion_to_axis_angle(quaternion_xyzw_to_wxyz(torch.from_numpy(q_xyzw)))
    torch.testing.assert_close(ours, expected, atol=1e-9, rtol=0)


@pytest.mark.parametrize("axis", ["x", "y", "z"])
def test_rotation_about_axis_matches_scipy(axis: str) -> None:
    angles = torch.linspace(-4.0, 4.0, 17, dtype=torch.float64)
    expected = torch.from_numpy(Rotation.from_euler(axis, angles.numpy()[:, None]).as_matrix())
    torch.testing.assert_close(rotation_about_axis(angles, axis), expected, atol=1e-12, rtol=0)


# --- round trips ---------------------------------------------------------------------------


def test_axis_angle_round_trip_including_edge_angles() -> None:
    aa = _random_axis_angles(200)
    back = matrix_to_axis_angle(axis_angle_to_matrix(aa))
    angle = torch.linalg.vector_norm(aa, dim=-1)
    below_pi = angle < math.pi - 1e-9
    torch.testing.assert_close(back[below_pi], aa[below_pi], atol=1e-7, rtol=0)
    # At exactly pi the axis sign is arbitrary; the rotation must still be the same.
    torch.testing.assert_close(
        axis_angle_to_matrix(back[~below_pi]),
        axis_angle_to_matrix(aa[~below_pi]),
        atol=1e-7,
        rtol=0,
    )


def test_axis_angle_round_trip_float32() -> None:
    aa = _random_axis_angles(200).float()
    aa = aa[torch.linalg.vector_norm(aa, dim=-1) < math.pi - 1e-2]
    back = matrix_to_axis_angle(axis_angle_to_matrix(aa))
    assert back.dtype == torch.float32
    torch.testing.assert_close(back, aa, atol=1e-5, rtol=0)


def test_matrix_to_axis_angle_returns_angle_at_most_pi() -> None:
    aa = _random_axis_angles(200) * 1.9  # angles up to ~6 rad wrap to 2 pi - angle
    back = matrix_to_axis_angle(axis_angle_to_matrix(aa))
    assert torch.all(torch.linalg.vector_norm(back, dim=-1) <= math.pi + 1e-9)
    torch.testing.assert_close(
        axis_angle_to_matrix(back), axis_angle_to_matrix(aa), atol=1e-7, rtol=0
    )


def test_matrix_quaternion_round_trip() -> None:
    R = _random_matrices(200)
    q = matrix_to_quaternion(R)
    assert torch.all(q[..., 0] >= 0)
    torch.testing.assert_close(
        torch.linalg.vector_norm(q, dim=-1), torch.ones(len(q), dtype=q.dtype)
    )
    torch.testing.assert_close(quaternion_to_matrix(q), R, atol=1e-12, rtol=0)


def test_quaternion_axis_angle_round_trip_up_to_sign() -> None:
    q = torch.randn(300, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    q = q / torch.linalg.vector_norm(q, dim=-1, keepdim=True)  # about half have w < 0
    back = axis_angle_to_quaternion(quaternion_to_axis_angle(q))
    _same_up_to_sign(back, q, atol=1e-12)


def test_quaternion_to_matrix_ignores_scale() -> None:
    q = axis_angle_to_quaternion(_random_axis_angles(50))
    torch.testing.assert_close(quaternion_to_matrix(3.5 * q), quaternion_to_matrix(q))


def test_rotation_6d_round_trip() -> None:
    R = _random_matrices(200)
    torch.testing.assert_close(
        rotation_6d_to_matrix(matrix_to_rotation_6d(R)), R, atol=1e-12, rtol=0
    )


def test_quaternion_order_helpers_are_inverse_and_work_on_numpy() -> None:
    q_wxyz = np.array([[0.1, 0.2, 0.3, 0.4], [1.0, 2.0, 3.0, 4.0]])
    q_xyzw = quaternion_wxyz_to_xyzw(q_wxyz)
    np.testing.assert_array_equal(q_xyzw, [[0.2, 0.3, 0.4, 0.1], [2.0, 3.0, 4.0, 1.0]])
    np.testing.assert_array_equal(quaternion_xyzw_to_wxyz(q_xyzw), q_wxyz)


# --- 6D convention -------------------------------------------------------------------------


def test_matrix_to_rotation_6d_takes_first_two_columns() -> None:
    M = torch.tensor([[0.0, 1.0, 2.0], [3.0, 4.0, 5.0], [6.0, 7.0, 8.0]])
    # Columns (0, 3, 6) and (1, 4, 7), as a (3, 2) array flattened row-major.
    expected = torch.tensor([0.0, 1.0, 3.0, 4.0, 6.0, 7.0])
    torch.testing.assert_close(matrix_to_rotation_6d(M), expected)


def test_rotation_6d_to_matrix_reads_columns_not_rows() -> None:
    quarter_turn_z = torch.tensor([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    columns_6d = torch.tensor([0.0, -1.0, 1.0, 0.0, 0.0, 0.0])  # columns (0, 1, 0), (-1, 0, 0)
    torch.testing.assert_close(rotation_6d_to_matrix(columns_6d), quarter_turn_z)
    rows_6d = torch.tensor([0.0, 1.0, -1.0, 0.0, 0.0, 0.0])  # pytorch3d-style: the first two rows
    torch.testing.assert_close(rotation_6d_to_matrix(rows_6d), quarter_turn_z.T)


def test_rotation_6d_to_matrix_orthonormalises_noisy_input() -> None:
    generator = torch.Generator().manual_seed(4)
    R = _random_matrices(100)
    noisy = matrix_to_rotation_6d(R) + 0.1 * torch.randn(
        len(R), 6, dtype=R.dtype, generator=generator
    )
    out = rotation_6d_to_matrix(noisy)
    _assert_proper_rotation(out, atol=1e-12)
    a1, a2 = noisy.unflatten(-1, (3, 2)).unbind(-1)
    # Gram-Schmidt: the first column keeps a1's direction; the second stays in span(a1, a2).
    torch.testing.assert_close(out[..., 0], a1 / torch.linalg.vector_norm(a1, dim=-1, keepdim=True))
    normal = torch.linalg.cross(a1, a2)
    torch.testing.assert_close((out[..., 1] * normal).sum(-1), torch.zeros(len(R), dtype=R.dtype))


def test_rotation_6d_to_matrix_is_scale_invariant_per_column() -> None:
    x = torch.randn(20, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
    scaled = (x.unflatten(-1, (3, 2)) * torch.tensor([2.0, 0.3], dtype=x.dtype)).flatten(-2)
    torch.testing.assert_close(rotation_6d_to_matrix(scaled), rotation_6d_to_matrix(x))


# --- properties shared by all matrix outputs -----------------------------------------------


def test_all_matrix_outputs_are_proper_rotations() -> None:
    generator = torch.Generator().manual_seed(6)
    aa = _random_axis_angles(100)
    _assert_proper_rotation(axis_angle_to_matrix(aa), atol=1e-7)  # smplx's offset, see above
    _assert_proper_rotation(axis_angle_to_matrix(aa.float()), atol=1e-5)
    q = torch.randn(100, 4, dtype=torch.float64, generator=generator)  # deliberately not unit
    _assert_proper_rotation(quaternion_to_matrix(q), atol=1e-12)
    x = torch.randn(100, 6, dtype=torch.float64, generator=generator)
    _assert_proper_rotation(rotation_6d_to_matrix(x), atol=1e-12)
    angles = torch.randn(100, dtype=torch.float64, generator=generator)
    for axis in ("x", "y", "z"):
        _assert_proper_rotation(rotation_about_axis(angles, axis), atol=1e-12)


def test_yaw_about_y_turns_forward_towards_x() -> None:
    R = rotation_about_axis(torch.tensor(math.pi / 2), "y")
    torch.testing.assert_close(R @ torch.tensor([0.0, 0.0, 1.0]), torch.tensor([1.0, 0.0, 0.0]))


def test_rotation_about_axis_rejects_unknown_axis() -> None:
    with pytest.raises(ValueError, match="'w'"):
        rotation_about_axis(torch.tensor(0.1), "w")  # type: ignore[arg-type]


@pytest.mark.parametrize("shape", BATCH_SHAPES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_shapes_and_dtypes_follow_the_input(shape: tuple[int, ...], dtype: torch.dtype) -> None:
    generator = torch.Generator().manual_seed(7)
    aa = torch.randn(*shape, 3, generator=generator).to(dtype)
    R = axis_angle_to_matrix(aa)
    q = matrix_to_quaternion(R)
    outputs = {
        "axis_angle_to_matrix": (R, (*shape, 3, 3)),
        "matrix_to_axis_angle": (matrix_to_axis_angle(R), (*shape, 3)),
        "matrix_to_quaternion": (q, (*shape, 4)),
        "quaternion_to_matrix": (quaternion_to_matrix(q), (*shape, 3, 3)),
        "axis_angle_to_quaternion": (axis_angle_to_quaternion(aa), (*shape, 4)),
        "quaternion_to_axis_angle": (quaternion_to_axis_angle(q), (*shape, 3)),
        "matrix_to_rotation_6d": (matrix_to_rotation_6d(R), (*shape, 6)),
        "rotation_6d_to_matrix": (rotation_6d_to_matrix(matrix_to_rotation_6d(R)), (*shape, 3, 3)),
        "rotation_about_axis": (rotation_about_axis(aa[..., 0], "z"), (*shape, 3, 3)),
    }
    for name, (out, expected_shape) in outputs.items():
        assert out.shape == expected_shape, name
        assert out.dtype == dtype, name
    # Batched calls agree with per-element calls (no mixing across leading dims).
    flat = axis_angle_to_matrix(aa.reshape(-1, 3)).reshape(*shape, 3, 3)
    torch.testing.assert_close(R, flat)


def test_inputs_are_not_modified() -> None:
    aa = _random_axis_angles(20)
    R = axis_angle_to_matrix(aa)
    before = (aa.clone(), R.clone())
    matrix_to_axis_angle(R)
    rotation_6d_to_matrix(matrix_to_rotation_6d(R))
    quaternion_to_axis_angle(axis_angle_to_quaternion(aa))
    torch.testing.assert_close((aa, R), before, atol=0, rtol=0)


# --- gradients -----------------------------------------------------------------------------


@pytest.mark.parametrize("fn", [axis_angle_to_matrix, axis_angle_to_quaternion])
def test_gradients_finite_at_zero_rotation(fn: Callable[[torch.Tensor], torch.Tensor]) -> None:
    for dtype in (torch.float32, torch.float64):
        aa = torch.zeros(4, 3, dtype=dtype, requires_grad=True)
        fn(aa).sum().backward()
        assert aa.grad is not None
        assert torch.isfinite(aa.grad).all()


def test_gradient_of_axis_angle_to_quaternion_at_zero_is_half() -> None:
    # d(q_xyz)/d(aa) = I / 2 at the identity (q_xyz = sin(theta / 2) * axis).
    jac = torch.autograd.functional.jacobian(
        lambda a: axis_angle_to_quaternion(a)[1:], torch.zeros(3, dtype=torch.float64)
    )
    torch.testing.assert_close(jac, 0.5 * torch.eye(3, dtype=torch.float64))


@pytest.mark.parametrize("angle", [0.0, math.pi])
def test_matrix_to_axis_angle_gradient_finite_at_edges(angle: float) -> None:
    R = rotation_about_axis(torch.tensor(angle, dtype=torch.float64), "y").requires_grad_()
    matrix_to_axis_angle(R).sum().backward()
    assert R.grad is not None
    assert torch.isfinite(R.grad).all()


def test_gradcheck_on_generic_inputs() -> None:
    generator = torch.Generator().manual_seed(8)
    aa = torch.randn(4, 3, dtype=torch.float64, generator=generator, requires_grad=True)
    x6 = torch.randn(4, 6, dtype=torch.float64, generator=generator, requires_grad=True)
    R = axis_angle_to_matrix(aa).detach().requires_grad_()
    assert torch.autograd.gradcheck(axis_angle_to_matrix, (aa,))
    assert torch.autograd.gradcheck(axis_angle_to_quaternion, (aa,))
    assert torch.autograd.gradcheck(rotation_6d_to_matrix, (x6,))
    assert torch.autograd.gradcheck(matrix_to_axis_angle, (R,))


# --- export --------------------------------------------------------------------------------


class _PoseHead(torch.nn.Module):
    """A network tail as Key2Mesh uses it: 6D in, matrices and axis-angle out."""

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        aa = matrix_to_axis_angle(rotation_6d_to_matrix(x))
        return aa, axis_angle_to_matrix(aa)


@pytest.mark.slow
def test_export_with_dynamic_batch_has_no_data_dependent_control_flow() -> None:
    batch = torch.export.Dim("batch", min=2)
    example = torch.randn(4, 24, 6)
    program = torch.export.export(_PoseHead(), (example,), dynamic_shapes=({0: batch},))
    other = torch.randn(7, 24, 6)
    for exported, eager in zip(program.module()(other), _PoseHead()(other), strict=True):
        torch.testing.assert_close(exported, eager)
