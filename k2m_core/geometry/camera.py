"""Camera frames and projections: Key2Mesh's fixed training camera and real pinhole cameras.

Frames:

- SMPL frame: y up, the body faces +z (toward the viewer), x is the body's left.
- Optical frame (OpenCV / ROS ``*_optical_frame``): x right, y down, z forward out of the lens.
  The SMPL frame maps to it by a 180-degree rotation about x: ``(x, y, z) -> (x, -y, -z)``.

Key2Mesh's training camera is fixed and virtual: focal length 256 px, principal point at the
origin of the image plane, no rotation, the body at the origin and the camera at ``z = 6``
looking down -z. A SMPL-frame point therefore projects to::

    u = 256 * x / (6 - z)
    v = -256 * y / (6 - z)

with pixel ``v`` growing downward. Its optical frame is ``(x, -y, 6 - z)``.

Real cameras are pinholes with intrinsics fx, fy, cx, cy in pixels, as in the OpenCV matrix
``K = [[fx, 0, cx], [0, fy, cy], [0, 0, 1]]``; ROS ``sensor_msgs/CameraInfo.k`` is that K,
row-major, as 9 numbers.

Point functions take a torch tensor or a numpy array with the coordinates in the last dim,
and return the same kind with the same dtype (and device).
"""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from k2m_core.tensors import is_tensor

if TYPE_CHECKING:  # torch only where a caller brings tensors: inference runs without it
    import torch

    ArrayT = TypeVar("ArrayT", torch.Tensor, np.ndarray)
else:
    ArrayT = TypeVar("ArrayT")

TRAINING_FOCAL = 256.0
TRAINING_CAMERA_DISTANCE = 6.0


def _namespace(points: Any) -> ModuleType:
    """torch or numpy, whichever ``points`` belongs to (their stack/where share a signature)."""
    return sys.modules["torch"] if is_tensor(points) else np


def _xyz(points: ArrayT) -> tuple[ArrayT, ArrayT, ArrayT]:
    return points[..., 0], points[..., 1], points[..., 2]


def project_training_camera(
    points: ArrayT,
    focal: float = TRAINING_FOCAL,
    distance: float = TRAINING_CAMERA_DISTANCE,
) -> ArrayT:
    """SMPL-frame points (..., 3) -> Key2Mesh training-image pixels (..., 2).

    No behind-camera handling: training bodies sit within about a metre of the origin, far
    from the camera plane at ``z = distance``.
    """
    x, y, z = _xyz(points)
    depth = distance - z
    return _namespace(points).stack([focal * x / depth, -focal * y / depth], -1)


def project_aimed_view(
    points: ArrayT, camera_from_view: ArrayT, distance: ArrayT, focal: ArrayT
) -> ArrayT:
    """View-frame points (B, K, 3) of bodies ``distance`` (B,) metres down a camera's line of
    sight -> pixels (B, K, 2) relative to the principal point, focal length ``focal`` (B,).

    The view frame is the training camera's (camera at ``z = distance``, looking down -z at the
    body origin), turned by ``camera_from_view`` (B, 3, 3, SMPL-style axes) to aim off the
    optical axis. The identity rotation reproduces :func:`project_training_camera`.
    """
    xp = _namespace(points)
    x, y, z = _xyz(points)
    shifted = xp.stack([x, y, z - distance[:, None]], -1)
    camera = (camera_from_view[:, None] @ shifted[..., None])[..., 0]
    cx, cy, cz = _xyz(camera)
    depth = -cz
    return xp.stack([focal[:, None] * cx / depth, -focal[:, None] * cy / depth], -1)


def smpl_to_training_camera_frame(
    points: ArrayT, distance: float = TRAINING_CAMERA_DISTANCE
) -> ArrayT:
    """SMPL-frame points -> the training camera's optical frame, for use with pinhole code.

    Projecting the result with fx = fy = focal and cx = cy = 0 equals
    :func:`project_training_camera`.
    """
    x, y, z = _xyz(points)
    return _namespace(points).stack([x, -y, distance - z], -1)


# the 180-degree turn about x from the SMPL-style camera frame (y up, z toward the viewer) to
# the optical frame (y down, z forward); symmetric and its own inverse
OPTICAL_FROM_SMPL = np.diag([1.0, -1.0, -1.0])


def smpl_frame_to_optical(points: ArrayT) -> ArrayT:
    """y-up, facing-+z body frame -> optical frame: the 180-degree rotation about x."""
    x, y, z = _xyz(points)
    return _namespace(points).stack([x, -y, -z], -1)


def optical_to_smpl_frame(points: ArrayT) -> ArrayT:
    """Optical frame -> y-up body frame; the rotation is its own inverse."""
    return smpl_frame_to_optical(points)


def _check_positive_finite(name: str, value: float) -> None:
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be positive and finite, got {value!r}")


@dataclass(frozen=True)
class PinholeIntrinsics:
    """Pinhole intrinsics in pixels; skew-free, as OpenCV and ROS cameras report them."""

    fx: float
    fy: float
    cx: float
    cy: float

    def __post_init__(self) -> None:
        _check_positive_finite("fx", self.fx)
        _check_positive_finite("fy", self.fy)
        for name in ("cx", "cy"):
            value = getattr(self, name)
            if not math.isfinite(value):
                raise ValueError(f"{name} must be finite, got {value!r}")

    @classmethod
    def from_matrix(
        cls, K: np.ndarray | torch.Tensor | Sequence[Sequence[float]]
    ) -> PinholeIntrinsics:
        """From a 3x3 K (numpy array, torch tensor or nested lists).

        Rejects skew or a last row other than (0, 0, 1) rather than silently dropping them.
        """
        if is_tensor(K):
            K = K.detach().cpu().numpy()
        matrix = np.asarray(K, dtype=np.float64)
        if matrix.shape != (3, 3):
            raise ValueError(f"K must be 3x3, got shape {matrix.shape}")
        off_pattern = (matrix[0, 1], matrix[1, 0], *matrix[2])
        if not np.allclose(off_pattern, (0.0, 0.0, 0.0, 0.0, 1.0)):
            raise ValueError(
                f"K must have the form [[fx, 0, cx], [0, fy, cy], [0, 0, 1]], got {matrix.tolist()}"
            )
        return cls(
            fx=float(matrix[0, 0]),
            fy=float(matrix[1, 1]),
            cx=float(matrix[0, 2]),
            cy=float(matrix[1, 2]),
        )

    @classmethod
    def from_camera_info_k(cls, k: Sequence[float]) -> PinholeIntrinsics:
        """From ROS ``sensor_msgs/CameraInfo.k``: the 9 entries of K, row-major."""
        values = np.asarray(k, dtype=np.float64)
        if values.shape != (9,):
            raise ValueError(f"CameraInfo.k must have 9 entries, got shape {values.shape}")
        return cls.from_matrix(values.reshape(3, 3))

    def as_matrix(self) -> np.ndarray:
        """The 3x3 OpenCV K (float64)."""
        return np.array(
            [[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]], dtype=np.float64
        )

    def scaled(self, sx: float, sy: float) -> PinholeIntrinsics:
        """Intrinsics for the image resized by ``sx`` horizontally and ``sy`` vertically.

        Pixel coordinates scale with the image (``u' = sx * u``), as in ROS image_proc's resize.
        Under OpenCV's pixel-centre convention the exact map is ``(u + 0.5) * s - 0.5``; the
        difference is below half a pixel and is ignored here.
        """
        _check_positive_finite("sx", sx)
        _check_positive_finite("sy", sy)
        return PinholeIntrinsics(fx=self.fx * sx, fy=self.fy * sy, cx=self.cx * sx, cy=self.cy * sy)


def project_pinhole(points_cam: ArrayT, intrinsics: PinholeIntrinsics) -> ArrayT:
    """Optical-frame points (..., 3) -> pixels (..., 2).

    Points with ``z <= 0`` are behind (or on) the camera plane and have no image; they come
    back as NaN in both coordinates, so they cannot pass for real pixels. Gradients of the
    visible points stay finite regardless.
    """
    xp = _namespace(points_cam)
    x, y, z = _xyz(points_cam)
    visible = z > 0
    safe_z = xp.where(visible, z, xp.ones_like(z))
    u = intrinsics.fx * x / safe_z + intrinsics.cx
    v = intrinsics.fy * y / safe_z + intrinsics.cy
    pixels = xp.stack([u, v], -1)
    return xp.where(visible[..., None], pixels, math.nan)


def look_at(target: ArrayT) -> ArrayT:
    """(N, 3, 3) rotation whose columns are a view frame's axes in a camera's SMPL-style frame
    (x right, y up, z toward the viewer): its -z points at ``target`` (N, 3) and its x stays
    level (x = up x z). That is the camera turned to put the target on its axis, as Key2Mesh's
    training camera looks at every body. A target straight above or below the camera (or at
    it) has no level x: the camera frame itself is returned there. numpy or torch in, the same
    out (the cross products are written out: with up = +y they are a few products).
    """
    xp = _namespace(target)
    tx, ty, tz = _xyz(target)
    length = xp.sqrt(tx * tx + ty * ty + tz * tz)
    safe = xp.where(length > 1e-12, length, xp.ones_like(length))
    zx, zy, zz = -tx / safe, -ty / safe, -tz / safe
    x_norm = xp.sqrt(zz * zz + zx * zx)  # x = up x z = (z_z, 0, -z_x)
    degenerate = (x_norm < 1e-9) | (length < 1e-12)
    x_safe = xp.where(degenerate, xp.ones_like(x_norm), x_norm)
    xx, xz = zz / x_safe, -zx / x_safe
    zero = xp.zeros_like(xx)
    # y = z x x with x_y = 0
    yx, yy, yz = zy * xz, zz * xx - zx * xz, -zy * xx
    rotation = xp.stack(
        [xp.stack([xx, yx, zx], -1), xp.stack([zero, yy, zy], -1), xp.stack([xz, yz, zz], -1)],
        -2,
    )
    eye = xp.eye(3, dtype=rotation.dtype)
    if xp is not np:
        eye = eye.to(rotation.device)
    return xp.where(degenerate[..., None, None], eye, rotation)


def default_intrinsics(width: float, height: float) -> PinholeIntrinsics:
    """A guess for a camera without CameraInfo: principal point at the image centre and
    focal = max(width, height) (about 53 degrees across the longer side).

    The training camera has no field of view to copy: box normalisation makes the network
    blind to focal length and image size, so the focal only sets the distance scale (fitted
    depth is proportional to it). max(width, height) is the usual guess for unknown phone and
    web cameras and within ~20% of typical robot RGB cameras (the target domain's 640x480 at
    550 px is 60 degrees wide, where this guess puts people 16% too far).
    """
    for name, value in (("width", width), ("height", height)):
        if not (np.isfinite(value) and value > 0):
            raise ValueError(f"image {name} must be positive and finite, got {value!r}")
    return PinholeIntrinsics(
        fx=float(max(width, height)),
        fy=float(max(width, height)),
        cx=0.5 * float(width),
        cy=0.5 * float(height),
    )
