"""Labelled people for evaluation: 2D detections, the camera that saw them, and the truth.

One ``.npz`` file, one row per person (docs/labelled_set_format.md):

- detections: ``keypoints`` (N, K, 3) [u, v, confidence] pixels, ``keypoint_format`` (any k2m
  format name: coco17, coco18, body25, blazepose33, ...), ``frame_ids`` (N,) optional;
- camera: ``intrinsics`` (N, 4) or (4,) [fx, fy, cx, cy] pixels, ``image_sizes`` (N, 2) or (2,)
  [width, height];
- truth, either SMPL in the camera's optical frame (x right, y down, z forward, metres):
  ``betas`` (N, 10), ``global_orient`` (N, 3), ``body_pose`` (N, 69) axis-angle, ``transl``
  (N, 3) — or 3D joints in the optical frame: ``joints_3d`` (N, J, 3) with ``joints_format``
  (lsp14 or h36m17);
- ``groups`` (N,) optional labels (camera, sequence) that results are broken down by.

Detections from a detector's own files (OpenPose JSON, COCO results) can be paired with a
truth file of the same layout that holds no keypoints: rows in the same order.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from k2m_core.data.detections import Detections, DetectionsError, load_detections

JOINT_FORMATS = ("lsp14", "h36m17")  # both give the 14 LSP evaluation joints
SMPL_KEYS = ("betas", "global_orient", "body_pose", "transl")


class LabelledSetError(ValueError):
    """An unusable labelled set; the message names the file, the problem and the fix."""


@dataclass(frozen=True, eq=False)
class LabelledSet:
    detections: Detections
    intrinsics: np.ndarray  # (N, 4) fx, fy, cx, cy
    image_sizes: np.ndarray  # (N, 2) width, height
    smpl: dict[str, np.ndarray] | None  # betas, global_orient, body_pose, transl (optical)
    joints_3d: np.ndarray | None  # (N, J, 3) optical frame, metres
    joints_format: str | None
    groups: np.ndarray  # (N,) str
    source: str = ""

    def __len__(self) -> int:
        return len(self.detections.keypoints)

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the set as one .npz (the format above); returns the path."""
        out = Path(path)
        arrays: dict[str, Any] = {
            "keypoints": self.detections.keypoints,
            "keypoint_format": np.array(self.detections.keypoint_format),
            "frame_ids": np.array(self.detections.frame_ids),
            "intrinsics": self.intrinsics,
            "image_sizes": self.image_sizes,
            "groups": self.groups.astype(str),
        }
        if self.smpl is not None:
            arrays.update(self.smpl)
        if self.joints_3d is not None:
            arrays["joints_3d"] = self.joints_3d
            arrays["joints_format"] = np.array(self.joints_format)
        out.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(out, **arrays)
        return out if out.suffix == ".npz" else out.with_name(out.name + ".npz")


def _rows(value: np.ndarray, n: int, width: int, name: str, where: str) -> np.ndarray:
    array = np.asarray(value, np.float64)
    if array.shape == (width,):
        array = np.broadcast_to(array, (n, width))
    if array.shape != (n, width) or not np.isfinite(array).all():
        raise LabelledSetError(
            f"{where}: {name} must be ({width},) or ({n}, {width}) finite numbers, got shape "
            f"{array.shape}"
        )
    return np.ascontiguousarray(array)


def _truth(arrays: dict[str, np.ndarray], n: int, where: str) -> tuple[Any, Any, Any]:
    smpl = None
    if any(k in arrays for k in SMPL_KEYS):
        missing = [k for k in SMPL_KEYS if k not in arrays]
        if missing:
            raise LabelledSetError(f"{where}: SMPL truth lacks {missing}; give all of {SMPL_KEYS}")
        widths = {"betas": None, "global_orient": 3, "body_pose": 69, "transl": 3}
        smpl = {}
        for key, width in widths.items():
            value = np.asarray(arrays[key], np.float32)
            if value.ndim != 2 or len(value) != n or (width and value.shape[1] != width):
                raise LabelledSetError(
                    f"{where}: {key} must be ({n}, {width or 'B'}), got {value.shape}"
                )
            if not np.isfinite(value).all():
                raise LabelledSetError(f"{where}: {key} holds NaN or inf")
            smpl[key] = value
    joints = fmt = None
    if "joints_3d" in arrays:
        fmt = str(arrays.get("joints_format", ""))
        if fmt not in JOINT_FORMATS:
            raise LabelledSetError(f"{where}: joints_format {fmt!r}: choose one of {JOINT_FORMATS}")
        joints = np.asarray(arrays["joints_3d"], np.float64)
        if joints.ndim != 3 or len(joints) != n or joints.shape[2] != 3:
            raise LabelledSetError(f"{where}: joints_3d must be ({n}, J, 3), got {joints.shape}")
    if smpl is None and joints is None:
        raise LabelledSetError(
            f"{where}: no truth: give SMPL ({', '.join(SMPL_KEYS)}) or joints_3d + joints_format"
        )
    return smpl, joints, fmt


def load_labelled_set(path: str | os.PathLike[str], detections: str | None = None) -> LabelledSet:
    """The set in ``path`` (.npz); with ``detections`` (a detector's files, any supported
    format), the keypoints come from there and ``path`` holds the rest, row for row."""
    where = str(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except FileNotFoundError:
        raise LabelledSetError(f"{where}: no such file") from None
    except (OSError, ValueError, EOFError) as err:
        raise LabelledSetError(f"{where}: not a readable .npz ({err})") from None
    try:
        if detections is not None:
            det = load_detections(detections)
        else:
            fmt = str(arrays.get("keypoint_format", ""))
            frames = tuple(str(f) for f in arrays.get("frame_ids", []))
            kps = arrays.get("keypoints")
            if kps is None:
                raise LabelledSetError(f"{where}: no keypoints; pass the detections file too")
            det = Detections(kps, fmt, frames or tuple(str(i) for i in range(len(kps))))
    except DetectionsError as err:
        raise LabelledSetError(str(err)) from None
    n = len(det.keypoints)
    if "frame_ids" in arrays and detections is not None:
        frames = tuple(str(f) for f in arrays["frame_ids"])
        if frames and frames != det.frame_ids:
            raise LabelledSetError(
                f"{where}: its frame_ids differ from the detections'; the rows must pair up "
                "person for person (same order)"
            )
    if "intrinsics" not in arrays or "image_sizes" not in arrays:
        raise LabelledSetError(f"{where}: give intrinsics [fx, fy, cx, cy] and image_sizes")
    intrinsics = _rows(arrays["intrinsics"], n, 4, "intrinsics", where)
    if (intrinsics[:, :2] <= 0).any():
        raise LabelledSetError(f"{where}: focal lengths must be positive")
    sizes = _rows(arrays["image_sizes"], n, 2, "image_sizes", where)
    smpl, joints, joints_format = _truth(arrays, n, where)
    groups = np.asarray(arrays.get("groups", np.full(n, "all")), str)
    if groups.shape != (n,):
        raise LabelledSetError(f"{where}: groups must be ({n},), got {groups.shape}")
    return LabelledSet(det, intrinsics, sizes, smpl, joints, joints_format, groups, where)
