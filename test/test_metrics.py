"""Evaluation metrics on hand-built poses whose errors follow from geometry, not from the code."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest
import torch
from scipy.linalg import orthogonal_procrustes
from scipy.spatial.transform import Rotation

from k2m_core.eval.metrics import (
    LSP14_HIP_INDICES,
    align_by_hips,
    mpjpe,
    pa_mpjpe,
    procrustes_align,
    procrustes_transform,
    pve,
    summarise,
)

Metric = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

# 14 LSP joints of a standing body in metres, hips at (+-0.1, 0.9, 0) so the hip midpoint is
# (0, 0.9, 0). Order: R ankle, R knee, R hip, L hip, L knee, L ankle, R wrist, R elbow,
# R shoulder, L shoulder, L elbow, L wrist, thorax, head top.
POSE = torch.tensor(
    [
        [-0.1, 0.0, 0.0],
        [-0.1, 0.45, 0.05],
        [-0.1, 0.9, 0.0],
        [0.1, 0.9, 0.0],
        [0.1, 0.45, 0.05],
        [0.1, 0.0, 0.0],
        [-0.3, 0.9, 0.1],
        [-0.25, 1.15, 0.0],
        [-0.2, 1.4, 0.0],
        [0.2, 1.4, 0.0],
        [0.25, 1.15, -0.05],
        [0.3, 0.9, 0.1],
        [0.0, 1.45, 0.0],
        [0.0, 1.7, 0.02],
    ],
    dtype=torch.float64,
)
HIP_MID = torch.tensor([0.0, 0.9, 0.0], dtype=torch.float64)


def _batch(*poses: torch.Tensor) -> torch.Tensor:
    return torch.stack(poses)


def _random_cloud(seed: int, batch: int = 5, points: int = 14) -> torch.Tensor:
    return torch.randn(batch, points, 3, generator=torch.Generator().manual_seed(seed)).double()


def _reference_similarity_align(pred: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Independent reference: scipy's Kabsch (proper rotation), then the closed-form scale."""
    x = pred - pred.mean(axis=0)
    y = target - target.mean(axis=0)
    rotation, _ = Rotation.align_vectors(y, x)  # argmin_R sum |y_k - R x_k|^2, det R = +1
    rx = rotation.apply(x)
    scale = float((y * rx).sum() / (x * x).sum())  # d/ds sum |y - s R x|^2 = 0
    return scale * rx + target.mean(axis=0)


# --- hip alignment ---------------------------------------------------------------------------


def test_lsp14_hip_indices_are_the_hips() -> None:
    assert LSP14_HIP_INDICES == (2, 3)


def test_align_by_hips_moves_the_hip_midpoint_to_the_origin() -> None:
    aligned = align_by_hips(_batch(POSE))
    torch.testing.assert_close(aligned[0], POSE - HIP_MID)
    torch.testing.assert_close(aligned[0, 2], torch.tensor([-0.1, 0.0, 0.0], dtype=torch.float64))


# --- hand-built transforms -------------------------------------------------------------------


def test_pure_translation_is_free_for_mpjpe_and_pa_but_not_pve() -> None:
    shift = torch.tensor([0.3, -0.4, 1.2], dtype=torch.float64)  # length 1.3 exactly
    pred, target = _batch(POSE + shift), _batch(POSE)
    torch.testing.assert_close(mpjpe(pred, target), torch.zeros(1, 14, dtype=torch.float64))
    torch.testing.assert_close(
        pa_mpjpe(pred, target), torch.zeros(1, 14, dtype=torch.float64), atol=1e-9, rtol=0
    )
    torch.testing.assert_close(pve(pred, target), torch.full((1, 14), 1.3, dtype=torch.float64))


def test_rotation_about_hip_midpoint_has_hand_computed_mpjpe() -> None:
    # 90 deg about z through the hip midpoint maps (x, y, z) -> (-y, x, z) relative to it, so
    # each joint moves by |(x + y, y - x, 0)| = sqrt(2) * sqrt(x^2 + y^2).
    rel = POSE - HIP_MID
    rotated = torch.stack([-rel[:, 1], rel[:, 0], rel[:, 2]], dim=-1) + HIP_MID
    expected = math.sqrt(2.0) * torch.hypot(rel[:, 0], rel[:, 1])
    errors = mpjpe(_batch(rotated), _batch(POSE))
    torch.testing.assert_close(errors[0], expected)
    # Spot checks by hand: a hip 0.1 from the axis moves 0.1 * sqrt(2); the head top 0.8.
    assert errors[0, 3].item() == pytest.approx(0.1 * math.sqrt(2.0))
    assert errors[0, 13].item() == pytest.approx(0.8 * math.sqrt(2.0))
    pa = pa_mpjpe(_batch(rotated), _batch(POSE))
    torch.testing.assert_close(pa, torch.zeros_like(pa), atol=1e-9, rtol=0)


def test_scale_about_hip_midpoint_has_hand_computed_mpjpe() -> None:
    # Scaling by 1.5 about the root moves each joint by 0.5 times its distance from the root.
    pred = (POSE - HIP_MID) * 1.5 + HIP_MID
    expected = 0.5 * torch.linalg.vector_norm(POSE - HIP_MID, dim=-1)
    torch.testing.assert_close(mpjpe(_batch(pred), _batch(POSE))[0], expected)
    assert mpjpe(_batch(pred), _batch(POSE))[0, 12].item() == pytest.approx(0.5 * 0.55)
    pa = pa_mpjpe(_batch(pred), _batch(POSE))
    torch.testing.assert_close(pa, torch.zeros_like(pa), atol=1e-9, rtol=0)


def test_mpjpe_with_other_root_indices() -> None:
    # Rooting at the head top instead: a pure translation is still free.
    pred = _batch(POSE + 2.0)
    errors = mpjpe(pred, _batch(POSE), hip_indices=(13,))
    torch.testing.assert_close(errors, torch.zeros_like(errors))


# --- Procrustes ------------------------------------------------------------------------------


def test_procrustes_recovers_a_known_similarity() -> None:
    pred = _random_cloud(0)
    rng = np.random.default_rng(1)
    rotations = Rotation.random(5, random_state=2).as_matrix()
    scales = rng.uniform(0.5, 2.0, size=5)
    shifts = rng.normal(size=(5, 3))
    target_np = scales[:, None, None] * np.einsum("bij,bkj->bki", rotations, pred.numpy())
    target = torch.from_numpy(target_np + shifts[:, None, :])

    scale, rotation, translation = procrustes_transform(pred, target)
    np.testing.assert_allclose(scale.numpy(), scales, atol=1e-10)
    np.testing.assert_allclose(rotation.numpy(), rotations, atol=1e-10)
    np.testing.assert_allclose(translation.numpy(), shifts, atol=1e-10)
    torch.testing.assert_close(procrustes_align(pred, target), target, atol=1e-6, rtol=0)


def test_procrustes_matches_independent_reference_on_noisy_data() -> None:
    pred, target = _random_cloud(3), _random_cloud(4)
    aligned = procrustes_align(pred, target).numpy()
    for b in range(pred.shape[0]):
        expected = _reference_similarity_align(pred[b].numpy(), target[b].numpy())
        np.testing.assert_allclose(aligned[b], expected, atol=1e-9)


def test_procrustes_does_not_return_a_reflection() -> None:
    pred = _random_cloud(5)
    target = pred * torch.tensor([-1.0, 1.0, 1.0], dtype=torch.float64)  # mirror x
    # Sanity: an improper orthogonal map would match the mirror exactly ...
    for b in range(pred.shape[0]):
        x = pred[b].numpy() - pred[b].numpy().mean(axis=0)
        y = target[b].numpy() - target[b].numpy().mean(axis=0)
        orthogonal, _ = orthogonal_procrustes(x, y)
        assert np.linalg.det(orthogonal) == pytest.approx(-1.0)
        np.testing.assert_allclose(x @ orthogonal, y, atol=1e-10)
    # ... but a proper rotation cannot, so the PA error stays well above zero.
    _, rotation, _ = procrustes_transform(pred, target)
    torch.testing.assert_close(torch.linalg.det(rotation), torch.ones(5, dtype=torch.float64))
    assert (pa_mpjpe(pred, target).mean(dim=1) > 0.1).all()
    # The best proper similarity, scale included, is still the independent reference's.
    aligned = procrustes_align(pred, target).numpy()
    for b in range(pred.shape[0]):
        expected = _reference_similarity_align(pred[b].numpy(), target[b].numpy())
        np.testing.assert_allclose(aligned[b], expected, atol=1e-9)


def test_procrustes_rotations_are_orthonormal() -> None:
    _, rotation, _ = procrustes_transform(_random_cloud(6), _random_cloud(7))
    eye = torch.eye(3, dtype=torch.float64).expand(5, 3, 3)
    torch.testing.assert_close(rotation @ rotation.mT, eye)
    torch.testing.assert_close(torch.linalg.det(rotation), torch.ones(5, dtype=torch.float64))


def test_pa_error_never_exceeds_centroid_aligned_error() -> None:
    # Procrustes minimises the sum of squared errors, and (s=1, R=I, centroid shift) is one
    # of its candidates, so the per-sample RMS error can only drop.
    target = _random_cloud(8, batch=20)
    rot = torch.from_numpy(Rotation.random(20, random_state=9).as_matrix())
    noise = 0.05 * _random_cloud(10, batch=20)
    pred = 1.1 * target @ rot.mT + noise + 0.5
    centred = (pred - pred.mean(dim=1, keepdim=True)) - (target - target.mean(dim=1, keepdim=True))
    centroid_rms = centred.square().sum(dim=-1).mean(dim=-1).sqrt()
    pa_rms = pa_mpjpe(pred, target).square().mean(dim=-1).sqrt()
    assert (pa_rms <= centroid_rms + 1e-12).all()
    assert (pa_rms < 0.5 * centroid_rms).all()  # the rotation here is large; noise is small


# --- batching, dtypes, gradients, devices ----------------------------------------------------


def test_batched_equals_per_sample() -> None:
    pred, target = _random_cloud(11, batch=6), _random_cloud(12, batch=6)
    pred[2] = 0.4  # a degenerate sample must not disturb its neighbours
    batched = {f.__name__: f(pred, target) for f in (mpjpe, pa_mpjpe, pve)}
    for b in range(6):
        for f in (mpjpe, pa_mpjpe, pve):
            single = f(pred[b : b + 1], target[b : b + 1])
            torch.testing.assert_close(batched[f.__name__][b : b + 1], single)


def test_float32_and_float64_agree() -> None:
    pred, target = _random_cloud(13), _random_cloud(14)
    for f in (mpjpe, pa_mpjpe, pve):
        out64 = f(pred, target)
        out32 = f(pred.float(), target.float())
        assert out64.dtype == torch.float64 and out32.dtype == torch.float32
        torch.testing.assert_close(out32.double(), out64, atol=1e-5, rtol=1e-5)


def test_gradients_are_finite_and_correct() -> None:
    pred = _random_cloud(15, batch=2, points=5).requires_grad_()
    target = _random_cloud(16, batch=2, points=5)
    assert torch.autograd.gradcheck(lambda p: pa_mpjpe(p, target), (pred,))
    assert torch.autograd.gradcheck(lambda p: mpjpe(p, target, hip_indices=(0, 1)), (pred,))
    pa_mpjpe(pred, target).mean().backward()
    assert pred.grad is not None and torch.isfinite(pred.grad).all()
    assert pred.grad.abs().sum() > 0


def test_degenerate_prediction_collapses_onto_target_centroid() -> None:
    # A single repeated point: the best similarity has scale 0 and maps it to the centroid.
    for dtype in (torch.float32, torch.float64):
        target = _random_cloud(17, batch=2).to(dtype)
        pred = torch.full((2, 14, 3), 1.1, dtype=dtype, requires_grad=True)
        aligned = procrustes_align(pred, target)
        expected = target.mean(dim=1, keepdim=True).expand_as(target)
        torch.testing.assert_close(aligned, expected)
        scale, rotation, _ = procrustes_transform(pred, target)
        torch.testing.assert_close(scale, torch.zeros(2, dtype=dtype))
        torch.testing.assert_close(rotation, torch.eye(3, dtype=dtype).expand(2, 3, 3))
        pa_mpjpe(pred, target).sum().backward()
        assert pred.grad is not None and torch.isfinite(pred.grad).all()


def test_degenerate_target_gives_finite_near_zero_error() -> None:
    pred = _random_cloud(18, batch=2)
    target = torch.full((2, 14, 3), -0.3, dtype=torch.float64)
    errors = pa_mpjpe(pred, target)
    torch.testing.assert_close(errors, torch.zeros_like(errors), atol=1e-12, rtol=0)


def test_half_precision_input_is_computed_in_float32() -> None:
    pred, target = _random_cloud(19), _random_cloud(20)
    out = pa_mpjpe(pred.half(), target.half())
    assert out.dtype == torch.float16
    torch.testing.assert_close(out.double(), pa_mpjpe(pred, target), atol=1e-2, rtol=1e-2)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu() -> None:
    pred, target = _random_cloud(21), _random_cloud(22)
    for f in (mpjpe, pa_mpjpe, pve):
        out = f(pred.cuda(), target.cuda())
        assert out.device.type == "cuda"
        torch.testing.assert_close(out.cpu(), f(pred, target))


# --- validation ------------------------------------------------------------------------------


@pytest.mark.parametrize("metric", [mpjpe, pa_mpjpe, pve])
def test_mismatched_shapes_are_rejected(metric: Metric) -> None:
    with pytest.raises(ValueError, match="shapes differ"):
        metric(_random_cloud(0, points=14), _random_cloud(0, points=13))


@pytest.mark.parametrize("metric", [mpjpe, pa_mpjpe, pve])
def test_nan_inputs_are_rejected(metric: Metric) -> None:
    pred = _random_cloud(0)
    pred[1, 4, 2] = float("nan")
    with pytest.raises(ValueError, match="pred contains NaN"):
        metric(pred, _random_cloud(1))
    with pytest.raises(ValueError, match="target contains NaN"):
        metric(_random_cloud(1), pred)


def test_bad_layouts_are_rejected() -> None:
    with pytest.raises(ValueError, match=r"shape \(B, K, 3\)"):
        mpjpe(torch.zeros(14, 3), torch.zeros(14, 3))
    with pytest.raises(ValueError, match=r"shape \(B, K, 3\)"):
        pve(torch.zeros(1, 14, 2), torch.zeros(1, 14, 2))
    with pytest.raises(ValueError, match="floating-point"):
        pve(torch.zeros(1, 14, 3, dtype=torch.int64), torch.zeros(1, 14, 3, dtype=torch.int64))


def test_procrustes_needs_three_points() -> None:
    with pytest.raises(ValueError, match="at least 3 points"):
        pa_mpjpe(_random_cloud(0, points=2), _random_cloud(1, points=2))


def test_bad_hip_indices_are_rejected() -> None:
    with pytest.raises(ValueError, match="hip_indices"):
        mpjpe(_random_cloud(0, points=3), _random_cloud(1, points=3))  # default (2, 3)
    with pytest.raises(ValueError, match="hip_indices"):
        align_by_hips(_random_cloud(0), hip_indices=())


# --- summarise -------------------------------------------------------------------------------

ERRORS_M = torch.tensor([[0.01, 0.03], [0.02, 0.04], [0.05, 0.07]])


def test_summarise_by_hand() -> None:
    summary = summarise(ERRORS_M, groups=["walk", "sit", "walk"], to_mm=1000.0)
    assert summary["mean"] == pytest.approx((10 + 30 + 20 + 40 + 50 + 70) / 6)
    assert summary["per_joint"] == pytest.approx([(10 + 20 + 50) / 3, (30 + 40 + 70) / 3])
    assert summary["per_group"] == pytest.approx({"walk": 40.0, "sit": 30.0})
    assert summary["group_sizes"] == {"walk": 2, "sit": 1}


def test_summarise_without_groups_keeps_input_unit() -> None:
    summary = summarise(ERRORS_M.numpy())
    assert summary["mean"] == pytest.approx(0.22 / 6)
    assert summary["per_group"] == {} and summary["group_sizes"] == {}


def test_summarise_numpy_integer_labels_become_python_ints() -> None:
    summary = summarise(ERRORS_M, groups=np.array([7, 7, 3]))
    assert summary["per_group"] == pytest.approx({7: 0.025, 3: 0.06})
    assert all(type(k) is int for k in summary["per_group"])


def test_summarise_validation() -> None:
    with pytest.raises(ValueError, match="one label per sample"):
        summarise(ERRORS_M, groups=["a", "b"])
    with pytest.raises(ValueError, match=r"shape \(B, K\)"):
        summarise(torch.zeros(3))
    with pytest.raises(ValueError, match="NaN"):
        summarise(torch.tensor([[float("nan")]]))
    with pytest.raises(ValueError, match="to_mm"):
        summarise(ERRORS_M, to_mm=0.0)
