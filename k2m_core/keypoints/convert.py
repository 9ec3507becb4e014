"""Keypoints from SMPL outputs (3D, differentiable) and between detector formats (2D + confidence).

Both are driven by keypoint names (see formats.py), so adding a format needs no new mapping code.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, TypeVar

import numpy as np

from k2m_core.body.skeleton import NUM_OUTPUT_JOINTS
from k2m_core.keypoints.formats import (
    NUM_H36M_JOINTS,
    NUM_SMPL_SOURCES,
    KeypointFormat,
    get_format,
)
from k2m_core.tensors import is_tensor

if TYPE_CHECKING:  # torch only for callers that bring tensors (training); inference has none
    import torch

    Array = TypeVar("Array", np.ndarray, torch.Tensor)
else:
    Array = TypeVar("Array")

FormatLike = str | KeypointFormat

# Points a detector format may lack but that are defined as midpoints of points it has.
SYNTHESISED: dict[str, tuple[str, ...]] = {
    "neck": ("left_shoulder", "right_shoulder"),
    "mid_hip": ("left_hip", "right_hip"),
}


# --- SMPL -> format ---------------------------------------------------------------------------


@lru_cache(maxsize=64)
def _selection(fmt: KeypointFormat, num_sources: int) -> tuple[np.ndarray, np.ndarray]:
    matrix = np.zeros((fmt.num_keypoints, num_sources), dtype=np.float32)
    available = np.zeros(fmt.num_keypoints, dtype=bool)
    for k, spec in enumerate(fmt.smpl_sources):
        if spec is None:
            continue
        if max(spec) >= num_sources:
            kind = "an H36M joint" if max(spec) >= NUM_OUTPUT_JOINTS else "an SMPL output joint"
            raise ValueError(
                f"format {fmt.name!r} keypoint {fmt.keypoint_names[k]!r} needs source "
                f"{max(spec)} ({kind}) but only {num_sources} sources were given"
            )
        for i in spec:
            matrix[k, i] += 1.0 / len(spec)
        available[k] = True
    matrix.flags.writeable = False
    available.flags.writeable = False
    return matrix, available


def smpl_selection_matrix(
    fmt: FormatLike, num_sources: int = NUM_SMPL_SOURCES
) -> tuple[np.ndarray, np.ndarray]:
    """(K, num_sources) float32 M and (K,) bool availability, with keypoints = M @ sources.

    Sources are [45 SMPL output joints, 17 H36M joints]; a mean of n sources is a row of 1/n,
    and keypoints SMPL cannot provide are zero rows marked unavailable.
    """
    matrix, available = _selection(get_format(fmt), num_sources)
    return matrix.copy(), available.copy()


def keypoints_from_smpl(
    joints: torch.Tensor, fmt: FormatLike, h36m: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Keypoints (..., K, 3) in `fmt` from SMPL output joints, plus a (K,) bool availability.

    One einsum, so it is cheap and differentiable inside training losses. `h36m` (..., 17, 3)
    comes from the body model's H36M regressor and is needed only by H36M-based formats.
    """
    import torch

    fmt = get_format(fmt)
    _check_shape(joints, (NUM_OUTPUT_JOINTS, 3), "SMPL output joints")
    if h36m is None:
        if fmt.needs_h36m:
            raise ValueError(
                f"format {fmt.name!r} is regressed from H36M joints, but none were given; "
                "load the body model with an H36M joint regressor and pass its h36m joints"
            )
        sources = joints
    else:
        _check_shape(h36m, (NUM_H36M_JOINTS, 3), "H36M joints")
        if h36m.shape[:-2] != joints.shape[:-2]:
            raise ValueError(
                f"H36M joints batch shape {tuple(h36m.shape[:-2])} differs from SMPL joints "
                f"batch shape {tuple(joints.shape[:-2])}"
            )
        sources = torch.cat([joints, h36m.to(joints.dtype)], dim=-2)
    matrix, available = _selection(fmt, sources.shape[-2])
    m = torch.tensor(matrix, dtype=sources.dtype, device=sources.device)
    keypoints = torch.einsum("ks,...sd->...kd", m, sources)
    return keypoints, torch.tensor(available, device=sources.device)


def _check_shape(x: torch.Tensor, trailing: tuple[int, int], what: str) -> None:
    if x.ndim < 2 or tuple(x.shape[-2:]) != trailing:
        raise ValueError(
            f"{what}: expected shape (..., {trailing[0]}, {trailing[1]}), got {tuple(x.shape)}"
        )


# --- format -> format (detections) ------------------------------------------------------------


@lru_cache(maxsize=256)
def _plan(src: KeypointFormat, dst: KeypointFormat) -> tuple[tuple[int, ...] | None, ...]:
    """Per target keypoint: the source indices to average, or None if the source cannot say."""
    have = set(src.keypoint_names)
    plan: list[tuple[int, ...] | None] = []
    for name in dst.keypoint_names:
        if name in have:
            plan.append((src.index(name),))
        elif name in SYNTHESISED and have.issuperset(SYNTHESISED[name]):
            plan.append(tuple(src.index(n) for n in SYNTHESISED[name]))
        else:
            plan.append(None)
    return tuple(plan)


def missing_keypoints(src: FormatLike, dst: FormatLike) -> list[str]:
    """Target keypoints that converting from `src` leaves at position 0 with confidence 0."""
    src_fmt, dst_fmt = get_format(src), get_format(dst)
    plan = _plan(src_fmt, dst_fmt)
    return [n for n, p in zip(dst_fmt.keypoint_names, plan, strict=True) if p is None]


@lru_cache(maxsize=256)
def _plan_arrays(
    src: KeypointFormat, dst: KeypointFormat
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Averaging weights (K_dst, K_src), padded index table (K_dst, n) and availability."""
    plan = _plan(src, dst)
    width = max((len(p) for p in plan if p is not None), default=1)
    weights = np.zeros((dst.num_keypoints, src.num_keypoints), dtype=np.float64)
    index = np.zeros((dst.num_keypoints, width), dtype=np.int64)
    available = np.zeros(dst.num_keypoints, dtype=bool)
    for k, p in enumerate(plan):
        if p is None:
            continue
        weights[k, list(p)] = 1.0 / len(p)
        # Padding by repeating an index leaves the min over confidences unchanged.
        index[k] = list(p) + [p[0]] * (width - len(p))
        available[k] = True
    for a in (weights, index, available):
        a.flags.writeable = False
    return weights, index, available


def convert_keypoints(
    kps: Array, src: FormatLike, dst: FormatLike, *, strict: bool = False
) -> Array:
    """Detections (..., K_src, C) in `src` to (..., K_dst, C) in `dst`; numpy or torch in/out.

    C is 3 ([x, y, confidence]) or 2 (positions only). Points are copied by name; 'neck' and
    'mid_hip' are synthesised as midpoints when missing, with the MIN of their sources'
    confidences so one undetected side makes the midpoint undetected too. Points the source
    cannot provide get position 0 and confidence 0, or raise when `strict`.
    """
    src_fmt, dst_fmt = get_format(src), get_format(dst)
    shape = tuple(kps.shape)
    if len(shape) < 2 or shape[-2] != src_fmt.num_keypoints or shape[-1] not in (2, 3):
        raise ValueError(
            f"keypoints in format {src_fmt.name!r}: expected shape "
            f"(..., {src_fmt.num_keypoints}, 2 or 3), got {shape}"
        )
    if strict and (missing := missing_keypoints(src_fmt, dst_fmt)):
        raise ValueError(
            f"cannot convert {src_fmt.name!r} to {dst_fmt.name!r}: source lacks "
            f"{', '.join(missing)}"
        )
    weights, index, available = _plan_arrays(src_fmt, dst_fmt)
    if is_tensor(kps):
        return _convert_torch(kps, weights, index, available)
    return _convert_numpy(np.asarray(kps), weights, index, available)


def _convert_numpy(
    kps: np.ndarray, weights: np.ndarray, index: np.ndarray, available: np.ndarray
) -> np.ndarray:
    if not np.issubdtype(kps.dtype, np.floating):
        kps = kps.astype(np.float32)
    xy = np.einsum("ds,...sc->...dc", weights.astype(kps.dtype), kps[..., :2])
    if kps.shape[-1] == 2:
        return xy
    conf = kps[..., index, 2].min(axis=-1) * available
    return np.concatenate([xy, conf[..., None].astype(kps.dtype)], axis=-1)


def _convert_torch(
    kps: torch.Tensor, weights: np.ndarray, index: np.ndarray, available: np.ndarray
) -> torch.Tensor:
    import torch

    if not kps.is_floating_point():
        kps = kps.float()
    w = torch.tensor(weights, dtype=kps.dtype, device=kps.device)
    xy = torch.einsum("ds,...sc->...dc", w, kps[..., :2])
    if kps.shape[-1] == 2:
        return xy
    idx = torch.tensor(index, device=kps.device)
    mask = torch.tensor(available, dtype=kps.dtype, device=kps.device)
    conf = kps[..., idx, 2].amin(dim=-1) * mask
    return torch.cat([xy, conf.unsqueeze(-1)], dim=-1)
