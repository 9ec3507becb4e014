"""The ONNX Runtime backend: runs a `k2m export` file on CPU or the CUDA execution provider.

The ONNX file describes itself (keypoint format, joints-only or not) in its metadata, so a
deployment needs only that file, no checkpoint or body model. The input checks and metadata
parsing here are shared with the TensorRT backend, which runs the same files.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from k2m_core.infer.backend import (
    CAMERA_NAME,
    INPUT_NAME,
    BackendError,
    check_camera,
    output_names,
)
from k2m_core.infer.onnx_runner import OnnxRunner
from k2m_core.keypoints.convert import smpl_selection_matrix
from k2m_core.keypoints.formats import get_format

_MADE_BY = "`k2m export`"
_REEXPORT = f"re-export it with {_MADE_BY}"


@dataclass(frozen=True)
class ModelInfo:
    """What a backend needs to know about an exported graph, read from its metadata."""

    keypoint_format: str
    with_vertices: bool
    available: np.ndarray  # (K,) bool
    camera_input: bool = False  # files before camera_input models have no such metadata

    @property
    def num_keypoints(self) -> int:
        return int(self.available.shape[0])

    @property
    def input_names(self) -> tuple[str, ...]:
        return (INPUT_NAME, CAMERA_NAME) if self.camera_input else (INPUT_NAME,)

    @property
    def output_names(self) -> tuple[str, ...]:
        return output_names(self.with_vertices)


def parse_metadata(meta: Mapping[str, str], source: str) -> ModelInfo:
    """k2m's metadata_props -> ModelInfo; a file without them was not made by `k2m export`."""
    if "keypoint_format" not in meta or "with_vertices" not in meta:
        raise BackendError(
            f"{source}: no k2m metadata (keypoint_format, with_vertices) in the ONNX file, so "
            f"it was not written by `k2m export`; {_REEXPORT}"
        )
    flag = meta["with_vertices"].strip().lower()
    if flag not in ("true", "false"):
        raise BackendError(
            f"{source}: metadata with_vertices={flag!r} is not true/false; {_REEXPORT}"
        )
    try:
        fmt = get_format(meta["keypoint_format"])
    except (KeyError, ValueError) as err:
        raise BackendError(f"{source}: {err}; {_REEXPORT} with this k2m version") from err
    _, available = smpl_selection_matrix(fmt)  # what InferenceGraph.available holds
    camera = meta.get("camera_input", "false").strip().lower() == "true"
    return ModelInfo(fmt.name, flag == "true", available, camera)


def check_keypoints(keypoints: Any, info: ModelInfo) -> np.ndarray:
    """(B, K, 3) finite pixels + confidence as contiguous float32, or a BackendError saying
    what is wrong: engines would otherwise fail deep inside or return garbage."""
    x = np.asarray(keypoints)
    k = info.num_keypoints
    expected = f"(B, {k}, 3) [u, v, confidence] pixels in format {info.keypoint_format!r}"
    if x.ndim != 3 or x.shape[0] < 1 or x.shape[2] != 3:
        hint = "; add a batch axis with keypoints[None]" if x.ndim == 2 else ""
        raise BackendError(f"keypoints must be {expected}, got shape {x.shape}{hint}")
    if x.shape[1] != k:
        raise BackendError(
            f"keypoints must be {expected}, got {x.shape[1]} keypoints per person; convert "
            f"your detector's output with k2m_core.keypoints.convert.convert_keypoints(kps, "
            f"src_format, {info.keypoint_format!r})"
        )
    if x.dtype.kind not in "fiu":
        raise BackendError(f"keypoints must be numbers (float32), got dtype {x.dtype}")
    x = np.ascontiguousarray(x, dtype=np.float32)
    bad = ~np.isfinite(x)
    if bad.any():
        person, joint, _ = (int(i) for i in np.argwhere(bad)[0])
        raise BackendError(
            f"keypoints hold {int(bad.sum())} NaN or infinite value(s), first at person "
            f"{person} keypoint {joint}; mark undetected keypoints with confidence 0 instead"
        )
    return x


class OnnxRuntimeBackend:
    """A `k2m export` ONNX file in ONNX Runtime; CUDA first when offered and not pinned."""

    name = "onnxruntime"

    def __init__(
        self,
        onnx_path: str | Path,
        providers: Sequence[str] | None = None,
        threads: int | None = None,
    ) -> None:
        runner = OnnxRunner(onnx_path, providers, threads, made_by=_MADE_BY)
        self.path = runner.path
        self._session = runner.session
        self.providers: list[str] = list(runner.providers)
        meta = self._session.get_modelmeta().custom_metadata_map
        self.info = parse_metadata(meta, str(self.path))
        self._check_signature(runner.input_names, runner.output_names)
        self.keypoint_format = self.info.keypoint_format
        self.with_vertices = self.info.with_vertices
        self.available = self.info.available
        self.camera_input = self.info.camera_input
        self.metadata: dict[str, str] = dict(meta)

    def _check_signature(self, inputs: tuple[str, ...], outputs: tuple[str, ...]) -> None:
        """Names must match the metadata, or outputs would be mislabelled."""
        if inputs != self.info.input_names or outputs != self.info.output_names:
            raise BackendError(
                f"{self.path}: graph has inputs {list(inputs)} and outputs {list(outputs)}, "
                f"expected {list(self.info.input_names)} and {list(self.info.output_names)}; "
                f"{_REEXPORT}"
            )

    def run(self, keypoints: np.ndarray, camera: np.ndarray | None = None) -> dict[str, np.ndarray]:
        x = check_keypoints(keypoints, self.info)
        feeds = {INPUT_NAME: x}
        if (cam := check_camera(camera, len(x), self.camera_input)) is not None:
            feeds[CAMERA_NAME] = cam
        names = list(self.info.output_names)
        try:
            outputs = self._session.run(names, feeds)
        except Exception as err:  # surface ORT failures (e.g. CUDA out of memory) uniformly
            raise BackendError(
                f"{self.path}: ONNX Runtime failed on a batch of {len(x)}: {err}"
            ) from err
        return {n: np.asarray(o, dtype=np.float32) for n, o in zip(names, outputs, strict=True)}
