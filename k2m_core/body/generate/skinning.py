"""Skinning weights and joint regressors for the generated mesh."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def vertex_adjacency(num_vertices: int, faces: np.ndarray) -> sp.csr_matrix:
    """Row-normalised vertex adjacency: one step of averaging over mesh neighbours."""
    i = faces[:, [0, 1, 1, 2, 2, 0]].reshape(-1)
    j = faces[:, [1, 0, 2, 1, 0, 2]].reshape(-1)
    adj = sp.csr_matrix((np.ones(len(i)), (i, j)), shape=(num_vertices, num_vertices))
    adj.data[:] = 1.0
    degree = np.asarray(adj.sum(axis=1)).ravel()
    return sp.diags(1.0 / degree) @ adj


def smooth_skinning_weights(
    owners: np.ndarray,
    faces: np.ndarray,
    num_joints: int = 24,
    iterations: int = 12,
    step: float = 0.5,
    prune_below: float = 0.01,
) -> np.ndarray:
    """(V, J) weights: each vertex starts bound to the joint owning its piece of skin, then
    the binding diffuses over mesh edges so that skin blends across joints instead of
    tearing. Diffusing along the surface (not through space) keeps fingers off the thigh."""
    weights = np.eye(num_joints)[owners]
    smooth = vertex_adjacency(len(owners), faces)
    for _ in range(iterations):
        weights = (1.0 - step) * weights + step * (smooth @ weights)
    weights[weights < prune_below] = 0.0
    return weights / weights.sum(axis=1, keepdims=True)


def ring_regressor_row(
    vertices: np.ndarray, target: np.ndarray, candidates: np.ndarray, max_iter: int = 50
) -> np.ndarray | None:
    """Non-negative weights over `candidates` whose weighted mean of vertices is `target`,
    or None when the target lies outside their convex hull.

    The closest-to-uniform solution (min ||w - 1/n||^2 with sum w = 1, V^T w = target, w >= 0)
    by an active-set loop: spread over the ring like SMPL's regressor, so the joint follows the
    whole cross-section when the body changes shape rather than a single vertex.
    """
    active = np.ones(len(candidates), bool)
    for _ in range(max_iter):
        if active.sum() < 4:
            return None
        idx = candidates[active]
        A = np.vstack([vertices[idx].T, np.ones(len(idx))])  # (4, n)
        b = np.append(target, 1.0)
        w0 = np.full(len(idx), 1.0 / len(idx))
        w = w0 + A.T @ np.linalg.solve(A @ A.T, b - A @ w0)
        if w.min() >= -1e-12:
            row = np.zeros(len(vertices))
            row[idx] = np.clip(w, 0.0, None)
            return row
        still = np.flatnonzero(active)
        active[still[w < 0]] = False
    return None


def joint_regressor(
    vertices: np.ndarray, targets: np.ndarray, reach: float = 1.5, margin: float = 0.015
) -> np.ndarray:
    """(J, V) regressor reproducing each target from the skin around it.

    A joint deep in the torso needs a wider ring than a finger joint: each takes the vertices
    within `reach` times its distance to the skin, plus `margin` metres, widening the ring
    until it encloses the joint (points just under the skin, like the head top, need that).
    """
    rows = []
    for target in targets:
        dist = np.linalg.norm(vertices - target, axis=1)
        row = None
        for widen in (1.0, 1.5, 2.0, 3.0, 4.0):
            radius = widen * (reach * dist.min() + margin)
            row = ring_regressor_row(vertices, target, np.flatnonzero(dist < radius))
            if row is not None:
                break
        if row is None:
            raise ValueError(f"no ring of skin vertices encloses the joint at {target}")
        rows.append(row)
    return np.stack(rows)
