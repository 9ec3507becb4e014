"""SMPLify baseline and its GMM pose prior, on the generated body and synthetic motion (numbers
say nothing about real SMPL). The whole file runs in well under a minute on one thread."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from k2m_core.baselines import (
    GaussianMixturePrior,
    SmplifyConfig,
    SmplifyResult,
    SmplifyStage,
    evaluate_on_target,
    fit_on_training_motion,
    fit_smplify,
    smplify_to_view_frame,
)
from k2m_core.body.smpl import SmplModel
from k2m_core.data.synthetic_motion import synthesize_motion, training_motion
from k2m_core.data.target_domain import SyntheticTarget, TargetDomainConfig, make_target_domain
from k2m_core.eval.evaluate import BodyPrediction, body_errors

FORMAT = "coco18"
# A short schedule for the tests that check bookkeeping rather than accuracy.
QUICK = SmplifyConfig(
    camera_iterations=30,
    stages=(SmplifyStage(60, pose_prior=40.0, shape_prior=50.0, bend_prior=50.0),),
)


@pytest.fixture(scope="module")
def prior() -> GaussianMixturePrior:
    return fit_on_training_motion()


@pytest.fixture(scope="module")
def people(smpl_model: SmplModel) -> tuple[SyntheticTarget, np.ndarray]:
    """8 independent people before the robot camera, seen by a perfect detector, and their
    root rotations in the world (for the exact view-frame check)."""
    bank = synthesize_motion(8, 1, seed=7)
    cfg = TargetDomainConfig().without_detector_shifts()
    return make_target_domain(bank, smpl_model, cfg, FORMAT, seed=7), bank.poses[:, :3]


@pytest.fixture(scope="module")
def fits(
    people: tuple[SyntheticTarget, np.ndarray], smpl_model: SmplModel, prior: GaussianMixturePrior
) -> tuple[SmplifyResult, SmplifyResult]:
    """The default fit and the mean-pose baseline (camera stage only) of the same people."""
    target = people[0]
    args = (target.detections.keypoints, FORMAT, target.intrinsics, smpl_model, prior)
    return fit_smplify(*args), fit_smplify(*args, SmplifyConfig(stages=()))


# --- the pose prior -----------------------------------------------------------------------------


def test_gmm_recovers_a_known_mixture() -> None:
    rng = np.random.default_rng(0)
    means = np.array([[2.0, 0.0, 0.5], [-2.0, 1.0, 0.0]])
    scales = np.array([0.3, 0.6])
    counts = (1200, 2800)
    x = np.concatenate(
        [m + s * rng.standard_normal((c, 3)) for m, s, c in zip(means, scales, counts, strict=True)]
    )
    gmm = GaussianMixturePrior.fit(x, components=2, iterations=100, regulariser=1e-6)
    order = torch.argsort(gmm.means[:, 0], descending=True)
    np.testing.assert_allclose(gmm.means[order].numpy(), means, atol=0.06)
    np.testing.assert_allclose(gmm.weights[order].numpy(), [0.3, 0.7], atol=0.02)
    variances = torch.diagonal(gmm.covariances[order], dim1=-2, dim2=-1).mean(-1).numpy()
    np.testing.assert_allclose(variances, scales**2, rtol=0.1)


def test_training_poses_are_likelier_than_random_ones(prior: GaussianMixturePrior) -> None:
    unseen = torch.as_tensor(training_motion(500, seed=3).poses[:, 3:])  # not what it fitted
    random = (torch.rand(500, 69, generator=torch.Generator().manual_seed(0)) * 2 - 1) * 1.5
    nll_train, nll_random = prior(unseen), prior(random)
    assert nll_train.shape == (500,)
    assert nll_train.mean() < nll_random.mean() - 100.0
    assert float(torch.quantile(nll_train, 0.95)) < float(nll_random.min())
    # SMPLify's max-component NLL bounds the exact mixture NLL from above, by at most log K.
    lse = GaussianMixturePrior(prior.weights, prior.means, prior.covariances, mode="logsumexp")
    gap = nll_train - lse(unseen)
    assert bool((gap >= -1e-3).all()) and bool((gap <= np.log(prior.num_components) + 1e-3).all())


def test_prior_round_trips_through_npz(prior: GaussianMixturePrior, tmp_path: Path) -> None:
    path = prior.save(tmp_path / "gmm.npz")
    loaded = GaussianMixturePrior.load(path)
    poses = torch.as_tensor(training_motion(20, seed=4).poses[:, 3:])
    torch.testing.assert_close(loaded(poses), prior(poses))
    with pytest.raises(ValueError, match="shape"):
        prior(poses[:, :60])


# --- SMPLify ------------------------------------------------------------------------------------


def _pa_mpjpe_mm(
    result: SmplifyResult, target: SyntheticTarget, body: SmplModel
) -> tuple[float, float]:
    """Mean PA-MPJPE and MPJPE (camera frame) in mm, computed with body_errors directly."""
    truth_rot = torch.as_tensor(target.truth_rot_mats).clone()
    truth_rot[:, 0] = torch.as_tensor(target.root_in_camera())
    truth = BodyPrediction(torch.as_tensor(target.truth_betas), truth_rot)
    errors = body_errors(body, result.prediction(), truth, with_vertices=False)
    return 1000 * float(errors["pa_mpjpe"].mean()), 1000 * float(errors["mpjpe"].mean())


def test_smplify_beats_the_mean_pose_with_a_perfect_detector(
    fits: tuple[SmplifyResult, SmplifyResult],
    people: tuple[SyntheticTarget, np.ndarray],
    smpl_model: SmplModel,
) -> None:
    fit, mean_pose = fits
    target = people[0]
    assert fit.rot_mats.shape == (8, 24, 3, 3) and fit.betas.shape == (8, 10)
    assert fit.transl.shape == (8, 3) and bool((fit.transl[:, 2] < -1.0).all())  # in front
    assert fit.iterations == 60 + 200 and fit.wall_time_s > 0
    assert bool((fit.keypoints_used == 18).all())

    # Reprojection: a large factor below the mean pose's best camera.
    assert float(fit.reprojection_px.mean()) < float(mean_pose.reprojection_px.mean()) / 4
    assert float(fit.reprojection_px.max()) < 8.0

    fit_pa, fit_mpjpe = _pa_mpjpe_mm(fit, target, smpl_model)
    base_pa, base_mpjpe = _pa_mpjpe_mm(mean_pose, target, smpl_model)
    assert fit_pa < 0.7 * base_pa, (fit_pa, base_pa)  # 0.27-0.55 over seeds 1-8
    assert fit_mpjpe < base_mpjpe, (fit_mpjpe, base_mpjpe)

    # evaluate_on_target does the same; PA-MPJPE ignores the frame, MPJPE nearly so here.
    camera = evaluate_on_target(fit, target, smpl_model, frame="camera")
    view = evaluate_on_target(fit, target, smpl_model, frame="view")
    assert 1000 * float(camera["pa_mpjpe"].mean()) == pytest.approx(fit_pa, abs=1e-3)
    torch.testing.assert_close(camera["pa_mpjpe"], view["pa_mpjpe"], atol=1e-5, rtol=0)
    assert float(view["mpjpe"].mean()) == pytest.approx(float(camera["mpjpe"].mean()), abs=0.01)


def test_view_frame_matches_the_target_domain(
    people: tuple[SyntheticTarget, np.ndarray], smpl_model: SmplModel
) -> None:
    """The truth, moved to the camera frame and back, lands exactly on the target's own view
    frame: both aim where the training camera aims, with no need for the world's up."""
    target, _ = people
    betas = torch.as_tensor(target.truth_betas)
    r_sv = torch.as_tensor(target.camera_from_view)
    root_s = torch.as_tensor(target.root_in_camera())
    j0 = smpl_model(betas, root_s, torch.zeros(8, 69), return_vertices=False).joints[:, 0]
    transl_s = (r_sv @ (torch.as_tensor(target.truth_transl) + j0)[..., None])[..., 0] - j0
    rot_mats = torch.as_tensor(target.truth_rot_mats).clone()
    rot_mats[:, 0] = root_s
    truth = SmplifyResult(
        betas, rot_mats, transl_s, torch.zeros(8, 69), torch.zeros(8), torch.zeros(8),
        torch.full((8,), 18), torch.zeros(8, dtype=torch.long), 0, 0, 0.0,
    )  # fmt: skip
    exact = smplify_to_view_frame(truth, smpl_model)
    torch.testing.assert_close(exact.camera_from_view, r_sv, atol=1e-4, rtol=0)
    torch.testing.assert_close(
        exact.rot_mats, torch.as_tensor(target.truth_rot_mats), atol=1e-4, rtol=0
    )
    torch.testing.assert_close(
        exact.transl, torch.as_tensor(target.truth_transl), atol=1e-4, rtol=0
    )


def test_missing_keypoints_are_ignored(
    people: tuple[SyntheticTarget, np.ndarray], smpl_model: SmplModel, prior: GaussianMixturePrior
) -> None:
    target = people[0]
    kps = target.detections.keypoints[:3].copy()
    kps[0, [3, 4], 2] = 0.0  # right elbow and wrist not detected
    kps[1, 8:14, 2] = 0.05  # legs below min_confidence
    kps[2, :, 2] = 0.0  # nobody there
    other = kps.copy()
    kps[kps[..., 2] < 0.1, :2] = 0.0
    other[other[..., 2] < 0.1, :2] = 1e4  # where a missed keypoint "is" must not matter
    args = (FORMAT, target.intrinsics, smpl_model, prior, QUICK)
    a, b = fit_smplify(kps, *args), fit_smplify(torch.as_tensor(other), *args)
    torch.testing.assert_close(a.rot_mats, b.rot_mats)
    torch.testing.assert_close(a.transl, b.transl)
    assert a.keypoints_used.tolist() == [16, 12, 0]
    assert bool(torch.isfinite(a.rot_mats).all() and torch.isfinite(a.transl).all())
    assert float(a.reprojection_px[:2].max()) < 15.0 and bool(a.reprojection_px[2].isnan())
    # Nobody there: the mean body, facing the camera, at the fallback depth on the optical axis.
    assert float(a.transl[2, 2]) == pytest.approx(-QUICK.fallback_depth_m, abs=0.6)


def test_empty_and_bad_input(
    people: tuple[SyntheticTarget, np.ndarray], smpl_model: SmplModel, prior: GaussianMixturePrior
) -> None:
    target = people[0]
    args = (FORMAT, target.intrinsics, smpl_model, prior)
    empty = fit_smplify(np.zeros((0, 18, 3), np.float32), *args)
    assert len(empty) == 0 and empty.rot_mats.shape == (0, 24, 3, 3)
    assert empty.betas.shape == (0, 10) and empty.transl.shape == (0, 3)

    bad = target.detections.keypoints[:2].copy()
    bad[1, 5, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        fit_smplify(bad, *args)
    with pytest.raises(ValueError, match=r"\(N, 18, 3\)"):
        fit_smplify(np.zeros((2, 17, 3)), *args)
    with pytest.raises(ValueError, match="optimiser"):
        SmplifyConfig(optimiser="sgd")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="iterations"):
        SmplifyStage(-1, 1.0, 1.0, 1.0)
