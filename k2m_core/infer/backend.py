"""What every inference backend offers: run the :class:`~k2m_core.infer.graph.InferenceGraph`
computation on a batch of pixel keypoints and hand back numpy arrays by output name."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

BACKENDS = ("torch", "onnxruntime", "tensorrt")
INPUT_NAME = "keypoints"
CAMERA_NAME = "camera"  # (B, 4) [fx, fy, cx, cy]: models trained with camera_input read it
OUTPUT_NAMES = ("betas", "rot_mats", "joints", "keypoints_3d")
VERTICES_NAME = "vertices"


def output_names(with_vertices: bool) -> tuple[str, ...]:
    """The graph's outputs, in order (the exported ONNX files name them so)."""
    return OUTPUT_NAMES + ((VERTICES_NAME,) if with_vertices else ())


class BackendError(RuntimeError):
    """A backend cannot be built or run here (missing library, device, file or engine)."""


@runtime_checkable
class Backend(Protocol):
    name: str  # "torch", "onnxruntime", "tensorrt"
    keypoint_format: str  # the format the model reads, e.g. "coco18"
    with_vertices: bool  # False: joints-only graph, no "vertices" output
    available: np.ndarray  # (K,) bool: keypoints the body can provide (others are zeros)
    camera_input: bool  # the model also reads the camera (CAMERA_NAME)

    def run(self, keypoints: np.ndarray, camera: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """(B, K, 3) float32 pixels + confidence, B >= 1 (and, for a camera_input model, the
        (B, 4) intrinsics [fx, fy, cx, cy] they were seen with) -> float32 arrays named by
        :func:`output_names`: betas (B, 10), rot_mats (B, 24, 3, 3),
        joints (B, 24, 3), keypoints_3d (B, K, 3), and vertices (B, V, 3) when with_vertices."""
        ...


def check_camera(camera: np.ndarray | None, batch: int, needed: bool) -> np.ndarray | None:
    """(B, 4) finite float32 intrinsics with positive focal lengths when the model reads them
    (None otherwise), or a BackendError naming the problem."""
    if not needed:
        return None
    if camera is None:
        raise BackendError(
            "this model reads the camera: pass camera=(B, 4) [fx, fy, cx, cy] pixels (the "
            "engine does so from the intrinsics it is given)"
        )
    x = np.ascontiguousarray(camera, dtype=np.float32)
    if x.shape != (batch, 4) or not np.isfinite(x).all() or (x[:, :2] <= 0).any():
        raise BackendError(
            f"camera must be ({batch}, 4) finite [fx, fy, cx, cy] with fx, fy > 0, got shape "
            f"{x.shape}"
        )
    return x
