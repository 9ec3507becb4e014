"""Key2MeshEngine: detections in pixels -> SMPL bodies in the camera frame, on any backend.

The network runs once per batch of people (the backends differ only in who runs the graph);
input checks, the camera fit that places each body (paper §4.5) and the per-person
confidence are shared here, so every backend gives the same bodies.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

import numpy as np

from k2m_core.geometry.axis_angle import matrix_to_axis_angle
from k2m_core.geometry.camera import PinholeIntrinsics
from k2m_core.geometry.rigid import rigid_transform
from k2m_core.infer.backend import BACKENDS, Backend
from k2m_core.infer.bodies import Bodies
from k2m_core.infer.camera_fit import CameraFit, box_size, default_intrinsics, fit_body_to_camera
from k2m_core.infer.graph_files import FULL_PRECISION, PRECISIONS, find_graph
from k2m_core.keypoints.support import (
    MIN_CONFIDENCE,  # what the network sees as detected
    observed_joints,
)

# coordinates this many image sizes outside the image are not detections but a bug upstream
_MAX_IMAGE_MULTIPLE = 10.0
# reprojection error (in units of the person's box size) at which confidence falls to 1/e
_REPROJECTION_SCALE = 0.1


class InputError(ValueError):
    """Keypoints the engine cannot use; the message names the problem and the fix."""


def check_keypoints(keypoints: np.ndarray, num_keypoints: int, keypoint_format: str) -> np.ndarray:
    """(N, K, 3) float32 or a clear InputError."""
    array = np.asarray(keypoints)
    if array.ndim != 3 or array.shape[1:] != (num_keypoints, 3):
        raise InputError(
            f"keypoints must have shape (people, {num_keypoints}, 3) = [u, v, confidence] in "
            f"{keypoint_format!r}, got {array.shape}; convert other formats with "
            "k2m_core.keypoints.convert.convert_keypoints"
        )
    if not np.issubdtype(array.dtype, np.number):
        raise InputError(f"keypoints must be numbers, got dtype {array.dtype}")
    array = array.astype(np.float32, copy=False)
    bad = ~np.isfinite(array)
    if bad.any():
        person, joint, column = np.argwhere(bad)[0]
        raise InputError(
            f"keypoints hold {int(bad.sum())} NaN/inf values (first: person {person}, keypoint "
            f"{joint}, column {column}); report missing keypoints with confidence 0 and any "
            "finite coordinates"
        )
    confidence = array[..., 2]
    if (confidence < 0).any() or (confidence > 1).any():
        raise InputError(
            f"keypoint confidences must lie in [0, 1], got [{confidence.min():.3g}, "
            f"{confidence.max():.3g}]; rescale your detector's scores"
        )
    return array


def _check_in_image(keypoints: np.ndarray, image_size: tuple[int, int]) -> None:
    width, height = image_size
    if not (width > 0 and height > 0):
        raise InputError(f"image size must be positive (width, height), got {image_size}")
    seen = keypoints[..., 2] >= MIN_CONFIDENCE
    limit = _MAX_IMAGE_MULTIPLE * max(width, height)
    far = seen & (np.abs(keypoints[..., :2]) > limit).any(axis=-1)
    if far.any():
        person, joint = np.argwhere(far)[0]
        raise InputError(
            f"keypoint {joint} of person {person} is at {keypoints[person, joint, :2].tolist()}, "
            f"far outside the {width}x{height} image: keypoints must be in pixels of that image"
        )


def person_confidence(
    keypoints: np.ndarray, available: np.ndarray, reprojection_px: np.ndarray
) -> np.ndarray:
    """Mean detector confidence over the keypoints the model reads, discounted when the
    fitted body cannot reproduce its detections (error measured in box sizes)."""
    conf = np.where(available, keypoints[..., 2], 0.0)
    support = conf.sum(axis=1) / max(int(available.sum()), 1)
    box = np.maximum(box_size(keypoints[..., :2], conf >= MIN_CONFIDENCE), 1.0)
    agreement = np.exp(-np.square(reprojection_px / box / _REPROJECTION_SCALE))
    return (support * np.nan_to_num(agreement)).astype(np.float32)


def _axis_angle(matrices: np.ndarray) -> np.ndarray:
    """Via quaternions (compiled; scipy's from_matrix would re-orthogonalise by SVD)."""
    return matrix_to_axis_angle(matrices)


class Key2MeshEngine:
    """One forward pass per batch; see :meth:`predict`.

    ``max_batch`` splits larger crowds (TensorRT engines have a fixed maximum profile).
    """

    def __init__(
        self, backend: Backend, max_batch: int = 512, faces: np.ndarray | None = None
    ) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be >= 1, got {max_batch}")
        self.backend = backend
        self.faces = faces  # (F, 3) mesh triangles, for drawing and ROS markers
        self.max_batch = max_batch
        self.keypoint_format = backend.keypoint_format
        self.available = np.asarray(backend.available, bool)
        self.num_keypoints = len(self.available)

    @property
    def joints_only(self) -> bool:
        return not self.backend.with_vertices

    def predict(
        self,
        keypoints: np.ndarray,
        image_size: tuple[int, int],
        intrinsics: PinholeIntrinsics | None = None,
    ) -> Bodies:
        """(N, K, 3) pixel keypoints + confidence of N people in one image -> Bodies.

        Without intrinsics the camera is assumed to have its principal point at the image
        centre and :func:`~k2m_core.infer.camera_fit.default_intrinsics`' focal length: the
        bodies are right, their distances only as right as that guess.
        """
        keypoints = check_keypoints(keypoints, self.num_keypoints, self.keypoint_format)
        _check_in_image(keypoints, image_size)
        if len(keypoints) == 0:
            return self._empty()
        intrinsics = intrinsics or default_intrinsics(*image_size)
        outputs = self._run(keypoints, intrinsics)
        fit = fit_body_to_camera(
            outputs["keypoints_3d"],
            keypoints[..., :2],
            keypoints[..., 2],
            self.available,
            intrinsics,
            min_confidence=MIN_CONFIDENCE,
        )
        return self._bodies(outputs, fit, keypoints)

    def _run(self, keypoints: np.ndarray, intrinsics: PinholeIntrinsics) -> dict[str, np.ndarray]:
        camera = None
        if getattr(self.backend, "camera_input", False):
            k = intrinsics
            camera = np.tile(np.array([k.fx, k.fy, k.cx, k.cy], np.float32), (len(keypoints), 1))
        chunks = [
            self.backend.run(
                keypoints[i : i + self.max_batch],
                None if camera is None else camera[i : i + self.max_batch],
            )
            for i in range(0, len(keypoints), self.max_batch)
        ]
        if len(chunks) == 1:
            return chunks[0]
        return {name: np.concatenate([c[name] for c in chunks]) for name in chunks[0]}

    def _bodies(self, out: dict[str, np.ndarray], fit: CameraFit, keypoints: np.ndarray) -> Bodies:
        rotation = fit.camera_from_view.astype(np.float32)  # view (SMPL axes) -> optical
        shift = fit.translation.astype(np.float32)

        def place(points: np.ndarray) -> np.ndarray:
            return rigid_transform(points, rotation, shift)

        rot_mats = out["rot_mats"]
        root = rotation @ rot_mats[:, 0]
        pelvis = out["joints"][:, 0]  # the root rotates about it and stays put
        translation = place(pelvis[:, None])[:, 0] - pelvis
        vertices = out.get("vertices")
        return Bodies(
            betas=out["betas"],
            global_orient=_axis_angle(root),
            global_orient_matrix=root,
            body_pose=_axis_angle(rot_mats[:, 1:]),
            body_pose_matrices=rot_mats[:, 1:],
            translation=translation,
            joints=place(out["joints"]),
            keypoints_3d=place(out["keypoints_3d"]),
            vertices=None if vertices is None else place(vertices),
            confidence=person_confidence(keypoints, self.available, fit.reprojection_px),
            reprojection_px=fit.reprojection_px.astype(np.float32),
            placed=fit.valid,
            observed=self._observed(keypoints),
        )

    def _observed(self, keypoints: np.ndarray) -> np.ndarray:
        """(N, 24): the SMPL joints a keypoint the network used (confidence >= its mask
        threshold, in the model's format) shows."""
        used = (keypoints[..., 2] >= MIN_CONFIDENCE) & self.available
        masked = np.concatenate([keypoints[..., :2], used[..., None]], axis=-1)
        return observed_joints(masked, self.keypoint_format)

    def _empty(self) -> Bodies:
        def zeros(*shape: int) -> np.ndarray:
            return np.zeros((0, *shape), np.float32)

        return Bodies(
            betas=zeros(10),
            global_orient=zeros(3),
            global_orient_matrix=zeros(3, 3),
            body_pose=zeros(23, 3),
            body_pose_matrices=zeros(23, 3, 3),
            translation=zeros(3),
            joints=zeros(24, 3),
            keypoints_3d=zeros(self.num_keypoints, 3),
            vertices=None if self.joints_only else zeros(self._num_vertices, 3),
            confidence=zeros(),
            reprojection_px=zeros(),
            placed=np.zeros(0, bool),
            observed=np.zeros((0, 24), bool),
        )

    @cached_property
    def _num_vertices(self) -> int:
        """V of the mesh, from one run on a probe (once: frames without people are common)."""
        probe = np.zeros((1, self.num_keypoints, 3), np.float32)
        camera = np.array([[500.0, 500.0, 0.0, 0.0]], np.float32)
        needed = getattr(self.backend, "camera_input", False)
        return int(self.backend.run(probe, camera if needed else None)["vertices"].shape[1])


def create_engine(
    backend: str = "torch",
    checkpoint: str | Path | None = None,
    body_model: str | Path | None = None,
    joints_only: bool = False,
    device: str = "auto",
    onnx_path: str | Path | None = None,
    precision: str = "fp32",
) -> Key2MeshEngine:
    """The engine on a named backend; checkpoint and body default to the shipped ones.

    onnxruntime and tensorrt run an ONNX file from `k2m export`: ``onnx_path``, or the one
    exported for this checkpoint and body (k2m_core.infer.graph_files: the shipped default's
    lie beside it; never exported silently here). They need no torch. ``precision`` (fp16,
    int8) picks a reduced copy from `k2m export --precisions`, on onnxruntime only, and only
    one the export's accuracy gate offered.
    """
    from k2m_core.body.model_file import load_body_model_file, resolve_body_model_path
    from k2m_core.paths import default_body_model_path, default_model_path

    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}: choose one of {', '.join(BACKENDS)}")
    checkpoint = Path(checkpoint or default_model_path())
    body_model = resolve_body_model_path(body_model or default_body_model_path())
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}: choose one of {', '.join(PRECISIONS)}")
    if precision != FULL_PRECISION and (backend != "onnxruntime" or onnx_path):
        raise ValueError(
            f"precision {precision} is for exported graphs on onnxruntime (TensorRT builds its "
            "own FP16 engines; torch runs fp32); an explicit ONNX file is run as it is"
        )
    if backend == "torch":
        from k2m_core.infer.torch_backend import TorchBackend

        runner = TorchBackend(checkpoint, body_model, not joints_only, device)
        faces = runner.graph.body.faces.cpu().numpy().copy()  # its body file is read already
        return Key2MeshEngine(runner, faces=faces)
    faces = np.asarray(load_body_model_file(body_model).faces, np.int64)
    onnx_file = (
        Path(onnx_path) if onnx_path else find_graph(checkpoint, body_model, joints_only, precision)
    )
    if backend == "onnxruntime":
        from k2m_core.infer.onnx_runner import CPU_PROVIDER
        from k2m_core.infer.onnxruntime_backend import OnnxRuntimeBackend

        providers = [CPU_PROVIDER] if device == "cpu" else None
        runner: Backend = OnnxRuntimeBackend(onnx_file, providers=providers)
    else:
        from k2m_core.infer.tensorrt_backend import DEFAULT_MAX_BATCH, TensorRtBackend

        runner = TensorRtBackend(onnx_file)
    if runner.with_vertices == joints_only:
        kind = "joints-only" if joints_only else "full-mesh"
        raise ValueError(
            f"{onnx_file} is not the {kind} graph asked for: pass the other file `k2m export` "
            "wrote (<name>_joints.onnx has no mesh)"
        )
    max_batch = DEFAULT_MAX_BATCH if backend == "tensorrt" else 4096
    return Key2MeshEngine(runner, max_batch=max_batch, faces=faces)
