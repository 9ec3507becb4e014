"""What every inference backend offers: run the :class:`~k2m_core.infer.graph.InferenceGraph`
computation on a batch of pixel keypoints and hand back numpy arrays by output name."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

INPUT_NAME = "keypoints"
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

    def run(self, keypoints: np.ndarray) -> dict[str, np.ndarray]:
        """(B, K, 3) float32 pixels + confidence, B >= 1 -> float32 arrays named by
        :func:`output_names`: betas (B, 10), rot_mats (B, 24, 3, 3),
        joints (B, 24, 3), keypoints_3d (B, K, 3), and vertices (B, V, 3) when with_vertices."""
        ...
