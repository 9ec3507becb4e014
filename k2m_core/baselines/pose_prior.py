"""A Gaussian-mixture prior over SMPL body poses, fitted on k2m's own training motion.

SMPLify (Bogo et al. 2016) keeps poses plausible with a GMM over the 69 axis-angle numbers of
the 23 body joints, fitted on CMU MoCap and shipped under SMPL's licence. This one is fitted by
EM on k2m's synthetic training motion in a second or two, so no licence-gated file is needed
and the prior describes exactly the poses k2m trains on (and nothing else: a pose the
generator never makes is improbable here, whatever real people do).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Literal, get_args

import numpy as np
import torch
from torch import nn

__all__ = [
    "BODY_POSE_DIM",
    "GaussianMixturePrior",
    "PriorMode",
    "fit_on_training_motion",
]

BODY_POSE_DIM = 69  # 23 body joints x 3 axis-angle numbers (SMPL's pose without the root)

PriorMode = Literal["max", "logsumexp"]
"""How the components combine in the NLL: "max" is SMPLify's: the best single component,
min_k -log(w_k N(x; mu_k, S_k)), an upper bound of the mixture NLL whose gradient pulls toward
one mode only; "logsumexp" is the exact mixture NLL."""

_LOG_2PI = math.log(2.0 * math.pi)
_KMEANS_ITERATIONS = 20
_NPZ_KEYS = ("weights", "means", "covariances", "mode")


class GaussianMixturePrior(nn.Module):
    """K full-covariance Gaussians over D-dimensional vectors (D = 69 for SMPL body poses).

    Buffers hold what the NLL needs (means, inverse Cholesky factors and per-component log
    normalisers), so the prior moves between devices with `.to()` like any module.
    """

    def __init__(
        self,
        weights: np.ndarray | torch.Tensor,
        means: np.ndarray | torch.Tensor,
        covariances: np.ndarray | torch.Tensor,
        mode: PriorMode = "max",
    ) -> None:
        super().__init__()
        if mode not in get_args(PriorMode):
            raise ValueError(f"mode must be one of {get_args(PriorMode)}, got {mode!r}")
        w, mu, cov = (_as_tensor(a, torch.float64) for a in (weights, means, covariances))
        _check_parameters(w, mu, cov)
        w = w / w.sum()
        try:
            inv_chol, log_det = _inverse_cholesky(cov)
        except torch.linalg.LinAlgError as err:
            raise ValueError("GMM covariances must be symmetric positive definite") from err
        log_norm = w.log() - 0.5 * (log_det + mu.shape[1] * _LOG_2PI)
        self.mode: PriorMode = mode
        self.register_buffer("weights", w.float())
        self.register_buffer("means", mu.float())
        self.register_buffer("covariances", cov.float())
        self.register_buffer("inverse_cholesky", inv_chol.float())
        self.register_buffer("log_normalisers", log_norm.float())

    @property
    def num_components(self) -> int:
        return int(self.means.shape[0])

    @property
    def dim(self) -> int:
        return int(self.means.shape[1])

    def mean_pose(self) -> torch.Tensor:
        """(D,) weighted mean of the component means: SMPLify's initial body pose."""
        return self.weights @ self.means

    def component_nll(self, x: torch.Tensor) -> torch.Tensor:
        """(B, K): -log(w_k N(x; mu_k, S_k)) for every sample and component."""
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise ValueError(f"expected poses of shape (B, {self.dim}), got {tuple(x.shape)}")
        diff = x[:, None, :] - self.means.to(x.dtype)  # (B, K, D)
        white = torch.einsum("bkd,ked->bke", diff, self.inverse_cholesky.to(x.dtype))
        return 0.5 * white.square().sum(-1) - self.log_normalisers.to(x.dtype)

    def negative_log_likelihood(self, body_pose: torch.Tensor) -> torch.Tensor:
        """(B,) NLL of body poses (B, D) in nats, combined as `self.mode` says (see PriorMode).

        Includes every normalising constant, so values are comparable across priors (and can
        be negative: the densities of narrow Gaussians exceed 1).
        """
        per_component = self.component_nll(body_pose)
        if self.mode == "max":
            return per_component.amin(dim=1)
        return -torch.logsumexp(-per_component, dim=1)

    def forward(self, body_pose: torch.Tensor) -> torch.Tensor:
        return self.negative_log_likelihood(body_pose)

    @classmethod
    def fit(
        cls,
        poses: np.ndarray | torch.Tensor,
        components: int = 8,
        iterations: int = 30,
        regulariser: float = 1e-3,
        seed: int = 0,
        tolerance: float = 1e-3,
        mode: PriorMode = "max",
    ) -> GaussianMixturePrior:
        """EM from a k-means++ start (then a few Lloyd steps), in float32 for speed.

        `regulariser` is added to every covariance's diagonal at each M-step (variance units,
        rad^2 for poses): it keeps components from collapsing onto joints the data never moves.
        Stops after `iterations` EM steps or when the mean log-likelihood (nats per sample)
        gains less than `tolerance`; with the regulariser it may even dip slightly at the end.
        Same data and seed, same prior.
        """
        x = _as_tensor(poses, torch.float32)
        if x.ndim != 2 or x.shape[0] == 0 or x.shape[1] == 0:
            raise ValueError(f"poses must be a non-empty (N, D) array, got {tuple(x.shape)}")
        if not bool(torch.isfinite(x).all()):
            raise ValueError("poses contain NaN or Inf values")
        if not 1 <= components <= x.shape[0]:
            raise ValueError(f"components must be in [1, {x.shape[0]}], got {components}")
        if iterations < 0 or not regulariser > 0:
            raise ValueError("need iterations >= 0 and regulariser > 0")
        gen = torch.Generator().manual_seed(seed)
        centres = _kmeans(x, _kmeans_plus_plus(x, components, gen))
        resp = torch.nn.functional.one_hot(_nearest(x, centres), components).to(x.dtype)
        weights, means, covs = _m_step(x, resp, regulariser)
        previous = -math.inf
        for _ in range(iterations):
            log_prob = _log_joint(x, weights, means, covs)
            log_lik = float(torch.logsumexp(log_prob, dim=1).mean())
            resp = torch.softmax(log_prob, dim=1)
            weights, means, covs = _m_step(x, resp, regulariser)
            if log_lik - previous < tolerance:
                break
            previous = log_lik
        return cls(weights, means, covs, mode=mode)

    def save(self, path: str | Path) -> Path:
        """Write weights, means, covariances and mode to an .npz (no pickles)."""
        path = Path(path)
        with path.open("wb") as f:  # a handle: np.savez would append '.npz' to other suffixes
            np.savez(
                f,
                weights=self.weights.cpu().numpy(),
                means=self.means.cpu().numpy(),
                covariances=self.covariances.cpu().numpy(),
                mode=np.array(self.mode),
            )
        return path

    @classmethod
    def load(cls, path: str | Path) -> GaussianMixturePrior:
        path = Path(path)
        with np.load(path, allow_pickle=False) as data:
            missing = [k for k in _NPZ_KEYS if k not in data]
            if missing:
                raise ValueError(f"{path}: not a GMM prior file (missing {', '.join(missing)})")
            return cls(data["weights"], data["means"], data["covariances"], str(data["mode"]))


def fit_on_training_motion(
    frames: int = 40_000,
    seed: int = 0,
    components: int = 8,
    iterations: int = 30,
    regulariser: float = 1e-3,
    stride: int = 5,
    mode: PriorMode = "max",
) -> GaussianMixturePrior:
    """The body-pose prior of k2m's training motion: training_motion(frames, seed), every
    `stride`-th frame (neighbouring frames are near-duplicates: striding buys variety at the
    same EM cost). A few seconds on one CPU thread with the defaults."""
    from k2m_core.data.synthetic_motion import training_motion

    if stride < 1:
        raise ValueError(f"stride must be >= 1, got {stride}")
    bank = training_motion(frames, seed=seed)
    body_poses = np.asarray(bank.poses, np.float32)[::stride, 3:]
    return GaussianMixturePrior.fit(
        body_poses, components, iterations, regulariser, seed=seed, mode=mode
    )


# --- EM ---------------------------------------------------------------------------------------


def _as_tensor(a: np.ndarray | torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """A CPU tensor copy, from numpy (read-only memory maps too) or torch (any device)."""
    if isinstance(a, torch.Tensor):
        return a.detach().to("cpu", dtype)
    return torch.tensor(np.asarray(a), dtype=dtype)


def _check_parameters(w: torch.Tensor, mu: torch.Tensor, cov: torch.Tensor) -> None:
    if mu.ndim != 2 or mu.shape[0] == 0:
        raise ValueError(f"GMM means must be (K, D) with K >= 1, got {tuple(mu.shape)}")
    k, d = mu.shape
    if w.shape != (k,) or cov.shape != (k, d, d):
        raise ValueError(
            f"GMM shapes disagree: weights {tuple(w.shape)}, means {tuple(mu.shape)}, "
            f"covariances {tuple(cov.shape)}; expected ({k},), ({k}, {d}), ({k}, {d}, {d})"
        )
    if not all(bool(torch.isfinite(a).all()) for a in (w, mu, cov)):
        raise ValueError("GMM parameters contain NaN or Inf values")
    if bool((w <= 0).any()):
        raise ValueError("GMM weights must be positive")


def _squared_distances(x: torch.Tensor, centres: torch.Tensor) -> torch.Tensor:
    return torch.cdist(x, centres).square()


def _nearest(x: torch.Tensor, centres: torch.Tensor) -> torch.Tensor:
    return _squared_distances(x, centres).argmin(dim=1)


def _kmeans_plus_plus(x: torch.Tensor, k: int, gen: torch.Generator) -> torch.Tensor:
    """Arthur & Vassilvitskii's seeding: each next centre drawn with probability ~ D^2."""
    first = int(torch.randint(len(x), (1,), generator=gen))
    centres = [x[first]]
    d2 = (x - x[first]).square().sum(-1)
    for _ in range(1, k):
        total = float(d2.sum())
        if total > 0:
            idx = int(torch.multinomial(d2 / total, 1, generator=gen))
        else:  # every point already is a centre: repeat one
            idx = int(torch.randint(len(x), (1,), generator=gen))
        centres.append(x[idx])
        d2 = torch.minimum(d2, (x - x[idx]).square().sum(-1))
    return torch.stack(centres)


def _kmeans(x: torch.Tensor, centres: torch.Tensor) -> torch.Tensor:
    """A few Lloyd steps; an emptied cluster keeps its centre."""
    for _ in range(_KMEANS_ITERATIONS):
        labels = _nearest(x, centres)
        counts = torch.bincount(labels, minlength=len(centres)).to(x.dtype)
        sums = torch.zeros_like(centres).index_add_(0, labels, x)
        updated = torch.where(counts[:, None] > 0, sums / counts.clamp_min(1)[:, None], centres)
        if torch.equal(updated, centres):
            break
        centres = updated
    return centres


def _m_step(
    x: torch.Tensor, resp: torch.Tensor, regulariser: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Weights, means and regularised covariances from responsibilities (N, K)."""
    n, d = x.shape
    counts = resp.sum(0) + 10.0 * torch.finfo(x.dtype).eps
    means = (resp.T @ x) / counts[:, None]
    centred = x[None] - means[:, None]  # (K, N, D)
    covs = (centred * resp.T[:, :, None]).transpose(1, 2) @ centred / counts[:, None, None]
    covs = covs + regulariser * torch.eye(d, dtype=x.dtype)
    return counts / n, means, covs


def _log_joint(
    x: torch.Tensor, weights: torch.Tensor, means: torch.Tensor, covs: torch.Tensor
) -> torch.Tensor:
    """(N, K) log(w_k N(x_n; mu_k, S_k))."""
    inv_chol, log_det = _inverse_cholesky(covs)
    white = (x[None] - means[:, None]) @ inv_chol.transpose(1, 2)  # (K, N, D), one bmm
    maha = white.square().sum(-1).T  # (N, K)
    return weights.log() - 0.5 * (maha + log_det + x.shape[1] * _LOG_2PI)


def _inverse_cholesky(covs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """L^-1 (K, D, D) with S_k = L L^T, and log det S_k (K,), of covariances (K, D, D)."""
    chol = torch.linalg.cholesky(covs)
    eye = torch.eye(covs.shape[-1], dtype=covs.dtype).expand_as(covs)
    inv_chol = torch.linalg.solve_triangular(chol, eye, upper=False)
    return inv_chol, 2.0 * torch.diagonal(chol, dim1=-2, dim2=-1).log().sum(-1)
