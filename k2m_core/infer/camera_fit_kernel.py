"""The camera fit's arithmetic for one person at a time, compiled with numba.

:mod:`k2m_core.infer.camera_fit` describes the method; these are its steps written as loops
over a person's keypoints, so that numba turns them into machine code. As vectorised numpy the
same fit was hundreds of small array calls, ~1 ms per call at one person, as long as the network
itself; compiled, it is tens of microseconds. Float64 throughout, the same operations in the
same order, so results match the vectorised formulation to rounding (a test keeps them
together).
"""

from __future__ import annotations

import math

import numpy as np

from k2m_core.jit import jit

RIDGE = 1e-9
RIDGE_FLOOR = 1e-2
HUBER_BOX_FRACTION = 0.05
GN_STEPS = 5
GN_HALVINGS = 6
GN_TOLERANCE_M = 1e-7
MIN_DEPTH_M = 1e-3


@jit
def look_at_optical(tx: float, ty: float, tz: float, out: np.ndarray) -> None:
    """``out`` (3, 3) = camera_from_view aiming at the optical-frame point (tx, ty, tz): the
    view frame's -z at it, its x level in the camera's SMPL-style frame (geometry.look_at,
    in optical axes). At or straight above/below the camera: the camera frame itself."""
    sx, sy, sz = tx, -ty, -tz  # optical -> SMPL-style
    length = math.sqrt(sx * sx + sy * sy + sz * sz)
    safe = length if length > 1e-12 else 1.0
    zx, zy, zz = -sx / safe, -sy / safe, -sz / safe
    x_norm = math.sqrt(zz * zz + zx * zx)
    if x_norm < 1e-9 or length < 1e-12:
        out[:] = 0.0
        out[0, 0], out[1, 1], out[2, 2] = 1.0, -1.0, -1.0
        return
    xx, xz = zz / x_norm, -zx / x_norm
    yx, yy, yz = zy * xz, zz * xx - zx * xz, -zy * xx
    # rows of the SMPL-style rotation, then rows 1 and 2 flipped into optical axes
    out[0, 0], out[0, 1], out[0, 2] = xx, yx, zx
    out[1, 0], out[1, 1], out[1, 2] = 0.0, -yy, -zy
    out[2, 0], out[2, 1], out[2, 2] = -xz, -yz, -zz


@jit
def solve3(a: np.ndarray, b: np.ndarray, out: np.ndarray) -> None:
    """``out`` = a^-1 b for a (3, 3) system, by Gaussian elimination with partial pivoting
    (what LAPACK's gesv does for 3x3)."""
    m = a.copy()
    v = b.copy()
    for col in range(3):
        pivot = col
        for row in range(col + 1, 3):
            if abs(m[row, col]) > abs(m[pivot, col]):
                pivot = row
        if pivot != col:
            for j in range(3):
                m[col, j], m[pivot, j] = m[pivot, j], m[col, j]
            v[col], v[pivot] = v[pivot], v[col]
        for row in range(col + 1, 3):
            factor = m[row, col] / m[col, col]
            for j in range(col, 3):
                m[row, j] -= factor * m[col, j]
            v[row] -= factor * v[col]
    for row in range(2, -1, -1):
        total = v[row]
        for j in range(row + 1, 3):
            total -= m[row, j] * out[j]
        out[row] = total / m[row, row]


@jit
def ridge_of(weights: np.ndarray) -> float:
    return RIDGE * (weights.sum() + RIDGE_FLOOR)


@jit
def linear_translation(
    points: np.ndarray, rays: np.ndarray, weights: np.ndarray, prior: np.ndarray, out: np.ndarray
) -> None:
    """``out`` = t minimising sum w [((X + tx) - x (Z + tz))^2 + ((Y + ty) - y (Z + tz))^2]
    plus the ridge toward ``prior``: the pinhole constraints over the focal (metres at depth)."""
    normal = np.zeros((3, 3))
    rhs = np.zeros(3)
    for k in range(points.shape[0]):
        w = weights[k]
        if w == 0.0:
            continue
        x, y = rays[k, 0], rays[k, 1]
        bx = x * points[k, 2] - points[k, 0]
        by = y * points[k, 2] - points[k, 1]
        normal[0, 0] += w
        normal[0, 2] -= w * x
        normal[1, 1] += w
        normal[1, 2] -= w * y
        normal[2, 2] += w * (x * x + y * y)
        rhs[0] += w * bx
        rhs[1] += w * by
        rhs[2] -= w * (x * bx + y * by)
    normal[2, 0] = normal[0, 2]
    normal[2, 1] = normal[1, 2]
    ridge = ridge_of(weights)
    for i in range(3):
        normal[i, i] += ridge
        rhs[i] += ridge * prior[i]
    solve3(normal, rhs, out)


@jit
def rotate(points: np.ndarray, rotation: np.ndarray, out: np.ndarray) -> None:
    """``out[k]`` = rotation @ points[k]."""
    for k in range(points.shape[0]):
        for i in range(3):
            out[k, i] = (
                rotation[i, 0] * points[k, 0]
                + rotation[i, 1] * points[k, 1]
                + rotation[i, 2] * points[k, 2]
            )


@jit
def huber_cost(
    points: np.ndarray,
    pixels: np.ndarray,
    weights: np.ndarray,
    t: np.ndarray,
    camera: np.ndarray,
    delta: float,
    ridge: float,
    prior: np.ndarray,
) -> float:
    """Weighted Huber pixel cost of translation t plus the ridge; inf if a used keypoint is
    behind the camera. camera = (fx, fy, cx, cy)."""
    total = 0.0
    for k in range(points.shape[0]):
        w = weights[k]
        if w <= 0.0:
            continue
        depth = points[k, 2] + t[2]
        if depth <= MIN_DEPTH_M:
            return math.inf
        du = camera[0] * (points[k, 0] + t[0]) / depth + camera[2] - pixels[k, 0]
        dv = camera[1] * (points[k, 1] + t[1]) / depth + camera[3] - pixels[k, 1]
        error = math.sqrt(du * du + dv * dv)
        if error <= delta:
            total += w * 0.5 * error * error
        else:
            total += w * delta * (error - 0.5 * delta)
    penalty = 0.0
    for i in range(3):
        penalty += (t[i] - prior[i]) ** 2
    return total + 0.5 * ridge * penalty


@jit
def box_size(pixels: np.ndarray, weights: np.ndarray) -> float:
    """max(width, height) of the used keypoints' box; 0 for fewer than two."""
    lo_u = lo_v = math.inf
    hi_u = hi_v = -math.inf
    for k in range(pixels.shape[0]):
        if weights[k] > 0.0:
            lo_u, hi_u = min(lo_u, pixels[k, 0]), max(hi_u, pixels[k, 0])
            lo_v, hi_v = min(lo_v, pixels[k, 1]), max(hi_v, pixels[k, 1])
    if hi_u < lo_u:
        return 0.0
    return max(hi_u - lo_u, hi_v - lo_v)


@jit
def refine_translation(
    points: np.ndarray,
    pixels: np.ndarray,
    weights: np.ndarray,
    t: np.ndarray,
    camera: np.ndarray,
    prior: np.ndarray,
) -> None:
    """Gauss-Newton on the Huber pixel error over t (in place); a step that raises the cost
    or puts a keypoint behind the camera is halved, then dropped."""
    delta = max(HUBER_BOX_FRACTION * box_size(pixels, weights), 1.0)
    ridge = ridge_of(weights)
    current = huber_cost(points, pixels, weights, t, camera, delta, ridge, prior)
    if not math.isfinite(current):
        return
    hessian = np.zeros((3, 3))
    gradient = np.zeros(3)
    step = np.zeros(3)
    trial = np.zeros(3)
    for _ in range(GN_STEPS):
        hessian[:] = 0.0
        gradient[:] = 0.0
        for k in range(points.shape[0]):
            w = weights[k]
            if w <= 0.0:
                continue
            px, py = points[k, 0] + t[0], points[k, 1] + t[1]
            z = max(points[k, 2] + t[2], MIN_DEPTH_M)
            ru = camera[0] * px / z + camera[2] - pixels[k, 0]
            rv = camera[1] * py / z + camera[3] - pixels[k, 1]
            error = math.sqrt(ru * ru + rv * rv)
            if error > delta:
                w = w * delta / max(error, 1e-12)
            a, b = camera[0] / z, camera[1] / z
            cu, cv = -camera[0] * px / (z * z), -camera[1] * py / (z * z)
            hessian[0, 0] += w * a * a
            hessian[0, 2] += w * a * cu
            hessian[1, 1] += w * b * b
            hessian[1, 2] += w * b * cv
            hessian[2, 2] += w * (cu * cu + cv * cv)
            gradient[0] += w * a * ru
            gradient[1] += w * b * rv
            gradient[2] += w * (cu * ru + cv * rv)
        hessian[2, 0], hessian[2, 1] = hessian[0, 2], hessian[1, 2]
        for i in range(3):
            hessian[i, i] += ridge
            gradient[i] += ridge * (t[i] - prior[i])
        solve3(hessian, -gradient, step)
        if max(abs(step[0]), abs(step[1]), abs(step[2])) <= GN_TOLERANCE_M:
            return
        scale = 1.0
        accepted = False
        for _ in range(GN_HALVINGS):
            for i in range(3):
                trial[i] = t[i] + scale * step[i]
            cost = huber_cost(points, pixels, weights, trial, camera, delta, ridge, prior)
            if cost <= current:
                t[:] = trial
                current = cost
                accepted = True
                break
            scale *= 0.5
        if not accepted:
            return


@jit
def fit_person(
    points_view: np.ndarray,
    pixels: np.ndarray,
    weights: np.ndarray,
    camera: np.ndarray,
    sight: np.ndarray,
    iterations: int,
    refine: bool,
    prior: np.ndarray,
    translation: np.ndarray,
    rotation: np.ndarray,
) -> tuple[float, bool]:
    """One person's fit into ``translation`` (3,) and ``rotation`` (3, 3); returns the
    reprojection error (px) and whether every used keypoint ends in front of the camera."""
    count = points_view.shape[0]
    rays = np.empty((count, 2))
    for k in range(count):
        rays[k, 0] = (pixels[k, 0] - camera[2]) / camera[0]
        rays[k, 1] = (pixels[k, 1] - camera[3]) / camera[1]
    total = weights.sum()
    cx = cy = 0.0
    for k in range(count):
        cx += weights[k] * rays[k, 0]
        cy += weights[k] * rays[k, 1]
    norm = max(total, 1e-12)
    look_at_optical(cx / norm, cy / norm, 1.0, rotation)
    rotated = np.empty((count, 3))
    rotate(points_view, rotation, rotated)
    linear_translation(rotated, rays, weights, prior, translation)
    aim = np.empty(3)
    for _ in range(iterations):
        for i in range(3):
            aim[i] = translation[i] + (
                rotation[i, 0] * sight[0] + rotation[i, 1] * sight[1] + rotation[i, 2] * sight[2]
            )
        if aim[2] > 0.0:  # behind the camera there is no line of sight to turn to
            look_at_optical(aim[0], aim[1], aim[2], rotation)
        rotate(points_view, rotation, rotated)
        linear_translation(rotated, rays, weights, prior, translation)
    if refine:
        refine_translation(rotated, pixels, weights, translation, camera, prior)
    front = True
    error_sum = 0.0
    for k in range(count):
        depth = rotated[k, 2] + translation[2]
        if weights[k] > 0.0 and depth <= MIN_DEPTH_M:
            front = False
        z = max(depth, MIN_DEPTH_M)
        du = camera[0] * (rotated[k, 0] + translation[0]) / z + camera[2] - pixels[k, 0]
        dv = camera[1] * (rotated[k, 1] + translation[1]) / z + camera[3] - pixels[k, 1]
        error_sum += weights[k] * math.sqrt(du * du + dv * dv)
    error = error_sum / max(total, 1e-12) if total > 0 else 0.0
    return error, front


@jit
def fit_people(
    points_view: np.ndarray,
    pixels: np.ndarray,
    weights: np.ndarray,
    camera: np.ndarray,
    sight: np.ndarray,
    iterations: int,
    refine: bool,
    prior: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """fit_person for N people: (translation (N, 3), rotation (N, 3, 3), reprojection (N,),
    in front (N,))."""
    n = points_view.shape[0]
    translation = np.empty((n, 3))
    rotation = np.empty((n, 3, 3))
    reprojection = np.empty(n)
    front = np.empty(n, np.bool_)
    for i in range(n):
        reprojection[i], front[i] = fit_person(
            points_view[i], pixels[i], weights[i], camera, sight[i], iterations, refine,
            prior[i], translation[i], rotation[i],
        )  # fmt: skip
    return translation, rotation, reprojection, front
